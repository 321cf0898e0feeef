package tap

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/cio-singer/tap-customerio-webhook/catalog"
	"github.com/cio-singer/tap-customerio-webhook/internal/poll"
	"github.com/cio-singer/tap-customerio-webhook/internal/singer"
)

// runningTap is a tap started in-process on a loopback port.
type runningTap struct {
	url    string // webhook URL
	base   string
	cancel context.CancelFunc
	done   chan error
	lines  chan singer.Message
}

func startTap(t *testing.T, cfg Config, state Bookmark, stdout io.Writer) *runningTap {
	t.Helper()
	sel, err := catalog.Default()
	if err != nil {
		t.Fatal(err)
	}
	return startTapWith(t, cfg, state, sel, stdout)
}

// startTapWith is startTap with a catalog selection of the test's own.
func startTapWith(t *testing.T, cfg Config, state Bookmark, sel map[string]catalog.Selection, stdout io.Writer) *runningTap {
	t.Helper()
	return startTapOptions(t, Options{Config: cfg, State: state, Selection: sel, Stdout: stdout})
}

// startTapOptions starts Run with o, on a loopback listener of its own
// and a test logger; a nil o.Stdout is read into rt.lines.
func startTapOptions(t *testing.T, o Options) *runningTap {
	t.Helper()
	stdout := o.Stdout
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rt := &runningTap{done: make(chan error, 1), lines: make(chan singer.Message, 1000)}
	closeStdout := func() {}
	if stdout == nil {
		pr, pw := io.Pipe()
		stdout = pw
		go func() {
			r := singer.NewReader(pr, 0)
			for {
				m, err := r.Next()
				if err != nil {
					close(rt.lines)
					return
				}
				rt.lines <- m
			}
		}()
		closeStdout = func() { pw.Close() }
	}
	ctx, cancel := context.WithCancel(context.Background())
	rt.cancel = cancel
	rt.base = "http://" + ln.Addr().String()
	rt.url = rt.base + "/webhook/" + testToken
	o.Stdout, o.Log, o.Listener, o.TokenPoll = stdout, zerolog.New(zerolog.NewTestWriter(t)), ln, 20*time.Millisecond
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		rt.done <- Run(ctx, o)
	}()
	// Run logs to t until it returns, and logging after t completes
	// panics the test binary: the test ends once Run has. Closing stdout
	// ends a write blocked on a reader the test no longer drains.
	t.Cleanup(func() {
		cancel()
		closeStdout()
		select {
		case <-exited:
		case <-time.After(time.Minute):
			t.Error("Run did not return within a minute of its cancel")
		}
	})
	return rt
}

func testConfig(t *testing.T, dir string) Config {
	return Config{WebhookTokens: []string{testToken}, SpoolDir: dir, MaxBodyBytes: 1 << 20,
		StateInterval: 50 * time.Millisecond, LogLevel: zerolog.DebugLevel}
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

// next returns the next message, failing the test after a deadline.
func (rt *runningTap) next(t *testing.T) singer.Message {
	t.Helper()
	select {
	case m, ok := <-rt.lines:
		if !ok {
			t.Fatal("stdout closed")
		}
		return m
	case <-time.After(10 * time.Second):
		t.Fatal("no Singer message within 10s")
	}
	return singer.Message{}
}

// recordsUntilState collects RECORD event ids until a STATE covering
// offset arrives.
func (rt *runningTap) recordsUntilState(t *testing.T, offset uint64) ([]string, Bookmark) {
	t.Helper()
	var ids []string
	for {
		m := rt.next(t)
		switch m.Type {
		case "RECORD":
			var r struct {
				EventID string `json:"event_id"`
			}
			_ = json.Unmarshal(m.Record, &r)
			ids = append(ids, r.EventID)
		case "STATE":
			b, err := ParseState(m.Value)
			if err != nil {
				t.Fatal(err)
			}
			if b.SpoolOffset >= offset {
				return ids, b
			}
		}
	}
}

func (rt *runningTap) stop(t *testing.T) {
	t.Helper()
	rt.cancel()
	select {
	case err := <-rt.done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}

func sentEvent(id string) string {
	return `{"event_id":"` + id + `","object_type":"email","metric":"sent","timestamp":1727712043,"data":{"delivery_id":"d"}}`
}

func TestRunEmitsAcknowledgedWebhooks(t *testing.T) {
	t.Parallel()
	rt := startTap(t, testConfig(t, t.TempDir()), Bookmark{}, nil)
	waitReady(t, rt.base)
	for _, id := range []string{"e1", "e2", "e3"} {
		if code := post(t, rt.url, sentEvent(id)); code != 200 {
			t.Fatalf("POST %s: %d", id, code)
		}
	}
	first := rt.next(t)
	if first.Type != "SCHEMA" || first.Stream != "data" || strings.Join(first.KeyProperties, ",") != "event_id" {
		t.Fatalf("first message %+v, want SCHEMA of data keyed on event_id", first)
	}
	ids, _ := rt.recordsUntilState(t, 3)
	if strings.Join(ids, ",") != "e1,e2,e3" {
		t.Fatalf("records %v, want e1,e2,e3 in order", ids)
	}
	rt.stop(t)
}

// TestRunResumesAfterState: records at or before the --state offset are
// not emitted again; later ones are, after a restart on the same spool.
func TestRunResumesAfterState(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	rt := startTap(t, testConfig(t, dir), Bookmark{}, nil)
	waitReady(t, rt.base)
	for _, id := range []string{"a1", "a2"} {
		post(t, rt.url, sentEvent(id))
	}
	_, st := rt.recordsUntilState(t, 2)
	rt.stop(t)

	rt2 := startTap(t, testConfig(t, dir), st, nil)
	waitReady(t, rt2.base)
	post(t, rt2.url, sentEvent("b1"))
	ids, _ := rt2.recordsUntilState(t, 3)
	if strings.Join(ids, ",") != "b1" {
		t.Fatalf("after resume got %v, want only b1", ids)
	}
	rt2.stop(t)

	// A state from another spool is not trusted: everything is emitted.
	rt3 := startTap(t, testConfig(t, dir), Bookmark{SpoolOffset: 3, SpoolID: "someone-else"}, nil)
	waitReady(t, rt3.base)
	post(t, rt3.url, sentEvent("c1"))
	ids, _ = rt3.recordsUntilState(t, 4)
	if strings.Join(ids, ",") != "a1,a2,b1,c1" && strings.Join(ids, ",") != "b1,c1" {
		t.Fatalf("with a foreign state got %v, want every record still spooled", ids)
	}
	rt3.stop(t)
}

func waitReady(t *testing.T, base string) {
	t.Helper()
	poll.Until(t, base+"/readyz to answer 200", func() bool {
		resp, err := http.Get(base + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}

func TestRunExitAfterIdle(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t, t.TempDir())
	cfg.ExitAfterIdle = 200 * time.Millisecond
	var out bytes.Buffer
	rt := startTap(t, cfg, Bookmark{}, &out)
	select {
	case err := <-rt.done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("exit_after_idle did not stop the tap")
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 1 || !strings.HasPrefix(lines[0], `{"type":"STATE"`) {
		t.Fatalf("want exactly one final STATE, got %q", out.String())
	}
}

// TestRunOnlyEmitsWhenListenEmpty: with listen "" no server starts; what
// the spool holds is emitted and the tap exits once idle.
func TestRunOnlyEmitsWhenListenEmpty(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	rt := startTap(t, testConfig(t, dir), Bookmark{}, nil)
	waitReady(t, rt.base)
	post(t, rt.url, sentEvent("x1"))
	rt.recordsUntilState(t, 1)
	rt.stop(t)

	cfg := testConfig(t, dir)
	cfg.Listen = "" // no exit_after_idle: it stops once caught up
	var out bytes.Buffer
	err := Run(context.Background(), Options{Config: cfg, Selection: mustDefault(t), Stdout: &out, Log: zerolog.New(zerolog.NewTestWriter(t))})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), `"event_id":"x1"`) {
		t.Fatalf("spooled record not emitted: %s", out.String())
	}
}

func mustDefault(t *testing.T) map[string]catalog.Selection {
	sel, err := catalog.Default()
	if err != nil {
		t.Fatal(err)
	}
	return sel
}

type brokenPipe struct{}

func (brokenPipe) Write([]byte) (int, error) { return 0, errors.New("write |1: broken pipe") }

// TestRunStopsWhenStdoutBreaks: once the target is gone, the tap stops
// acknowledging (the spool keeps what was acknowledged) and fails.
func TestRunStopsWhenStdoutBreaks(t *testing.T) {
	t.Parallel()
	rt := startTap(t, testConfig(t, t.TempDir()), Bookmark{}, brokenPipe{})
	waitReady(t, rt.base)
	if code := post(t, rt.url, sentEvent("p1")); code != 200 {
		t.Fatalf("first POST: %d", code)
	}
	select {
	case err := <-rt.done:
		if err == nil {
			t.Fatal("Run returned nil with a broken stdout")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not stop on a broken stdout")
	}
	resp, err := http.Post(rt.url, "application/json", strings.NewReader(sentEvent("p2")))
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Fatal("webhook acknowledged after stdout broke")
		}
	}
}
