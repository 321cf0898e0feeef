package main

import (
	"bufio"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Freshness without counting rows: the tap's spool end offset is sampled
// over time (its /metrics), every line of state the target prints is
// timestamped as it is read (its spool_offset is committed), and the
// freshness of offset N is the time the target's state first covered N
// minus the time the spool first reached N. A sample's value was read at
// some instant between sending the scrape and reading its answer, so N
// became durable after the send of the last sample below N and before the
// answer of the first sample at or above it: the two bounds of freshness.

// spoolSample is one scrape of /metrics.
type spoolSample struct {
	sent, answered time.Time
	durable        uint64 // spool_durable_offset
	accepted       uint64 // webhooks_accepted_total, all tokens
}

// stateLine is one state value the target wrote, with when it was read.
type stateLine struct {
	at     time.Time
	offset uint64
}

// parseMetrics reads spool_durable_offset and the sum of
// webhooks_accepted_total from a Prometheus text exposition.
func parseMetrics(r io.Reader) (durable, accepted uint64, err error) {
	const prefix = "tap_customerio_webhook_"
	found := false
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		name, rest, ok := strings.Cut(line, " ")
		if !ok || !strings.HasPrefix(name, prefix) {
			continue
		}
		name, _, _ = strings.Cut(strings.TrimPrefix(name, prefix), "{")
		if name != "spool_durable_offset" && name != "webhooks_accepted_total" {
			continue
		}
		v, err := strconv.ParseFloat(rest, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("metrics line %q: %w", line, err)
		}
		if name == "spool_durable_offset" {
			durable, found = uint64(v), true
		} else {
			accepted += uint64(v)
		}
	}
	if err := sc.Err(); err != nil {
		return 0, 0, err
	}
	if !found {
		return 0, 0, errors.New("metrics have no spool_durable_offset")
	}
	return durable, accepted, nil
}

// sampler scrapes a tap's /metrics every interval until stopped.
type sampler struct {
	url      string
	interval time.Duration
	client   *http.Client

	mu      sync.Mutex
	samples []spoolSample
	err     error
	stop    chan struct{}
	done    chan struct{}
}

func startSampler(url string, interval time.Duration) *sampler {
	s := &sampler{url: url, interval: interval, client: &http.Client{Timeout: 5 * time.Second},
		stop: make(chan struct{}), done: make(chan struct{})}
	go s.loop()
	return s
}

func (s *sampler) loop() {
	defer close(s.done)
	tick := time.NewTicker(s.interval)
	defer tick.Stop()
	for {
		smp, err := s.scrape()
		s.mu.Lock()
		if err != nil && s.err == nil {
			s.err = err
		}
		if err == nil {
			s.samples = append(s.samples, smp)
		}
		s.mu.Unlock()
		select {
		case <-s.stop:
			return
		case <-tick.C:
		}
	}
}

func (s *sampler) scrape() (spoolSample, error) {
	smp := spoolSample{sent: time.Now()}
	resp, err := s.client.Get(s.url)
	if err != nil {
		return smp, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return smp, fmt.Errorf("GET %s: %s", s.url, resp.Status)
	}
	smp.durable, smp.accepted, err = parseMetrics(resp.Body)
	smp.answered = time.Now()
	return smp, err
}

// last returns the newest sample.
func (s *sampler) last() (spoolSample, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.samples) == 0 {
		return spoolSample{}, false
	}
	return s.samples[len(s.samples)-1], true
}

// finish stops the sampler and returns its samples and first error.
func (s *sampler) finish() ([]spoolSample, error) {
	close(s.stop)
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.samples, s.err
}

// stateReader timestamps every state line a target writes to r.
type stateReader struct {
	mu    sync.Mutex
	lines []stateLine
	err   error
	done  chan struct{}
}

func readStates(r io.Reader) *stateReader {
	sr := &stateReader{done: make(chan struct{})}
	go func() {
		defer close(sr.done)
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 64<<10), 16<<20)
		for sc.Scan() {
			at := time.Now()
			var v struct {
				Bookmarks struct {
					Data struct {
						SpoolOffset uint64 `json:"spool_offset"`
					} `json:"data"`
				} `json:"bookmarks"`
			}
			err := json.Unmarshal(sc.Bytes(), &v)
			sr.mu.Lock()
			if err != nil && sr.err == nil {
				sr.err = fmt.Errorf("target state %q: %w", sc.Text(), err)
			}
			sr.lines = append(sr.lines, stateLine{at: at, offset: v.Bookmarks.Data.SpoolOffset})
			sr.mu.Unlock()
		}
		sr.mu.Lock()
		if err := sc.Err(); err != nil && sr.err == nil {
			sr.err = err
		}
		sr.mu.Unlock()
	}()
	return sr
}

// covered returns the offset of the newest state line (0 before any).
func (sr *stateReader) covered() uint64 {
	sr.mu.Lock()
	defer sr.mu.Unlock()
	if len(sr.lines) == 0 {
		return 0
	}
	return sr.lines[len(sr.lines)-1].offset
}

// wait returns every line once the target's stdout is closed.
func (sr *stateReader) wait() ([]stateLine, error) {
	<-sr.done
	sr.mu.Lock()
	defer sr.mu.Unlock()
	return sr.lines, sr.err
}

// span is a run of offsets sharing one freshness.
type span struct {
	fresh time.Duration
	n     uint64
	at    time.Time // when they became durable, at the earliest
}

// freshness returns, for offsets 1..last, the upper and lower bounds of
// their freshness as spans. samples and states are in time order; the
// first sample must precede every record (durable 0).
func freshness(samples []spoolSample, states []stateLine, last uint64) (upper, lower []span, err error) {
	if len(samples) == 0 || samples[0].durable != 0 {
		return nil, nil, errors.New("freshness: the first spool sample must be taken before any record")
	}
	j, k := 0, 0
	for n := uint64(1); n <= last; {
		for j < len(samples) && samples[j].durable < n {
			j++
		}
		for k < len(states) && states[k].offset < n {
			k++
		}
		if j == len(samples) {
			return nil, nil, fmt.Errorf("freshness: offset %d never seen durable in the samples", n)
		}
		if k == len(states) {
			return nil, nil, fmt.Errorf("freshness: offset %d never covered by the target's state", n)
		}
		end := min(samples[j].durable, states[k].offset, last)
		at := states[k].at
		upper = append(upper, span{at.Sub(samples[j-1].sent), end - n + 1, samples[j-1].sent})
		lower = append(lower, span{at.Sub(samples[j].answered), end - n + 1, samples[j-1].sent})
		n = end + 1
	}
	return upper, lower, nil
}

// percentiles returns the given quantiles (0..1) of the offsets' freshness.
func percentiles(spans []span, qs ...float64) []time.Duration {
	s := slices.Clone(spans)
	slices.SortFunc(s, func(a, b span) int { return cmp.Compare(a.fresh, b.fresh) })
	var total uint64
	for _, sp := range s {
		total += sp.n
	}
	out := make([]time.Duration, len(qs))
	for i, q := range qs {
		want := max(uint64(math.Ceil(q*float64(total))), 1)
		var seen uint64
		for _, sp := range s {
			seen += sp.n
			if seen >= want {
				out[i] = sp.fresh
				break
			}
		}
	}
	return out
}

// byWindow returns the q quantile of freshness of the offsets that became
// durable in each window of width w from start on.
func byWindow(spans []span, start time.Time, w time.Duration, q float64) []time.Duration {
	var windows [][]span
	for _, sp := range spans {
		i := max(0, int(sp.at.Sub(start)/w))
		for len(windows) <= i {
			windows = append(windows, nil)
		}
		windows[i] = append(windows[i], sp)
	}
	out := make([]time.Duration, len(windows))
	for i, win := range windows {
		if len(win) > 0 {
			out[i] = percentiles(win, q)[0]
		}
	}
	return out
}

// coveredAt returns when the target's state first covered offset n.
func coveredAt(states []stateLine, n uint64) (time.Time, bool) {
	for _, l := range states {
		if l.offset >= n {
			return l.at, true
		}
	}
	return time.Time{}, false
}
