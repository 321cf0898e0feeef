package appapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/cio-singer/tap-customerio-webhook/internal/clock"
	"github.com/cio-singer/tap-customerio-webhook/schemas"
	"github.com/cio-singer/tap-customerio-webhook/tap/appapi/appapitest"
)

// collector is a Sink that keeps what it is given.
type collector struct {
	records   map[string][]json.RawMessage
	bookmarks map[string][]json.RawMessage
	// onRecord, when set, runs after each record is kept.
	onRecord func(n int) error
	n        int
}

func newCollector() *collector {
	return &collector{records: map[string][]json.RawMessage{}, bookmarks: map[string][]json.RawMessage{}}
}

func (c *collector) Record(stream string, rec json.RawMessage) error {
	c.records[stream] = append(c.records[stream], append(json.RawMessage(nil), rec...))
	c.n++
	if c.onRecord != nil {
		return c.onRecord(c.n)
	}
	return nil
}

func (c *collector) Bookmark(stream string, b json.RawMessage) error {
	c.bookmarks[stream] = append(c.bookmarks[stream], append(json.RawMessage(nil), b...))
	return nil
}

// ids returns the set of ids of stream's records.
func (c *collector) ids(t *testing.T, stream string) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	for _, r := range c.records[stream] {
		var v struct {
			ID any `json:"id"`
		}
		if err := json.Unmarshal(r, &v); err != nil {
			t.Fatal(err)
		}
		out[fmt.Sprint(v.ID)] = true
	}
	return out
}

func (c *collector) lastBookmark(t *testing.T) DeliveriesBookmark {
	t.Helper()
	bms := c.bookmarks[schemas.Deliveries]
	if len(bms) == 0 {
		t.Fatal("no deliveries bookmark")
	}
	var b DeliveriesBookmark
	if err := json.Unmarshal(bms[len(bms)-1], &b); err != nil {
		t.Fatal(err)
	}
	return b
}

// wantAllDeliveries fails unless every one of n generated ids was emitted.
func wantAllDeliveries(t *testing.T, got map[string]bool, n int) {
	t.Helper()
	missing := 0
	for i := range n {
		if !got[fmt.Sprintf("d%06d", i)] {
			missing++
		}
	}
	if missing > 0 || len(got) != n {
		t.Fatalf("%d of %d deliveries missing, %d distinct emitted", missing, n, len(got))
	}
}

type fixture struct {
	clock  *clock.Fake
	server *appapitest.Server
	logs   *bytes.Buffer
	runner *Runner
}

func newFixture(t *testing.T, so appapitest.Options, ro RunOptions) *fixture {
	t.Helper()
	f := &fixture{clock: clock.NewFake(epoch), logs: &bytes.Buffer{}}
	so.Clock = f.clock
	f.server = appapitest.New(t, so)
	ro.Log = zerolog.New(f.logs).Level(zerolog.DebugLevel)
	f.runner = NewRunner(newClient(t, f.server, f.clock, f.logs), ro)
	return f
}

func rows(format string, n int) []json.RawMessage {
	out := make([]json.RawMessage, n)
	for i := range out {
		out[i] = json.RawMessage(fmt.Sprintf(format, i+1))
	}
	return out
}

func TestRunner_FirstRunReadsEverything(t *testing.T) {
	const n = 5000
	f := newFixture(t, appapitest.Options{TablePage: 2}, RunOptions{StartDate: epoch.Add(-60 * 24 * time.Hour)})
	if err := f.server.AddDeliveries(appapitest.Deliveries(n, epoch.Add(-60*24*time.Hour), epoch.Add(-time.Minute))...); err != nil {
		t.Fatal(err)
	}
	f.server.SetTable("/v1/campaigns", rows(`{"id":%d,"name":"c","created_by":"someone@example.com"}`, 3)...)
	f.server.SetTable("/v1/broadcasts", rows(`{"id":%d,"name":"b"}`, 4)...)
	f.server.SetTable("/v1/newsletters", rows(`{"id":%d,"name":"n"}`, 5)...)
	f.server.SetTable("/v1/transactional", rows(`{"id":%d,"name":"t"}`, 1)...)

	sink := newCollector()
	results, err := f.runner.Run(t.Context(), schemas.AppAPIStreams(), nil, sink)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range map[string]int{schemas.Campaigns: 3, schemas.Broadcasts: 4, schemas.Newsletters: 5, schemas.TransactionalMessages: 1} {
		if got := len(sink.ids(t, i)); got != want {
			t.Errorf("%s: %d rows, want %d", i, got, want)
		}
	}
	wantAllDeliveries(t, sink.ids(t, schemas.Deliveries), n)
	for _, r := range results {
		if r.Err != nil {
			t.Errorf("%s: %v", r.Stream, r.Err)
		}
	}
	if b := sink.lastBookmark(t); b.Created != epoch.Unix() {
		t.Errorf("bookmark %d, want the run's start %d", b.Created, epoch.Unix())
	}
	reqs := f.server.Requests()
	for i, r := range reqs {
		if r.Status != http.StatusOK {
			t.Fatalf("request %d answered %d", i, r.Status)
		}
		if i > 0 && r.Time.Sub(reqs[i-1].Time) < 100*time.Millisecond {
			t.Fatalf("request %d: over 10 a second", i)
		}
	}
	// 5000 deliveries in pages of 100 over 9 windows of at most 7 days.
	if len(reqs) > 4+2+3+n/100+9+5 {
		t.Errorf("%d requests: paging asks more than it needs", len(reqs))
	}
	if strings.Contains(f.logs.String(), "@example.com") || strings.Contains(f.logs.String(), f.server.Key()) {
		t.Error("a log line holds an e-mail address or the key")
	}
}

func TestRunner_LaterRunReadsLookbackAgain(t *testing.T) {
	f := newFixture(t, appapitest.Options{}, RunOptions{StartDate: epoch.Add(-30 * 24 * time.Hour), Lookback: 48 * time.Hour})
	old := appapitest.Deliveries(300, epoch.Add(-30*24*time.Hour), epoch.Add(-time.Hour))
	if err := f.server.AddDeliveries(old...); err != nil {
		t.Fatal(err)
	}
	first := newCollector()
	if _, err := f.runner.Run(t.Context(), []string{schemas.Deliveries}, nil, first); err != nil {
		t.Fatal(err)
	}
	bm := first.bookmarks[schemas.Deliveries][len(first.bookmarks[schemas.Deliveries])-1]

	// A day later: one new delivery, and metrics arrived on a recent one.
	f.clock.Advance(24 * time.Hour)
	var recent map[string]any
	_ = json.Unmarshal(old[299], &recent)
	recent["id"], recent["metrics"] = "d000299", map[string]any{"opened": epoch.Unix() + 100}
	updated, _ := json.Marshal(recent)
	newer := json.RawMessage(fmt.Sprintf(`{"id":"new1","created":%d}`, epoch.Add(12*time.Hour).Unix()))
	if err := f.server.AddDeliveries(updated, newer); err != nil {
		t.Fatal(err)
	}
	before := len(f.server.Requests())
	second := newCollector()
	if _, err := f.runner.Run(t.Context(), []string{schemas.Deliveries}, map[string]json.RawMessage{schemas.Deliveries: bm}, second); err != nil {
		t.Fatal(err)
	}
	got := second.ids(t, schemas.Deliveries)
	if !got["new1"] || !got["d000299"] {
		t.Errorf("second run missed the new delivery or the one with new metrics: %v", got)
	}
	if got["d000000"] {
		t.Error("second run read a delivery older than the lookback")
	}
	first2 := f.server.Requests()[before]
	if ts, _ := strconv.ParseInt(first2.Query.Get("start_ts"), 10, 64); ts != epoch.Add(-48*time.Hour).Unix()-1 {
		t.Errorf("second run started at %d, want bookmark - lookback - 1s = %d", ts, epoch.Add(-48*time.Hour).Unix()-1)
	}
	if b := second.lastBookmark(t); b.Created != epoch.Add(24*time.Hour).Unix() {
		t.Errorf("bookmark %d, want %d", b.Created, epoch.Add(24*time.Hour).Unix())
	}
}

func TestRunner_ExpiredCursorLosesNothing(t *testing.T) {
	for _, how := range []string{"server forgets its cursors", "400 on a cursor"} {
		t.Run(how, func(t *testing.T) {
			const n = 2000
			f := newFixture(t, appapitest.Options{}, RunOptions{StartDate: epoch.Add(-24 * time.Hour)})
			if err := f.server.AddDeliveries(appapitest.Deliveries(n, epoch.Add(-23*time.Hour), epoch.Add(-time.Hour))...); err != nil {
				t.Fatal(err)
			}
			sink := newCollector()
			sink.onRecord = func(k int) error {
				if k == 750 {
					if how == "400 on a cursor" {
						f.server.Fail(appapitest.Fault{Path: "/v1/messages", WithCursor: true, Status: http.StatusBadRequest})
					} else {
						f.server.ExpireCursors()
					}
				}
				return nil
			}
			results, err := f.runner.Run(t.Context(), []string{schemas.Deliveries}, nil, sink)
			if err != nil || results[0].Err != nil {
				t.Fatalf("run: %v, stream: %v", err, results[0].Err)
			}
			wantAllDeliveries(t, sink.ids(t, schemas.Deliveries), n)
			refused := 0
			for _, r := range f.server.Requests() {
				if r.Status == http.StatusBadRequest {
					refused++
				}
			}
			if refused != 1 {
				t.Errorf("%d cursors refused, want 1", refused)
			}
		})
	}
}

func TestRunner_FailedStreamKeepsItsBookmarkAndOthersGoOn(t *testing.T) {
	const n = 1500
	start := epoch.Add(-20 * 24 * time.Hour)
	f := newFixture(t, appapitest.Options{}, RunOptions{StartDate: start})
	if err := f.server.AddDeliveries(appapitest.Deliveries(n, start, epoch.Add(-time.Hour))...); err != nil {
		t.Fatal(err)
	}
	f.server.SetTable("/v1/broadcasts", rows(`{"id":%d}`, 2)...)
	for range 6 { // campaigns: a 500 more times than the client retries
		f.server.Fail(appapitest.Fault{Path: "/v1/campaigns", Status: http.StatusInternalServerError})
	}
	sink := newCollector()
	sink.onRecord = func(k int) error {
		if k == 2+800 { // deliveries, in the second 7-day window: the API goes down
			for range 6 {
				f.server.Fail(appapitest.Fault{Path: "/v1/messages", Status: http.StatusServiceUnavailable})
			}
		}
		return nil
	}
	results, err := f.runner.Run(t.Context(), []string{schemas.Campaigns, schemas.Broadcasts, schemas.Deliveries}, nil, sink)
	if err != nil {
		t.Fatal(err)
	}
	var se *StatusError
	if !errors.As(results[0].Err, &se) || se.Code != 500 {
		t.Errorf("campaigns: %v, want a 500", results[0].Err)
	}
	if results[1].Err != nil || results[1].Records != 2 {
		t.Errorf("broadcasts after a failed campaigns: %d rows, %v", results[1].Records, results[1].Err)
	}
	if !errors.As(results[2].Err, &se) || se.Code != 503 {
		t.Fatalf("deliveries: %v, want a 503", results[2].Err)
	}
	bm := sink.lastBookmark(t)
	if want := start.Add(7 * 24 * time.Hour).Unix(); bm.Created != want {
		t.Fatalf("bookmark %d after a failure in the second window, want the end of the first %d", bm.Created, want)
	}

	// The next run from that bookmark brings what the failed one missed.
	raw, _ := json.Marshal(bm)
	again := newCollector()
	if _, err := f.runner.Run(t.Context(), []string{schemas.Deliveries}, map[string]json.RawMessage{schemas.Deliveries: raw}, again); err != nil {
		t.Fatal(err)
	}
	got := again.ids(t, schemas.Deliveries)
	for id := range sink.ids(t, schemas.Deliveries) {
		got[id] = true
	}
	wantAllDeliveries(t, got, n)
}

func TestRunner_SinkFailureEndsTheRun(t *testing.T) {
	f := newFixture(t, appapitest.Options{}, RunOptions{})
	f.server.SetTable("/v1/campaigns", rows(`{"id":%d}`, 3)...)
	sink := newCollector()
	stdoutGone := errors.New("stdout closed")
	sink.onRecord = func(int) error { return stdoutGone }
	results, err := f.runner.Run(t.Context(), schemas.AppAPIStreams(), nil, sink)
	if !errors.Is(err, stdoutGone) || len(results) != 1 {
		t.Fatalf("err %v after %d streams, want the sink's error after the first", err, len(results))
	}
}

func TestRunner_UnreadableBookmarkReadsFromStartDate(t *testing.T) {
	start := epoch.Add(-3 * 24 * time.Hour)
	f := newFixture(t, appapitest.Options{}, RunOptions{StartDate: start})
	if err := f.server.AddDeliveries(appapitest.Deliveries(10, start, epoch.Add(-time.Hour))...); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{`"yesterday"`, `{"created":"x"}`, `{}`} {
		sink := newCollector()
		if _, err := f.runner.Run(t.Context(), []string{schemas.Deliveries}, map[string]json.RawMessage{schemas.Deliveries: json.RawMessage(bad)}, sink); err != nil {
			t.Fatal(err)
		}
		wantAllDeliveries(t, sink.ids(t, schemas.Deliveries), 10)
	}
	if !strings.Contains(f.logs.String(), "bookmark unreadable") {
		t.Error("no warning about the unreadable bookmark")
	}
}

func TestRunner_ChangedAnswerIsAnError(t *testing.T) {
	for _, tc := range []struct{ body, want string }{
		{`{"campaign":[]}`, `no "campaigns" array`},
		{`{"campaigns":{}}`, "not an array"},
		{`{"campaigns":[{"id":1}],"next":5}`, "next is not a string"},
	} {
		page := map[string]json.RawMessage{}
		if err := json.Unmarshal([]byte(tc.body), &page); err != nil {
			t.Fatal(err)
		}
		if _, _, err := decodePage(page, "campaigns"); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err %v, want %q", tc.body, err, tc.want)
		}
	}
}

func TestRunner_UnknownStream(t *testing.T) {
	f := newFixture(t, appapitest.Options{}, RunOptions{})
	results, err := f.runner.Run(t.Context(), []string{"data"}, nil, newCollector())
	if err != nil || results[0].Err == nil {
		t.Fatalf("stream data: run %v, stream %v; want a stream error", err, results[0].Err)
	}
}
