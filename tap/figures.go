package tap

import (
	"encoding/json"
	"io"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cio-singer/tap-customerio-webhook/schemas"
	"github.com/cio-singer/tap-customerio-webhook/tap/auth"
	"github.com/cio-singer/tap-customerio-webhook/tap/kafkaspool"
	"github.com/cio-singer/tap-customerio-webhook/tap/metrics"
	"github.com/cio-singer/tap-customerio-webhook/tap/receiver"
	"github.com/cio-singer/tap-customerio-webhook/tap/spool"
)

// figures gathers what GET /metrics exposes into a metrics.Snapshot. Its
// fields are set before the server starts; snapshot is safe for
// concurrent use.
type figures struct {
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

	mu sync.Mutex // guards the cursors and idle
	// unemitted and unloaded find the oldest record past the emitted and
	// the loaded offset; idle closes their readers once scrapes stop.
	unemitted, unloaded oldestCursor
	idle                *time.Timer
}

// cursorIdle is how long a cursor's reader stays open after a scrape. It
// holds a segment file open: one released meanwhile frees its disk space
// once the reader closes.
const cursorIdle = time.Minute

// writeText writes /metrics: the Prometheus text exposition.
func (m *figures) writeText(w io.Writer) { m.snapshot().WriteText(w) }

// writeJSON writes the same snapshot as JSON, for `status`.
func (m *figures) writeJSON(w io.Writer) { _ = json.NewEncoder(w).Encode(m.snapshot()) }

func (m *figures) snapshot() metrics.Snapshot {
	var s metrics.Snapshot
	if m.srv != nil && m.tokens != nil {
		s.Server = m.server()
	}
	if m.producer != nil {
		s.Producer = producerFigures(m.producer)
	}
	if m.sp != nil {
		s.Spool = m.spool()
	}
	if m.em != nil {
		s.Emitter = &metrics.Emitter{
			Records: append([]metrics.StreamCount{
				{Stream: schemas.Data, Count: m.em.dataCount.Load()},
				{Stream: schemas.Rejected, Count: m.em.rejectedCount.Load()},
			}, m.history.recordCounts()...),
			RejectedBodies: m.em.badBodies.Load(),
		}
	}
	s.AppAPI = m.history.snapshot()
	return s
}

// server returns the HTTP server's and the tokens' figures.
func (m *figures) server() *metrics.Server {
	counts := m.srv.Counts()
	codes := make([]int, 0, len(counts))
	for c := range counts {
		codes = append(codes, c)
	}
	sort.Ints(codes)
	out := &metrics.Server{InflightBodyBytes: m.srv.InflightBytes()}
	for _, c := range codes {
		out.Requests = append(out.Requests, metrics.CodeCount{Code: c, Count: counts[c]})
	}
	ids := m.tokens.Load().IDs()
	out.TokenCount = len(ids)
	if m.perToken != nil {
		out.Tokens = m.perToken.snapshot(ids)
	}
	out.Refusals = refusals(ids, m.srv.TokenRefusals())
	return out
}

// spool returns the disk spool's figures and the backlog behind it.
func (m *figures) spool() *metrics.Spool {
	st := m.sp.Stats()
	out := &metrics.Spool{Segments: st.Segments, Bytes: st.Bytes, Records: heldRecords(st), DurableOffset: st.LastOffset}
	if h, ok := spoolSyncHistogram(m.sp); ok {
		out.Fsync = &h
	}
	if off, ok := m.emitted(); ok {
		backlog := uint64(0)
		if st.LastOffset > off {
			backlog = st.LastOffset - off
		}
		age := 0.0
		if backlog > 0 {
			if at, ok := m.oldestAfter(&m.unemitted, off); ok {
				age = max(0, m.now().Sub(at).Seconds())
			}
		}
		out.Emitted = &metrics.Backlog{Offset: off, Records: backlog, OldestAge: age}
	}
	if m.loaded != nil {
		if off, ok := m.loaded(); ok {
			age := 0.0
			if st.LastOffset > off {
				if at, ok := m.oldestAfter(&m.unloaded, off); ok {
					age = max(0, m.now().Sub(at).Seconds())
				}
			}
			out.Loaded = &metrics.Loaded{Offset: off, OldestAge: age}
		}
	}
	return out
}

func heldRecords(st spool.Stats) uint64 {
	if st.LastOffset < st.FirstOffset || st.FirstOffset == 0 {
		return 0
	}
	return st.LastOffset - st.FirstOffset + 1
}

// oldestAfter returns the receive time of the first record after off,
// through the cursor that follows that offset.
func (m *figures) oldestAfter(c *oldestCursor, off uint64) (time.Time, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.idle == nil {
		m.idle = time.AfterFunc(cursorIdle, m.closeCursors)
	} else {
		m.idle.Reset(cursorIdle)
	}
	return c.oldestAfter(m.sp, off)
}

// closeCursors closes the cursors' readers; what they found stays known.
func (m *figures) closeCursors() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.unemitted.close()
	m.unloaded.close()
}

// oldestCursor finds the first record after an offset that mostly moves
// forward (emitted, loaded). A new spool reader scans its segment from the
// start, megabytes under load; the cursor keeps its reader after the
// record it found, so a later offset reads only the records in between
// and an offset that did not move, or moved short of that record, reads
// nothing. A record's receive time never changes.
type oldestCursor struct {
	r   *spool.Reader // nil before the first lookup, after an error or once idle
	pos uint64        // r returns the records after pos next
	// found: record pos, received at, is the first record after every
	// offset in [from, pos).
	found bool
	from  uint64
	at    time.Time
	// maxForward overrides maxForwardRead (tests).
	maxForward uint64
}

// maxForwardRead is how many records a cursor reads forward to follow its
// offset. Past that a fresh reader is cheaper: it scans at most the one
// segment holding the offset, where reading forward could cross several
// (a scrape every 15 s at 20k events/s is 300k records behind).
const maxForwardRead = 4096

func (c *oldestCursor) forwardLimit() uint64 {
	if c.maxForward > 0 {
		return c.maxForward
	}
	return maxForwardRead
}

func (c *oldestCursor) oldestAfter(sp *spool.Spool, off uint64) (time.Time, bool) {
	if c.found && c.from <= off && off < c.pos {
		return c.at, true
	}
	if c.r == nil || off < c.pos || off-c.pos > c.forwardLimit() {
		c.close()
		r, err := sp.NewReader(off)
		if err != nil {
			return time.Time{}, false
		}
		c.r, c.pos = r, off
	}
	c.found = false // pos moves on
	for {
		rec, ok, err := c.r.TryNext()
		if err != nil {
			c.close()
			return time.Time{}, false
		}
		if !ok {
			return time.Time{}, false
		}
		c.pos = rec.Offset
		if rec.Offset > off {
			c.found, c.from, c.at = true, off, rec.ReceivedAt
			return rec.ReceivedAt, true
		}
	}
}

// close closes the reader; the next lookup past what was found opens one.
func (c *oldestCursor) close() {
	if c.r != nil {
		_ = c.r.Close()
		c.r = nil
	}
}
