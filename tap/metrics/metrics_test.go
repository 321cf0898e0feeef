package metrics

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// TestWriteText: the exposition is byte for byte what scrapers and the
// alert rules were written against: HELP and TYPE before every family
// (also one without samples), labels as written, values in the shortest
// form, histogram buckets cumulative with +Inf, _sum and _count.
func TestWriteText(t *testing.T) {
	t.Parallel()
	s := Snapshot{
		Server: &Server{Requests: []CodeCount{{Code: 200, Count: 1_000_000}}, TokenCount: 1,
			Tokens:   []Token{{ID: "t1", Accepted: 2}},
			Refusals: []Refusals{{TokenID: "t1", ByCode: map[string]uint64{"413": 1}}}},
		Producer: &Producer{Acked: 2, Latency: Histogram{Bounds: []float64{0.005, 1}, Counts: []uint64{1, 2}, Count: 2, Sum: 0.25}},
	}
	var b strings.Builder
	s.WriteText(&b)
	want := `# HELP tap_customerio_webhook_http_requests_total HTTP requests answered (webhooks, probes and scrapes), by status code.
# TYPE tap_customerio_webhook_http_requests_total counter
tap_customerio_webhook_http_requests_total{code="200"} 1e+06
# HELP tap_customerio_webhook_inflight_body_bytes Webhook body bytes reserved by requests being received (max_inflight_bytes bounds it; past it the answer is 503).
# TYPE tap_customerio_webhook_inflight_body_bytes gauge
tap_customerio_webhook_inflight_body_bytes 0
# HELP tap_customerio_webhook_webhook_tokens Webhook tokens accepted (webhook_tokens plus the token file).
# TYPE tap_customerio_webhook_webhook_tokens gauge
tap_customerio_webhook_webhook_tokens 1
# HELP tap_customerio_webhook_webhooks_accepted_total Webhooks written to the spool and answered 200, by token id.
# TYPE tap_customerio_webhook_webhooks_accepted_total counter
tap_customerio_webhook_webhooks_accepted_total{token_id="t1"} 2
# HELP tap_customerio_webhook_webhooks_spool_refused_total Webhooks with a good token the spool could not take (answered 503), by token id.
# TYPE tap_customerio_webhook_webhooks_spool_refused_total counter
tap_customerio_webhook_webhooks_spool_refused_total{token_id="t1"} 0
# HELP tap_customerio_webhook_webhook_last_accepted_timestamp_seconds When the last webhook of each token was answered 200 (since this process started).
# TYPE tap_customerio_webhook_webhook_last_accepted_timestamp_seconds gauge
# HELP tap_customerio_webhook_webhook_last_accepted_age_seconds Seconds since the last webhook of each token was answered 200 (since this process started).
# TYPE tap_customerio_webhook_webhook_last_accepted_age_seconds gauge
# HELP tap_customerio_webhook_webhook_refusals_total Webhooks with a known token that were refused, by token id and status code.
# TYPE tap_customerio_webhook_webhook_refusals_total counter
tap_customerio_webhook_webhook_refusals_total{token_id="t1",code="401"} 0
tap_customerio_webhook_webhook_refusals_total{token_id="t1",code="405"} 0
tap_customerio_webhook_webhook_refusals_total{token_id="t1",code="413"} 1
tap_customerio_webhook_webhook_refusals_total{token_id="t1",code="503"} 0
tap_customerio_webhook_webhook_refusals_total{token_id="t1",code="other"} 0
# HELP tap_customerio_webhook_kafka_produce_total Webhooks produced to Kafka, by result: acked (acks=all), failed (answered 503; timeouts included).
# TYPE tap_customerio_webhook_kafka_produce_total counter
tap_customerio_webhook_kafka_produce_total{result="acked"} 2
tap_customerio_webhook_kafka_produce_total{result="failed"} 0
# HELP tap_customerio_webhook_kafka_produce_timeouts_total Produces not acknowledged within kafka_produce_timeout (answered 503).
# TYPE tap_customerio_webhook_kafka_produce_timeouts_total counter
tap_customerio_webhook_kafka_produce_timeouts_total 0
# HELP tap_customerio_webhook_kafka_produce_duration_seconds Time from a webhook's produce to the cluster's acknowledgement (acknowledged produces only).
# TYPE tap_customerio_webhook_kafka_produce_duration_seconds histogram
tap_customerio_webhook_kafka_produce_duration_seconds_bucket{le="0.005"} 1
tap_customerio_webhook_kafka_produce_duration_seconds_bucket{le="1"} 2
tap_customerio_webhook_kafka_produce_duration_seconds_bucket{le="+Inf"} 2
tap_customerio_webhook_kafka_produce_duration_seconds_sum 0.25
tap_customerio_webhook_kafka_produce_duration_seconds_count 2
`
	if b.String() != want {
		t.Fatalf("exposition:\n%s\nwant:\n%s", b.String(), want)
	}
}

// TestSnapshotJSONRoundTrip: a snapshot read back from its JSON renders
// the same exposition, timestamps to the nanosecond included.
func TestSnapshotJSONRoundTrip(t *testing.T) {
	t.Parallel()
	at := time.Unix(1_780_000_000, 123_456_789)
	s := Snapshot{
		Server:  &Server{Tokens: []Token{{ID: "t1", LastAccepted: &at, LastAcceptedAge: 0.5}}},
		Spool:   &Spool{Records: 3, Emitted: &Backlog{Offset: 2, Records: 1, OldestAge: 1.5}},
		Emitter: &Emitter{Records: []StreamCount{{Stream: "data", Count: 2}}},
		AppAPI:  &AppAPI{LastSuccess: []StreamTime{{Stream: "campaigns", At: at}}},
	}
	raw, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var back Snapshot
	if err := json.Unmarshal(raw, &back); err != nil {
		t.Fatal(err)
	}
	var a, b strings.Builder
	s.WriteText(&a)
	back.WriteText(&b)
	if a.String() != b.String() {
		t.Fatalf("after JSON:\n%s\nbefore:\n%s", b.String(), a.String())
	}
	if back.Producer != nil || back.Server.Tokens[0].LastAccepted.UnixNano() != at.UnixNano() {
		t.Fatalf("round trip changed the snapshot: %s", raw)
	}
}
