package main

import (
	"bufio"
	"cmp"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Freshness without counting rows: the tap's spool end offset is sampled
// over time (its DURABLE file, or its /metrics), every line of state the target prints is
// timestamped as it is read (its spool_offset is committed), and the
// freshness of offset N is the time the target's state first covered N
// minus the time the spool first reached N. A sample's value was read at
// some instant between sending the scrape and reading its answer, so N
// became durable after the send of the last sample below N and before the
// answer of the first sample at or above it: the two bounds of freshness.

// spoolSample is one reading of the spool's end offset.
type spoolSample struct {
	sent, answered time.Time // the reading started and ended
	durable        uint64
}

// stateLine is one state value the target wrote, with when it was read.
type stateLine struct {
	at     time.Time
	offset uint64
}

// metricsFigures are what /metrics says about the spool.
type metricsFigures struct {
	durable  uint64 // spool_durable_offset
	accepted uint64 // webhooks_accepted_total, all tokens
}

// parseMetrics reads spool_durable_offset and the sum of
// webhooks_accepted_total from a Prometheus text exposition.
func parseMetrics(r io.Reader) (metricsFigures, error) {
	const prefix = "tap_customerio_webhook_"
	var m metricsFigures
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
			return m, fmt.Errorf("metrics line %q: %w", line, err)
		}
		if name == "spool_durable_offset" {
			m.durable, found = uint64(v), true
		} else {
			m.accepted += uint64(v)
		}
	}
	if err := sc.Err(); err != nil {
		return m, err
	}
	if !found {
		return m, errors.New("metrics have no spool_durable_offset")
	}
	return m, nil
}

// scrapeMetrics reads the tap's /metrics once.
func scrapeMetrics(c *http.Client, url string) (metricsFigures, error) {
	resp, err := c.Get(url)
	if err != nil {
		return metricsFigures{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return metricsFigures{}, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return parseMetrics(resp.Body)
}

// metricsSource reads the spool's end offset from the tap's /metrics. Under
// load a scrape costs the tap milliseconds of CPU (backlog_oldest_age_seconds
// reads the spool), so scraping it every 20 ms slows what it measures.
func metricsSource(url string) func() (uint64, error) {
	c := &http.Client{Timeout: 5 * time.Second}
	return func() (uint64, error) {
		m, err := scrapeMetrics(c, url)
		return m.durable, err
	}
}

// durableSize is the size of the spool's DURABLE file.
const durableSize = 8 + 8 + 8 + 4

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// durableFileSource reads the spool's end offset from spool_dir/DURABLE,
// which the tap rewrites after every group commit (fsync) for a reader in
// another process: the active segment's first offset and length, the
// durable offset, then a CRC-32C of those 24 bytes, little endian (see
// tap/spool/shared.go). One pread of the page cache costs the tap nothing.
// A torn read fails the checksum and is read again.
func durableFileSource(path string) (read func() (uint64, error), closeFile func() error, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	var buf [durableSize]byte
	read = func() (uint64, error) {
		for range 5 {
			n, err := f.ReadAt(buf[:], 0)
			if n < durableSize {
				if err == nil || errors.Is(err, io.EOF) {
					err = fmt.Errorf("%s: %d bytes, want %d", path, n, durableSize)
				}
				return 0, err
			}
			if crc32.Checksum(buf[:24], castagnoli) == binary.LittleEndian.Uint32(buf[24:]) {
				return binary.LittleEndian.Uint64(buf[16:]), nil
			}
		}
		return 0, fmt.Errorf("%s: checksum mismatch five times (has its format changed?)", path)
	}
	return read, f.Close, nil
}

// sampler reads the spool's end offset every interval until stopped.
type sampler struct {
	read     func() (uint64, error)
	interval time.Duration

	mu      sync.Mutex
	samples []spoolSample
	err     error
	stop    chan struct{}
	done    chan struct{}
}

func startSampler(read func() (uint64, error), interval time.Duration) *sampler {
	s := &sampler{read: read, interval: interval, stop: make(chan struct{}), done: make(chan struct{})}
	go s.loop()
	return s
}

func (s *sampler) loop() {
	defer close(s.done)
	tick := time.NewTicker(s.interval)
	defer tick.Stop()
	for {
		smp := spoolSample{sent: time.Now()}
		var err error
		smp.durable, err = s.read()
		smp.answered = time.Now()
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
