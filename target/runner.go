package target

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"
	"github.com/xeipuuv/gojsonschema"

	"github.com/cio-singer/tap-customerio-webhook/internal/singer"
)

// maxWarnedFields bounds the per-stream memory of "field not in schema"
// warnings when a stream sends ever-new keys.
const maxWarnedFields = 1000

// runner is the state of the main loop. Only the goroutine running loop
// touches it, except jobs and results, which connect it to loadLoop.
type runner struct {
	cfg    Config
	loader Loader
	log    zerolog.Logger
	opts   options

	streams      map[string]*stream
	order        []*stream // in order of first SCHEMA, for deterministic flushes
	nextSeq      int64     // number of records read so far
	buffered     int       // bytes of JSON buffered in every stream
	gate         stateGate
	unknownTypes map[string]bool
	started      time.Time

	jobs     chan job
	results  chan result
	nextJob  int64
	inflight map[int64]inflightBatch

	timer   *time.Timer
	timerC  <-chan time.Time
	timerAt time.Time
}

// stream is one Singer stream: its table, converter and buffered rows.
type stream struct {
	name       string
	layout     *layout
	types      []ColumnType // actual column types, by layout column
	schemaKey  string       // compact schema and keys: to spot a repeated SCHEMA
	validator  *gojsonschema.Schema
	warned     map[string]bool
	buf        batchBuf
	loadedRows int64
	log        zerolog.Logger
}

// batchBuf holds the rows of one stream not yet handed to the loader.
type batchBuf struct {
	rows    [][]any        // nil entries are rows replaced by a later one with the same key
	index   map[string]int // key -> position in rows
	bytes   int
	minSeq  int64
	started time.Time // wall clock of the first row, for max_batch_age
}

type inflightBatch struct {
	minSeq int64
	stream *stream
	rows   int
}

type job struct {
	id    int64
	table *Table // EnsureTable when set
	batch *Batch // else Load
}

type result struct {
	id    int64
	table Table
	took  time.Duration
	err   error
}

func newRunner(cfg Config, loader Loader, out io.Writer, log zerolog.Logger, opts options) *runner {
	return &runner{
		cfg: cfg, loader: loader, log: log, opts: opts,
		streams:      map[string]*stream{},
		gate:         stateGate{out: out},
		unknownTypes: map[string]bool{},
		started:      time.Now(),
		jobs:         make(chan job, 1),
		results:      make(chan result),
		inflight:     map[int64]inflightBatch{},
	}
}

func (r *runner) schema(m singer.Message) error {
	keys := m.KeyProperties
	if len(keys) == 0 && r.cfg.PrimaryKeyRequired {
		if !m.HasKeyProperties {
			return lineErr(m.Line, "SCHEMA of stream %q has no key_properties (set primary_key_required false to append)", m.Stream)
		}
		return lineErr(m.Line, "SCHEMA of stream %q has empty key_properties (set primary_key_required false to append)", m.Stream)
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, m.Schema); err != nil {
		return &singer.LineError{Line: m.Line, Err: err}
	}
	schemaKey := compact.String() + "\x00" + strings.Join(keys, "\x00")
	s := r.streams[m.Stream]
	if s != nil && s.schemaKey == schemaKey {
		return nil
	}
	l, err := newLayout(m.Stream, m.Schema, keys, r.cfg.FlatteningMaxLevel, r.cfg.AddMetadataColumns)
	if err != nil {
		return &singer.LineError{Line: m.Line, Err: err}
	}
	var validator *gojsonschema.Schema
	if r.cfg.ValidateRecords {
		validator, err = gojsonschema.NewSchema(gojsonschema.NewBytesLoader(m.Schema))
		if err != nil {
			return lineErr(m.Line, "compiling schema of stream %q: %w", m.Stream, err)
		}
	}
	if s == nil {
		s = &stream{name: m.Stream, warned: map[string]bool{}, log: r.log.With().Str("stream", m.Stream).Logger()}
		r.streams[m.Stream] = s
		r.order = append(r.order, s)
	} else if err := r.flush(s); err != nil { // rows of the old layout go first
		return err
	}
	actual, err := r.ensure(l.table)
	if err != nil {
		return fmt.Errorf("ensuring table %s for stream %q (line %d): %w", l.table.Name, m.Stream, m.Line, err)
	}
	types, err := actualTypes(l.table, actual)
	if err != nil {
		return err
	}
	s.layout, s.types, s.schemaKey, s.validator = l, types, schemaKey, validator
	s.log.Info().Str("table", l.table.Name).Int("columns", len(l.table.Columns)).Int("line", m.Line).Msg("table ready")
	return nil
}

// actualTypes returns, for each column the core wants, the type the table
// really has.
func actualTypes(want, got Table) ([]ColumnType, error) {
	byName := make(map[string]ColumnType, len(got.Columns))
	for _, c := range got.Columns {
		byName[c.Name] = c.Type
	}
	types := make([]ColumnType, len(want.Columns))
	for i, c := range want.Columns {
		t, ok := byName[c.Name]
		if !ok {
			return nil, fmt.Errorf("loader returned table %s without column %s", want.Name, c.Name)
		}
		types[i] = t
	}
	return types, nil
}

func (r *runner) record(m singer.Message) error {
	s := r.streams[m.Stream]
	if s == nil {
		return lineErr(m.Line, "RECORD for stream %q before its SCHEMA", m.Stream)
	}
	if s.validator != nil {
		res, err := s.validator.Validate(gojsonschema.NewBytesLoader(m.Record))
		if err != nil {
			return lineErr(m.Line, "validating record of stream %q: %w", m.Stream, err)
		}
		if !res.Valid() {
			e := res.Errors()[0]
			return lineErr(m.Line, "record of stream %q does not match its schema: %s: %s", m.Stream, e.Field(), e.Description())
		}
	}
	l := s.layout
	row := make([]any, len(l.table.Columns))
	err := fillRow(l, s.types, m.Record, row, func(path string) { r.unknownField(s, path) })
	if err != nil {
		return lineErr(m.Line, "record of stream %q: %w", m.Stream, err)
	}
	key, err := rowKey(l, row)
	if err != nil {
		return lineErr(m.Line, "record of stream %q: %w", m.Stream, err)
	}
	seq := r.nextSeq
	r.nextSeq++
	if l.meta >= 0 {
		if !m.TimeExtracted.IsZero() {
			row[l.meta] = m.TimeExtracted
		}
		row[l.meta+1] = r.opts.now().UTC()
		row[l.meta+3] = r.opts.seqBase + seq
		if m.Version != nil {
			row[l.meta+4] = *m.Version
		}
	}
	b := &s.buf
	if len(b.rows) == 0 {
		b.minSeq, b.started = seq, time.Now()
		r.timerAt = time.Time{} // re-arm
	}
	if l.keyCols != nil {
		if b.index == nil {
			b.index = map[string]int{}
		}
		if prev, ok := b.index[key]; ok {
			b.rows[prev] = nil // the last record per key wins
		}
		b.index[key] = len(b.rows)
	}
	b.rows = append(b.rows, row)
	b.bytes += len(m.Record) + 64
	r.buffered += len(m.Record) + 64
	if len(b.rows) >= r.cfg.BatchSizeRows || int64(b.bytes) >= r.cfg.BatchSizeBytes {
		return r.flush(s)
	}
	if int64(r.buffered) >= r.cfg.BatchSizeBytes {
		return r.flush(r.largest())
	}
	return nil
}

func (r *runner) unknownField(s *stream, path string) {
	if s.warned[path] || len(s.warned) >= maxWarnedFields {
		return
	}
	s.warned[path] = true
	s.log.Warn().Str("field", path).Msg("dropping field the schema does not declare")
}

// rowKey returns a map key for the key columns of row; key values may not
// be null.
func rowKey(l *layout, row []any) (string, error) {
	if len(l.keyCols) == 0 {
		return "", nil
	}
	var b []byte
	for i, c := range l.keyCols {
		var part string
		switch v := row[c].(type) {
		case nil:
			return "", fmt.Errorf("key property %q is missing or null", l.table.Keys[i])
		case string:
			part = v
		case int64:
			part = strconv.FormatInt(v, 10)
		case json.Number:
			part = string(v)
		case bool:
			part = strconv.FormatBool(v)
		case time.Time:
			part = strconv.FormatInt(v.UnixNano(), 10)
		case json.RawMessage:
			part = string(v)
		default:
			part = fmt.Sprint(v)
		}
		b = strconv.AppendInt(b, int64(len(part)), 10)
		b = append(b, ':')
		b = append(b, part...)
	}
	return string(b), nil
}

func (r *runner) largest() *stream {
	var big *stream
	for _, s := range r.order {
		if big == nil || s.buf.bytes > big.buf.bytes {
			big = s
		}
	}
	return big
}

// flush hands the buffered rows of s to the loader goroutine.
func (r *runner) flush(s *stream) error {
	b := &s.buf
	if len(b.rows) == 0 {
		return nil
	}
	rows := b.rows[:0]
	for _, row := range b.rows {
		if row != nil {
			rows = append(rows, row)
		}
	}
	l := s.layout
	if l.meta >= 0 {
		batchedAt := r.opts.now().UTC()
		for _, row := range rows {
			row[l.meta+2] = batchedAt
		}
	}
	cols := make([]string, len(l.table.Columns))
	for i, c := range l.table.Columns {
		cols[i] = c.Name
	}
	batch := &Batch{Table: l.table.Name, Columns: cols, Keys: l.table.Keys, Rows: rows}
	r.nextJob++
	id := r.nextJob
	r.inflight[id] = inflightBatch{minSeq: b.minSeq, stream: s, rows: len(rows)}
	r.buffered -= b.bytes
	s.buf = batchBuf{}
	r.timerAt = time.Time{}
	return r.submit(job{id: id, batch: batch})
}

// flushAged flushes every stream whose oldest row is max_batch_age old.
func (r *runner) flushAged() error {
	now := time.Now()
	for _, s := range r.order {
		if len(s.buf.rows) > 0 && !now.Before(s.buf.started.Add(r.cfg.MaxBatchAge)) {
			if err := r.flush(s); err != nil {
				return err
			}
		}
	}
	return nil
}

// armTimer points the age timer at the oldest buffered row's deadline.
func (r *runner) armTimer() {
	if !r.timerAt.IsZero() {
		return
	}
	var next time.Time
	for _, s := range r.order {
		if len(s.buf.rows) > 0 {
			if d := s.buf.started.Add(r.cfg.MaxBatchAge); next.IsZero() || d.Before(next) {
				next = d
			}
		}
	}
	if next.IsZero() {
		r.timerC = nil
		return
	}
	if r.timer == nil {
		r.timer = time.NewTimer(time.Until(next))
	} else {
		r.timer.Reset(time.Until(next))
	}
	r.timerC, r.timerAt = r.timer.C, next
}

// lowestUncommitted is the number of the oldest record not yet committed,
// buffered or loading; nextSeq when everything is committed.
func (r *runner) lowestUncommitted() int64 {
	low := r.nextSeq
	for _, s := range r.order {
		if len(s.buf.rows) > 0 && s.buf.minSeq < low {
			low = s.buf.minSeq
		}
	}
	for _, b := range r.inflight {
		if b.minSeq < low {
			low = b.minSeq
		}
	}
	return low
}

// submit queues j for the loader goroutine, handling load results while
// the queue is full.
func (r *runner) submit(j job) error {
	for {
		select {
		case r.jobs <- j:
			return nil
		case res := <-r.results:
			if err := r.loaded(res); err != nil {
				return err
			}
		}
	}
}

// ensure runs EnsureTable on the loader goroutine and waits for it.
func (r *runner) ensure(t Table) (Table, error) {
	r.nextJob++
	id := r.nextJob
	if err := r.submit(job{id: id, table: &t}); err != nil {
		return Table{}, err
	}
	for {
		res := <-r.results
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
	b, ok := r.inflight[res.id]
	if !ok {
		return fmt.Errorf("loader goroutine answered unknown job %d", res.id)
	}
	delete(r.inflight, res.id)
	if res.err != nil {
		return fmt.Errorf("loading %d rows of stream %q into %s: %w", b.rows, b.stream.name, b.stream.layout.table.Name, res.err)
	}
	b.stream.loadedRows += int64(b.rows)
	b.stream.log.Info().Str("table", b.stream.layout.table.Name).Int("rows", b.rows).Dur("took", res.took).Msg("batch loaded")
	return r.gate.release(r.lowestUncommitted())
}

// loadLoop runs on its own goroutine and is the only user of the loader
// while the main loop runs.
func (r *runner) loadLoop(ctx context.Context) {
	defer close(r.results)
	failed := false
	for j := range r.jobs {
		start := time.Now()
		var res result
		if failed || ctx.Err() != nil {
			// After a failure nothing more is loaded: later batches would
			// commit out of order behind the one that failed.
			r.results <- result{id: j.id, err: errors.New("skipped after an earlier failure")}
			continue
		}
		if j.table != nil {
			err := r.retry(ctx, "ensuring table "+j.table.Name, func() error {
				t, err := r.loader.EnsureTable(ctx, *j.table)
				res.table = t
				return err
			})
			res.err = err
		} else {
			res.err = r.retry(ctx, "loading into "+j.batch.Table, func() error { return r.loader.Load(ctx, j.batch) })
		}
		res.id, res.took = j.id, time.Since(start)
		failed = res.err != nil
		r.results <- res
	}
}

// retry calls fn until it succeeds, fails permanently, or retryFor has
// passed, waiting backoffMin, doubling up to backoffMax, between calls.
func (r *runner) retry(ctx context.Context, what string, fn func() error) error {
	deadline := time.Now().Add(r.opts.retryFor)
	delay := r.opts.backoffMin
	for attempt := 1; ; attempt++ {
		err := fn()
		if err == nil || !r.loader.Retryable(err) || ctx.Err() != nil {
			return err
		}
		if time.Now().Add(delay).After(deadline) {
			return fmt.Errorf("giving up after %d attempts: %w", attempt, err)
		}
		r.log.Warn().Err(err).Str("call", what).Int("attempt", attempt).Dur("retry_in", delay).Msg("transient loader failure; retrying")
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return err
		}
		delay = min(delay*2, r.opts.backoffMax)
	}
}
