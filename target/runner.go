package target

import (
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/rs/zerolog"

	"github.com/cio-singer/tap-customerio-webhook/target/batch"
)

// runner is the main loop of a run: it routes messages to their streams
// (stream.go), hands due batches to the load worker and lets states out
// through the gate as batches commit. Only the goroutine running loop
// touches it; queue connects it to the load worker.
type runner struct {
	cfg  Config
	log  zerolog.Logger
	opts options

	streams      map[string]*stream
	order        []*stream // in order of first SCHEMA, for deterministic flushes
	nextSeq      int64     // number of records read so far
	buffered     int       // bytes buffered in every stream (see recordOverhead)
	gate         stateGate
	queue        loadQueue
	ages         ageTimer
	unknownTypes map[string]bool
	started      time.Time
}

// loadQueue connects the main loop to the load worker: jobs go out one
// ahead, results come back in order.
type loadQueue struct {
	jobs     chan job
	results  chan result
	lastID   int64
	inflight map[int64]inflightBatch // Load jobs sent and not yet answered
}

// inflightBatch is what the main loop remembers of a batch while it loads.
type inflightBatch struct {
	minSeq int64 // number of its oldest record
	stream *stream
	layout *layout
	rows   int
	aside  int
}

// ageTimer wakes the main loop when the oldest record of a buffered batch
// reaches max_batch_age. It is pointed again only after a batch started or
// left, not on every message.
type ageTimer struct {
	t     *time.Timer
	C     <-chan time.Time // nil while no batch is buffered
	armed bool             // C is set for the current batches
}

// invalidate makes the next arm look at the batches again.
func (a *ageTimer) invalidate() { a.armed = false }

// arm makes C fire after d; with ok false (nothing buffered) C stays quiet.
func (a *ageTimer) arm(d time.Duration, ok bool) {
	if !ok {
		a.C = nil
		return
	}
	if a.t == nil {
		a.t = time.NewTimer(d)
	} else {
		a.t.Reset(d)
	}
	a.C, a.armed = a.t.C, true
}

func newRunner(cfg Config, out io.Writer, log zerolog.Logger, opts options) *runner {
	return &runner{
		cfg: cfg, log: log, opts: opts,
		streams: map[string]*stream{},
		gate:    stateGate{out: out},
		queue: loadQueue{
			jobs:     make(chan job, 1),
			results:  make(chan result),
			inflight: map[int64]inflightBatch{},
		},
		unknownTypes: map[string]bool{},
		started:      time.Now(),
	}
}

// policy is when a stream's batch is due, from the config.
func (r *runner) policy() batch.Policy {
	return batch.Policy{MaxRecords: r.cfg.BatchSizeRows, MaxBytes: r.cfg.BatchSizeBytes, MaxAge: r.cfg.MaxBatchAge}
}

// account counts a record of size bytes just buffered in s and flushes
// what is due: s when its batch is full, else the largest batch when all
// streams together hold batch_size_bytes, which bounds memory.
func (r *runner) account(s *stream, size int, full bool) error {
	r.buffered += size
	if full {
		return r.flush(s)
	}
	if int64(r.buffered) >= r.cfg.BatchSizeBytes {
		return r.flush(r.largest())
	}
	return nil
}

func (r *runner) largest() *stream {
	var big *stream
	for _, s := range r.order {
		if big == nil || s.buf.Bytes() > big.buf.Bytes() {
			big = s
		}
	}
	return big
}

// flush hands the buffered rows of s to the load worker.
func (r *runner) flush(s *stream) error {
	if s.buf.Empty() {
		return nil
	}
	b := s.buf.Flush()
	l := s.layout
	if l.meta.present() {
		l.meta.stampBatch(b.Rows, r.opts.now().UTC())
	}
	cols := make([]string, len(l.table.Columns))
	for i, c := range l.table.Columns {
		cols[i] = c.Name
	}
	load := &Batch{Table: l.table.Name, Columns: cols, Keys: l.table.Keys, Types: slices.Clone(s.types), Rows: b.Rows}
	meta := &batchMeta{stream: s.name, table: l.table, paths: l.paths, errCol: l.errCol, seqCol: l.meta.sequence, rejects: b.Rejects}
	id := r.queue.nextID()
	r.queue.inflight[id] = inflightBatch{minSeq: b.FirstSeq, stream: s, layout: l, rows: len(b.Rows), aside: s.aside}
	s.aside = 0
	r.buffered -= b.Bytes
	r.ages.invalidate()
	return r.submit(job{id: id, batch: load, meta: meta})
}

// flushAged flushes every stream whose oldest row is max_batch_age old.
func (r *runner) flushAged() error {
	for _, s := range r.order {
		if d, ok := s.buf.UntilNext(); ok && d <= 0 {
			if err := r.flush(s); err != nil {
				return err
			}
		}
	}
	return nil
}

// armTimer points the age timer at the oldest buffered row's deadline.
func (r *runner) armTimer() {
	if r.ages.armed {
		return
	}
	var next time.Duration
	found := false
	for _, s := range r.order {
		if d, ok := s.buf.UntilNext(); ok && (!found || d < next) {
			next, found = d, true
		}
	}
	r.ages.arm(next, found)
}

// lowestUncommitted is the number of the oldest record not yet committed,
// buffered or loading; nextSeq when everything is committed.
func (r *runner) lowestUncommitted() int64 {
	low := r.nextSeq
	for _, s := range r.order {
		if seq, ok := s.buf.OldestSeq(); ok && seq < low {
			low = seq
		}
	}
	for _, b := range r.queue.inflight {
		if b.minSeq < low {
			low = b.minSeq
		}
	}
	return low
}

func (q *loadQueue) nextID() int64 {
	q.lastID++
	return q.lastID
}

// submit queues j for the load worker, handling load results while the
// queue is full.
func (r *runner) submit(j job) error {
	for {
		select {
		case r.queue.jobs <- j:
			return nil
		case res := <-r.queue.results:
			if err := r.loaded(res); err != nil {
				return err
			}
		}
	}
}

// ensure runs EnsureTable on the load worker and waits for it.
func (r *runner) ensure(t Table) (Table, error) {
	id := r.queue.nextID()
	if err := r.submit(job{id: id, table: &t}); err != nil {
		return Table{}, err
	}
	for {
		res := <-r.queue.results
		if res.id == id {
			return res.table, res.err
		}
		if err := r.loaded(res); err != nil {
			return Table{}, err
		}
	}
}

// loaded handles the result of a Load: the batch is committed, so states
// waiting for it may go out.
func (r *runner) loaded(res result) error {
	b, ok := r.queue.inflight[res.id]
	if !ok {
		return fmt.Errorf("loader goroutine answered unknown job %d", res.id)
	}
	delete(r.queue.inflight, res.id)
	s := b.stream
	if res.err != nil {
		return fmt.Errorf("loading %d rows of stream %q into %s: %w", b.rows, s.name, b.layout.table.Name, res.err)
	}
	if res.reread != nil && s.layout == b.layout {
		// Another process changed the table: convert later rows to its
		// types. Rows already buffered are converted when they load.
		types, err := b.layout.bind(*res.reread)
		if err != nil {
			return err
		}
		s.types, s.fill.types = types, types
	}
	loaded := max(b.rows-res.rejected, 0)
	s.loadedRows += int64(loaded)
	s.setAside += int64(b.aside + res.aside)
	s.rejected += int64(res.rejected)
	ev := s.log.Info().Str("table", b.layout.table.Name).Int("rows", loaded).Dur("took", res.took)
	if n := b.aside + res.aside; n > 0 {
		ev = ev.Int("values_set_aside", n)
	}
	if res.rejected > 0 {
		ev = ev.Int("rows_rejected", res.rejected)
	}
	ev.Msg("batch loaded")
	return r.gate.release(r.lowestUncommitted())
}
