package kafkaspool

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/cio-singer/tap-customerio-webhook/internal/poll"
)

// produced remembers what Append acknowledged, by body.
type produced struct {
	mu     sync.Mutex
	offset map[string]int64
	token  map[string]string
}

func appendBodies(t *testing.T, p *Producer, writers, each int) *produced {
	t.Helper()
	out := &produced{offset: map[string]int64{}, token: map[string]string{}}
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Go(func() {
			buf := make([]byte, 0, 64)
			for i := range each {
				buf = fmt.Appendf(buf[:0], `{"writer":%d,"seq":%d}`, w, i)
				body, token := string(buf), fmt.Sprintf("tok%d", w)
				off, err := p.Append(context.Background(), buf, token)
				if err != nil {
					errs <- err
					return
				}
				// fasthttp reuses the body: scribble over it to prove Append copied it.
				for j := range buf {
					buf[j] = 'X'
				}
				out.mu.Lock()
				out.offset[body], out.token[body] = int64(off), token
				out.mu.Unlock()
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("Append: %v", err)
	}
	return out
}

func TestProduceThenLoadReturnsExactlyTheBodiesInOrder(t *testing.T) {
	tc := startCluster(t)
	cfg := tc.topic(t, 3, 3, 2)
	p := newProducer(t, cfg)
	before := time.Now().UTC()
	want := appendBodies(t, p, 4, 15)
	after := time.Now().UTC()

	got, pos := loadAll(t, cfg, Position{})
	if len(got) != len(want.offset) {
		t.Fatalf("loaded %d records, produced %d", len(got), len(want.offset))
	}
	lastSeq := map[[2]int]int{} // (partition, writer) -> seq
	lastOff := map[int32]int64{}
	seen := map[string]bool{}
	for _, r := range got {
		body := string(r.Body)
		off, ok := want.offset[body]
		if !ok || seen[body] {
			t.Fatalf("loaded unexpected or repeated body %q", body)
		}
		seen[body] = true
		if off != r.Offset {
			t.Errorf("body %q: Append returned offset %d, loaded at %d", body, off, r.Offset)
		}
		if r.TokenID != want.token[body] {
			t.Errorf("body %q: token %q, want %q", body, r.TokenID, want.token[body])
		}
		if r.ReceivedAt.Before(before) || r.ReceivedAt.After(after) || r.ReceivedAt.Location() != time.UTC {
			t.Errorf("body %q: received at %v, outside [%v, %v] or not UTC", body, r.ReceivedAt, before, after)
		}
		if last, ok := lastOff[r.Partition]; ok && r.Offset <= last {
			t.Errorf("partition %d: offset %d after %d", r.Partition, r.Offset, last)
		}
		lastOff[r.Partition] = r.Offset
		var b struct{ Writer, Seq int }
		if err := json.Unmarshal(r.Body, &b); err != nil {
			t.Fatal(err)
		}
		k := [2]int{int(r.Partition), b.Writer}
		if last, ok := lastSeq[k]; ok && b.Seq <= last {
			t.Errorf("partition %d writer %d: seq %d loaded after %d", r.Partition, b.Writer, b.Seq, last)
		}
		lastSeq[k] = b.Seq
	}
	var total int64
	for _, next := range pos.Offsets {
		total += next
	}
	if total != int64(len(got)) || len(pos.Offsets) != 3 {
		t.Errorf("position %v does not account for %d records in 3 partitions", pos.Offsets, len(got))
	}
	js, err := json.Marshal(pos)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(js, []byte(`{"kafka_topic":"`+cfg.Topic+`","kafka_offsets":{"0":`)) {
		t.Errorf("STATE shape %s", js)
	}
	if st := p.Stats(); st.Acked != 60 || st.Failed != 0 {
		t.Errorf("stats %+v, want 60 acked", st)
	}
	if _, n, _ := p.Latency().Snapshot(); n != 60 {
		t.Errorf("latency histogram counted %d produces, want 60", n)
	}
	if err := p.Ready(); err != nil {
		t.Errorf("Ready: %v", err)
	}

	// Nothing new: a second load from the position emits nothing.
	if again, pos2 := loadAll(t, cfg, pos); len(again) != 0 || fmt.Sprint(pos2) != fmt.Sprint(pos) {
		t.Errorf("reload emitted %d records, position %v -> %v", len(again), pos, pos2)
	}
}

func TestAppendFailsWithinTheTimeoutAndARetrySucceeds(t *testing.T) {
	for _, tt := range []struct {
		name string
		err  *kerr.Error
		// applied: the broker wrote the record although it answered the error.
		applied bool
	}{
		{"not enough replicas", kerr.NotEnoughReplicas, false},
		{"request timed out", kerr.RequestTimedOut, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tc := startCluster(t)
			fake := tc.needFake(t)
			cfg := tc.topic(t, 1, 3, 2)
			cfg.ProduceTimeout = 300 * time.Millisecond
			p := newProducer(t, cfg)
			fault := fake.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Topic: cfg.Topic, Err: tt.err, Count: -1})

			start := time.Now()
			_, err := p.Append(context.Background(), []byte(`{"n":1}`), "tok")
			took := time.Since(start)
			if err == nil {
				t.Fatal("Append succeeded while the cluster answered " + tt.err.Message)
			}
			if took > 2*cfg.ProduceTimeout {
				t.Errorf("Append took %v, produce timeout %v", took, cfg.ProduceTimeout)
			}
			if fault.Hits() == 0 {
				t.Error("the fault never answered a produce")
			}
			if st := p.Stats(); st.Failed != 1 || st.Acked != 0 {
				t.Errorf("stats %+v", st)
			}
			drained := func() bool { return p.client.BufferedProduceRecords() == 0 }
			if tt.applied {
				// The idempotent producer never drops a record the broker may
				// have written: it lands (once) when the fault clears.
				fault.Remove()
				poll.Until(t, "kgo to finish the timed-out record", drained)
			} else {
				// A refused record is given up after the record timeout, so
				// only the retry below can write it.
				poll.Until(t, "kgo to drop the refused record", drained)
				fault.Remove()
			}

			if _, err := p.Append(context.Background(), []byte(`{"n":1}`), "tok"); err != nil {
				t.Fatalf("retry after the fault cleared: %v", err)
			}
			got, _ := loadAll(t, cfg, Position{})
			want := 1
			if tt.applied {
				want = 2 // at least once: the timed-out write landed too
			}
			if len(got) != want {
				t.Errorf("loaded %d records, want %d", len(got), want)
			}
		})
	}
}

func TestAppendGivesUpOnAHungBroker(t *testing.T) {
	tc := startCluster(t)
	fake := tc.needFake(t)
	cfg := tc.topic(t, 1, 3, 2)
	cfg.ProduceTimeout = 300 * time.Millisecond
	p := newProducer(t, cfg)
	fake.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		fake.KeepControl()
		return nil, nil, true // never answer
	})
	start := time.Now()
	_, err := p.Append(context.Background(), []byte(`{}`), "tok")
	if !errors.Is(err, ErrProduceTimeout) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Append on a hung broker: %v, want ErrProduceTimeout", err)
	}
	if took := time.Since(start); took > 2*cfg.ProduceTimeout {
		t.Errorf("Append took %v, produce timeout %v", took, cfg.ProduceTimeout)
	}
	if st := p.Stats(); st.Timeouts != 1 {
		t.Errorf("stats %+v, want one timeout", st)
	}
}

func TestLoaderResumesFromTheGivenOffsets(t *testing.T) {
	tc := startCluster(t)
	cfg := tc.topic(t, 2, 3, 2)
	p := newProducer(t, cfg)
	appendBodies(t, p, 2, 10)
	all, end := loadAll(t, cfg, Position{})

	// A loader stopped after 7 records (its target's last STATE) ...
	var first []Record
	stop := errors.New("killed")
	pos, err := Load(ctx(t), cfg, Position{}, func(r Record) error {
		if len(first) == 7 {
			return stop
		}
		first = append(first, r)
		return nil
	})
	if !errors.Is(err, stop) {
		t.Fatalf("Load: %v, want the callback's error", err)
	}
	var accounted int64
	for _, next := range pos.Offsets {
		accounted += next
	}
	if accounted != 7 {
		t.Fatalf("position %v after 7 accepted records", pos.Offsets)
	}
	// ... resumes from that STATE: nothing before it, nothing lost.
	rest, final := loadAll(t, cfg, roundTrip(t, pos))
	for _, r := range rest {
		if r.Offset < pos.Offsets[r.Partition] {
			t.Errorf("partition %d offset %d emitted before the state's %d", r.Partition, r.Offset, pos.Offsets[r.Partition])
		}
	}
	if got := bodies(append(first, rest...)); got != bodies(all) {
		t.Errorf("resumed load differs from a full load:\n%s\nvs\n%s", got, bodies(all))
	}
	if fmt.Sprint(final.Offsets) != fmt.Sprint(end.Offsets) {
		t.Errorf("final position %v, want %v", final.Offsets, end.Offsets)
	}

	if _, err := Load(ctx(t), Config{Brokers: cfg.Brokers, Topic: cfg.Topic}, Position{Topic: "other"}, nil); err == nil ||
		!strings.Contains(err.Error(), `"other"`) {
		t.Errorf("a state of another topic: %v", err)
	}
}

// roundTrip passes a position through JSON, as STATE does.
func roundTrip(t *testing.T, pos Position) Position {
	t.Helper()
	js, err := json.Marshal(pos)
	if err != nil {
		t.Fatal(err)
	}
	var out Position
	if err := json.Unmarshal(js, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// bodies lists "partition/offset body" lines, sorted by partition then offset.
func bodies(rs []Record) string {
	lines := make([]string, len(rs))
	for i, r := range rs {
		lines[i] = fmt.Sprintf("%d/%06d %s", r.Partition, r.Offset, r.Body)
	}
	slicesSort(lines)
	return strings.Join(lines, "\n")
}

func TestTwoLoadersSplitThePartitions(t *testing.T) {
	tc := startCluster(t)
	cfg := tc.topic(t, 4, 3, 2)
	p := newProducer(t, cfg)
	appendBodies(t, p, 4, 10)
	all, _ := loadAll(t, cfg, Position{})

	a, b := cfg, cfg
	a.Partitions, b.Partitions = []int32{0, 2}, []int32{3, 1}
	fromA, posA := loadAll(t, a, Position{})
	fromB, posB := loadAll(t, b, Position{})
	for _, r := range fromA {
		if r.Partition != 0 && r.Partition != 2 {
			t.Errorf("loader of 0,2 emitted partition %d", r.Partition)
		}
	}
	for _, r := range fromB {
		if r.Partition != 1 && r.Partition != 3 {
			t.Errorf("loader of 1,3 emitted partition %d", r.Partition)
		}
	}
	if got := bodies(append(fromA, fromB...)); got != bodies(all) {
		t.Errorf("the two loaders together differ from one full load")
	}
	if len(posA.Offsets) != 2 || len(posB.Offsets) != 2 {
		t.Errorf("positions %v and %v, want two partitions each", posA.Offsets, posB.Offsets)
	}

	c := cfg
	c.Partitions = []int32{9}
	if _, err := Load(ctx(t), c, Position{}, nil); err == nil || !strings.Contains(err.Error(), "kafka_partitions") {
		t.Errorf("a partition the topic lacks: %v", err)
	}
}

func TestOffsetDeletedByRetentionIsAnErrorNamingThePartition(t *testing.T) {
	tc := startCluster(t)
	cfg := tc.topic(t, 1, 3, 2)
	p := newProducer(t, cfg)
	appendBodies(t, p, 1, 10)
	resp, err := tc.admin(t).DeleteRecords(ctx(t), offsetsOf(cfg.Topic, 0, 6))
	if err == nil {
		err = resp.Error()
	}
	if err != nil {
		t.Fatal(err)
	}

	called := false
	_, err = Load(ctx(t), cfg, Position{Topic: cfg.Topic, Offsets: map[int32]int64{0: 2}}, func(Record) error {
		called = true
		return nil
	})
	var gone *OffsetGoneError
	if !errors.As(err, &gone) || gone.Partition != 0 || gone.Next != 2 || gone.Start != 6 {
		t.Fatalf("Load from a deleted offset: %v, want OffsetGoneError partition 0 next 2 start 6", err)
	}
	for _, s := range []string{"partition 0", "offset 2", "offset 6"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not say %q", err, s)
		}
	}
	if called {
		t.Error("records were emitted past a gap")
	}

	// Without a state the loader starts at the oldest record still held.
	got, pos := loadAll(t, cfg, Position{})
	if len(got) != 4 || got[0].Offset != 6 || pos.Offsets[0] != 10 {
		t.Errorf("load without state: %d records from %v, position %v", len(got), got, pos.Offsets)
	}
	ranges, err := Offsets(ctx(t), cfg)
	if err != nil || ranges[0] != (PartitionRange{Start: 6, End: 10}) {
		t.Errorf("Offsets: %v %v", ranges, err)
	}
}

func offsetsOf(topic string, partition int32, offset int64) kadm.Offsets {
	os := kadm.Offsets{}
	os.Add(kadm.Offset{Topic: topic, Partition: partition, At: offset})
	return os
}

func TestCheckTopic(t *testing.T) {
	tc := startCluster(t)
	safe := tc.topic(t, 2, 3, 2)
	info, err := CheckTopic(ctx(t), safe, zerolog.Nop())
	if err != nil {
		t.Fatalf("safe topic refused: %v", err)
	}
	if info.ReplicationFactor != 3 || info.MinInsyncReplicas != 2 || len(info.Partitions) != 2 {
		t.Errorf("info %+v", info)
	}

	unsafe := tc.topic(t, 1, 1, 1)
	_, err = CheckTopic(ctx(t), unsafe, zerolog.Nop())
	if err == nil {
		t.Fatal("a topic with replication factor 1 and min.insync.replicas 1 was accepted")
	}
	for _, s := range []string{unsafe.Topic, "replication factor 1 is below 3", "min.insync.replicas 1 is below 2", "kafka_allow_unsafe_topic"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not say %q", err, s)
		}
	}

	var logs bytes.Buffer
	unsafe.AllowUnsafeTopic = true
	if _, err := CheckTopic(ctx(t), unsafe, zerolog.New(&logs)); err != nil {
		t.Fatalf("with AllowUnsafeTopic: %v", err)
	}
	if !strings.Contains(logs.String(), `"level":"warn"`) || !strings.Contains(logs.String(), "replication factor 1") {
		t.Errorf("no warning logged: %s", logs.String())
	}

	missing := safe
	missing.Topic, missing.AllowUnsafeTopic = "no-such-topic-here", true
	if _, err := CheckTopic(ctx(t), missing, zerolog.Nop()); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("missing topic: %v", err)
	}
}

func TestClusterRestartKeepsAcknowledgedRecords(t *testing.T) {
	tc := startCluster(t)
	tc.needFake(t)
	cfg := tc.topic(t, 2, 3, 2)
	p := newProducer(t, cfg)
	want := appendBodies(t, p, 2, 5)
	p.Close()
	tc.restart(t)
	got, _ := loadAll(t, cfg, Position{})
	if len(got) != len(want.offset) {
		t.Fatalf("after a restart loaded %d of %d acknowledged records", len(got), len(want.offset))
	}
	for _, r := range got {
		if want.offset[string(r.Body)] != r.Offset {
			t.Errorf("body %q at offset %d, acknowledged at %d", r.Body, r.Offset, want.offset[string(r.Body)])
		}
	}
}

// TestOffsetOutOfRangeWhileFetchingIsAnError covers retention that strikes
// after the loader listed the offsets: the fetch answers
// OFFSET_OUT_OF_RANGE and the loader must not reset past the gap.
func TestOffsetOutOfRangeWhileFetchingIsAnError(t *testing.T) {
	tc := startCluster(t)
	fake := tc.needFake(t)
	cfg := tc.topic(t, 1, 3, 2)
	appendBodies(t, newProducer(t, cfg), 1, 5)
	fault := fake.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Fetch}, Topic: cfg.Topic, Err: kerr.OffsetOutOfRange, Count: -1})
	defer fault.Remove()
	_, err := Load(ctx(t), cfg, Position{Topic: cfg.Topic, Offsets: map[int32]int64{0: 3}}, func(r Record) error {
		t.Errorf("emitted offset %d past a fetch that was out of range", r.Offset)
		return nil
	})
	var gone *OffsetGoneError
	if !errors.As(err, &gone) || gone.Partition != 0 || gone.Next != 3 || gone.Start != -1 {
		t.Fatalf("Load: %v, want OffsetGoneError for partition 0 at 3 with no start past it", err)
	}
	if !strings.Contains(err.Error(), "partition 0: the next offset 3 is out of the partition's range") {
		t.Errorf("error %q", err)
	}
}

func TestReadyFollowsTheCluster(t *testing.T) {
	tc := startCluster(t)
	fake := tc.needFake(t)
	cfg := tc.topic(t, 1, 3, 2)
	cfg.ProduceTimeout = 500 * time.Millisecond
	p := newProducer(t, cfg)
	if err := p.Ready(); err != nil {
		t.Fatalf("Ready with the cluster up: %v", err)
	}
	fake.Close()
	if err := p.Ready(); err == nil {
		t.Fatal("Ready with the cluster down")
	}
	if _, err := p.Append(context.Background(), []byte(`{}`), "tok"); err == nil {
		t.Fatal("Append with the cluster down")
	}
}

// TestReaderFollowsUntilStopAtEnd: a Reader returns records appended after
// it opened; bounded by StopAtEnd it returns every record before the bound
// and none after, its Position stops at the bound, and a Reader opened
// there reads exactly the rest.
func TestReaderFollowsUntilStopAtEnd(t *testing.T) {
	tc := startCluster(t)
	cfg := tc.topic(t, 2, 3, 2)
	p := newProducer(t, cfg)
	r, err := OpenReader(ctx(t), cfg, Position{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if rec, ok, err := r.TryNext(); ok || err != nil {
		t.Fatalf("TryNext on an empty topic: %v %v %v", rec, ok, err)
	}
	appendBodies(t, p, 2, 5)
	var got []Record
	for len(got) < 10 {
		rec, err := r.Next(ctx(t))
		if err != nil {
			t.Fatalf("Next while following: %v", err)
		}
		got = append(got, rec)
	}
	if r.CaughtUp() {
		t.Fatal("CaughtUp before StopAtEnd")
	}

	appendBodies(t, p, 1, 3) // before the bound
	if err := r.StopAtEnd(ctx(t)); err != nil {
		t.Fatal(err)
	}
	appendBodies(t, p, 1, 4) // after it
	for !r.CaughtUp() {
		rec, err := r.Next(ctx(t))
		if err != nil {
			t.Fatalf("Next up to the bound: %v", err)
		}
		got = append(got, rec)
	}
	if len(got) != 13 {
		t.Fatalf("read %d records up to the bound, want 13", len(got))
	}
	short, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if rec, err := r.Next(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Next past the bound: %v %v, want to wait for ctx", rec, err)
	}
	pos := r.Position()
	var covered int64
	for _, next := range pos.Offsets {
		covered += next
	}
	if covered != 13 {
		t.Fatalf("position %v past the bound of 13 records", pos.Offsets)
	}
	rest, _ := loadAll(t, cfg, roundTrip(t, pos))
	all, _ := loadAll(t, cfg, Position{})
	if len(rest) != 4 || bodies(append(got, rest...)) != bodies(all) {
		t.Fatalf("a load from the position read %d records; with the Reader's they are not the topic", len(rest))
	}
}
