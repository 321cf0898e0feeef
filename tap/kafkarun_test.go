package tap

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/cio-singer/tap-customerio-webhook/internal/poll"
	"github.com/cio-singer/tap-customerio-webhook/internal/singer"
	"github.com/cio-singer/tap-customerio-webhook/schemas"
	"github.com/cio-singer/tap-customerio-webhook/tap/kafkaspool"
)

// stdoutCapture is a tap's stdout read message by message; close ends it
// once the run has returned, so that every message can be counted.
type stdoutCapture struct {
	w    *io.PipeWriter
	msgs chan singer.Message
}

func captureStdout(t *testing.T) *stdoutCapture {
	t.Helper()
	pr, pw := io.Pipe()
	c := &stdoutCapture{w: pw, msgs: make(chan singer.Message, 10000)}
	go func() {
		defer close(c.msgs)
		r := singer.NewReader(pr, 0)
		for {
			m, err := r.Next()
			if err != nil {
				return
			}
			c.msgs <- m
		}
	}()
	t.Cleanup(func() { pw.Close() })
	return c
}

// untilRecords returns the messages up to the one that completes the data
// records of ids (each seen at least once).
func (c *stdoutCapture) untilRecords(t *testing.T, ids []string) []singer.Message {
	t.Helper()
	want := map[string]bool{}
	for _, id := range ids {
		want[id] = true
	}
	var got []singer.Message
	deadline := time.After(20 * time.Second)
	for len(want) > 0 {
		select {
		case m, ok := <-c.msgs:
			if !ok {
				t.Fatalf("stdout ended with %d events not emitted", len(want))
			}
			got = append(got, m)
			if m.Type == "RECORD" && m.Stream == schemas.Data {
				delete(want, eventIDOf(t, m.Record))
			}
		case <-deadline:
			t.Fatalf("%d events not emitted within 20s", len(want))
		}
	}
	return got
}

// rest closes stdout (the run has returned) and returns what is left.
func (c *stdoutCapture) rest() []singer.Message {
	c.w.Close()
	var got []singer.Message
	for m := range c.msgs {
		got = append(got, m)
	}
	return got
}

func eventIDOf(t *testing.T, rec json.RawMessage) string {
	t.Helper()
	var r struct {
		EventID string `json:"event_id"`
	}
	if err := json.Unmarshal(rec, &r); err != nil {
		t.Fatal(err)
	}
	return r.EventID
}

// postEvents posts n events with ids <prefix>-NN and returns their ids.
// Like Customer.io, it retries a 503 (a produce slower than
// kafka_produce_timeout on a loaded machine) until a 200; any other answer
// fails the test.
func postEvents(t *testing.T, url, prefix string, n int) []string {
	t.Helper()
	var ids []string
	for i := range n {
		id := fmt.Sprintf("%s-%02d", prefix, i)
		poll.Until(t, "webhook "+id+" to be answered 200", func() bool {
			code := post(t, url, sentEvent(id))
			if code != http.StatusOK && code != http.StatusServiceUnavailable {
				t.Fatalf("webhook %s: %d", id, code)
			}
			return code == http.StatusOK
		})
		ids = append(ids, id)
	}
	return ids
}

// kafkaOffsetsOf returns the Kafka position of a STATE value and the
// records it covers (the sum of its next offsets, on a topic that started
// empty).
func kafkaOffsetsOf(t *testing.T, value json.RawMessage) (kafkaspool.Position, int64) {
	t.Helper()
	pos, err := ParseKafkaPosition(value)
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, off := range pos.Offsets {
		n += off
	}
	return pos, n
}

// TestKafkaOneProcessFollowsAndDrainsOnStop: the Singer run with a server
// and spool "kafka" answers 200 once the cluster has a webhook and emits it
// while it keeps receiving; webhooks it acknowledged but had not emitted
// when stopped (kfake holds its fetches back) are emitted after the stop,
// before a final STATE with the end offsets. Every event comes out once,
// each STATE covers only records before it, and a loader from the final
// STATE emits nothing again.
func TestKafkaOneProcessFollowsAndDrainsOnStop(t *testing.T) {
	t.Parallel()
	kc := startKafka(t)
	cfg := kc.kafkaConfig(t, 2)
	out := captureStdout(t)
	rt := startTapOptions(t, Options{Config: cfg, Selection: mustDefault(t), Stdout: out.w})
	waitReady(t, rt.base)

	first := postEvents(t, rt.url, "live", 10)
	msgs := out.untilRecords(t, first) // emitted while the server runs

	var fault *kfake.FaultHandle
	if kc.fake != nil {
		// The emitter falls behind: its fetches fail (retriably) while
		// produces still land.
		fault = kc.fake.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Fetch}, Topic: cfg.Kafka.Topic, Err: kerr.NotLeaderForPartition, Count: -1})
	}
	late := postEvents(t, rt.url, "late", 10)
	if code := post(t, rt.url, `{"not":"an event"}`); code != http.StatusOK {
		t.Fatalf("invalid body: %d", code)
	}
	rt.cancel() // SIGTERM
	if fault != nil {
		fault.Remove()
	}
	select {
	case err := <-rt.done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return after the stop")
	}
	msgs = append(msgs, out.rest()...)

	count := map[string]int{}
	records := 0
	var rejected []string
	for _, m := range msgs {
		switch {
		case m.Type == "RECORD" && m.Stream == schemas.Data:
			count[eventIDOf(t, m.Record)]++
			records++
		case m.Type == "RECORD" && m.Stream == schemas.Rejected:
			var r struct {
				ID string `json:"rejection_id"`
			}
			_ = json.Unmarshal(m.Record, &r)
			rejected = append(rejected, r.ID)
			records++
		case m.Type == "STATE":
			if _, covered := kafkaOffsetsOf(t, m.Value); covered > int64(records) {
				t.Fatalf("a STATE covering %d records followed %d", covered, records)
			}
		}
	}
	// Each record of the topic once: an event whose 503 was retried may
	// be in the topic twice (the timed-out produce landed too).
	inTopic := map[string]int{}
	held := loadTopic(t, cfg)
	for _, r := range held {
		var ev struct {
			EventID string `json:"event_id"`
		}
		if json.Unmarshal(r.Body, &ev) == nil {
			inTopic[ev.EventID]++
		}
	}
	for _, id := range append(first, late...) {
		if count[id] == 0 || count[id] != inTopic[id] {
			t.Errorf("event %s emitted %d times, in the topic %d times; want once per record", id, count[id], inTopic[id])
		}
	}
	if len(rejected) != 1 || !strings.HasPrefix(rejected[0], cfg.Kafka.Topic+":") {
		t.Errorf("rejection ids %v, want one <topic>:<partition>:<offset>", rejected)
	}
	last := msgs[len(msgs)-1]
	if last.Type != "STATE" {
		t.Fatalf("last message %s, want the final STATE", last.Type)
	}
	pos, covered := kafkaOffsetsOf(t, last.Value)
	if covered != int64(records) || covered != int64(len(held)) || len(pos.Offsets) != 2 || pos.Topic != cfg.Kafka.Topic {
		t.Fatalf("final STATE %s after %d records, want both partitions' end offsets (%d records)", last.Value, records, len(held))
	}

	again, err := runKafkaLoader(t, cfg, last.Value)
	if err != nil {
		t.Fatalf("loader from the final STATE: %v", err)
	}
	if len(again.eventIDs)+len(again.rejectionIDs) != 0 {
		t.Fatalf("a loader from the final STATE emitted %v %v again", again.eventIDs, again.rejectionIDs)
	}
}

// TestKafkaOneProcessMetricsAndExitAfterIdle: /metrics of the one-process
// mode has both the produce figures and the emitted records, /readyz is
// 200 with the cluster up, and exit_after_idle ends the run with a final
// STATE as on disk. An App API pass held at a gate keeps the run from
// idling out while the test still talks to it (idle time runs from the
// start, so on a slow machine it could end before the first webhook).
func TestKafkaOneProcessMetricsAndExitAfterIdle(t *testing.T) {
	t.Parallel()
	kc := startKafka(t)
	f := newAppFixture(t)
	g := newGate(t, f.server.URL)
	cfg := kc.kafkaConfig(t, 1)
	cfg.AppAPI = f.config(t, cfg.SpoolDir, g.URL).AppAPI
	cfg.ExitAfterIdle = 100 * time.Millisecond
	out := captureStdout(t)
	rt := startTapOptions(t, Options{Config: cfg, Selection: appSelection(t), Stdout: out.w, AppAPIClock: f.clock})
	waitReady(t, rt.base)
	out.untilRecords(t, postEvents(t, rt.url, "m", 2))
	metrics, text := scrape(t, rt.base)
	// A retried 503 may have landed as well: emitted records can be more.
	if metrics[`kafka_produce_total{result="acked"}`] != 2 || metrics[`records_emitted_total{stream="data"}`] < 2 {
		t.Errorf("/metrics lacks the 2 produces acknowledged and emitted:\n%s", text)
	}
	g.release() // the pass can end now, and then the run idles out
	select {
	case err := <-rt.done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("exit_after_idle did not end the run")
	}
	rest := out.rest()
	if len(rest) == 0 || rest[len(rest)-1].Type != "STATE" {
		t.Fatal("the idle exit did not end on a STATE")
	}
	if _, covered := kafkaOffsetsOf(t, rest[len(rest)-1].Value); covered != int64(len(loadTopic(t, cfg))) {
		t.Fatalf("final STATE %s, want every record of the topic covered", rest[len(rest)-1].Value)
	}
}

// TestKafkaLoaderEmitsTheAppAPIStreams: with spool "kafka", a loader run
// emits the App API streams beside the webhooks and waits for them before
// its final STATE, which holds the Kafka offsets and the deliveries
// bookmark; rerun from it, it emits no webhook again, re-reads only the
// lookback window and keeps the offsets.
func TestKafkaLoaderEmitsTheAppAPIStreams(t *testing.T) {
	t.Parallel()
	kc := startKafka(t)
	f := newAppFixture(t)
	cfg := kc.kafkaConfig(t, 2)
	app := f.config(t, cfg.SpoolDir, f.server.URL)
	cfg.AppAPI = app.AppAPI
	sent := sendThroughServe(t, cfg, 12)

	msgs := f.runDrain(t, cfg, appSelection(t), nil)
	var events []string
	deliveries := 0
	for _, m := range msgs {
		if m.Type != "RECORD" {
			continue
		}
		switch m.Stream {
		case schemas.Data:
			events = append(events, eventIDOf(t, m.Record))
		case schemas.Deliveries:
			deliveries++
		}
	}
	slices.Sort(events)
	if !slices.Equal(events, sent) || deliveries != appDeliveries {
		t.Fatalf("emitted events %v and %d deliveries, want %v and %d", events, deliveries, sent, appDeliveries)
	}
	last := msgs[len(msgs)-1]
	if last.Type != "STATE" {
		t.Fatalf("last message %s, want the final STATE", last.Type)
	}
	b, ok := deliveriesBookmark(t, last.Value)
	pos, covered := kafkaOffsetsOf(t, last.Value)
	if held := len(loadTopic(t, cfg)); !ok || b.Created < appEpoch.Unix() || covered != int64(held) || pos.Topic != cfg.Kafka.Topic {
		t.Fatalf("final STATE %s: want the deliveries bookmark and the offsets of the topic's %d records", last.Value, held)
	}

	f.clock.Advance(time.Hour)
	msgs = f.runDrain(t, cfg, appSelection(t), last.Value)
	again := 0
	for _, m := range msgs {
		if m.Type == "RECORD" && (m.Stream == schemas.Data || m.Stream == schemas.Rejected) {
			t.Fatalf("the rerun emitted %s again: %s", m.Stream, m.Record)
		}
		if m.Type == "RECORD" && m.Stream == schemas.Deliveries {
			again++
		}
	}
	if again == 0 || again >= appDeliveries {
		t.Errorf("the rerun emitted %d deliveries, want those of the lookback window only", again)
	}
	final := msgs[len(msgs)-1].Value
	if p2, _ := kafkaOffsetsOf(t, final); fmt.Sprint(p2.Offsets) != fmt.Sprint(pos.Offsets) {
		t.Errorf("the rerun moved the offsets to %v from %v", p2.Offsets, pos.Offsets)
	}
	if b2, _ := deliveriesBookmark(t, final); b2.Created <= b.Created {
		t.Errorf("the rerun's deliveries bookmark %d did not move on from %d", b2.Created, b.Created)
	}
}
