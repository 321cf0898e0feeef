package receiver

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttputil"

	"github.com/cio-singer/tap-customerio-webhook/internal/lockedbuf"
	"github.com/cio-singer/tap-customerio-webhook/internal/poll"
	"github.com/cio-singer/tap-customerio-webhook/tap/auth"
)

const (
	testToken = "tok-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	newToken  = "tok-bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
	testKey   = "example-signing-key-not-real"
	testBody  = `{"event_id":"01J9C0D5RW8YB1E3G5J7L9N1QS","object_type":"customer","metric":"subscribed","timestamp":1727803360,"data":{"customer_id":"user-553"}}`
)

// memAppender is a fake spool. It keeps a copy of every body, can fail,
// and can block until released so tests can see when the answer goes out.
type memAppender struct {
	mu       sync.Mutex
	bodies   [][]byte
	tokenIDs []string

	err      error         // returned by every Append when set
	release  chan struct{} // when set, Append waits for it to close (or ctx)
	entered  chan struct{} // when set, receives once per Append call
	returned atomic.Int64  // Appends that have returned nil
}

func (m *memAppender) Append(ctx context.Context, body []byte, tokenID string) (uint64, error) {
	if m.entered != nil {
		m.entered <- struct{}{}
	}
	if m.release != nil {
		select {
		case <-m.release:
		case <-ctx.Done():
			return 0, fmt.Errorf("waiting for disk: %w", ctx.Err())
		}
	}
	if m.err != nil {
		return 0, m.err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.bodies = append(m.bodies, bytes.Clone(body))
	m.tokenIDs = append(m.tokenIDs, tokenID)
	m.returned.Add(1)
	return uint64(len(m.bodies)), nil
}

func (m *memAppender) stored() ([][]byte, []string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([][]byte(nil), m.bodies...), append([]string(nil), m.tokenIDs...)
}

// testServer is a Server serving on an in-memory listener.
type testServer struct {
	*Server
	ln     *fasthttputil.InmemoryListener
	tokens *atomic.Pointer[auth.TokenSet]
	client *fasthttp.Client
}

func mustTokens(t testing.TB, entries ...string) *auth.TokenSet {
	t.Helper()
	set, err := auth.ParseTokens(entries)
	if err != nil {
		t.Fatal(err)
	}
	return set
}

// startServer serves cfg (Tokens, Verifier and Log filled in when unset)
// on an in-memory listener and shuts it down at the end of the test.
func startServer(t testing.TB, cfg Config) *testServer {
	t.Helper()
	if cfg.Tokens == nil {
		cfg.Tokens = new(atomic.Pointer[auth.TokenSet])
		cfg.Tokens.Store(mustTokens(t, testToken))
	}
	ln := fasthttputil.NewInmemoryListener()
	ts := &testServer{Server: serve(t, cfg, ln), ln: ln, tokens: cfg.Tokens}
	ts.client = &fasthttp.Client{Dial: func(string) (net.Conn, error) { return ts.ln.Dial() }}
	return ts
}

// serve serves cfg (Tokens, Verifier, Appender and Log filled in when
// unset) on ln and shuts it down at the end of the test.
func serve(t testing.TB, cfg Config, ln net.Listener) *Server {
	t.Helper()
	if cfg.Tokens == nil {
		cfg.Tokens = new(atomic.Pointer[auth.TokenSet])
		cfg.Tokens.Store(mustTokens(t, testToken))
	}
	if cfg.Verifier == nil {
		cfg.Verifier = auth.NewVerifier(nil, 0, nil)
	}
	if cfg.Appender == nil {
		cfg.Appender = &memAppender{}
	}
	// A zero Logger reports DebugLevel; zerolog.New gives TraceLevel. So
	// this replaces only a logger the test did not set.
	if tt, ok := t.(*testing.T); ok && cfg.Log.GetLevel() == zerolog.DebugLevel {
		cfg.Log = zerolog.New(zerolog.NewTestWriter(tt))
	}
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown() = %v", err)
		}
		if err := <-served; err != nil {
			t.Errorf("Serve() = %v; want nil after Shutdown", err)
		}
	})
	return srv
}

type request struct {
	method string
	path   string
	body   []byte
	header map[string]string
}

func (ts *testServer) do(t testing.TB, r request) *fasthttp.Response {
	t.Helper()
	resp, err := ts.send(r)
	if err != nil {
		t.Fatalf("%s %s: %v", r.method, r.path, err)
	}
	return resp
}

// send is do for goroutines other than the test's own.
func (ts *testServer) send(r request) (*fasthttp.Response, error) {
	req := fasthttp.AcquireRequest()
	defer fasthttp.ReleaseRequest(req)
	req.Header.SetMethod(r.method)
	req.SetRequestURI("http://receiver" + r.path)
	for k, v := range r.header {
		req.Header.Set(k, v)
	}
	req.SetBody(r.body)
	resp := &fasthttp.Response{}
	if err := ts.client.DoTimeout(req, resp, 10*time.Second); err != nil {
		return nil, err
	}
	return resp, nil
}

// statusOf returns resp's status code, or -1 when the request failed.
func statusOf(resp *fasthttp.Response, err error) int {
	if err != nil {
		return -1
	}
	return resp.StatusCode()
}

func signed(key, body string) map[string]string {
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	return map[string]string{
		auth.HeaderTimestamp: ts,
		auth.HeaderSignature: auth.Sign([]byte(key), []byte(ts), []byte(body)),
	}
}

func TestNew_Validates(t *testing.T) {
	t.Parallel()
	var empty atomic.Pointer[auth.TokenSet]
	_, err := New(Config{Tokens: &empty, MaxBodyBytes: -1})
	if err == nil {
		t.Fatal("New() accepted a config without tokens, verifier or appender")
	}
	for _, want := range []string{"Tokens", "Verifier", "Appender", "MaxBodyBytes"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
}

func TestHandler_StatusTable(t *testing.T) {
	t.Parallel()
	webhook := "/webhook/" + testToken
	tests := []struct {
		name       string
		cfg        Config
		req        request
		want       int
		wantHeader map[string]string
		appended   bool
	}{
		{name: "valid webhook", req: request{method: "POST", path: webhook, body: []byte(testBody)}, want: 200, appended: true},
		{name: "signed webhook", cfg: Config{Verifier: auth.NewVerifier([]string{"old", testKey}, time.Minute, nil)},
			req: request{method: "POST", path: webhook, body: []byte(testBody), header: signed(testKey, testBody)}, want: 200, appended: true},
		{name: "not JSON, any content type", req: request{method: "POST", path: webhook, body: []byte("--x\r\n\x00\xff"),
			header: map[string]string{"Content-Type": "multipart/form-data; boundary=x"}}, want: 200, appended: true},
		{name: "empty body", req: request{method: "POST", path: webhook}, want: 200, appended: true},
		{name: "unknown token", req: request{method: "POST", path: "/webhook/" + newToken, body: []byte(testBody)}, want: 404},
		{name: "unknown token, GET", req: request{method: "GET", path: "/webhook/" + newToken}, want: 404},
		{name: "empty token", req: request{method: "POST", path: "/webhook/", body: []byte(testBody)}, want: 404},
		{name: "token prefix", req: request{method: "POST", path: webhook[:len(webhook)-1], body: []byte(testBody)}, want: 404},
		{name: "extra path segment", req: request{method: "POST", path: webhook + "/x", body: []byte(testBody)}, want: 404},
		{name: "GET on webhook", req: request{method: "GET", path: webhook}, want: 405, wantHeader: map[string]string{"Allow": "POST"}},
		{name: "PUT on webhook", req: request{method: "PUT", path: webhook, body: []byte(testBody)}, want: 405, wantHeader: map[string]string{"Allow": "POST"}},
		{name: "signature missing", cfg: Config{Verifier: auth.NewVerifier([]string{testKey}, 0, nil)},
			req: request{method: "POST", path: webhook, body: []byte(testBody)}, want: 401},
		{name: "signature wrong key", cfg: Config{Verifier: auth.NewVerifier([]string{testKey}, 0, nil)},
			req: request{method: "POST", path: webhook, body: []byte(testBody), header: signed("other-key", testBody)}, want: 401},
		{name: "signature malformed", cfg: Config{Verifier: auth.NewVerifier([]string{testKey}, 0, nil)},
			req: request{method: "POST", path: webhook, body: []byte(testBody), header: map[string]string{auth.HeaderTimestamp: "1", auth.HeaderSignature: "nothex"}}, want: 401},
		{name: "signature stale", cfg: Config{Verifier: auth.NewVerifier([]string{testKey}, time.Minute, func() time.Time { return time.Now().Add(time.Hour) })},
			req: request{method: "POST", path: webhook, body: []byte(testBody), header: signed(testKey, testBody)}, want: 401},
		{name: "body too large", cfg: Config{MaxBodyBytes: 64},
			req: request{method: "POST", path: webhook, body: bytes.Repeat([]byte("x"), 65)}, want: 413},
		{name: "body at the limit", cfg: Config{MaxBodyBytes: 64},
			req: request{method: "POST", path: webhook, body: bytes.Repeat([]byte("x"), 64)}, want: 200, appended: true},
		{name: "too large, unknown token", cfg: Config{MaxBodyBytes: 64}, // the token is judged first
			req: request{method: "POST", path: "/webhook/" + newToken, body: bytes.Repeat([]byte("x"), 65)}, want: 404},
		{name: "append fails", cfg: Config{Appender: &memAppender{err: errors.New("disk full")}},
			req: request{method: "POST", path: webhook, body: []byte(testBody)}, want: 503, wantHeader: map[string]string{"Retry-After": "5"}},
		{name: "append times out", cfg: Config{AppendTimeout: 20 * time.Millisecond, RetryAfter: 2 * time.Second, Appender: &memAppender{release: make(chan struct{})}},
			req: request{method: "POST", path: webhook, body: []byte(testBody)}, want: 503, wantHeader: map[string]string{"Retry-After": "2"}},
		{name: "healthz", req: request{method: "GET", path: "/healthz"}, want: 200},
		{name: "healthz ignores readiness", cfg: Config{Ready: func() error { return errors.New("spool read-only") }},
			req: request{method: "GET", path: "/healthz"}, want: 200},
		{name: "readyz", cfg: Config{Ready: func() error { return nil }}, req: request{method: "GET", path: "/readyz"}, want: 200},
		{name: "readyz without check", req: request{method: "GET", path: "/readyz"}, want: 200},
		{name: "readyz not ready", cfg: Config{Ready: func() error { return errors.New("spool read-only") }},
			req: request{method: "GET", path: "/readyz"}, want: 503},
		{name: "POST readyz", req: request{method: "POST", path: "/readyz"}, want: 405},
		{name: "root", req: request{method: "GET", path: "/"}, want: 404},
		{name: "other path", req: request{method: "POST", path: "/hooks/" + testToken, body: []byte(testBody)}, want: 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			app, ok := tt.cfg.Appender.(*memAppender)
			if !ok {
				app = &memAppender{}
				tt.cfg.Appender = app
			}
			ts := startServer(t, tt.cfg)
			resp := ts.do(t, tt.req)
			if got := resp.StatusCode(); got != tt.want {
				t.Fatalf("status = %d; want %d", got, tt.want)
			}
			for k, want := range tt.wantHeader {
				if got := string(resp.Header.Peek(k)); got != want {
					t.Errorf("header %s = %q; want %q", k, got, want)
				}
			}
			bodies, _ := app.stored()
			if tt.appended {
				if len(bodies) != 1 || !bytes.Equal(bodies[0], tt.req.body) {
					t.Fatalf("appended %q; want exactly the request body", bodies)
				}
			} else if len(bodies) != 0 {
				t.Fatalf("appended %d bodies; want none", len(bodies))
			}
			if got := ts.Counts()[tt.want]; got != 1 {
				t.Fatalf("Counts()[%d] = %d; want 1 (all: %v)", tt.want, got, ts.Counts())
			}
		})
	}
}

func TestHandler_AnswersOnlyAfterAppendReturns(t *testing.T) {
	app := &memAppender{release: make(chan struct{}), entered: make(chan struct{}, 1)}
	ts := startServer(t, Config{Appender: app})
	answered := make(chan int, 1)
	go func() {
		answered <- statusOf(ts.send(request{method: "POST", path: "/webhook/" + testToken, body: []byte(testBody)}))
	}()
	<-app.entered
	select {
	case code := <-answered:
		t.Fatalf("answered %d while Append was still blocked", code)
	case <-time.After(50 * time.Millisecond): // a negative check: no answer may come
	}
	close(app.release)
	if code := <-answered; code != 200 {
		t.Fatalf("status = %d; want 200", code)
	}
	if app.returned.Load() != 1 {
		t.Fatal("answered 200 but Append has not returned")
	}
}

func TestHandler_BodiesIntact(t *testing.T) {
	t.Parallel()
	app := &memAppender{}
	ts := startServer(t, Config{Appender: app})
	var want [][]byte
	paths, err := filepath.Glob("../../testdata/payloads/*.json")
	if err != nil || len(paths) == 0 {
		t.Fatalf("no sample payloads: %v", err)
	}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, b)
	}
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	want = append(want, all, bytes.Repeat([]byte("é\x00"), 5000))
	// Sent one after another over the client's keep-alive connection, so
	// fasthttp reuses its buffers: a body kept by reference would change.
	for _, body := range want {
		if code := ts.do(t, request{method: "POST", path: "/webhook/" + testToken, body: body}).StatusCode(); code != 200 {
			t.Fatalf("status = %d; want 200", code)
		}
	}
	got, ids := app.stored()
	if len(got) != len(want) {
		t.Fatalf("stored %d bodies; want %d", len(got), len(want))
	}
	for i := range want {
		if !bytes.Equal(got[i], want[i]) {
			t.Errorf("body %d changed on the way to Append", i)
		}
		if ids[i] != ts.tokens.Load().IDs()[0] {
			t.Errorf("token id %q; want %q", ids[i], ts.tokens.Load().IDs()[0])
		}
	}
}

// rawRequest writes req on a new connection and reads one response.
func rawRequest(t *testing.T, ts *testServer, req string) (*http.Response, error) {
	t.Helper()
	conn, err := ts.ln.Dial()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	go func() { _, _ = conn.Write([]byte(req)) }() // the server may answer before reading it all
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return nil, err
	}
	resp.Body.Close()
	return resp, nil
}

func TestServer_OversizedBodies(t *testing.T) {
	t.Parallel()
	app := &memAppender{}
	ts := startServer(t, Config{MaxBodyBytes: 1000, Appender: app})
	chunk := strings.Repeat("y", 600)
	chunked := func(token string) string {
		return "POST /webhook/" + token + " HTTP/1.1\r\nHost: r\r\nTransfer-Encoding: chunked\r\n\r\n" +
			"258\r\n" + chunk + "\r\n258\r\n" + chunk + "\r\n0\r\n\r\n"
	}
	tests := []struct {
		name string
		req  string
		want int
	}{
		{"chunked over the limit", chunked(testToken), 413},
		{"chunked, unknown token", chunked(newToken), 404}, // judged before the body is read
		{"content-length over the limit", "POST /webhook/" + testToken + " HTTP/1.1\r\nHost: r\r\nContent-Length: 1001\r\n\r\n" + strings.Repeat("z", 1001), 413},
		{"chunked under the limit", "POST /webhook/" + testToken + " HTTP/1.1\r\nHost: r\r\nTransfer-Encoding: chunked\r\n\r\n258\r\n" + chunk + "\r\n0\r\n\r\n", 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := rawRequest(t, ts, tt.req)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tt.want {
				t.Fatalf("status = %d; want %d", resp.StatusCode, tt.want)
			}
		})
	}
	bodies, _ := app.stored()
	if len(bodies) != 1 || string(bodies[0]) != chunk {
		t.Fatalf("stored %d bodies; want only the small chunked one", len(bodies))
	}
}

func TestServer_HeaderTooLarge(t *testing.T) {
	t.Parallel()
	ts := startServer(t, Config{MaxHeaderBytes: 1024})
	big := "POST /webhook/" + testToken + " HTTP/1.1\r\nHost: r\r\nX-Big: " + strings.Repeat("h", 4096) + "\r\nContent-Length: 2\r\n\r\n{}"
	resp, err := rawRequest(t, ts, big)
	if err == nil && resp.StatusCode == 200 {
		t.Fatal("a request with oversized headers got 200")
	}
	if err == nil && resp.StatusCode != 431 {
		t.Errorf("status = %d; want 431", resp.StatusCode)
	}
	if code := ts.do(t, request{method: "POST", path: "/webhook/" + testToken, body: []byte(testBody)}).StatusCode(); code != 200 {
		t.Fatalf("next request: status = %d; want 200", code)
	}
}

func TestServer_TokenRotation(t *testing.T) {
	t.Parallel()
	app := &memAppender{}
	ts := startServer(t, Config{Appender: app})
	post := func(token string) int {
		return ts.do(t, request{method: "POST", path: "/webhook/" + token, body: []byte(testBody)}).StatusCode()
	}
	if got := post(newToken); got != 404 {
		t.Fatalf("new token before rotation: %d; want 404", got)
	}
	both := mustTokens(t, testToken, newToken)
	ts.tokens.Store(both)
	if got, got2 := post(testToken), post(newToken); got != 200 || got2 != 200 {
		t.Fatalf("during rotation: old %d, new %d; want 200, 200", got, got2)
	}
	ts.tokens.Store(mustTokens(t, newToken))
	if got := post(testToken); got != 404 {
		t.Fatalf("revoked token: %d; want 404", got)
	}
	if got := post(newToken); got != 200 {
		t.Fatalf("new token after rotation: %d; want 200", got)
	}
	_, ids := app.stored()
	want := []string{both.IDs()[0], both.IDs()[1], both.IDs()[1]}
	if strings.Join(ids, ",") != strings.Join(want, ",") {
		t.Fatalf("token ids %q; want %q", ids, want)
	}
}

func TestServer_ShutdownDrains(t *testing.T) {
	t.Parallel()
	app := &memAppender{release: make(chan struct{}), entered: make(chan struct{}, 1)}
	ts := startServer(t, Config{Appender: app})
	inFlight := make(chan int, 1)
	go func() {
		inFlight <- statusOf(ts.send(request{method: "POST", path: "/webhook/" + testToken, body: []byte(testBody)}))
	}()
	<-app.entered

	// A connection accepted before the shutdown that sends its request after.
	late, err := ts.ln.Dial()
	if err != nil {
		t.Fatal(err)
	}
	defer late.Close()

	shutdown := make(chan error, 1)
	go func() { shutdown <- ts.Shutdown(context.Background()) }()
	poll.Until(t, "Shutdown to start draining", ts.draining.Load)

	_, _ = late.Write([]byte("POST /webhook/" + testToken + " HTTP/1.1\r\nHost: r\r\nContent-Length: 2\r\n\r\n{}"))
	resp, err := http.ReadResponse(bufio.NewReader(late), nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("new request during shutdown: %d, Retry-After %q; want 503 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	select {
	case err := <-shutdown:
		t.Fatalf("Shutdown returned %v while an Append was in flight", err)
	default:
	}

	close(app.release)
	if code := <-inFlight; code != 200 {
		t.Fatalf("in-flight webhook: %d; want 200", code)
	}
	if err := <-shutdown; err != nil {
		t.Fatalf("Shutdown() = %v", err)
	}
	if bodies, _ := app.stored(); len(bodies) != 1 {
		t.Fatalf("stored %d bodies; want only the in-flight one", len(bodies))
	}
	// The handler itself keeps answering 503 to webhooks and /readyz.
	for _, path := range []string{"/webhook/" + testToken, "/readyz"} {
		ctx := &fasthttp.RequestCtx{}
		ctx.Request.Header.SetMethod("POST")
		if path == "/readyz" {
			ctx.Request.Header.SetMethod("GET")
		}
		ctx.Request.SetRequestURI(path)
		ts.Handler()(ctx)
		if got := ctx.Response.StatusCode(); got != 503 {
			t.Errorf("%s after shutdown: %d; want 503", path, got)
		}
	}
}

func TestServer_Counts(t *testing.T) {
	t.Parallel()
	ts := startServer(t, Config{})
	for range 3 {
		ts.do(t, request{method: "POST", path: "/webhook/" + testToken, body: []byte(testBody)})
	}
	ts.do(t, request{method: "GET", path: "/nothing"})
	got := ts.Counts()
	if len(got) != 2 || got[200] != 3 || got[404] != 1 {
		t.Fatalf("Counts() = %v; want map[200:3 404:1]", got)
	}
}

func TestServer_ShutdownRacingServe(t *testing.T) {
	t.Parallel()
	tokens := new(atomic.Pointer[auth.TokenSet])
	tokens.Store(mustTokens(t, testToken))
	for range 20 {
		srv, err := New(Config{Tokens: tokens, Verifier: auth.NewVerifier(nil, 0, nil), Appender: &memAppender{}})
		if err != nil {
			t.Fatal(err)
		}
		ln := fasthttputil.NewInmemoryListener()
		served := make(chan error, 1)
		go func() { served <- srv.Serve(ln) }()
		if err := srv.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
		if err := <-served; err != nil { // would hang if the listener stayed open
			t.Fatalf("Serve() = %v", err)
		}
		if err := srv.Serve(fasthttputil.NewInmemoryListener()); err != nil {
			t.Fatalf("Serve() after Shutdown = %v; want nil at once", err)
		}
	}
}

func TestServer_Metrics(t *testing.T) {
	t.Parallel()
	t.Run("not configured", func(t *testing.T) {
		ts := startServer(t, Config{})
		if got := ts.do(t, request{method: "GET", path: "/metrics"}).StatusCode(); got != 404 {
			t.Fatalf("GET /metrics without Metrics = %d; want 404", got)
		}
	})
	t.Run("configured", func(t *testing.T) {
		var srv *Server
		ts := startServer(t, Config{Metrics: func(w io.Writer) {
			fmt.Fprintf(w, "# TYPE x_total counter\nx_total %d\n", srv.Counts()[200])
		}})
		srv = ts.Server
		ts.do(t, request{method: "POST", path: "/webhook/" + testToken, body: []byte(testBody)})
		resp := ts.do(t, request{method: "GET", path: "/metrics"})
		if resp.StatusCode() != 200 || string(resp.Body()) != "# TYPE x_total counter\nx_total 1\n" {
			t.Fatalf("GET /metrics = %d %q", resp.StatusCode(), resp.Body())
		}
		if ct := string(resp.Header.ContentType()); !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
			t.Fatalf("Content-Type = %q", ct)
		}
		if got := ts.do(t, request{method: "POST", path: "/metrics"}).StatusCode(); got != 405 {
			t.Fatalf("POST /metrics = %d; want 405", got)
		}
	})
}

func TestServer_NeverLogsTokensOrBodies(t *testing.T) {
	t.Parallel()
	var logs lockedbuf.Buffer
	secretBody := `{"event_id":"x","data":{"email":"secret.person@example.com"}}`
	ts := startServer(t, Config{
		MaxBodyBytes: 256,
		Verifier:     auth.NewVerifier([]string{testKey}, 0, nil),
		Appender:     &memAppender{err: errors.New("disk full")},
		Log:          zerolog.New(&logs), // every level
	})
	for _, r := range []request{
		{method: "POST", path: "/webhook/" + newToken, body: []byte(secretBody)},
		{method: "GET", path: "/webhook/" + testToken},
		{method: "POST", path: "/webhook/" + testToken, body: []byte(secretBody), header: signed("wrong", secretBody)},
		{method: "POST", path: "/webhook/" + testToken, body: []byte(secretBody), header: signed(testKey, secretBody)},
		{method: "POST", path: "/webhook/" + testToken, body: bytes.Repeat([]byte(secretBody), 10)},
	} {
		ts.do(t, r)
	}
	out := logs.String()
	for _, msg := range []string{"unknown token", "bad signature", "spooling webhook failed", "body too large"} {
		if !strings.Contains(out, msg) {
			t.Fatalf("no %q line in the log:\n%s", msg, out)
		}
	}
	for _, secret := range []string{testToken, newToken, "secret.person", testKey} {
		if strings.Contains(out, secret) {
			t.Fatalf("log contains %q:\n%s", secret, out)
		}
	}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var entry map[string]any
		if err := json.Unmarshal([]byte(line), &entry); err != nil {
			t.Fatalf("log line %q is not JSON: %v", line, err)
		}
	}
}
