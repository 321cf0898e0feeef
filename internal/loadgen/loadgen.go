// Package loadgen is test tooling: it sends Customer.io-shaped webhooks to
// a receiver as fast as it can (or at a fixed rate) over N keep-alive
// connections, and reports throughput, status codes and latency
// percentiles. With an acknowledgement log it records the event_id of
// every webhook answered 2xx, so a reliability test can check that each
// acknowledged event reached the warehouse.
//
// It also has a no-op server ([NewNoopServer]) as the baseline the real
// receiver is compared with.
//
//	res, err := loadgen.Run(ctx, loadgen.Config{URL: url, Conns: 64, Duration: 10 * time.Second})
//	json.NewEncoder(os.Stdout).Encode(res)
package loadgen

import (
	"bufio"
	"context"
	cryptorand "crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/cio-singer/tap-customerio-webhook/tap/auth"
)

// Config describes one load run.
type Config struct {
	URL        string        // webhook URL, token included
	Conns      int           // concurrent keep-alive connections
	Duration   time.Duration // how long to send
	Rate       float64       // total requests per second; 0 sends as fast as answers come
	BodyBytes  int           // approximate body size
	SigningKey string        // when set, requests carry X-CIO-Timestamp and X-CIO-Signature
	Timeout    time.Duration // per request; 0 means 10s
	// Acked, when set, receives the event_id of every request answered
	// 2xx, one per line. Run buffers it and flushes before returning.
	Acked io.Writer
}

func (c Config) validate() error {
	var errs []error
	if c.URL == "" {
		errs = append(errs, errors.New("url: required"))
	}
	if c.Conns <= 0 {
		errs = append(errs, fmt.Errorf("conns: %d must be positive", c.Conns))
	}
	if c.Duration <= 0 {
		errs = append(errs, fmt.Errorf("duration: %s must be positive", c.Duration))
	}
	if c.Rate < 0 {
		errs = append(errs, fmt.Errorf("rate: %g must not be negative", c.Rate))
	}
	if c.BodyBytes < 0 {
		errs = append(errs, fmt.Errorf("body-bytes: %d must not be negative", c.BodyBytes))
	}
	return errors.Join(errs...)
}

// Result is what a run prints: one JSON object.
type Result struct {
	Requests uint64            `json:"requests"`
	Seconds  float64           `json:"duration_s"`
	RPS      float64           `json:"rps"`
	Status   map[string]uint64 `json:"status"`  // answers by HTTP status code
	Non2xx   uint64            `json:"non_2xx"` // requests not answered 2xx, transport errors included
	Errors   uint64            `json:"errors"`  // requests that got no HTTP answer at all
	Latency  Latency           `json:"latency_ms"`
}

// Latency holds percentiles of request latency in milliseconds.
type Latency struct {
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p999"`
	Max  float64 `json:"max"`
}

// workerStats is what one connection's loop measured.
type workerStats struct {
	latencies []time.Duration
	status    map[int]uint64
	errors    uint64
}

// ackLog serialises event ids from all workers into one buffered writer.
type ackLog struct {
	mu  sync.Mutex
	w   *bufio.Writer
	err error
}

func (a *ackLog) add(id []byte) {
	if a == nil {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.err == nil {
		_, a.err = a.w.Write(id)
	}
	if a.err == nil {
		a.err = a.w.WriteByte('\n')
	}
}

func (a *ackLog) flush() error {
	if a == nil {
		return nil
	}
	if a.err != nil {
		return fmt.Errorf("writing acknowledged ids: %w", a.err)
	}
	if err := a.w.Flush(); err != nil {
		return fmt.Errorf("flushing acknowledged ids: %w", err)
	}
	return nil
}

// Run sends webhooks until cfg.Duration has passed or ctx ends, waits for
// the answers still outstanding, and returns what it measured. Requests
// in flight when time is up are completed and counted.
func Run(ctx context.Context, cfg Config) (Result, error) {
	if err := cfg.validate(); err != nil {
		return Result{}, err
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	client := &fasthttp.Client{
		MaxConnsPerHost:          cfg.Conns,
		ReadTimeout:              cfg.Timeout,
		WriteTimeout:             cfg.Timeout,
		MaxIdleConnDuration:      time.Minute,
		NoDefaultUserAgentHeader: true,
	}
	var acked *ackLog
	if cfg.Acked != nil {
		acked = &ackLog{w: bufio.NewWriterSize(cfg.Acked, 64<<10)}
	}
	var interval time.Duration
	if cfg.Rate > 0 {
		interval = time.Duration(float64(cfg.Conns) / cfg.Rate * float64(time.Second))
	}

	start := time.Now()
	deadline := start.Add(cfg.Duration)
	stats := make([]workerStats, cfg.Conns)
	var wg sync.WaitGroup
	for i := range stats {
		wg.Go(func() { stats[i] = runWorker(ctx, client, cfg, acked, deadline, interval) })
	}
	wg.Wait()
	elapsed := time.Since(start)
	client.CloseIdleConnections()
	return summarise(stats, elapsed), acked.flush()
}

// runWorker sends requests one after another over one connection.
func runWorker(ctx context.Context, client *fasthttp.Client, cfg Config, acked *ackLog, deadline time.Time, interval time.Duration) workerStats {
	var seed [32]byte
	_, _ = cryptorand.Read(seed[:]) // never fails (crypto/rand documents it)
	rng := rand.New(rand.NewChaCha8(seed))
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.Header.SetMethod(fasthttp.MethodPost)
	req.Header.SetContentType("application/json")
	req.SetRequestURI(cfg.URL)

	st := workerStats{status: make(map[int]uint64)}
	var id, body, ts []byte
	// Spread the workers' first sends over one interval.
	next := time.Now().Add(time.Duration(binary.LittleEndian.Uint64(seed[:8]) % uint64(max(interval, 1))))
	for ctx.Err() == nil {
		if interval > 0 {
			if !waitUntil(ctx, next) {
				break
			}
			next = next.Add(interval)
		}
		now := time.Now()
		if now.After(deadline) {
			break
		}
		id = appendEventID(id[:0], now, rng)
		body = appendEvent(body[:0], id, now, rng, cfg.BodyBytes)
		req.SetBodyRaw(body)
		if cfg.SigningKey != "" {
			ts = strconv.AppendInt(ts[:0], now.Unix(), 10)
			req.Header.SetBytesV(auth.HeaderTimestamp, ts)
			req.Header.Set(auth.HeaderSignature, auth.Sign([]byte(cfg.SigningKey), ts, body))
		}
		err := client.Do(req, resp)
		st.latencies = append(st.latencies, time.Since(now))
		if err != nil {
			st.errors++
			continue
		}
		code := resp.StatusCode()
		st.status[code]++
		if code >= 200 && code < 300 {
			acked.add(id)
		}
	}
	return st
}

// waitUntil waits for t and reports false if ctx ended first.
func waitUntil(ctx context.Context, t time.Time) bool {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err() == nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// summarise merges the workers' measurements.
func summarise(stats []workerStats, elapsed time.Duration) Result {
	res := Result{Seconds: elapsed.Seconds(), Status: make(map[string]uint64)}
	var all []time.Duration
	for _, st := range stats {
		all = append(all, st.latencies...)
		for code, n := range st.status {
			res.Status[strconv.Itoa(code)] += n
			res.Requests += n
			if code < 200 || code >= 300 {
				res.Non2xx += n
			}
		}
		res.Errors += st.errors
		res.Requests += st.errors
		res.Non2xx += st.errors
	}
	if elapsed > 0 {
		res.RPS = float64(res.Requests) / elapsed.Seconds()
	}
	slices.Sort(all)
	res.Latency = Latency{
		P50: percentile(all, 0.50), P90: percentile(all, 0.90), P99: percentile(all, 0.99),
		P999: percentile(all, 0.999), Max: percentile(all, 1),
	}
	return res
}

// percentile returns the q-quantile of sorted in milliseconds (nearest
// rank), or 0 for no samples.
func percentile(sorted []time.Duration, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted))+0.999999) - 1
	i = min(max(i, 0), len(sorted)-1)
	return float64(sorted[i]) / float64(time.Millisecond)
}
