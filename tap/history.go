package tap

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/cio-singer/tap-customerio-webhook/catalog"
	"github.com/cio-singer/tap-customerio-webhook/schemas"
	"github.com/cio-singer/tap-customerio-webhook/tap/appapi"
	"github.com/cio-singer/tap-customerio-webhook/tap/event"
	"github.com/cio-singer/tap-customerio-webhook/tap/metrics"
)

// historyReader reads the selected App API streams in its own goroutine,
// a pass at the start and one every app_api_interval, and hands their
// Singer messages to the emit loop. An API failure stops only its stream
// for this pass: it is logged and counted, the stream keeps its bookmark
// and the next pass reads from there.
type historyReader struct {
	runner   *appapi.Runner
	streams  []string // selected, in the order a pass reads them
	sel      map[string]catalog.Selection
	interval time.Duration
	feed     *historyFeed
	stats    *historyStats
	log      zerolog.Logger

	// Used by the reader's goroutine only.
	bookmarks map[string]json.RawMessage // the runner's, moved on as it reads
	schemas   map[string]*schemaDoc      // as last sent, grown by unknown fields

	cancel context.CancelFunc
	done   chan struct{}
}

// startHistory starts the App API reader when app_api_key is set and the
// catalog selects an App API stream, and gives the emitter its end; it
// returns nil otherwise. Bookmarks of --state are carried into every STATE
// either way, so a run without the key does not lose them.
func startHistory(ctx context.Context, o Options, em *emitter, m *figures) (*historyReader, error) {
	cfg := o.Config.AppAPI
	var streams []string
	for _, s := range schemas.AppAPIStreams() {
		if _, ok := o.Selection[s]; ok {
			streams = append(streams, s)
		}
	}
	em.history = &historyOut{covered: copyBookmarks(o.AppAPIBookmarks)}
	log := o.Log.With().Str("component", "app_api").Logger()
	switch {
	case cfg.Key == "" && len(streams) > 0:
		log.Warn().Strs("streams", streams).Msg("the catalog selects App API streams but app_api_key is not set: they are not read")
		return nil, nil
	case cfg.Key == "" || len(streams) == 0:
		return nil, nil
	}
	base, err := appapi.BaseURL(cfg.Region, cfg.URL)
	if err != nil {
		return nil, err
	}
	stats := newHistoryStats()
	client, err := appapi.New(appapi.Options{
		BaseURL:    base,
		Key:        cfg.Key,
		HTTPClient: &http.Client{Timeout: 60 * time.Second, Transport: &countingTransport{base: http.DefaultTransport, stats: stats}},
		Clock:      o.AppAPIClock,
		Log:        log,
	})
	if err != nil {
		return nil, err
	}
	h := &historyReader{
		runner:    appapi.NewRunner(client, appapi.RunOptions{StartDate: cfg.StartDate, Lookback: cfg.Lookback, Log: log}),
		streams:   streams,
		sel:       o.Selection,
		interval:  cfg.Interval,
		feed:      newHistoryFeed(),
		stats:     stats,
		log:       log,
		bookmarks: copyBookmarks(o.AppAPIBookmarks),
		schemas:   map[string]*schemaDoc{},
		done:      make(chan struct{}),
	}
	em.history.feed, em.history.stats, m.history = h.feed, stats, stats
	runCtx, cancel := context.WithCancel(ctx)
	h.cancel = cancel
	go h.run(runCtx)
	log.Info().Strs("streams", streams).Str("base_url", redactURL(base)).Dur("interval", cfg.Interval).Msg("reading the App API")
	return h, nil
}

// copyBookmarks returns a copy of in, never nil.
func copyBookmarks(in map[string]json.RawMessage) map[string]json.RawMessage {
	out := make(map[string]json.RawMessage, len(in))
	for k, v := range in {
		out[k] = v
	}
	return out
}

// redactURL drops user info, path and query: a proxy URL may hold
// credentials.
func redactURL(u string) string {
	scheme, rest, ok := strings.Cut(u, "://")
	if !ok {
		return ""
	}
	host, _, _ := strings.Cut(rest, "/")
	if i := strings.LastIndexByte(host, '@'); i >= 0 {
		host = host[i+1:]
	}
	return scheme + "://" + host
}

// stop ends the reader and waits for its goroutine. Batches it handed
// over stay in the feed for drainHistory.
func (h *historyReader) stop() {
	if h == nil {
		return
	}
	h.cancel()
	<-h.done
}

func (h *historyReader) run(ctx context.Context) {
	defer close(h.done)
	for {
		err := h.pass(ctx)
		h.feed.setBusy(false)
		if err != nil {
			return // ctx ended
		}
		t := time.NewTimer(h.interval)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		h.feed.setBusy(true)
	}
}

// pass reads each selected stream once. It returns an error only when ctx
// ended; API failures are the streams' results.
func (h *historyReader) pass(ctx context.Context) error {
	start := time.Now()
	failed := 0
	for _, stream := range h.streams {
		sink := &historySink{h: h, ctx: ctx}
		results, err := h.runner.Run(ctx, []string{stream}, h.bookmarks, sink)
		if err == nil {
			err = sink.flush()
		}
		if err != nil {
			return err
		}
		for _, r := range results {
			h.stats.result(r, time.Now())
			if r.Err != nil {
				failed++
			}
		}
	}
	h.log.Info().Int("streams", len(h.streams)).Int("failed", failed).Dur("took", time.Since(start)).
		Dur("next_in", h.interval).Msg("app api pass done")
	return nil
}

// historySink turns what the runner reads into Singer messages, in
// batches: a record as the API returned it, compacted, without the
// deselected fields; a SCHEMA before a stream's first record, and again
// when a record carries a field the schema lacks.
type historySink struct {
	h     *historyReader
	ctx   context.Context
	batch []historyMsg
}

const historyBatch = 100

func (s *historySink) Record(stream string, rec json.RawMessage) error {
	sel := s.h.sel[stream]
	var buf bytes.Buffer
	if err := json.Compact(&buf, rec); err != nil || buf.Len() == 0 || buf.Bytes()[0] != '{' {
		s.skip(stream, "not a JSON object")
		return nil
	}
	out, err := event.RemoveFields(buf.Bytes(), sel.Drop)
	if err != nil {
		s.skip(stream, err.Error())
		return nil
	}
	doc := s.h.schemas[stream]
	if doc == nil {
		if doc, err = parseSchemaDoc(sel.Schema, sel.Drop); err != nil {
			return fmt.Errorf("schema of %s: %w", stream, err)
		}
		s.h.schemas[stream] = doc
		s.add(historyMsg{kind: historySchema, stream: stream, body: doc.raw, keys: sel.KeyProperties})
	}
	var fields map[string]any
	if json.Unmarshal(out, &fields) == nil && doc.learn(fields) {
		s.add(historyMsg{kind: historySchema, stream: stream, body: doc.raw, keys: sel.KeyProperties})
	}
	s.add(historyMsg{kind: historyRecord, stream: stream, body: out, at: time.Now()})
	if len(s.batch) >= historyBatch {
		return s.flush()
	}
	return nil
}

// skip leaves out a record that cannot go out as it is. The reason names
// fields, never values.
func (s *historySink) skip(stream, reason string) {
	s.h.stats.skipped(stream)
	s.h.log.Warn().Str("stream", stream).Str("reason", truncate(reason, 200)).Msg("app api record left out")
}

func (s *historySink) Bookmark(stream string, b json.RawMessage) error {
	s.h.bookmarks[stream] = b
	s.add(historyMsg{kind: historyBookmark, stream: stream, body: b})
	return s.flush()
}

func (s *historySink) add(m historyMsg) { s.batch = append(s.batch, m) }

func (s *historySink) flush() error {
	if len(s.batch) == 0 {
		return nil
	}
	b := s.batch
	s.batch = nil
	return s.h.feed.send(s.ctx, b)
}

// historyStats are the App API figures /metrics shows. Safe for concurrent
// use.
type historyStats struct {
	records map[string]*atomic.Uint64 // written, by stream; the map is read-only

	mu          sync.Mutex
	requests    map[[2]string]uint64 // {stream, outcome}
	failures    map[string]uint64
	skips       map[string]uint64
	lastSuccess map[string]time.Time
}

func newHistoryStats() *historyStats {
	s := &historyStats{records: map[string]*atomic.Uint64{}, requests: map[[2]string]uint64{},
		failures: map[string]uint64{}, skips: map[string]uint64{}, lastSuccess: map[string]time.Time{}}
	for _, name := range schemas.AppAPIStreams() {
		s.records[name] = new(atomic.Uint64)
	}
	return s
}

func (s *historyStats) emitted(stream string) {
	if s != nil {
		if c := s.records[stream]; c != nil {
			c.Add(1)
		}
	}
}

func (s *historyStats) request(stream, outcome string) {
	s.mu.Lock()
	s.requests[[2]string{stream, outcome}]++
	s.mu.Unlock()
}

func (s *historyStats) skipped(stream string) {
	s.mu.Lock()
	s.skips[stream]++
	s.mu.Unlock()
}

func (s *historyStats) result(r appapi.Result, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r.Err != nil {
		s.failures[r.Stream]++
	} else {
		s.lastSuccess[r.Stream] = now
	}
}

// recordCounts are the App API streams' records written, for
// records_emitted_total.
func (s *historyStats) recordCounts() []metrics.StreamCount {
	if s == nil {
		return nil
	}
	var out []metrics.StreamCount
	for _, name := range schemas.AppAPIStreams() {
		out = append(out, metrics.StreamCount{Stream: name, Count: s.records[name].Load()})
	}
	return out
}

// snapshot returns the App API figures; nil when the App API is not read.
func (s *historyStats) snapshot() *metrics.AppAPI {
	if s == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := &metrics.AppAPI{}
	for _, name := range schemas.AppAPIStreams() {
		for _, outcome := range requestOutcomes {
			if n, ok := s.requests[[2]string{name, outcome}]; ok {
				out.Requests = append(out.Requests, metrics.Request{Stream: name, Outcome: outcome, Count: n})
			}
		}
		out.Failures = append(out.Failures, metrics.StreamCount{Stream: name, Count: s.failures[name]})
		out.Skipped = append(out.Skipped, metrics.StreamCount{Stream: name, Count: s.skips[name]})
		if t, ok := s.lastSuccess[name]; ok {
			out.LastSuccess = append(out.LastSuccess, metrics.StreamTime{Stream: name, At: t})
		}
	}
	return out
}

var requestOutcomes = []string{"ok", "rate_limited", "client_error", "server_error", "transport_error"}

// countingTransport counts every App API request (each retry too) by
// stream and outcome.
type countingTransport struct {
	base  http.RoundTripper
	stats *historyStats
}

func (t *countingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req)
	outcome := "transport_error"
	if err == nil {
		switch code := resp.StatusCode; {
		case code/100 == 2:
			outcome = "ok"
		case code == http.StatusTooManyRequests:
			outcome = "rate_limited"
		case code >= 500:
			outcome = "server_error"
		default:
			outcome = "client_error"
		}
	}
	t.stats.request(streamOfPath(req.URL.Path), outcome)
	return resp, err
}

// streamOfPath names the stream an App API path is read for.
func streamOfPath(path string) string {
	switch {
	case strings.HasSuffix(path, "/messages"):
		return schemas.Deliveries
	case strings.HasSuffix(path, "/campaigns"):
		return schemas.Campaigns
	case strings.HasSuffix(path, "/broadcasts"):
		return schemas.Broadcasts
	case strings.HasSuffix(path, "/newsletters"):
		return schemas.Newsletters
	case strings.HasSuffix(path, "/transactional"):
		return schemas.TransactionalMessages
	}
	return "other"
}
