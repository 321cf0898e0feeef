package tap

import (
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cio-singer/tap-customerio-webhook/schemas"
	"github.com/cio-singer/tap-customerio-webhook/tap/auth"
	"github.com/cio-singer/tap-customerio-webhook/tap/kafkaspool"
	"github.com/cio-singer/tap-customerio-webhook/tap/receiver"
	"github.com/cio-singer/tap-customerio-webhook/tap/spool"
)

// metricPrefix starts every metric name (Prometheus: snake case, the
// program's name as namespace).
const metricPrefix = "tap_customerio_webhook_"

// metrics gathers what GET /metrics exposes. Its fields are set before the
// server starts; write is safe for concurrent use.
type metrics struct {
	now    func() time.Time
	sp     *spool.Spool
	srv    *receiver.Server
	tokens *atomic.Pointer[auth.TokenSet]
	// perToken counts webhooks by token id; nil without a server.
	perToken *tokenStats
	em       *emitter // nil when this process does not emit (serve)
	// producer is the Kafka spool's producer; nil on the disk spool, where sp is set.
	producer *kafkaspool.Producer
	// history has the App API figures; nil when it is not read.
	history *historyStats
	// emitted returns the offset emitted so far and whether it is known:
	// this process's emitter, or the progress file a loader run wrote.
	emitted func() (uint64, bool)

	// loaded returns the offset a target had committed when the last load
	// run started; nil where the tap cannot know it (tap | target in one
	// pipe: the target's state goes to its own stdout).
	loaded func() (uint64, bool)

	mu     sync.Mutex           // guards oldest
	oldest map[uint64]time.Time // receive time of the first record after an offset
}

// sample is one line of a metric family.
type sample struct {
	labels string // `code="200"`, or "" for none
	value  float64
}

func writeFamily(w io.Writer, name, typ, help string, samples ...sample) {
	fmt.Fprintf(w, "# HELP %s%s %s\n# TYPE %s%s %s\n", metricPrefix, name, help, metricPrefix, name, typ)
	for _, s := range samples {
		if s.labels != "" {
			fmt.Fprintf(w, "%s%s{%s} %s\n", metricPrefix, name, s.labels, formatValue(s.value))
		} else {
			fmt.Fprintf(w, "%s%s %s\n", metricPrefix, name, formatValue(s.value))
		}
	}
}

func formatValue(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

// write writes the Prometheus text exposition (format 0.0.4).
func (m *metrics) write(w io.Writer) {
	if m.srv != nil {
		counts := m.srv.Counts()
		codes := make([]int, 0, len(counts))
		for c := range counts {
			codes = append(codes, c)
		}
		sort.Ints(codes)
		var ss []sample
		for _, c := range codes {
			ss = append(ss, sample{fmt.Sprintf("code=%q", strconv.Itoa(c)), float64(counts[c])})
		}
		writeFamily(w, "http_requests_total", "counter", "HTTP requests answered (webhooks, probes and scrapes), by status code.", ss...)
	}
	if m.srv != nil {
		writeFamily(w, "inflight_body_bytes", "gauge", "Webhook body bytes reserved by requests being received (max_inflight_bytes bounds it; past it the answer is 503).",
			sample{value: float64(m.srv.InflightBytes())})
	}
	if m.tokens != nil {
		ids := m.tokens.Load().IDs()
		writeFamily(w, "webhook_tokens", "gauge", "Webhook tokens accepted (webhook_tokens plus the token file).",
			sample{value: float64(len(ids))})
		if m.perToken != nil {
			m.perToken.write(w, ids)
		}
		if m.srv != nil {
			writeRefusals(w, ids, m.srv.TokenRefusals())
		}
	}
	if m.producer != nil {
		writeProducerMetrics(w, m.producer)
	}
	if m.sp != nil {
		m.writeSpool(w)
	}
	if m.em != nil {
		records := append([]sample{
			{fmt.Sprintf("stream=%q", schemas.Data), float64(m.em.dataCount.Load())},
			{fmt.Sprintf("stream=%q", schemas.Rejected), float64(m.em.rejectedCount.Load())},
		}, m.history.recordSamples()...)
		writeFamily(w, "records_emitted_total", "counter", "Singer RECORD messages written, by stream.", records...)
		writeFamily(w, "rejected_bodies_total", "counter", "Acknowledged bodies that are not valid events (stream rejected).",
			sample{value: float64(m.em.badBodies.Load())})
	}
	m.history.write(w)
}

// writeSpool writes the disk spool's figures and the backlog behind it.
func (m *metrics) writeSpool(w io.Writer) {
	st := m.sp.Stats()
	writeFamily(w, "spool_segments", "gauge", "Segment files in spool_dir.", sample{value: float64(st.Segments)})
	writeFamily(w, "spool_bytes", "gauge", "Bytes in spool segment files.", sample{value: float64(st.Bytes)})
	writeFamily(w, "spool_records", "gauge", "Records the spool holds (emitted ones kept for retention included); an upper bound, offsets may skip.",
		sample{value: float64(heldRecords(st))})
	writeFamily(w, "spool_durable_offset", "gauge", "Offset of the last record written and fsynced.", sample{value: float64(st.LastOffset)})
	if h, ok := spoolSyncHistogram(m.sp); ok {
		writeHistogram(w, "spool_fsync_duration_seconds", "Time each spool group commit took to write and fsync its batch (one pwritev2 with RWF_DSYNC on Linux).", h)
	}
	if off, ok := m.emitted(); ok {
		backlog := uint64(0)
		if st.LastOffset > off {
			backlog = st.LastOffset - off
		}
		age := 0.0
		if backlog > 0 {
			if at, ok := m.oldestAfter(off); ok {
				age = max(0, m.now().Sub(at).Seconds())
			}
		}
		writeFamily(w, "emitted_offset", "gauge", "Offset of the last record emitted as a Singer message.", sample{value: float64(off)})
		writeFamily(w, "backlog_records", "gauge", "Durable records not emitted yet (an upper bound: offsets may skip).", sample{value: float64(backlog)})
		writeFamily(w, "backlog_oldest_age_seconds", "gauge", "Age of the oldest record not emitted yet; 0 when none.", sample{value: age})
	}
	if m.loaded != nil {
		if off, ok := m.loaded(); ok {
			age := 0.0
			if st.LastOffset > off {
				if at, ok := m.oldestAfter(off); ok {
					age = max(0, m.now().Sub(at).Seconds())
				}
			}
			writeFamily(w, "loaded_offset", "gauge", "Offset a target had committed when the last load run started (its --state).", sample{value: float64(off)})
			writeFamily(w, "unloaded_oldest_age_seconds", "gauge", "Age of the oldest record not known to be loaded (after loaded_offset); 0 when none.", sample{value: age})
		}
	}
}

func heldRecords(st spool.Stats) uint64 {
	if st.LastOffset < st.FirstOffset || st.FirstOffset == 0 {
		return 0
	}
	return st.LastOffset - st.FirstOffset + 1
}

// oldestAfter returns the receive time of the first record after off,
// read once per offset.
func (m *metrics) oldestAfter(off uint64) (time.Time, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if at, ok := m.oldest[off]; ok {
		return at, true
	}
	r, err := m.sp.NewReader(off)
	if err != nil {
		return time.Time{}, false
	}
	defer r.Close()
	rec, ok, err := r.TryNext()
	if err != nil || !ok {
		return time.Time{}, false
	}
	if len(m.oldest) >= 4 || m.oldest == nil { // only the emitted and loaded offsets are asked for
		m.oldest = map[uint64]time.Time{}
	}
	m.oldest[off] = rec.ReceivedAt
	return rec.ReceivedAt, true
}

// histogram is a cumulative Prometheus histogram snapshot.
type histogram struct {
	bounds []float64 // upper bounds in seconds, ascending
	counts []uint64  // cumulative count per bound
	count  uint64
	sum    float64
}

func writeHistogram(w io.Writer, name, help string, h histogram) {
	fmt.Fprintf(w, "# HELP %s%s %s\n# TYPE %s%s histogram\n", metricPrefix, name, help, metricPrefix, name)
	for i, b := range h.bounds {
		fmt.Fprintf(w, "%s%s_bucket{le=%q} %d\n", metricPrefix, name, formatValue(b), h.counts[i])
	}
	fmt.Fprintf(w, "%s%s_bucket{le=\"+Inf\"} %d\n", metricPrefix, name, h.count)
	fmt.Fprintf(w, "%s%s_sum %s\n%s%s_count %d\n", metricPrefix, name, formatValue(h.sum), metricPrefix, name, h.count)
}

// parsedMetric is one sample line of an exposition, for `status`.
type parsedMetric struct {
	name, labels string
	value        float64
}

// parseExposition reads the sample lines of a Prometheus text exposition,
// and the HELP text of each family.
func parseExposition(text string) (samples []parsedMetric, help map[string]string) {
	help = map[string]string{}
	for _, line := range strings.Split(text, "\n") {
		if rest, ok := strings.CutPrefix(line, "# HELP "); ok {
			name, h, _ := strings.Cut(rest, " ")
			help[name] = h
			continue
		}
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		name, labels := line[:i], ""
		if j := strings.IndexByte(name, '{'); j >= 0 {
			name, labels = name[:j], strings.TrimSuffix(name[j+1:], "}")
		}
		samples = append(samples, parsedMetric{name, labels, v})
	}
	return samples, help
}
