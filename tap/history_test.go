package tap

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/cio-singer/tap-customerio-webhook/catalog"
	"github.com/cio-singer/tap-customerio-webhook/internal/clock"
	"github.com/cio-singer/tap-customerio-webhook/internal/poll"
	"github.com/cio-singer/tap-customerio-webhook/internal/singer"
	"github.com/cio-singer/tap-customerio-webhook/schemas"
	"github.com/cio-singer/tap-customerio-webhook/tap/appapi"
	"github.com/cio-singer/tap-customerio-webhook/tap/appapi/appapitest"
)

// appEpoch is the virtual "now" of the App API tests.
var appEpoch = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

const appDeliveries = 600

// appFixture is a fake App API holding 600 deliveries created over the 20
// days before appEpoch and a few rows in each name table, on a virtual
// clock shared with the tap's client (retries and pacing take no time).
type appFixture struct {
	clock  *clock.Fake
	server *appapitest.Server
}

func newAppFixture(t *testing.T) *appFixture {
	t.Helper()
	f := &appFixture{clock: clock.NewFake(appEpoch)}
	f.server = appapitest.New(t, appapitest.Options{Clock: f.clock})
	if err := f.server.AddDeliveries(appapitest.Deliveries(appDeliveries, appEpoch.Add(-20*24*time.Hour), appEpoch.Add(-time.Minute))...); err != nil {
		t.Fatal(err)
	}
	f.server.SetTable("/v1/campaigns", json.RawMessage(`{"id":1,"name":"Welcome"}`), json.RawMessage(`{"id":2,"name":"Winback","brand_new_field":"x"}`))
	f.server.SetTable("/v1/broadcasts", json.RawMessage(`{"id":3,"name":"Spring sale"}`))
	f.server.SetTable("/v1/newsletters", json.RawMessage(`{"id":4,"name":"March"}`))
	f.server.SetTable("/v1/transactional", json.RawMessage(`{"id":5,"name":"Password reset"}`))
	return f
}

// config is the tap's config reading the fake through baseURL (the fake's
// own URL unless a test puts something in between).
func (f *appFixture) config(t *testing.T, dir, baseURL string) Config {
	cfg := testConfig(t, dir)
	cfg.AppAPI = AppAPIConfig{Key: f.server.Key(), Region: "us", URL: baseURL,
		StartDate: appEpoch.Add(-30 * 24 * time.Hour), Lookback: 168 * time.Hour, Interval: time.Hour}
	return cfg
}

func appSelection(t *testing.T) map[string]catalog.Selection {
	t.Helper()
	sel, err := catalog.DefaultFor(true)
	if err != nil {
		t.Fatal(err)
	}
	return sel
}

// runDrain runs the tap with listen "" (emit what there is, then exit)
// and returns its messages.
func (f *appFixture) runDrain(t *testing.T, cfg Config, sel map[string]catalog.Selection, stateLine json.RawMessage) []singer.Message {
	t.Helper()
	cfg.Listen = ""
	var logs bytes.Buffer
	o := Options{Config: cfg, Selection: sel, Log: zerolog.New(zerolog.SyncWriter(&logs)).Level(zerolog.DebugLevel), AppAPIClock: f.clock}
	var err error
	if o.State, err = ParseState(stateLine); err != nil {
		t.Fatal(err)
	}
	if o.AppAPIBookmarks, err = ParseAppAPIBookmarks(stateLine); err != nil {
		t.Fatal(err)
	}
	if cfg.Spool == SpoolKafka {
		if o.KafkaPosition, err = ParseKafkaPosition(stateLine); err != nil {
			t.Fatal(err)
		}
	}
	var out bytes.Buffer
	o.Stdout = &out
	err = Run(context.Background(), o)
	t.Log(logs.String())
	if err != nil {
		t.Fatal(err)
	}
	// Run has returned: no goroutine logs any more.
	if strings.Contains(logs.String(), f.server.Key()) || strings.Contains(logs.String(), "@example.com") {
		t.Fatal("the log holds the App API key or an e-mail address of an answer")
	}
	if !strings.Contains(logs.String(), "app api pass done") {
		t.Fatal("no pass logged")
	}
	return messages(t, &out)
}

// created returns the created of a deliveries record.
func created(t *testing.T, rec json.RawMessage) int64 {
	t.Helper()
	var d struct {
		Created int64 `json:"created"`
	}
	if err := json.Unmarshal(rec, &d); err != nil {
		t.Fatal(err)
	}
	return d.Created
}

func deliveriesBookmark(t *testing.T, stateValue json.RawMessage) (appapi.DeliveriesBookmark, bool) {
	t.Helper()
	bms, err := ParseAppAPIBookmarks(stateValue)
	if err != nil {
		t.Fatal(err)
	}
	raw, ok := bms[schemas.Deliveries]
	var b appapi.DeliveriesBookmark
	if ok {
		if err := json.Unmarshal(raw, &b); err != nil {
			t.Fatal(err)
		}
	}
	return b, ok
}

// TestRunEmitsAppAPIStreams: a listen "" run emits the five streams, each
// SCHEMA (key id) before its first record, and waits for them before its
// final STATE; a deliveries bookmark in a STATE covers only records
// written before it; given back with --state, the next run re-reads only
// the lookback window before it, and keeps the spool's bookmark as it was.
func TestRunEmitsAppAPIStreams(t *testing.T) {
	t.Parallel()
	f := newAppFixture(t)
	dir := t.TempDir()
	cfg := f.config(t, dir, f.server.URL)
	msgs := f.runDrain(t, cfg, appSelection(t), nil)

	schemaSeen := map[string]bool{}
	ids := map[string]map[string]bool{}
	var lastState json.RawMessage
	for i, m := range msgs {
		switch m.Type {
		case "SCHEMA":
			if m.Stream != schemas.Data && m.Stream != schemas.Rejected && strings.Join(m.KeyProperties, ",") != "id" {
				t.Errorf("SCHEMA of %s has key %v, want [id]", m.Stream, m.KeyProperties)
			}
			schemaSeen[m.Stream] = true
		case "RECORD":
			if !schemaSeen[m.Stream] {
				t.Fatalf("message %d: RECORD of %s before its SCHEMA", i, m.Stream)
			}
			var r struct {
				ID any `json:"id"`
			}
			if err := json.Unmarshal(m.Record, &r); err != nil || r.ID == nil {
				t.Fatalf("record of %s without id: %s", m.Stream, m.Record)
			}
			if ids[m.Stream] == nil {
				ids[m.Stream] = map[string]bool{}
			}
			ids[m.Stream][string(mustJSON(t, r.ID))] = true
		case "STATE":
			lastState = m.Value
			// Every delivery the bookmark covers was written before it.
			if b, ok := deliveriesBookmark(t, m.Value); ok {
				want := 0
				for _, d := range appapitest.Deliveries(appDeliveries, appEpoch.Add(-20*24*time.Hour), appEpoch.Add(-time.Minute)) {
					if created(t, d) <= b.Created {
						want++
					}
				}
				if got := len(ids[schemas.Deliveries]); got < want {
					t.Fatalf("STATE with deliveries bookmark %d after %d deliveries, want the %d it covers", b.Created, got, want)
				}
			}
		}
	}
	for stream, want := range map[string]int{schemas.Deliveries: appDeliveries, schemas.Campaigns: 2, schemas.Broadcasts: 1,
		schemas.Newsletters: 1, schemas.TransactionalMessages: 1} {
		if got := len(ids[stream]); got != want {
			t.Errorf("%s: %d distinct records, want %d", stream, got, want)
		}
	}
	if msgs[len(msgs)-1].Type != "STATE" {
		t.Fatalf("last message is %s, want the final STATE", msgs[len(msgs)-1].Type)
	}
	b, ok := deliveriesBookmark(t, lastState)
	if !ok || b.Created < appEpoch.Unix() {
		t.Fatalf("final state %s: deliveries bookmark %d, want at least %d", lastState, b.Created, appEpoch.Unix())
	}
	if !strings.Contains(string(lastState), `"data":{"spool_offset":0`) {
		t.Errorf("final state %s lost the spool bookmark", lastState)
	}

	// The second run, from that state, asks only for the lookback window.
	before := len(f.server.Requests())
	f.clock.Advance(time.Hour)
	msgs = f.runDrain(t, cfg, appSelection(t), lastState)
	from := b.Created - int64((168 * time.Hour).Seconds())
	asked := 0
	for _, r := range f.server.Requests()[before:] {
		if r.Path != "/v1/messages" {
			continue
		}
		asked++
		if ts, _ := strconv.ParseInt(r.Query.Get("start_ts"), 10, 64); ts < from-1 {
			t.Errorf("second run asked for deliveries from %d, before the lookback window (%d)", ts, from)
		}
	}
	if asked == 0 {
		t.Fatal("second run did not read deliveries")
	}
	again := 0
	for _, m := range msgs {
		if m.Type == "RECORD" && m.Stream == schemas.Deliveries {
			again++
			if c := created(t, m.Record); c < from-1 {
				t.Errorf("second run emitted a delivery created at %d, before the lookback window (%d)", c, from)
			}
		}
	}
	if again == 0 || again >= appDeliveries {
		t.Errorf("second run emitted %d deliveries, want those of the last 7 days only", again)
	}
	if b2, ok := deliveriesBookmark(t, msgs[len(msgs)-1].Value); !ok || b2.Created <= b.Created {
		t.Errorf("second run's bookmark %d did not move on from %d", b2.Created, b.Created)
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestRunAppAPIDeselected: a stream deselected in the catalog is never
// asked for, and a deselected field leaves on no record.
func TestRunAppAPIDeselected(t *testing.T) {
	t.Parallel()
	f := newAppFixture(t)
	c, err := catalog.DiscoverFor(true)
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range c.Streams {
		for j, m := range s.Metadata {
			crumb := strings.Join(m.Breadcrumb, ".")
			if (s.Stream == schemas.Deliveries && crumb == "") || (s.Stream == schemas.Campaigns && crumb == "properties.name") {
				c.Streams[i].Metadata[j].Metadata["selected"] = false
			}
		}
	}
	sel, err := c.Select()
	if err != nil {
		t.Fatal(err)
	}
	msgs := f.runDrain(t, f.config(t, t.TempDir(), f.server.URL), sel, nil)
	for _, r := range f.server.Requests() {
		if r.Path == "/v1/messages" {
			t.Fatalf("deselected deliveries was read: %s?%s", r.Path, r.Query.Encode())
		}
	}
	campaigns := 0
	for _, m := range msgs {
		if m.Stream == schemas.Deliveries {
			t.Fatalf("deselected deliveries emitted: %s", m.Type)
		}
		if m.Stream == schemas.Campaigns && (bytes.Contains(m.Record, []byte(`"name"`)) || bytes.Contains(m.Schema, []byte(`"name"`))) {
			t.Fatalf("deselected campaigns.name left: %s%s", m.Record, m.Schema)
		}
		if m.Type == "RECORD" && m.Stream == schemas.Campaigns {
			campaigns++
		}
	}
	if campaigns != 2 {
		t.Fatalf("%d campaigns emitted, want 2", campaigns)
	}
}

// gate is a proxy in front of the fake that holds every request until
// opened: the App API "hangs".
type gate struct {
	URL  string
	once sync.Once
	open chan struct{}
	held atomic.Int64 // requests that have waited at the gate
}

func newGate(t *testing.T, target string) *gate {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	g := &gate{open: make(chan struct{})}
	proxy := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: u.Scheme, Host: u.Host})
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g.held.Add(1)
		select {
		case <-g.open:
		case <-r.Context().Done():
			return
		}
		proxy.ServeHTTP(w, r)
	})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { g.release(); srv.Close() })
	g.URL = "http://" + ln.Addr().String() + u.Path
	return g
}

func (g *gate) release() { g.once.Do(func() { close(g.open) }) }

// TestRunAppAPIFailureNeverStopsWebhooks: while the App API hangs,
// webhooks are acknowledged and emitted; when it then answers 500 on
// deliveries (every retry), the name tables still come out, webhooks still
// flow, the failure is counted in /metrics and the next pass, an
// app_api_interval later, reads deliveries.
func TestRunAppAPIFailureNeverStopsWebhooks(t *testing.T) {
	t.Parallel()
	f := newAppFixture(t)
	for range 6 { // the first attempt and its 5 retries
		f.server.Fail(appapitest.Fault{Path: "/v1/messages", Status: http.StatusInternalServerError})
	}
	g := newGate(t, f.server.URL)
	dir := t.TempDir()
	cfg := f.config(t, dir, g.URL)
	cfg.AppAPI.Interval = 300 * time.Millisecond
	rt := startTapOptions(t, Options{Config: cfg, Selection: appSelection(t), AppAPIClock: f.clock})
	waitReady(t, rt.base)

	if code := post(t, rt.url, sentEvent("w1")); code != http.StatusOK {
		t.Fatalf("webhook while the App API hangs: %d", code)
	}
	if ids, _ := rt.recordsUntilState(t, 1); strings.Join(ids, ",") != "w1" {
		t.Fatalf("emitted %v while the App API hangs, want w1", ids)
	}

	g.release()
	seen := map[string]int{}
	for seen[schemas.Campaigns] == 0 {
		if m := rt.next(t); m.Type == "RECORD" {
			seen[m.Stream]++
		}
	}
	if code := post(t, rt.url, sentEvent("w2")); code != http.StatusOK {
		t.Fatalf("webhook after the App API failed: %d", code)
	}
	for seen[schemas.Data] == 0 || seen[schemas.Deliveries] < appDeliveries {
		if m := rt.next(t); m.Type == "RECORD" {
			seen[m.Stream]++
		}
	}

	metrics, text := scrape(t, rt.base)
	for name, want := range map[string]float64{
		`app_api_requests_total{stream="deliveries",outcome="server_error"}`: 6,
		`app_api_stream_failures_total{stream="deliveries"}`:                 1,
		`records_emitted_total{stream="data"}`:                               2,
	} {
		if metrics[name] != want {
			t.Errorf("%s = %v, want %v\n%s", name, metrics[name], want, text)
		}
	}
	if metrics[`app_api_requests_total{stream="deliveries",outcome="ok"}`] < 1 ||
		metrics[`app_api_last_success_timestamp_seconds{stream="campaigns"}`] <= 0 ||
		metrics[`records_emitted_total{stream="deliveries"}`] < appDeliveries {
		t.Errorf("App API metrics missing\n%s", text)
	}
	if strings.Contains(text, f.server.Key()) {
		t.Error("/metrics shows the App API key")
	}
	rt.stop(t)
}

func TestParseStateWithAppAPIBookmarks(t *testing.T) {
	t.Parallel()
	line := encodeState(spoolBookmarks(Bookmark{9, "s"}), map[string]json.RawMessage{schemas.Deliveries: json.RawMessage(`{"created":1700000000}`)})
	if want := `{"bookmarks":{"data":{"spool_offset":9,"spool_id":"s"},"deliveries":{"created":1700000000},"rejected":{"spool_offset":9,"spool_id":"s"}}}`; string(line) != want {
		t.Fatalf("state %s, want %s", line, want)
	}
	b, err := ParseState(line)
	if err != nil || b != (Bookmark{9, "s"}) {
		t.Fatalf("ParseState: %+v %v", b, err)
	}
	bms, err := ParseAppAPIBookmarks(line)
	if err != nil || len(bms) != 1 || string(bms[schemas.Deliveries]) != `{"created":1700000000}` {
		t.Fatalf("ParseAppAPIBookmarks: %v %v", bms, err)
	}
	// A state from before the App API streams has none.
	for _, old := range []string{``, `null`, `{"bookmarks":{"data":{"spool_offset":7,"spool_id":"x"}}}`} {
		if bms, err := ParseAppAPIBookmarks([]byte(old)); err != nil || bms != nil {
			t.Errorf("ParseAppAPIBookmarks(%s) = %v, %v", old, bms, err)
		}
	}
	if _, err := ParseAppAPIBookmarks([]byte(`[`)); err == nil {
		t.Error("a broken state was accepted")
	}
}

// TestRunExitAfterIdleWaitsForTheAppAPIPass: exit_after_idle does not end
// a run while its App API pass is under way (the API hangs); once the
// pass is done, the run writes everything, a final STATE with the
// bookmark, and exits by itself.
func TestRunExitAfterIdleWaitsForTheAppAPIPass(t *testing.T) {
	t.Parallel()
	f := newAppFixture(t)
	g := newGate(t, f.server.URL)
	cfg := f.config(t, t.TempDir(), g.URL)
	cfg.ExitAfterIdle = time.Millisecond
	rt := startTapOptions(t, Options{Config: cfg, Selection: appSelection(t), AppAPIClock: f.clock})
	waitReady(t, rt.base)
	if code := post(t, rt.url, sentEvent("w1")); code != http.StatusOK {
		t.Fatalf("webhook: %d", code)
	}
	rt.recordsUntilState(t, 1)
	// Idle for far longer than exit_after_idle by now, with the pass held.
	poll.Until(t, "the App API to be asked", func() bool { return g.held.Load() > 0 })
	g.release()
	deliveries := 0
	var last singer.Message
	for deliveries < appDeliveries || last.Type != "STATE" {
		last = rt.next(t)
		if last.Type == "RECORD" && last.Stream == schemas.Deliveries {
			deliveries++
		}
	}
	select {
	case err := <-rt.done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("run did not exit after its pass")
	}
	if _, ok := deliveriesBookmark(t, last.Value); !ok {
		t.Fatalf("last STATE %s has no deliveries bookmark", last.Value)
	}
}
