package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/valyala/fasthttp"

	"github.com/cio-singer/tap-customerio-webhook/tap/auth"
)

const testKey = "loadgen-test-key"

// recordingServer answers 200 to correctly signed webhooks, except every
// fifth, which gets 503, and remembers which event_ids it answered 200.
type recordingServer struct {
	verifier *auth.Verifier
	mu       sync.Mutex
	n        int
	ok       map[string]bool
	bad      []string
}

func (s *recordingServer) handle(ctx *fasthttp.RequestCtx) {
	body := ctx.PostBody()
	h := &ctx.Request.Header
	if err := s.verifier.Verify(h.Peek(auth.HeaderTimestamp), h.Peek(auth.HeaderSignature), body); err != nil {
		ctx.SetStatusCode(401)
		return
	}
	var ev struct {
		EventID    string `json:"event_id"`
		ObjectType string `json:"object_type"`
		Data       struct {
			CustomerID string `json:"customer_id"`
		} `json:"data"`
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := json.Unmarshal(body, &ev); err != nil || ev.EventID == "" || ev.ObjectType != "email" || ev.Data.CustomerID == "" {
		s.bad = append(s.bad, string(body))
		ctx.SetStatusCode(400)
		return
	}
	s.n++
	if s.n%5 == 0 {
		ctx.SetStatusCode(503)
		return
	}
	if s.ok[ev.EventID] {
		s.bad = append(s.bad, "duplicate event_id "+ev.EventID)
	}
	s.ok[ev.EventID] = true
	ctx.SetStatusCode(200)
}

func serve(t *testing.T, handler fasthttp.RequestHandler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &fasthttp.Server{Handler: handler}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		if err := srv.Shutdown(); err != nil {
			t.Error(err)
		}
		// Shutdown does not close a listener Serve has not registered yet.
		_ = ln.Close()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return "http://" + ln.Addr().String() + "/webhook/some-token"
}

func TestRun_AckedMatchesServer(t *testing.T) {
	rs := &recordingServer{verifier: auth.NewVerifier([]string{testKey}, time.Minute, nil), ok: map[string]bool{}}
	url := serve(t, rs.handle)
	var acked bytes.Buffer
	res, err := Run(context.Background(), Config{
		URL: url, Conns: 4, Duration: 300 * time.Millisecond, BodyBytes: 1024, SigningKey: testKey, Acked: &acked,
	})
	if err != nil {
		t.Fatal(err)
	}
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if len(rs.bad) > 0 {
		t.Fatalf("server saw %d bad requests, first: %.200s", len(rs.bad), rs.bad[0])
	}
	if res.Requests == 0 || res.Requests != uint64(rs.n) {
		t.Fatalf("Requests = %d; server answered %d", res.Requests, rs.n)
	}
	if got, want := res.Status["200"], uint64(len(rs.ok)); got != want {
		t.Fatalf("Status[200] = %d; server answered 200 %d times", got, want)
	}
	if got, want := res.Non2xx, res.Status["503"]; got != want || got != uint64(rs.n/5) {
		t.Fatalf("Non2xx = %d, Status[503] = %d; want both %d", got, want, rs.n/5)
	}
	lines := strings.Split(strings.TrimSuffix(acked.String(), "\n"), "\n")
	if len(lines) != len(rs.ok) {
		t.Fatalf("acked %d ids; server answered 200 for %d", len(lines), len(rs.ok))
	}
	for _, id := range lines {
		if !rs.ok[id] {
			t.Fatalf("acked id %q was not answered 200", id)
		}
	}
	l := res.Latency
	if !(l.P50 > 0 && l.P50 <= l.P90 && l.P90 <= l.P99 && l.P99 <= l.P999 && l.P999 <= l.Max) {
		t.Fatalf("latency percentiles out of order: %+v", l)
	}
}

func TestRun_CountsTransportErrors(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String() + "/webhook/x"
	ln.Close() // nothing listens there now
	// Unpaced: a paced first request may not be due within a short run on a busy machine.
	res, err := Run(context.Background(), Config{URL: url, Conns: 2, Duration: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if res.Errors == 0 || res.Errors != res.Requests || res.Non2xx != res.Requests || len(res.Status) != 0 {
		t.Fatalf("result %+v; want every request counted as an error", res)
	}
}

func TestRun_RateLimits(t *testing.T) {
	url := serve(t, func(ctx *fasthttp.RequestCtx) { ctx.SetStatusCode(200) })
	const rate, conns = 100.0, 2
	d := 300 * time.Millisecond
	res, err := Run(context.Background(), Config{URL: url, Conns: conns, Duration: d, Rate: rate})
	if err != nil {
		t.Fatal(err)
	}
	// An upper bound only: a slow machine may send fewer, never more.
	if limit := uint64(rate*d.Seconds()) + conns; res.Requests == 0 || res.Requests > limit {
		t.Fatalf("Requests = %d; want 1..%d at %g/s for %s", res.Requests, limit, rate, d)
	}
}

func TestRun_StopsWithContext(t *testing.T) {
	url := serve(t, func(ctx *fasthttp.RequestCtx) { ctx.SetStatusCode(200) })
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	res, err := Run(ctx, Config{URL: url, Conns: 2, Duration: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests != 0 {
		t.Fatalf("Requests = %d after cancel; want 0", res.Requests)
	}
}

func TestConfig_Validate(t *testing.T) {
	_, err := Run(context.Background(), Config{Conns: 0, Duration: -1, Rate: -1, BodyBytes: -1})
	if err == nil {
		t.Fatal("want an error")
	}
	for _, key := range []string{"url", "conns", "duration", "rate", "body-bytes"} {
		if !strings.Contains(err.Error(), key+":") {
			t.Errorf("error %q does not name %s", err, key)
		}
	}
}

func TestAppendEventID(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	now := time.UnixMilli(1727803361123)
	seen := map[string]bool{}
	for range 10000 {
		id := string(appendEventID(nil, now, rng))
		if len(id) != 26 || seen[id] {
			t.Fatalf("id %q: wrong length or repeated", id)
		}
		seen[id] = true
		// The first 10 digits are the milliseconds, as in a ULID.
		var ms uint64
		for _, c := range id[:10] {
			ms = ms<<5 | uint64(strings.IndexRune(crockford, c))
		}
		if ms != uint64(now.UnixMilli()) {
			t.Fatalf("id %q encodes %d ms; want %d", id, ms, now.UnixMilli())
		}
	}
}

func TestAppendEvent(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	now := time.Unix(1727803361, 0)
	id := appendEventID(nil, now, rng)
	for _, size := range []int{0, 300, 1024, 8192} {
		body := appendEvent([]byte("prefix"), id, now, rng, size)[len("prefix"):]
		var ev map[string]any
		if err := json.Unmarshal(body, &ev); err != nil {
			t.Fatalf("size %d: %v in %s", size, err, body)
		}
		if ev["event_id"] != string(id) || ev["timestamp"] != float64(now.Unix()) {
			t.Fatalf("size %d: event_id %v, timestamp %v", size, ev["event_id"], ev["timestamp"])
		}
		if size >= 400 && len(body) != size {
			t.Fatalf("body is %d bytes; want %d", len(body), size)
		}
	}
}

func TestPercentile(t *testing.T) {
	var d []time.Duration
	for i := 1; i <= 1000; i++ {
		d = append(d, time.Duration(i)*time.Millisecond)
	}
	for _, tt := range []struct {
		q    float64
		want float64
	}{{0.5, 500}, {0.9, 900}, {0.99, 990}, {0.999, 999}, {1, 1000}} {
		if got := percentile(d, tt.q); got != tt.want {
			t.Errorf("percentile(%g) = %g; want %g", tt.q, got, tt.want)
		}
	}
	if got := percentile(nil, 0.5); got != 0 {
		t.Errorf("percentile of nothing = %g", got)
	}
}

func TestNoopServer(t *testing.T) {
	srv := NewNoopServer()
	url := serve(t, srv.Handler)
	res, err := Run(context.Background(), Config{URL: url, Conns: 2, Duration: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests == 0 || res.Status["200"] != res.Requests {
		t.Fatalf("result %+v; want only 200s", res)
	}
}

func TestMemReceiver(t *testing.T) {
	const token = "loadgen-token-0123456789abcdef0123456789"
	srv, err := NewMemReceiver(token, testKey, zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.InfoLevel))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- ServeUntil(ctx, ln, srv.Serve, srv.Shutdown) }()
	url := "http://" + ln.Addr().String() + "/webhook/" + token

	signedRes, err := Run(context.Background(), Config{URL: url, Conns: 2, Duration: 100 * time.Millisecond, SigningKey: testKey})
	if err != nil {
		t.Fatal(err)
	}
	unsigned, err := Run(context.Background(), Config{URL: url, Conns: 1, Duration: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := <-served; err != nil {
		t.Fatalf("ServeUntil() = %v", err)
	}
	if signedRes.Requests == 0 || signedRes.Status["200"] != signedRes.Requests {
		t.Fatalf("signed: %+v; want only 200s", signedRes)
	}
	if unsigned.Requests == 0 || unsigned.Status["401"] != unsigned.Requests {
		t.Fatalf("unsigned: %+v; want only 401s", unsigned)
	}
	if got := srv.Counts()[200]; got != signedRes.Requests {
		t.Fatalf("receiver counted %d 200s; loadgen %d", got, signedRes.Requests)
	}
}
