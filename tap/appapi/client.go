package appapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/cio-singer/tap-customerio-webhook/internal/clock"
)

// Base URLs of the App API. Customer.io's reference (docs.customer.io/api/app,
// "You're looking at our EU regional endpoints") says the regions differ
// only in the subdomain; a key works only in the region of its account.
const (
	BaseURLUS = "https://api.customer.io/v1"
	BaseURLEU = "https://api-eu.customer.io/v1"
)

// BaseURL returns the base URL for region ("", "us" or "eu"), or override
// when it is not empty (a proxy, or a fake in tests).
func BaseURL(region, override string) (string, error) {
	if override != "" {
		u, err := url.Parse(override)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return "", fmt.Errorf("app api: %q is not an http(s) URL", override)
		}
		return strings.TrimRight(override, "/"), nil
	}
	switch strings.ToLower(region) {
	case "", "us":
		return BaseURLUS, nil
	case "eu":
		return BaseURLEU, nil
	}
	return "", fmt.Errorf("app api: region %q is neither us nor eu", region)
}

// Options configure a [Client]. Zero values take the defaults in brackets.
type Options struct {
	// BaseURL is where the API lives, without a trailing slash (see
	// [BaseURL]). Required.
	BaseURL string
	// Key is the App API key, sent as a Bearer token. Required. It is
	// never logged nor put in an error.
	Key string
	// HTTPClient does the requests [one with a 60 s timeout].
	HTTPClient *http.Client
	// Clock paces requests and waits between retries [clock.System].
	Clock clock.Clock
	// RatePerSecond and Burst shape the token bucket [10, 1]: the App
	// API's documented limit is 10 requests a second.
	RatePerSecond float64
	Burst         int
	// MaxRetries bounds the retries of one request after a 5xx answer or
	// a transport error [5]; waits double from BackoffBase [1 s] up to
	// BackoffMax [60 s].
	MaxRetries  int
	BackoffBase time.Duration
	BackoffMax  time.Duration
	// MaxRateLimited bounds the retries of one request after 429 answers
	// [20]. A Retry-After longer than MaxRetryAfter [10 min] is not waited
	// for: the request fails and the next run tries again.
	MaxRateLimited int
	MaxRetryAfter  time.Duration
	// MaxResponseBytes bounds the size of one answer [64 MiB].
	MaxResponseBytes int64
	Log              zerolog.Logger
}

// Client reads the Customer.io App API: it paces requests to the rate
// limit, waits out 429 answers and retries 5xx answers a bounded number of
// times. It is safe for concurrent use; concurrent callers share the rate
// limit. It never logs answers: they hold e-mail addresses.
type Client struct {
	o       Options
	base    string
	limiter *limiter
}

// New returns a client for o.
func New(o Options) (*Client, error) {
	if o.BaseURL == "" {
		return nil, errors.New("app api: no base URL")
	}
	if o.Key == "" {
		return nil, errors.New("app api: no key")
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{Timeout: 60 * time.Second}
	}
	if o.Clock == nil {
		o.Clock = clock.System{}
	}
	if o.RatePerSecond <= 0 {
		o.RatePerSecond = 10
	}
	setDefault(&o.MaxRetries, 5)
	setDefault(&o.MaxRateLimited, 20)
	setDefault(&o.BackoffBase, time.Second)
	setDefault(&o.BackoffMax, time.Minute)
	setDefault(&o.MaxRetryAfter, 10*time.Minute)
	setDefault(&o.MaxResponseBytes, 64<<20)
	return &Client{
		o:       o,
		base:    strings.TrimRight(o.BaseURL, "/"),
		limiter: newLimiter(o.Clock, o.RatePerSecond, o.Burst),
	}, nil
}

func setDefault[T int | int64 | time.Duration](v *T, def T) {
	if *v <= 0 {
		*v = def
	}
}

// StatusError is an answer the client did not retry, or gave up
// retrying. It holds no part of the answer's body.
type StatusError struct {
	Path     string
	Code     int
	Attempts int
	// RetryAfter is the wait a 429 asked for, when that was the reason.
	RetryAfter time.Duration
}

func (e *StatusError) Error() string {
	msg := fmt.Sprintf("app api: GET %s: %d %s", e.Path, e.Code, http.StatusText(e.Code))
	switch {
	case e.Code == http.StatusUnauthorized || e.Code == http.StatusForbidden:
		msg += " (is app_api_key an App API key of this region?)"
	case e.RetryAfter > 0:
		msg += fmt.Sprintf(" (asked to wait %s)", e.RetryAfter)
	}
	if e.Attempts > 1 {
		msg += fmt.Sprintf(" after %d attempts", e.Attempts)
	}
	return msg
}

// Get reads path (below the base URL, e.g. "/messages") with query q and
// decodes the JSON answer into out.
func (c *Client) Get(ctx context.Context, path string, q url.Values, out any) error {
	target := c.base + path
	if len(q) > 0 {
		target += "?" + q.Encode()
	}
	var failed, limited int
	for attempt := 1; ; attempt++ {
		if err := c.limiter.wait(ctx); err != nil {
			return err
		}
		body, code, header, err := c.do(ctx, target)
		if err == nil && code/100 == 2 {
			if err := json.Unmarshal(body, out); err != nil {
				return fmt.Errorf("app api: decoding answer of GET %s: %w", path, err)
			}
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var wait time.Duration
		switch {
		case err != nil || code >= 500:
			failed++
			if failed > c.o.MaxRetries {
				if err != nil {
					return fmt.Errorf("app api: GET %s after %d attempts: %w", path, attempt, err)
				}
				return &StatusError{Path: path, Code: code, Attempts: attempt}
			}
			wait = c.backoff(failed)
		case code == http.StatusTooManyRequests:
			limited++
			wait = retryAfter(header.Get("Retry-After"), c.o.Clock.Now())
			if wait > c.o.MaxRetryAfter || limited > c.o.MaxRateLimited {
				return &StatusError{Path: path, Code: code, Attempts: attempt, RetryAfter: wait}
			}
			if wait <= 0 {
				wait = c.backoff(limited)
			}
		default:
			return &StatusError{Path: path, Code: code, Attempts: attempt}
		}
		ev := c.o.Log.Warn().Str("path", path).Int("attempt", attempt).Dur("wait", wait)
		if err != nil {
			ev = ev.AnErr("transport", err)
		} else {
			ev = ev.Int("status", code)
		}
		ev.Msg("app api request failed; retrying")
		if err := c.o.Clock.Sleep(ctx, wait); err != nil {
			return err
		}
	}
}

// do makes one request. A non-nil error is a transport failure (worth a
// retry); an answer of any status comes back with its body read.
func (c *Client) do(ctx context.Context, target string) ([]byte, int, http.Header, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return nil, 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.o.Key)
	req.Header.Set("Accept", "application/json")
	start := c.o.Clock.Now()
	resp, err := c.o.HTTPClient.Do(req)
	if err != nil {
		return nil, 0, nil, scrubURL(err)
	}
	defer resp.Body.Close()
	limit := c.o.MaxResponseBytes
	if resp.StatusCode/100 != 2 {
		limit = 64 << 10 // error bodies are read only to reuse the connection
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, 0, nil, scrubURL(err)
	}
	if int64(len(body)) > limit && resp.StatusCode/100 == 2 {
		return nil, 0, nil, fmt.Errorf("answer larger than %d bytes", limit)
	}
	c.o.Log.Debug().Str("path", req.URL.Path).Int("status", resp.StatusCode).
		Int("bytes", len(body)).Dur("took", c.o.Clock.Now().Sub(start)).Msg("app api request")
	return body, resp.StatusCode, resp.Header, nil
}

// scrubURL drops the URL from a *url.Error: its query holds paging cursors,
// and a proxy URL may carry credentials.
func scrubURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s: %w", ue.Op, ue.Err)
	}
	return err
}

// backoff is the wait before retry n (1-based): BackoffBase doubled n-1
// times, at most BackoffMax. There is no jitter: one tap is one client.
func (c *Client) backoff(n int) time.Duration {
	d := c.o.BackoffBase
	for i := 1; i < n && d < c.o.BackoffMax; i++ {
		d *= 2
	}
	return min(d, c.o.BackoffMax)
}

// retryAfter reads a Retry-After header: delay seconds or an HTTP date
// (RFC 9110 section 10.2.3). Zero when absent or unreadable.
func retryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseInt(v, 10, 64); err == nil {
		if s < 0 {
			return 0
		}
		return time.Duration(min(s, int64(24*time.Hour/time.Second))) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}
