package tap

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/cio-singer/tap-customerio-webhook/internal/singer"
	"github.com/cio-singer/tap-customerio-webhook/schemas"
	"github.com/cio-singer/tap-customerio-webhook/tap/kafkaspool"
)

// loaded is what one loader run wrote.
type loaded struct {
	eventIDs     []string
	rejectionIDs []string
	states       []json.RawMessage // STATE values, in order
	before       []int             // records written before each STATE
	lastType     string            // the type of the last message
}

// runKafkaLoader runs the Singer mode with "listen": "" on cfg from the
// --state value state and returns what it wrote.
func runKafkaLoader(t *testing.T, cfg Config, state []byte) (loaded, error) {
	t.Helper()
	cfg.Listen = ""
	pos, err := ParseKafkaPosition(state)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err = Run(ctx, Options{Config: cfg, KafkaPosition: pos, Selection: mustDefault(t), Stdout: &out,
		Log: zerolog.New(zerolog.NewTestWriter(t))})
	var got loaded
	r := singer.NewReader(&out, 1<<20)
	for {
		m, rerr := r.Next()
		if errors.Is(rerr, io.EOF) {
			break
		}
		if rerr != nil {
			t.Fatal(rerr)
		}
		got.lastType = m.Type
		switch {
		case m.Type == "STATE":
			got.states = append(got.states, m.Value)
			got.before = append(got.before, len(got.eventIDs)+len(got.rejectionIDs))
		case m.Type == "RECORD" && m.Stream == schemas.Data:
			var rec struct {
				EventID string `json:"event_id"`
			}
			_ = json.Unmarshal(m.Record, &rec)
			got.eventIDs = append(got.eventIDs, rec.EventID)
		case m.Type == "RECORD" && m.Stream == schemas.Rejected:
			var rec struct {
				ID string `json:"rejection_id"`
			}
			_ = json.Unmarshal(m.Record, &rec)
			got.rejectionIDs = append(got.rejectionIDs, rec.ID)
		}
	}
	return got, err
}

func (l loaded) lastState(t *testing.T) []byte {
	t.Helper()
	if len(l.states) == 0 || l.lastType != "STATE" {
		t.Fatalf("the run did not end on a STATE (last message %s, %d STATEs)", l.lastType, len(l.states))
	}
	return l.states[len(l.states)-1]
}

// sendThroughServe posts n valid events and one invalid body through an
// in-process serve, each until answered 200, and returns the event ids of
// the records the topic then holds, sorted. An event answered 503 after a
// produce timeout may be in the topic as well as its retry (at least once,
// as with Customer.io's retries): its id is there twice.
func sendThroughServe(t *testing.T, cfg Config, n int) []string {
	t.Helper()
	base := startServe(t, cfg)
	waitReady(t, base)
	postEvents(t, base+"/webhook/"+testToken, "ev", n)
	if code := post(t, base+"/webhook/"+testToken, `{"not":"an event"}`); code != http.StatusOK {
		t.Fatalf("invalid body: %d, want 200 (it goes to stream rejected)", code)
	}
	var ids []string
	for _, rec := range loadTopic(t, cfg) {
		if id := eventIDOf(t, rec.Body); id != "" {
			ids = append(ids, id)
		}
	}
	if len(ids) < n {
		t.Fatalf("the topic holds %d of the %d events answered 200", len(ids), n)
	}
	slices.Sort(ids)
	return ids
}

// TestKafkaLoaderEmitsEveryEventOnce: events received by serve are emitted
// by the loader exactly once, the invalid body on stream rejected with a
// <topic>:<partition>:<offset> id, ending on a STATE with the end offsets;
// a run from that STATE emits nothing again.
func TestKafkaLoaderEmitsEveryEventOnce(t *testing.T) {
	t.Parallel()
	kc := startKafka(t)
	cfg := kc.kafkaConfig(t, 3)
	sent := sendThroughServe(t, cfg, 30)

	first, err := runKafkaLoader(t, cfg, nil)
	if err != nil {
		t.Fatalf("loader: %v", err)
	}
	got := slices.Clone(first.eventIDs)
	slices.Sort(got)
	if !slices.Equal(got, sent) {
		t.Fatalf("emitted %d events %v, want each of the %d sent once", len(got), got, len(sent))
	}
	if len(first.rejectionIDs) != 1 || !strings.HasPrefix(first.rejectionIDs[0], cfg.Kafka.Topic+":") ||
		strings.Count(first.rejectionIDs[0], ":") != 2 {
		t.Fatalf("rejection ids %q, want one <topic>:<partition>:<offset>", first.rejectionIDs)
	}
	final := first.lastState(t)
	var st struct {
		Bookmarks map[string]kafkaspool.Position `json:"bookmarks"`
	}
	if err := json.Unmarshal(final, &st); err != nil {
		t.Fatal(err)
	}
	pos := st.Bookmarks[schemas.Data]
	var total int64
	for _, off := range pos.Offsets {
		total += off
	}
	if pos.Topic != cfg.Kafka.Topic || len(pos.Offsets) != 3 || total != int64(len(sent)+1) {
		t.Fatalf("final STATE %s: want the topic's 3 end offsets summing to %d", final, len(sent)+1)
	}

	again, err := runKafkaLoader(t, cfg, final)
	if err != nil {
		t.Fatalf("loader from its last STATE: %v", err)
	}
	if len(again.eventIDs)+len(again.rejectionIDs) != 0 {
		t.Fatalf("a run from the last STATE emitted %d events and %d rejections again", len(again.eventIDs), len(again.rejectionIDs))
	}
	if string(again.lastState(t)) != string(final) {
		t.Fatalf("STATE moved without records: %s, was %s", again.lastState(t), final)
	}
}

// TestKafkaLoadersSplitPartitions: two loaders with disjoint
// kafka_partitions together emit every event exactly once.
func TestKafkaLoadersSplitPartitions(t *testing.T) {
	t.Parallel()
	kc := startKafka(t)
	cfg := kc.kafkaConfig(t, 4)
	// The producer's sticky partitioner fills one partition for a while;
	// spread the events over all four as several receivers would.
	cl, err := kgo.NewClient(kgo.SeedBrokers(kc.brokers...), kgo.DefaultProduceTopic(cfg.Kafka.Topic),
		kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var sent []string
	for i := range 40 {
		id := fmt.Sprintf("ev-%03d", i)
		rec := &kgo.Record{Value: []byte(sentEvent(id)), Headers: []kgo.RecordHeader{
			{Key: kafkaspool.HeaderReceivedAt, Value: []byte(time.Now().UTC().Format(time.RFC3339Nano))},
			{Key: kafkaspool.HeaderTokenID, Value: []byte("tok")},
		}}
		if err := cl.ProduceSync(context.Background(), rec).FirstErr(); err != nil {
			t.Fatal(err)
		}
		sent = append(sent, id)
	}
	var all []string
	for _, parts := range [][]int32{{0, 2}, {1, 3}} {
		c := cfg
		c.Kafka.Partitions = parts
		got, err := runKafkaLoader(t, c, nil)
		if err != nil {
			t.Fatalf("loader of partitions %v: %v", parts, err)
		}
		if len(got.eventIDs) == 0 {
			t.Errorf("loader of partitions %v emitted nothing: the test does not split", parts)
		}
		all = append(all, got.eventIDs...)
	}
	slices.Sort(all)
	if !slices.Equal(all, sent) {
		t.Fatalf("two loaders emitted %d events, want each of the %d sent once", len(all), len(sent))
	}
}

// TestKafkaLoaderRefusesDeletedOffsets: a STATE whose next offset
// retention already deleted fails the run, naming the partition.
func TestKafkaLoaderRefusesDeletedOffsets(t *testing.T) {
	t.Parallel()
	kc := startKafka(t)
	cfg := kc.kafkaConfig(t, 1)
	sendThroughServe(t, cfg, 5)
	cl, err := kgo.NewClient(kgo.SeedBrokers(kc.brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var offsets kadm.Offsets
	offsets.Add(kadm.Offset{Topic: cfg.Kafka.Topic, Partition: 0, At: 3})
	resp, err := kadm.NewClient(cl).DeleteRecords(ctx, offsets)
	if err == nil {
		err = resp.Error()
	}
	if err != nil {
		t.Fatalf("DeleteRecords: %v", err)
	}
	state := fmt.Sprintf(`{"bookmarks":{"data":{"kafka_topic":%q,"kafka_offsets":{"0":1}}}}`, cfg.Kafka.Topic)
	got, err := runKafkaLoader(t, cfg, []byte(state))
	var gone *kafkaspool.OffsetGoneError
	if !errors.As(err, &gone) || gone.Partition != 0 || !strings.Contains(err.Error(), "partition 0") {
		t.Fatalf("loader past deleted records: %v, want an OffsetGoneError naming partition 0", err)
	}
	if len(got.eventIDs) != 0 {
		t.Fatalf("emitted %d events after deleted ones", len(got.eventIDs))
	}
}

// TestKafkaLoaderResumesFromAMidRunState: a loader stopped after any STATE
// it wrote (killed, its target's last state kept) and rerun from that
// STATE emits exactly the events after it: nothing lost, nothing the STATE
// already covered.
func TestKafkaLoaderResumesFromAMidRunState(t *testing.T) {
	t.Parallel()
	kc := startKafka(t)
	cfg := kc.kafkaConfig(t, 2)
	cfg.StateInterval = time.Nanosecond // a STATE after every record
	sent := sendThroughServe(t, cfg, 20)
	full, err := runKafkaLoader(t, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(full.states) < 10 {
		t.Fatalf("only %d STATEs for %d records", len(full.states), len(sent)+1)
	}
	mid := full.states[len(full.states)/2]
	emittedBefore := full.before[len(full.states)/2]
	var st struct {
		Bookmarks map[string]kafkaspool.Position `json:"bookmarks"`
	}
	if err := json.Unmarshal(mid, &st); err != nil {
		t.Fatal(err)
	}
	covered := 0
	for _, off := range st.Bookmarks[schemas.Data].Offsets {
		covered += int(off)
	}
	if covered != emittedBefore {
		t.Fatalf("a STATE covering %d records followed %d records: a killed loader would skip or repeat", covered, emittedBefore)
	}
	rest, err := runKafkaLoader(t, cfg, mid)
	if err != nil {
		t.Fatalf("loader from a mid-run STATE: %v", err)
	}
	if got := len(rest.eventIDs) + len(rest.rejectionIDs); got != len(sent)+1-covered {
		t.Fatalf("from a STATE covering %d records the rerun emitted %d, want the other %d", covered, got, len(sent)+1-covered)
	}
	// What the first run emitted before the mid STATE plus the rerun is every event once.
	before := map[string]bool{}
	for _, id := range full.eventIDs {
		before[id] = true
	}
	for _, id := range rest.eventIDs {
		if !before[id] {
			t.Fatalf("the rerun emitted %s, which the full run did not", id)
		}
	}
	if string(rest.lastState(t)) != string(full.lastState(t)) {
		t.Fatalf("the rerun ended at %s, the full run at %s", rest.lastState(t), full.lastState(t))
	}
}
