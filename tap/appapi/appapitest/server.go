// Package appapitest is a local fake of the Customer.io App API endpoints
// the tap reads (GET /v1/messages, /v1/campaigns, /v1/broadcasts,
// /v1/newsletters, /v1/transactional), for tests: it pages like the API
// (limit, start, next), filters deliveries on start_ts/end_ts, checks the
// Bearer key, enforces the rate limit on its clock, and can be told to
// answer 429 with Retry-After, 5xx, or to forget its paging cursors. It
// logs every request so that tests can assert pacing and headers.
//
// Where the published reference is silent the fake makes a choice and
// says so: deliveries come newest first, start_ts and end_ts are
// inclusive, the last page has "next": "", and a cursor the server does
// not know gets 400.
package appapitest

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cio-singer/tap-customerio-webhook/internal/clock"
)

// Options configure a [Server].
type Options struct {
	// Key is the App API key the server accepts [test-app-api-key].
	Key string
	// Clock is the server's time, for its rate limit and its request log
	// [the wall clock]. Give it the client's clock.
	Clock interface{ Now() time.Time }
	// RateLimit is how many requests the server accepts in any second
	// before it answers 429 with Retry-After: 1 [10; negative: no limit].
	RateLimit int
	// TablePage, when > 0, pages the name tables this many rows at a time
	// (with next), as newsletters may; 0 answers each in one piece.
	TablePage int
	// TLS serves https (see [Server.Transport]).
	TLS bool
}

// Request is one request the server answered.
type Request struct {
	Time          time.Time // on the server's clock
	Host          string
	Path          string
	Query         url.Values
	Authorization string
	Status        int
}

// Fault is an answer the server gives once instead of the real one.
type Fault struct {
	// Path the fault waits for ("/v1/messages"); empty: any.
	Path string
	// WithCursor: only a request that carries a start cursor.
	WithCursor bool
	Status     int
	// RetryAfter is the Retry-After header, when not empty.
	RetryAfter string
}

// Server is the fake App API. It is safe for concurrent use.
type Server struct {
	// URL is the base URL to give the client (ends in /v1).
	URL string
	srv *httptest.Server
	o   Options

	mu         sync.Mutex
	deliveries []delivery // newest first
	tables     map[string]tableRows
	faults     []Fault
	log        []Request
	cursors    map[string]cursor
	nextCursor int
}

type delivery struct {
	created int64
	raw     json.RawMessage
}

type tableRows struct {
	key  string
	rows []json.RawMessage
}

// cursor is where a series of pages stands: the query it pages (without
// start) and the offset of its next page.
type cursor struct {
	query  string
	offset int
}

// New starts a server; it is closed when t ends.
func New(t testing.TB, o Options) *Server {
	t.Helper()
	if o.Key == "" {
		o.Key = "test-app-api-key"
	}
	if o.Clock == nil {
		o.Clock = clock.System{}
	}
	if o.RateLimit == 0 {
		o.RateLimit = 10
	}
	s := &Server{o: o, tables: map[string]tableRows{}, cursors: map[string]cursor{}}
	for path, key := range map[string]string{"/v1/campaigns": "campaigns", "/v1/broadcasts": "broadcasts",
		"/v1/newsletters": "newsletters", "/v1/transactional": "messages"} {
		s.tables[path] = tableRows{key: key}
	}
	s.srv = httptest.NewUnstartedServer(http.HandlerFunc(s.serve))
	if o.TLS {
		s.srv.StartTLS()
	} else {
		s.srv.Start()
	}
	t.Cleanup(s.srv.Close)
	s.URL = s.srv.URL + "/v1"
	return s
}

// Key returns the App API key the server accepts.
func (s *Server) Key() string { return s.o.Key }

// Transport returns a transport that sends every request, whatever its
// host, to this server (which must have been started with TLS), trusting
// its certificate: a client given the real base URL of a region reaches
// the fake, and the log shows which host it asked for.
func (s *Server) Transport() *http.Transport {
	tr := s.srv.Client().Transport.(*http.Transport).Clone()
	addr := s.srv.Listener.Addr().String()
	var d net.Dialer
	tr.DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
		return d.DialContext(ctx, network, addr)
	}
	tr.TLSClientConfig = tr.TLSClientConfig.Clone()
	if tr.TLSClientConfig == nil {
		tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	tr.TLSClientConfig.ServerName = "example.com" // a name httptest's certificate holds
	return tr
}

// AddDeliveries adds deliveries (JSON objects with an integer created).
func (s *Server) AddDeliveries(rows ...json.RawMessage) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, raw := range rows {
		var d struct {
			Created int64 `json:"created"`
		}
		if err := json.Unmarshal(raw, &d); err != nil {
			return fmt.Errorf("delivery %d: %w", i, err)
		}
		s.deliveries = append(s.deliveries, delivery{d.Created, raw})
	}
	sort.SliceStable(s.deliveries, func(i, j int) bool { return s.deliveries[i].created > s.deliveries[j].created })
	return nil
}

// SetTable sets the rows of a name table: path is "/v1/campaigns",
// "/v1/broadcasts", "/v1/newsletters" or "/v1/transactional".
func (s *Server) SetTable(path string, rows ...json.RawMessage) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.tables[path]
	t.rows = rows
	s.tables[path] = t
}

// Fail queues f: the next request it matches gets its answer instead.
func (s *Server) Fail(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, f)
}

// ExpireCursors forgets every paging cursor handed out so far: a request
// carrying one gets 400, as an expired cursor would.
func (s *Server) ExpireCursors() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cursors = map[string]cursor{}
}

// Requests returns the log of every request answered so far.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.log...)
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := r.URL.Query()
	req := Request{Time: s.o.Clock.Now(), Host: r.Host, Path: r.URL.Path, Query: q, Authorization: r.Header.Get("Authorization")}
	status, header, body := s.answer(r, req)
	req.Status = status
	s.log = append(s.log, req)
	for k, v := range header {
		w.Header().Set(k, v)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func errorBody(msg string) []byte {
	b, _ := json.Marshal(map[string]any{"meta": map[string]any{"error": msg}})
	return b
}

// answer decides the answer to r; s.mu is held.
func (s *Server) answer(r *http.Request, req Request) (int, map[string]string, []byte) {
	if req.Authorization != "Bearer "+s.o.Key {
		return http.StatusUnauthorized, nil, errorBody("unauthorized")
	}
	if s.o.RateLimit > 0 && s.recent(req.Time) >= s.o.RateLimit {
		return http.StatusTooManyRequests, map[string]string{"Retry-After": "1"}, errorBody("rate limited")
	}
	for i, f := range s.faults {
		if (f.Path == "" || f.Path == req.Path) && (!f.WithCursor || req.Query.Get("start") != "") {
			s.faults = append(s.faults[:i], s.faults[i+1:]...)
			h := map[string]string{}
			if f.RetryAfter != "" {
				h["Retry-After"] = f.RetryAfter
			}
			return f.Status, h, errorBody(http.StatusText(f.Status))
		}
	}
	if r.Method != http.MethodGet {
		return http.StatusMethodNotAllowed, nil, errorBody("method not allowed")
	}
	if req.Path == "/v1/messages" {
		return s.messages(req.Query)
	}
	if t, ok := s.tables[req.Path]; ok {
		return s.table(req.Query, t)
	}
	return http.StatusNotFound, nil, errorBody("not found")
}

// recent counts the accepted requests in the second before now.
func (s *Server) recent(now time.Time) int {
	n := 0
	for i := len(s.log) - 1; i >= 0 && s.log[i].Time.After(now.Add(-time.Second)); i-- {
		if s.log[i].Status != http.StatusTooManyRequests {
			n++
		}
	}
	return n
}

func (s *Server) messages(q url.Values) (int, map[string]string, []byte) {
	limit, err := intParam(q, "limit", 50)
	if err != nil || limit < 1 || limit > 1000 { // OpenAPI: default 50, maximum 1000
		return http.StatusBadRequest, nil, errorBody("bad limit")
	}
	lo, err1 := intParam(q, "start_ts", 0)
	hi, err2 := intParam(q, "end_ts", 1<<62)
	if err1 != nil || err2 != nil {
		return http.StatusBadRequest, nil, errorBody("bad start_ts or end_ts")
	}
	var rows []json.RawMessage
	for _, d := range s.deliveries {
		if int64(lo) <= d.created && d.created <= int64(hi) {
			rows = append(rows, d.raw)
		}
	}
	return s.page(q, "messages", rows, limit)
}

func (s *Server) table(q url.Values, t tableRows) (int, map[string]string, []byte) {
	if s.o.TablePage <= 0 {
		body, _ := json.Marshal(map[string]any{t.key: nonNil(t.rows)})
		return http.StatusOK, nil, body
	}
	return s.page(q, t.key, t.rows, s.o.TablePage)
}

// page answers the page of rows that q's start cursor points at.
func (s *Server) page(q url.Values, key string, rows []json.RawMessage, limit int) (int, map[string]string, []byte) {
	series := q
	if q.Has("start") {
		series = url.Values{}
		for k, v := range q {
			if k != "start" {
				series[k] = v
			}
		}
	}
	offset := 0
	if start := q.Get("start"); start != "" {
		c, ok := s.cursors[start]
		if !ok || c.query != series.Encode() {
			return http.StatusBadRequest, nil, errorBody("invalid start")
		}
		offset = c.offset
	}
	end := min(offset+limit, len(rows))
	next := ""
	if end < len(rows) {
		s.nextCursor++
		next = "c" + strconv.Itoa(s.nextCursor)
		s.cursors[next] = cursor{query: series.Encode(), offset: end}
	}
	body, _ := json.Marshal(map[string]any{key: nonNil(rows[min(offset, end):end]), "next": next})
	return http.StatusOK, nil, body
}

func nonNil(rows []json.RawMessage) []json.RawMessage {
	if rows == nil {
		return []json.RawMessage{}
	}
	return rows
}

func intParam(q url.Values, name string, def int) (int, error) {
	v := strings.TrimSpace(q.Get(name))
	if v == "" {
		return def, nil
	}
	return strconv.Atoi(v)
}
