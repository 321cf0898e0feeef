package tap

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/cio-singer/tap-customerio-webhook/internal/poll"
	"github.com/cio-singer/tap-customerio-webhook/internal/singer"
	"github.com/cio-singer/tap-customerio-webhook/tap/spool"
)

// load runs the tap once with "listen": "" from state, as a scheduler
// does, and returns the event ids it emitted and its last state.
func load(t *testing.T, cfg Config, state Bookmark) ([]string, Bookmark) {
	t.Helper()
	cfg.Listen = ""
	var out bytes.Buffer
	err := Run(context.Background(), Options{Config: cfg, State: state, Selection: mustDefault(t), Stdout: &out,
		Log: zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.InfoLevel)})
	if err != nil {
		t.Fatalf("load run: %v", err)
	}
	r := singer.NewReader(&out, 0)
	var ids []string
	last := state
	for {
		m, err := r.Next()
		if err != nil {
			break
		}
		switch m.Type {
		case "RECORD":
			var rec struct {
				EventID string `json:"event_id"`
			}
			_ = json.Unmarshal(m.Record, &rec)
			ids = append(ids, rec.EventID)
		case "STATE":
			if last, err = ParseState(m.Value); err != nil {
				t.Fatal(err)
			}
		}
	}
	return ids, last
}

// TestServeWithScheduledLoads: `serve` receives webhooks while Singer runs
// with "listen": "" load the same spool_dir over and over, each from the
// previous one's state. Every acknowledged webhook is emitted exactly once
// across runs, in order, and /metrics of the receiver shows what the loads
// emitted (package cli tests what status makes of it).
func TestServeWithScheduledLoads(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := testConfig(t, dir)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	served := make(chan error, 1)
	go func() {
		served <- Serve(ctx, Options{Config: cfg, Listener: ln, Log: zerolog.New(zerolog.NewTestWriter(t)), TokenPoll: 20 * time.Millisecond})
	}()
	waitReady(t, base)

	const n = 80
	posted := make(chan error, 1)
	go func() {
		for i := range n {
			if code := post(t, base+"/webhook/"+testToken, sentEvent(fmt.Sprint("e", i))); code != 200 {
				posted <- fmt.Errorf("POST e%d: %d", i, code)
				return
			}
		}
		posted <- nil
	}()

	var all []string
	var st Bookmark
	runs := 0
	postDone := false
	poll.Within(t, 30*time.Second, fmt.Sprintf("loads to emit the %d webhooks", n), func() bool {
		ids, next := load(t, cfg, st)
		all = append(all, ids...)
		st = next
		runs++
		if !postDone {
			select {
			case err := <-posted:
				if err != nil {
					t.Fatal(err)
				}
				postDone = true
			default:
			}
		}
		return len(all) >= n
	})
	want := make([]string, n)
	for i := range want {
		want[i] = fmt.Sprint("e", i)
	}
	if strings.Join(all, ",") != strings.Join(want, ",") {
		t.Fatalf("after %d loads emitted %v; want e0..e%d once each, in order", runs, all, n-1)
	}
	t.Logf("%d load runs", runs)

	m, _ := scrape(t, base)
	if m["emitted_offset"] != n || m["backlog_records"] != 0 || m["spool_durable_offset"] != n {
		t.Errorf("receiver metrics: emitted_offset %v backlog %v durable %v; want %d, 0, %d", m["emitted_offset"], m["backlog_records"], m["spool_durable_offset"], n, n)
	}
	if m[`spool_fsync_duration_seconds_count`] < 1 {
		t.Errorf("no fsync observed: %v", m)
	}
	if m[`http_requests_total{code="200"}`] < n {
		t.Errorf("http 200s %v; want at least %d", m[`http_requests_total{code="200"}`], n)
	}

	cancel()
	if err := <-served; err != nil {
		t.Fatalf("Serve: %v", err)
	}
}

// TestLoadRefusedBesideCombinedTap: a tap that receives and emits in one
// process is the spool's reader too; a scheduled load on the same
// spool_dir fails clearly instead of releasing segments under it.
func TestLoadRefusedBesideCombinedTap(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	rt := startTap(t, testConfig(t, dir), Bookmark{}, nil)
	waitReady(t, rt.base)
	cfg := testConfig(t, dir)
	cfg.Listen = ""
	err := Run(context.Background(), Options{Config: cfg, Selection: mustDefault(t), Stdout: &bytes.Buffer{}, Log: zerolog.Nop()})
	if !errors.Is(err, spool.ErrLocked) || !strings.Contains(err.Error(), "being read") {
		t.Fatalf("load beside a combined tap: %v; want ErrLocked naming the reader", err)
	}
	rt.stop(t)
}
