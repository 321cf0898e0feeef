package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/cio-singer/tap-customerio-webhook/internal/poll"
	"github.com/cio-singer/tap-customerio-webhook/internal/singer"
	"github.com/cio-singer/tap-customerio-webhook/tap"
	"github.com/cio-singer/tap-customerio-webhook/tap/metrics"
	"github.com/cio-singer/tap-customerio-webhook/tap/spool"
)

func sentEvent(id string) string {
	return `{"event_id":"` + id + `","object_type":"email","metric":"sent","timestamp":1727712043,"data":{"delivery_id":"d"}}`
}

func post(t *testing.T, url, body string) int {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// startServe runs tap.Serve with cfg on a loopback port of its own until
// the test ends, and returns its base URL once /readyz answers 200.
func startServe(t *testing.T, cfg tap.Config) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() {
		served <- tap.Serve(ctx, tap.Options{Config: cfg, Listener: ln, Log: zerolog.New(zerolog.NewTestWriter(t))})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	base := "http://" + ln.Addr().String()
	poll.Until(t, base+"/readyz to answer 200", func() bool {
		resp, err := http.Get(base + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return base
}

// lastState runs a scheduled load (Singer mode, "listen": "") with config
// and returns the spool position of its last STATE.
func lastState(t *testing.T, config string) tap.Bookmark {
	t.Helper()
	code, out, errOut := runMain(t, "--config", config)
	if code != exitOK {
		t.Fatalf("load: exit %d: %s", code, errOut)
	}
	r := singer.NewReader(strings.NewReader(out), 0)
	var last tap.Bookmark
	for {
		m, err := r.Next()
		if err != nil {
			return last
		}
		if m.Type == "STATE" {
			if last, err = tap.ParseState(m.Value); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// TestStatusWithEverythingStopped: status reads the spool directory alone.
func TestStatusWithEverythingStopped(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	sp, err := spool.Open(spool.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if _, err := sp.Append(context.Background(), []byte(sentEvent(fmt.Sprint("s", i))), "tok"); err != nil {
			t.Fatal(err)
		}
	}
	sp.Close()
	config := writeConfig(t, t.TempDir(), map[string]any{"spool_dir": dir, "listen": "127.0.0.1:1"})
	code, out, _ := runMain(t, "status", "--config", config)
	for _, want := range []string{"offsets 1..3", "nothing emitted", "not answering"} {
		if !strings.Contains(out, want) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	}
	if code != 0 {
		t.Errorf("status exit %d", code)
	}
	if st := lastState(t, writeConfig(t, t.TempDir(), map[string]any{"spool_dir": dir, "listen": ""})); st.SpoolOffset != 3 {
		t.Fatalf("load state %+v", st)
	}
	_, out, _ = runMain(t, "status", "--config", config)
	if !strings.Contains(out, "offset 3") || !strings.Contains(out, "0 records not emitted") {
		t.Errorf("status after a load:\n%s", out)
	}
	bad := writeConfig(t, t.TempDir(), map[string]any{"spool_dir": filepath.Join(dir, "nope")})
	if code, _, _ := runMain(t, "status", "--config", bad); code != 1 {
		t.Errorf("status of a missing spool: exit %d; want 1", code)
	}
}

// TestStatusOfARunningServer: beside `serve` and a scheduled load, status
// shows the spool, what the load emitted, the server's figures (read as
// the snapshot /metrics is written from) and a warning for a webhook with
// an unknown token.
func TestStatusOfARunningServer(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	base := startServe(t, tap.Config{WebhookTokens: []string{testToken}, SpoolDir: dir, MaxBodyBytes: 1 << 20, LogLevel: zerolog.DebugLevel})
	const n = 5
	for i := range n {
		if code := post(t, base+"/webhook/"+testToken, sentEvent(fmt.Sprint("e", i))); code != http.StatusOK {
			t.Fatalf("POST e%d: %d", i, code)
		}
	}
	if code := post(t, base+"/webhook/not-a-token-0123456789abcdef0123456789", sentEvent("x")); code != http.StatusNotFound {
		t.Fatalf("unknown token: %d", code)
	}
	if st := lastState(t, writeConfig(t, t.TempDir(), map[string]any{"spool_dir": dir, "listen": ""})); st.SpoolOffset != n {
		t.Fatalf("load state %+v; want offset %d", st, n)
	}
	config := writeConfig(t, t.TempDir(), map[string]any{"listen": strings.TrimPrefix(base, "http://"), "spool_dir": dir,
		"webhook_tokens": []string{testToken}})
	code, out, errOut := runMain(t, "status", "--config", config)
	for _, want := range []string{"spool records", fmt.Sprintf("offsets 1..%d", n), "0 records not emitted", "server", "up (http://",
		"webhook tokens", "WARNING", "1 requests named an unknown token", "http_requests_total", `code="404": 1`,
		"webhooks_accepted_total", "emitted_offset", "spool_fsync_duration_seconds_count"} {
		if !strings.Contains(out, want) {
			t.Errorf("status lacks %q:\n%s%s", want, out, errOut)
		}
	}
	if code != 0 {
		t.Errorf("status exit %d", code)
	}
}

// TestStatusPrintsKafkaEndOffsets: `status` with spool "kafka" prints each
// partition's end offset.
func TestStatusPrintsKafkaEndOffsets(t *testing.T) {
	t.Parallel()
	const topic = "status-topic"
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(2, topic))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.DefaultProduceTopic(topic))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	for _, id := range []string{"s1", "s2", "s3"} {
		if err := cl.ProduceSync(context.Background(), &kgo.Record{Value: []byte(sentEvent(id))}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	config := writeConfig(t, t.TempDir(), map[string]any{"webhook_tokens": []string{testToken}, "spool": "kafka",
		"kafka_brokers": c.ListenAddrs(), "kafka_topic": topic, "listen": ""})
	code, out, errOut := runMain(t, "status", "--config", config)
	if code != exitOK {
		t.Fatalf("status exit %d: %s%s", code, out, errOut)
	}
	for _, want := range []string{"partition 0", "partition 1", "3 held in 2 partitions"} {
		if !strings.Contains(out, want) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	}
}

// TestStatusLinesAreTheExposition: status shows, from the snapshot, the
// very lines it showed when it parsed the /metrics text: every sample
// line by metric name, histogram buckets left out, with its HELP.
func TestStatusLinesAreTheExposition(t *testing.T) {
	t.Parallel()
	snap := richSnapshot()
	var text strings.Builder
	snap.WriteText(&text)
	want := linesOfExposition(text.String())
	var got []string
	for _, l := range statusLines(snap.Families()) {
		got = append(got, l.name+"\t"+l.values+"\t"+l.help)
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("status lines from the snapshot:\n%s\n\nfrom the exposition:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if len(got) < 20 {
		t.Fatalf("only %d lines: the snapshot misses families", len(got))
	}
	// What status reads is what the server sent.
	raw, err := json.Marshal(snap)
	if err != nil {
		t.Fatal(err)
	}
	var back metrics.Snapshot
	if err := json.Unmarshal(raw, &back); err != nil {
		t.Fatal(err)
	}
	var again strings.Builder
	back.WriteText(&again)
	if again.String() != text.String() {
		t.Fatalf("the JSON snapshot renders differently:\n%s\nwant:\n%s", again.String(), text.String())
	}
}

// richSnapshot has every part and family, with values that need care
// (a million, fractions, a timestamp).
func richSnapshot() metrics.Snapshot {
	at := time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.UTC)
	h := metrics.Histogram{Bounds: []float64{0.001, 0.01, 0.1}, Counts: []uint64{3, 9, 10}, Count: 11, Sum: 0.4375}
	return metrics.Snapshot{
		Server: &metrics.Server{
			Requests:          []metrics.CodeCount{{Code: 200, Count: 1_000_000}, {Code: 404, Count: 2}},
			InflightBodyBytes: 4096, TokenCount: 2,
			Tokens: []metrics.Token{{ID: "a1", Accepted: 7, LastAccepted: &at, LastAcceptedAge: 12.5}, {ID: "b2", SpoolRefused: 1}},
			Refusals: []metrics.Refusals{{TokenID: "a1", ByCode: map[string]uint64{"401": 3}},
				{TokenID: "b2", ByCode: map[string]uint64{"other": 1}}},
		},
		Producer: &metrics.Producer{Acked: 5, Failed: 1, Timeouts: 1, Latency: h},
		Spool: &metrics.Spool{Segments: 2, Bytes: 1 << 20, Records: 11, DurableOffset: 11, Fsync: &h,
			Emitted: &metrics.Backlog{Offset: 9, Records: 2, OldestAge: 1.25}, Loaded: &metrics.Loaded{Offset: 4, OldestAge: 30}},
		Emitter: &metrics.Emitter{Records: []metrics.StreamCount{{Stream: "data", Count: 8}, {Stream: "rejected", Count: 1}}, RejectedBodies: 1},
		AppAPI: &metrics.AppAPI{Requests: []metrics.Request{{Stream: "deliveries", Outcome: "ok", Count: 3}},
			Failures: []metrics.StreamCount{{Stream: "deliveries"}}, Skipped: []metrics.StreamCount{{Stream: "deliveries", Count: 2}},
			LastSuccess: []metrics.StreamTime{{Stream: "deliveries", At: at}}},
	}
}

// linesOfExposition is how status read the /metrics text before the
// snapshot: sample lines by name (sorted, buckets left out), values
// re-formatted, HELP by family.
func linesOfExposition(text string) []string {
	help := map[string]string{}
	type sample struct{ labels, value string }
	byName := map[string][]sample{}
	for _, line := range strings.Split(text, "\n") {
		if rest, ok := strings.CutPrefix(line, "# HELP "); ok {
			name, h, _ := strings.Cut(rest, " ")
			help[name] = h
			continue
		}
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		name, labels := line[:i], ""
		if j := strings.IndexByte(name, '{'); j >= 0 {
			name, labels = name[:j], strings.TrimSuffix(name[j+1:], "}")
		}
		if !strings.HasSuffix(name, "_bucket") {
			byName[name] = append(byName[name], sample{labels, metrics.FormatValue(v)})
		}
	}
	var out []string
	for name, samples := range byName {
		var parts []string
		for _, s := range samples {
			if s.labels != "" {
				parts = append(parts, s.labels+": "+s.value)
			} else {
				parts = append(parts, s.value)
			}
		}
		h := help[name]
		if h == "" {
			h = help[strings.TrimSuffix(strings.TrimSuffix(name, "_sum"), "_count")]
		}
		out = append(out, strings.TrimPrefix(name, metrics.Prefix)+"\t"+strings.Join(parts, ", ")+"\t"+h)
	}
	sort.Strings(out)
	return out
}
