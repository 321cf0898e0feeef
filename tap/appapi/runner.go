package appapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/rs/zerolog"

	"github.com/cio-singer/tap-customerio-webhook/schemas"
)

// Sink receives what a run reads. A Runner calls it from one goroutine. An
// error from it ends the run (stdout is gone: nothing more can be said).
type Sink interface {
	// Record is one row of stream, exactly as the API returned it. rec is
	// not used again by the runner after the call returns.
	Record(stream string, rec json.RawMessage) error
	// Bookmark is stream's new bookmark: every record of stream that it
	// covers has been passed to Record before this call.
	Bookmark(stream string, bookmark json.RawMessage) error
}

// DeliveriesBookmark is the bookmark of stream deliveries: every delivery
// created before Created (Unix seconds) was read by an earlier run. A run
// reads again from Lookback before it, because metrics keep arriving for
// days after a delivery is created.
type DeliveriesBookmark struct {
	Created int64 `json:"created"`
}

// RunOptions shape what a [Runner] reads. Zero values take the defaults in
// brackets.
type RunOptions struct {
	// StartDate is where the first run of deliveries begins [180 days
	// before now: what the API returns without start_ts].
	StartDate time.Time
	// Lookback is how far before the bookmark each run reads deliveries
	// again [168h].
	Lookback time.Duration
	// Window is the span of created times one series of paged requests
	// covers [7 days]: the API answers at most some months per query, and
	// a small window bounds what an expired cursor makes read again.
	Window time.Duration
	// PageSize is the limit of deliveries per request [100]. Customer.io's
	// OpenAPI document allows up to 1000; other published descriptions say
	// 100, so 100 is the default that cannot be refused.
	PageSize int
	// MaxCursorRestarts bounds how often one window or table is read again
	// from its start after the API refused a paging cursor [3].
	MaxCursorRestarts int
	Log               zerolog.Logger
}

// Result is what a run did for one stream. Err is the API failure that
// stopped the stream, if any; its bookmark stays where the last complete
// window left it.
type Result struct {
	Stream   string
	Records  int
	Requests int
	Took     time.Duration
	Err      error
}

// Runner reads the App API streams. A Runner is not safe for concurrent use.
type Runner struct {
	c *Client
	o RunOptions
}

// NewRunner returns a runner reading through c.
func NewRunner(c *Client, o RunOptions) *Runner {
	setDefault(&o.Lookback, 168*time.Hour)
	setDefault(&o.Window, 7*24*time.Hour)
	setDefault(&o.PageSize, 100)
	setDefault(&o.MaxCursorRestarts, 3)
	return &Runner{c: c, o: o}
}

// table is a stream read whole each run: GET path, rows in the array named
// key. Paths and keys are from Customer.io's OpenAPI document (see
// schemas/*.json): {"campaigns": [...]}, {"broadcasts": [...]},
// {"newsletters": [...]}, and {"messages": [...]} for transactional.
type table struct{ path, key string }

var tables = map[string]table{
	schemas.Campaigns:             {"/campaigns", "campaigns"},
	schemas.Broadcasts:            {"/broadcasts", "broadcasts"},
	schemas.Newsletters:           {"/newsletters", "newsletters"},
	schemas.TransactionalMessages: {"/transactional", "messages"},
}

// Run reads streams (names from [schemas.AppAPIStreams]; others are an
// error) in the order given, deliveries from bookmarks[deliveries] (the
// stream's bookmark object, or nil on a first run). An API failure stops
// only its stream and is in that stream's Result; the error returned is
// the end of ctx or a Sink failure, which stop the run.
func (r *Runner) Run(ctx context.Context, streams []string, bookmarks map[string]json.RawMessage, sink Sink) ([]Result, error) {
	results := make([]Result, 0, len(streams))
	for _, stream := range streams {
		sw := &streamSink{Sink: sink}
		res := Result{Stream: stream}
		start := r.c.o.Clock.Now()
		var err error
		switch t, ok := tables[stream]; {
		case ok: // read whole, following next cursors where there are any
			err = r.paged(ctx, stream, t, url.Values{}, sw, &res)
		case stream == schemas.Deliveries:
			err = r.readDeliveries(ctx, bookmarks[stream], sw, &res)
		default:
			err = fmt.Errorf("app api: no stream %q", stream)
		}
		res.Took = r.c.o.Clock.Now().Sub(start)
		res.Records = sw.records
		if sw.err != nil {
			return append(results, res), sw.err
		}
		if ctx.Err() != nil {
			return append(results, res), ctx.Err()
		}
		res.Err = err
		ev := r.o.Log.Info()
		if err != nil {
			ev = r.o.Log.Warn().Err(err)
		}
		ev.Str("stream", stream).Int("rows", res.Records).Int("requests", res.Requests).
			Dur("took", res.Took).Msg("app api stream read")
		results = append(results, res)
	}
	return results, nil
}

// streamSink counts records and keeps the first Sink error, so that a
// reader can tell a Sink failure (fatal) from an API failure.
type streamSink struct {
	Sink
	records int
	err     error
}

func (s *streamSink) record(stream string, rec json.RawMessage) error {
	if err := s.Record(stream, rec); err != nil {
		s.err = err
		return err
	}
	s.records++
	return nil
}

func (s *streamSink) bookmark(stream string, b json.RawMessage) error {
	if err := s.Bookmark(stream, b); err != nil {
		s.err = err
		return err
	}
	return nil
}

// readDeliveries reads the deliveries created from the bookmark minus the
// lookback (or the start date) until now, window by window, oldest first;
// after each complete window the bookmark moves to its end.
func (r *Runner) readDeliveries(ctx context.Context, raw json.RawMessage, sink *streamSink, res *Result) error {
	now := r.c.o.Clock.Now().Unix()
	start := r.o.StartDate
	if start.IsZero() {
		start = time.Unix(now, 0).Add(-180 * 24 * time.Hour)
	}
	from := start.Unix()
	var bm DeliveriesBookmark
	if len(raw) > 0 && string(raw) != "null" {
		if err := json.Unmarshal(raw, &bm); err != nil || bm.Created <= 0 {
			// Reading again from the start date loses nothing; refusing
			// would stop the stream for good.
			r.o.Log.Warn().Str("stream", schemas.Deliveries).Msg("app api bookmark unreadable; reading from the start date")
			bm = DeliveriesBookmark{}
		} else {
			from = bm.Created - int64(r.o.Lookback/time.Second)
			if !r.o.StartDate.IsZero() {
				from = max(from, r.o.StartDate.Unix()) // a later start date wins
			}
		}
	}
	window := int64(r.o.Window / time.Second)
	for lo := from; lo < now; lo += window {
		hi := min(lo+window, now)
		if err := r.readWindow(ctx, lo, hi, sink, res); err != nil {
			return err
		}
		if hi > bm.Created {
			bm.Created = hi
			b, _ := json.Marshal(bm)
			if err := sink.bookmark(schemas.Deliveries, b); err != nil {
				return err
			}
		}
	}
	return nil
}

// readWindow reads the deliveries created in [lo, hi]. start_ts begins a
// second early: the reference does not say whether start_ts and end_ts are
// inclusive, and a delivery read twice is harmless (the key is id) where
// one never read is lost.
func (r *Runner) readWindow(ctx context.Context, lo, hi int64, sink *streamSink, res *Result) error {
	q := url.Values{
		"start_ts": {strconv.FormatInt(lo-1, 10)},
		"end_ts":   {strconv.FormatInt(hi, 10)},
		"limit":    {strconv.Itoa(r.o.PageSize)},
	}
	return r.paged(ctx, schemas.Deliveries, table{"/messages", "messages"}, q, sink, res)
}

// paged reads path with q, page after page: an answer's "next", when not
// empty, is the "start" of the next request (Customer.io's OpenAPI document:
// "Responses contain a next property. Use this property as the start value
// to return the next page of results."). An empty page ends the series too.
// When the API refuses a cursor (expired, or unknown after a deploy), the
// series starts again from its first page: what was read is read again,
// nothing is skipped.
func (r *Runner) paged(ctx context.Context, stream string, t table, q url.Values, sink *streamSink, res *Result) error {
	path := t.path
	restarts := 0
	cursor := ""
	for {
		if cursor == "" {
			q.Del("start")
		} else {
			q.Set("start", cursor)
		}
		var page map[string]json.RawMessage
		res.Requests++
		err := r.c.Get(ctx, path, q, &page)
		if err != nil {
			if cursor != "" && cursorRefused(err) && restarts < r.o.MaxCursorRestarts {
				restarts++
				r.o.Log.Warn().Str("path", path).Int("restart", restarts).Msg("app api refused a paging cursor; reading the window again from its start")
				cursor = ""
				continue
			}
			return err
		}
		items, next, err := decodePage(page, t.key)
		if err != nil {
			return fmt.Errorf("app api: GET %s: %w", path, err)
		}
		for _, row := range items {
			if err := sink.record(stream, row); err != nil {
				return err
			}
		}
		if next == "" || len(items) == 0 {
			return nil
		}
		if next == cursor {
			return fmt.Errorf("app api: GET %s: next cursor repeats the current one", path)
		}
		cursor = next
	}
}

// cursorRefused reports whether err is how the API answers a paging
// cursor it no longer knows. The reference documents only 400 ("The
// request was malformed") for GET /v1/messages; 404, 410 and 422 are what
// other APIs answer for an expired cursor.
func cursorRefused(err error) bool {
	var se *StatusError
	if !errors.As(err, &se) {
		return false
	}
	switch se.Code {
	case http.StatusBadRequest, http.StatusNotFound, http.StatusGone, http.StatusUnprocessableEntity:
		return true
	}
	return false
}

// decodePage returns the rows in the array named key and the next cursor.
// A missing array is an error: a changed answer must not read as an empty
// table.
func decodePage(page map[string]json.RawMessage, key string) ([]json.RawMessage, string, error) {
	raw, ok := page[key]
	if !ok {
		return nil, "", fmt.Errorf("answer has no %q array", key)
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, "", fmt.Errorf("answer's %q is not an array: %w", key, err)
	}
	var next string
	if n, ok := page["next"]; ok && string(n) != "null" {
		if err := json.Unmarshal(n, &next); err != nil {
			return nil, "", fmt.Errorf("answer's next is not a string: %w", err)
		}
	}
	return items, next, nil
}
