package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/cio-singer/tap-customerio-webhook/tap/spool"
)

func TestParseMetrics(t *testing.T) {
	in := `# HELP tap_customerio_webhook_spool_durable_offset Offset of the last record written and fsynced.
# TYPE tap_customerio_webhook_spool_durable_offset gauge
tap_customerio_webhook_spool_durable_offset 1.234567e+06
tap_customerio_webhook_webhooks_accepted_total{token_id="a"} 1000000
tap_customerio_webhook_webhooks_accepted_total{token_id="b"} 234567
tap_customerio_webhook_webhooks_spool_refused_total{token_id="a"} 9
tap_customerio_webhook_emitted_offset 17
`
	m, err := parseMetrics(strings.NewReader(in))
	if err != nil || m.durable != 1234567 || m.accepted != 1234567 {
		t.Fatalf("got %+v, %v; want 1234567, 1234567", m, err)
	}
	if _, err := parseMetrics(strings.NewReader("tap_customerio_webhook_emitted_offset 3\n")); err == nil {
		t.Fatal("metrics without spool_durable_offset: want an error")
	}
}

// TestDurableFileSource reads the DURABLE file of a real spool as the tap
// writes it: a change of its format fails here, not silently in a bench.
func TestDurableFileSource(t *testing.T) {
	dir := t.TempDir()
	sp, err := spool.Open(spool.Options{Dir: dir, Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	read, closeFile, err := durableFileSource(filepath.Join(dir, "DURABLE"))
	if err != nil {
		t.Fatal(err)
	}
	defer closeFile()
	for want := uint64(1); want <= 3; want++ {
		if _, err := sp.Append(context.Background(), []byte(`{"event_id":"x"}`), "tok"); err != nil {
			t.Fatal(err)
		}
		if got, err := read(); err != nil || got != want {
			t.Fatalf("after %d appends: read %d, %v", want, got, err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "bad"), make([]byte, durableSize), 0o600); err != nil {
		t.Fatal(err)
	}
	bad, closeBad, err := durableFileSource(filepath.Join(dir, "bad"))
	if err != nil {
		t.Fatal(err)
	}
	defer closeBad()
	if _, err := bad(); err == nil {
		t.Fatal("a file of zeros: want a checksum error")
	}
}

func TestReadStates(t *testing.T) {
	sr := readStates(strings.NewReader(`{"bookmarks":{"data":{"spool_offset":5}}}` + "\n" +
		`{"bookmarks":{"data":{"spool_offset":12,"spool_id":"x"}}}` + "\n"))
	lines, err := sr.wait()
	if err != nil || len(lines) != 2 || lines[0].offset != 5 || lines[1].offset != 12 || sr.covered() != 12 {
		t.Fatalf("got %+v, %v", lines, err)
	}
	if _, err := readStates(strings.NewReader("not json\n")).wait(); err == nil {
		t.Fatal("a line that is not a state: want an error")
	}
}

// TestFreshness builds a timeline by hand: offsets 1-10 durable between
// the samples at 0 and 100 ms, 11-30 between 100 and 200 ms; the target's
// state covers 10 at 600 ms and 30 at 1000 ms. Each scrape takes 5 ms.
func TestFreshness(t *testing.T) {
	t0 := time.Unix(1_790_000_000, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	sample := func(ms int, durable uint64) spoolSample {
		return spoolSample{sent: at(ms), answered: at(ms + 5), durable: durable}
	}
	samples := []spoolSample{sample(0, 0), sample(100, 10), sample(200, 30), sample(300, 30)}
	states := []stateLine{{at(600), 10}, {at(1000), 30}}
	upper, lower, err := freshness(samples, states, 30)
	if err != nil {
		t.Fatal(err)
	}
	wantUpper := []span{{600 * time.Millisecond, 10, at(0)}, {900 * time.Millisecond, 20, at(100)}}
	wantLower := []span{{495 * time.Millisecond, 10, at(0)}, {795 * time.Millisecond, 20, at(100)}}
	if !equalSpans(upper, wantUpper) || !equalSpans(lower, wantLower) {
		t.Fatalf("upper %v lower %v; want %v and %v", upper, lower, wantUpper, wantLower)
	}
	// 10 offsets at 600 ms, 20 at 900 ms: the median and p99 are 900 ms,
	// the 30th percentile 600 ms.
	q := percentiles(upper, 0.3, 0.5, 0.99, 1)
	if q[0] != 600*time.Millisecond || q[1] != 900*time.Millisecond || q[2] != 900*time.Millisecond || q[3] != 900*time.Millisecond {
		t.Fatalf("percentiles %v", q)
	}

	// Windows of 100 ms: offsets 1-10 became durable in the first, 11-30 in
	// the second.
	if w := byWindow(upper, at(0), 100*time.Millisecond, 0.99); len(w) != 2 || w[0] != 600*time.Millisecond || w[1] != 900*time.Millisecond {
		t.Fatalf("byWindow %v", w)
	}
	if c, ok := coveredAt(states, 11); !ok || !c.Equal(at(1000)) {
		t.Fatalf("coveredAt(11) = %v, %t", c, ok)
	}

	// Offsets the target's state never covered are an error, not a gap.
	if _, _, err := freshness(samples, states[:1], 30); err == nil {
		t.Fatal("offsets 11-30 never covered: want an error")
	}
	// So are offsets the samples never saw durable, and a first sample
	// taken after records arrived.
	if _, _, err := freshness(samples[:2], states, 30); err == nil {
		t.Fatal("offsets 11-30 never sampled: want an error")
	}
	if _, _, err := freshness(samples[1:], states, 30); err == nil {
		t.Fatal("first sample at offset 10: want an error")
	}
}

func equalSpans(a, b []span) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestCheck(t *testing.T) {
	o := options{conns: 4}
	good := runResult{load: loadResult{Requests: 100}, accepted: 102, durable: 102, metricsDurable: 102, stated: 102, rows: 102, distinct: 102}
	good.check(o)
	if len(good.problems) != 0 {
		t.Fatalf("good run: %v", good.problems)
	}
	for name, r := range map[string]runResult{
		"state behind":        {load: loadResult{Requests: 100}, accepted: 100, durable: 100, metricsDurable: 100, stated: 99, rows: 100, distinct: 100},
		"acked not accepted":  {load: loadResult{Requests: 100}, accepted: 99, durable: 99, metricsDurable: 99, stated: 99, rows: 99, distinct: 99},
		"row missing":         {load: loadResult{Requests: 100}, accepted: 100, durable: 100, metricsDurable: 100, stated: 100, rows: 99, distinct: 99},
		"duplicate event_id":  {load: loadResult{Requests: 100}, accepted: 100, durable: 100, metricsDurable: 100, stated: 100, rows: 100, distinct: 99},
		"metrics disagree":    {load: loadResult{Requests: 100}, accepted: 100, durable: 100, metricsDurable: 101, stated: 100, rows: 100, distinct: 100},
		"accepted unexpected": {load: loadResult{Requests: 100}, accepted: 105, durable: 105, metricsDurable: 105, stated: 105, rows: 105, distinct: 105},
	} {
		r.check(o)
		if len(r.problems) == 0 {
			t.Errorf("%s: no problem found", name)
		}
	}
}

func TestSplit(t *testing.T) {
	t0 := time.Unix(1_790_000_000, 0)
	a := cpuSnapshot{at: t0, tap: 10, target: 5, pg: 3, self: 1, busy: 100, machineSecs: 200}
	b := cpuSnapshot{at: t0.Add(10 * time.Second), tap: 17, target: 8, pg: 5, self: 1.5, busy: 119, machineSecs: 220}
	c := split(a, b, 4) // client: 4 CPU seconds
	want := cpuSplit{wall: 10 * time.Second, client: 0.4, tap: 0.7, target: 0.3, pg: 0.2, self: 0.05, rest: 0.25, idle: 0.1}
	near := func(x, y float64) bool { return x-y < 1e-9 && y-x < 1e-9 }
	if c.wall != want.wall || !near(c.client, want.client) || !near(c.tap, want.tap) || !near(c.target, want.target) ||
		!near(c.pg, want.pg) || !near(c.self, want.self) || !near(c.rest, want.rest) || !near(c.idle, want.idle) {
		t.Fatalf("split %+v; want %+v", c, want)
	}
}
