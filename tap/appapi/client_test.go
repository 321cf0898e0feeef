package appapi

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/cio-singer/tap-customerio-webhook/internal/clock"
	"github.com/cio-singer/tap-customerio-webhook/tap/appapi/appapitest"
)

var epoch = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// newClient returns a client of fake s on clock c, logging into logs.
func newClient(t *testing.T, s *appapitest.Server, c clock.Clock, logs *bytes.Buffer) *Client {
	t.Helper()
	log := zerolog.Nop()
	if logs != nil {
		log = zerolog.New(logs).Level(zerolog.DebugLevel)
	}
	cl, err := New(Options{BaseURL: s.URL, Key: s.Key(), Clock: c, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	return cl
}

func TestBaseURL(t *testing.T) {
	for _, tc := range []struct{ region, override, want string }{
		{"", "", "https://api.customer.io/v1"},
		{"us", "", "https://api.customer.io/v1"},
		{"EU", "", "https://api-eu.customer.io/v1"},
		{"eu", "http://127.0.0.1:9/v1/", "http://127.0.0.1:9/v1"},
	} {
		got, err := BaseURL(tc.region, tc.override)
		if err != nil || got != tc.want {
			t.Errorf("BaseURL(%q, %q) = %q, %v; want %q", tc.region, tc.override, got, err, tc.want)
		}
	}
	for _, bad := range [][2]string{{"au", ""}, {"", "ftp://x/v1"}, {"", "api.customer.io"}} {
		if _, err := BaseURL(bad[0], bad[1]); err == nil {
			t.Errorf("BaseURL(%q, %q) accepted", bad[0], bad[1])
		}
	}
}

func TestClient_PacesRequestsAndSendsKey(t *testing.T) {
	fake := clock.NewFake(epoch)
	s := appapitest.New(t, appapitest.Options{Clock: fake})
	c := newClient(t, s, fake, nil)
	const n = 35
	for range n {
		var out map[string]any
		if err := c.Get(t.Context(), "/campaigns", nil, &out); err != nil {
			t.Fatal(err)
		}
	}
	reqs := s.Requests()
	if len(reqs) != n {
		t.Fatalf("%d requests, want %d (a 429 or a retry happened)", len(reqs), n)
	}
	for i, r := range reqs {
		if r.Authorization != "Bearer "+s.Key() || r.Status != http.StatusOK {
			t.Fatalf("request %d: authorization %q, status %d", i, r.Authorization, r.Status)
		}
		if i > 0 && r.Time.Sub(reqs[i-1].Time) < 100*time.Millisecond {
			t.Fatalf("request %d came %s after the one before: over 10 a second", i, r.Time.Sub(reqs[i-1].Time))
		}
	}
	if got, want := reqs[n-1].Time.Sub(reqs[0].Time), (n-1)*100*time.Millisecond; got > want+time.Millisecond {
		t.Errorf("%d requests took %s of virtual time, want %s: the limiter waits too long", n, got, want)
	}
}

func TestClient_WaitsForRetryAfter(t *testing.T) {
	for _, ra := range []string{"7", epoch.Add(7 * time.Second).Format(http.TimeFormat)} {
		fake := clock.NewFake(epoch)
		s := appapitest.New(t, appapitest.Options{Clock: fake})
		s.Fail(appapitest.Fault{Status: http.StatusTooManyRequests, RetryAfter: ra})
		c := newClient(t, s, fake, nil)
		var out map[string]any
		if err := c.Get(t.Context(), "/broadcasts", nil, &out); err != nil {
			t.Fatal(err)
		}
		reqs := s.Requests()
		if len(reqs) != 2 || reqs[0].Status != 429 || reqs[1].Status != 200 {
			t.Fatalf("requests %+v, want a 429 then a 200", reqs)
		}
		if gap := reqs[1].Time.Sub(reqs[0].Time); gap < 7*time.Second || gap > 8*time.Second {
			t.Errorf("Retry-After %q: retried after %s, want 7s", ra, gap)
		}
	}
}

func TestClient_RetryAfterBeyondMaximumFails(t *testing.T) {
	fake := clock.NewFake(epoch)
	s := appapitest.New(t, appapitest.Options{Clock: fake})
	s.Fail(appapitest.Fault{Status: http.StatusTooManyRequests, RetryAfter: "3600"})
	c := newClient(t, s, fake, nil)
	var out map[string]any
	err := c.Get(t.Context(), "/broadcasts", nil, &out)
	var se *StatusError
	if !errors.As(err, &se) || se.Code != 429 || se.RetryAfter != time.Hour {
		t.Fatalf("err = %v, want a 429 StatusError asking for 1h", err)
	}
	if fake.Slept() > time.Second {
		t.Errorf("waited %s for a Retry-After it should refuse", fake.Slept())
	}
}

func TestClient_Retries5xxWithBackoff(t *testing.T) {
	fake := clock.NewFake(epoch)
	s := appapitest.New(t, appapitest.Options{Clock: fake})
	s.Fail(appapitest.Fault{Status: http.StatusInternalServerError})
	s.Fail(appapitest.Fault{Status: http.StatusBadGateway})
	c := newClient(t, s, fake, nil)
	var out map[string]any
	if err := c.Get(t.Context(), "/newsletters", nil, &out); err != nil {
		t.Fatal(err)
	}
	reqs := s.Requests()
	if len(reqs) != 3 {
		t.Fatalf("%d requests, want 3", len(reqs))
	}
	if g1, g2 := reqs[1].Time.Sub(reqs[0].Time), reqs[2].Time.Sub(reqs[1].Time); g1 != time.Second || g2 != 2*time.Second {
		t.Errorf("backoff %s then %s, want 1s then 2s", g1, g2)
	}

	for range 6 {
		s.Fail(appapitest.Fault{Status: http.StatusServiceUnavailable})
	}
	err := c.Get(t.Context(), "/newsletters", nil, &out)
	var se *StatusError
	if !errors.As(err, &se) || se.Code != 503 || se.Attempts != 6 {
		t.Fatalf("err = %v, want a 503 StatusError after 6 attempts", err)
	}
}

func TestClient_RefusedKeyIsNotRetriedNorShown(t *testing.T) {
	fake := clock.NewFake(epoch)
	s := appapitest.New(t, appapitest.Options{Clock: fake})
	c, err := New(Options{BaseURL: s.URL, Key: "wrong-secret-key", Clock: fake})
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	err = c.Get(t.Context(), "/campaigns", nil, &out)
	var se *StatusError
	if !errors.As(err, &se) || se.Code != 401 || len(s.Requests()) != 1 {
		t.Fatalf("err = %v after %d requests, want one 401", err, len(s.Requests()))
	}
	if strings.Contains(err.Error(), "wrong-secret-key") || !strings.Contains(err.Error(), "app_api_key") {
		t.Errorf("error %q: shows the key, or does not say which setting to check", err)
	}
}

func TestClient_ContextEndsWaits(t *testing.T) {
	t.Run("waiting for Retry-After", func(t *testing.T) {
		s := appapitest.New(t, appapitest.Options{})
		s.Fail(appapitest.Fault{Status: http.StatusTooManyRequests, RetryAfter: "300"})
		ctx, cancel := context.WithCancel(t.Context())
		c := newClient(t, s, cancelOnSleep{cancel}, nil)
		var out map[string]any
		start := time.Now()
		if err := c.Get(ctx, "/campaigns", nil, &out); !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
		if took := time.Since(start); took > 30*time.Second {
			t.Errorf("took %s: the wait did not end with the context", took)
		}
	})
	t.Run("during a request", func(t *testing.T) {
		arrived := make(chan struct{})
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			close(arrived)
			<-r.Context().Done()
		}))
		defer srv.Close()
		c, err := New(Options{BaseURL: srv.URL, Key: "k"})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		go func() { <-arrived; cancel() }()
		var out map[string]any
		if err := c.Get(ctx, "/campaigns", nil, &out); !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
	})
}

// cancelOnSleep ends the context when asked to wait, then waits for real:
// Sleep must return as soon as the context ends.
type cancelOnSleep struct{ cancel context.CancelFunc }

func (cancelOnSleep) Now() time.Time { return time.Now() }
func (c cancelOnSleep) Sleep(ctx context.Context, d time.Duration) error {
	c.cancel()
	return clock.System{}.Sleep(ctx, d)
}

func TestClient_RegionHosts(t *testing.T) {
	s := appapitest.New(t, appapitest.Options{TLS: true})
	for region, host := range map[string]string{"eu": "api-eu.customer.io", "us": "api.customer.io"} {
		base, err := BaseURL(region, "")
		if err != nil {
			t.Fatal(err)
		}
		c, err := New(Options{BaseURL: base, Key: s.Key(), HTTPClient: &http.Client{Transport: s.Transport()}})
		if err != nil {
			t.Fatal(err)
		}
		var out map[string]any
		if err := c.Get(t.Context(), "/transactional", nil, &out); err != nil {
			t.Fatal(err)
		}
		reqs := s.Requests()
		if last := reqs[len(reqs)-1]; last.Host != host || last.Path != "/v1/transactional" {
			t.Errorf("region %s: asked %s%s, want %s/v1/transactional", region, last.Host, last.Path, host)
		}
	}
}

func TestRetryAfter(t *testing.T) {
	for v, want := range map[string]time.Duration{
		"": 0, "0": 0, "-3": 0, "soon": 0, " 12 ": 12 * time.Second,
		epoch.Add(90 * time.Second).Format(http.TimeFormat): 90 * time.Second,
		epoch.Add(-time.Minute).Format(http.TimeFormat):     0,
		"99999999999999": 24 * time.Hour,
	} {
		if got := retryAfter(v, epoch); got != want {
			t.Errorf("retryAfter(%q) = %s, want %s", v, got, want)
		}
	}
}

func TestClient_ErrorsHideTheQuery(t *testing.T) {
	c, err := New(Options{BaseURL: "http://127.0.0.1:1/v1", Key: "k", MaxRetries: 1, BackoffBase: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	err = c.Get(t.Context(), "/messages", url.Values{"start": {"secret-cursor"}}, &out)
	if err == nil || strings.Contains(err.Error(), "secret-cursor") {
		t.Fatalf("err = %v: want a transport error without the query", err)
	}
}
