package metrics

import (
	"fmt"
	"strconv"
)

// Families returns the metric families of s, in the order /metrics
// writes them. Every name, HELP text and label here is what scrapers and
// deploy/prometheus/alerts.yml rely on.
func (s Snapshot) Families() []Family {
	var out []Family
	add := func(name, typ, help string, samples ...Sample) {
		out = append(out, Family{Name: name, Type: typ, Help: help, Samples: samples})
	}
	histogram := func(name, help string, h Histogram) {
		out = append(out, Family{Name: name, Type: "histogram", Help: help, Histogram: &h})
	}
	if sv := s.Server; sv != nil {
		var codes []Sample
		for _, c := range sv.Requests {
			codes = append(codes, Sample{fmt.Sprintf("code=%q", strconv.Itoa(c.Code)), float64(c.Count)})
		}
		add("http_requests_total", "counter", "HTTP requests answered (webhooks, probes and scrapes), by status code.", codes...)
		add("inflight_body_bytes", "gauge", "Webhook body bytes reserved by requests being received (max_inflight_bytes bounds it; past it the answer is 503).",
			Sample{Value: float64(sv.InflightBodyBytes)})
		add("webhook_tokens", "gauge", "Webhook tokens accepted (webhook_tokens plus the token file).", Sample{Value: float64(sv.TokenCount)})
		var accepted, refused, last, age []Sample
		for _, t := range sv.Tokens {
			label := tokenLabel(t.ID)
			accepted = append(accepted, Sample{label, float64(t.Accepted)})
			refused = append(refused, Sample{label, float64(t.SpoolRefused)})
			if t.LastAccepted != nil {
				last = append(last, Sample{label, float64(t.LastAccepted.UnixNano()) / 1e9})
				age = append(age, Sample{label, t.LastAcceptedAge})
			}
		}
		add("webhooks_accepted_total", "counter", "Webhooks written to the spool and answered 200, by token id.", accepted...)
		add("webhooks_spool_refused_total", "counter", "Webhooks with a good token the spool could not take (answered 503), by token id.", refused...)
		add("webhook_last_accepted_timestamp_seconds", "gauge", "When the last webhook of each token was answered 200 (since this process started).", last...)
		add("webhook_last_accepted_age_seconds", "gauge", "Seconds since the last webhook of each token was answered 200 (since this process started).", age...)
		var refusals []Sample
		for _, r := range sv.Refusals {
			for _, code := range RefusalCodes {
				refusals = append(refusals, Sample{fmt.Sprintf("token_id=%q,code=%q", r.TokenID, code), float64(r.ByCode[code])})
			}
		}
		add("webhook_refusals_total", "counter", "Webhooks with a known token that were refused, by token id and status code.", refusals...)
	}
	if p := s.Producer; p != nil {
		add("kafka_produce_total", "counter", "Webhooks produced to Kafka, by result: acked (acks=all), failed (answered 503; timeouts included).",
			Sample{`result="acked"`, float64(p.Acked)}, Sample{`result="failed"`, float64(p.Failed)})
		add("kafka_produce_timeouts_total", "counter", "Produces not acknowledged within kafka_produce_timeout (answered 503).",
			Sample{Value: float64(p.Timeouts)})
		histogram("kafka_produce_duration_seconds", "Time from a webhook's produce to the cluster's acknowledgement (acknowledged produces only).", p.Latency)
	}
	if sp := s.Spool; sp != nil {
		add("spool_segments", "gauge", "Segment files in spool_dir.", Sample{Value: float64(sp.Segments)})
		add("spool_bytes", "gauge", "Bytes in spool segment files.", Sample{Value: float64(sp.Bytes)})
		add("spool_records", "gauge", "Records the spool holds (emitted ones kept for retention included); an upper bound, offsets may skip.",
			Sample{Value: float64(sp.Records)})
		add("spool_durable_offset", "gauge", "Offset of the last record written and fsynced.", Sample{Value: float64(sp.DurableOffset)})
		if sp.Fsync != nil {
			histogram("spool_fsync_duration_seconds", "Time each spool group commit took to write and fsync its batch (one pwritev2 with RWF_DSYNC on Linux).", *sp.Fsync)
		}
		if e := sp.Emitted; e != nil {
			add("emitted_offset", "gauge", "Offset of the last record emitted as a Singer message.", Sample{Value: float64(e.Offset)})
			add("backlog_records", "gauge", "Durable records not emitted yet (an upper bound: offsets may skip).", Sample{Value: float64(e.Records)})
			add("backlog_oldest_age_seconds", "gauge", "Age of the oldest record not emitted yet; 0 when none.", Sample{Value: e.OldestAge})
		}
		if l := sp.Loaded; l != nil {
			add("loaded_offset", "gauge", "Offset a target had committed when the last load run started (its --state).", Sample{Value: float64(l.Offset)})
			add("unloaded_oldest_age_seconds", "gauge", "Age of the oldest record not known to be loaded (after loaded_offset); 0 when none.", Sample{Value: l.OldestAge})
		}
	}
	if e := s.Emitter; e != nil {
		add("records_emitted_total", "counter", "Singer RECORD messages written, by stream.", streamSamples(e.Records)...)
		add("rejected_bodies_total", "counter", "Acknowledged bodies that are not valid events (stream rejected).", Sample{Value: float64(e.RejectedBodies)})
	}
	if a := s.AppAPI; a != nil {
		var reqs, last []Sample
		for _, r := range a.Requests {
			reqs = append(reqs, Sample{fmt.Sprintf("stream=%q,outcome=%q", r.Stream, r.Outcome), float64(r.Count)})
		}
		for _, l := range a.LastSuccess {
			last = append(last, Sample{streamLabel(l.Stream), float64(l.At.UnixMilli()) / 1000})
		}
		add("app_api_requests_total", "counter", "App API HTTP requests, by stream and outcome (ok, rate_limited, client_error, server_error, transport_error); retries count.", reqs...)
		add("app_api_stream_failures_total", "counter", "Passes in which reading a stream failed (retried at the next app_api_interval).", streamSamples(a.Failures)...)
		add("app_api_records_skipped_total", "counter", "App API rows left out: not a JSON object, or a deselected field could not be removed.", streamSamples(a.Skipped)...)
		add("app_api_last_success_timestamp_seconds", "gauge", "When a pass last read the stream without failing (Unix seconds).", last...)
	}
	return out
}

func tokenLabel(id string) string      { return fmt.Sprintf("token_id=%q", id) }
func streamLabel(stream string) string { return fmt.Sprintf("stream=%q", stream) }

func streamSamples(counts []StreamCount) []Sample {
	out := make([]Sample, 0, len(counts))
	for _, c := range counts {
		out = append(out, Sample{streamLabel(c.Stream), float64(c.Count)})
	}
	return out
}
