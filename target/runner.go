package target

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

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

	rejectedReady bool // RejectedTable ensured; loader goroutine only

	timer   *time.Timer
	timerC  <-chan time.Time
	timerAt time.Time
}

// stream is one Singer stream: its table, converter and buffered rows.
type stream struct {
	name         string
	layout       *layout
	types        []ColumnType // actual column types, by layout column
	fill         filler
	schemaKey    string // compact schema and keys: to spot a repeated SCHEMA
	validator    *gojsonschema.Schema
	warned       map[string]bool
	buf          batchBuf
	loadedRows   int64
	setAside     int64 // values kept in _sdc_errors
	rejected     int64 // records kept in _sdc_rejected_records
	loggedNoRoom bool  // the column limit was reported
	log          zerolog.Logger
}

// batchBuf holds the rows of one stream not yet handed to the loader.
type batchBuf struct {
	rows    [][]any        // nil entries are rows replaced by a later one with the same key
	index   map[string]int // key -> position in rows
	rejects [][]any        // rows of _sdc_rejected_records for records that cannot be rows
	aside   int            // values set aside in _sdc_errors
	bytes   int
	minSeq  int64
	started time.Time // wall clock of the first row, for max_batch_age
}

func (b *batchBuf) empty() bool { return len(b.rows) == 0 && len(b.rejects) == 0 }

type inflightBatch struct {
	minSeq int64
	stream *stream
	layout *layout
	rows   int
	aside  int
}

type job struct {
	id    int64
	table *Table // EnsureTable when set
	batch *Batch // else Load
	meta  *batchMeta
}

type result struct {
	id       int64
	table    Table
	took     time.Duration
	err      error
	aside    int    // values the loader goroutine moved to _sdc_errors
	rejected int    // rows written to _sdc_rejected_records
	reread   *Table // the table, when a failed load found it changed by another process
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
	s.schemaKey, s.validator = schemaKey, validator
	if err := r.bindTable(s, l, m.Line); err != nil {
		return err
	}
	s.log.Info().Str("table", l.table.Name).Int("columns", len(l.table.Columns)).Int("line", m.Line).Msg("table ready")
	return nil
}

// bindTable ensures the table of layout l and makes l the layout of s.
func (r *runner) bindTable(s *stream, l *layout, line int) error {
	actual, err := r.ensure(l.table)
	if err != nil {
		return fmt.Errorf("ensuring table %s for stream %q (line %d): %w", l.table.Name, s.name, line, err)
	}
	types, err := l.bind(actual)
	if err != nil {
		return err
	}
	s.layout, s.types = l, types
	s.fill = filler{l: l, types: types, unknown: func(path string) { r.unknownField(s, path) }}
	for col, path := range l.paths {
		name := l.table.Columns[col].Name
		if path == "" || name == SanitizeName(path) || s.warned["renamed:"+name] {
			continue
		}
		s.warned["renamed:"+name] = true
		s.log.Info().Str("table", l.table.Name).Str("column", name).Str("property", truncateName(path, 80)).
			Msg("property renamed: its name cannot be a column as it is (see README, Target behaviour: column names)")
	}
	if l.aside > 0 && !s.loggedNoRoom {
		s.loggedNoRoom = true
		s.log.Warn().Str("table", l.table.Name).Int("properties", l.aside).Str("column", ColErrors).
			Msg("table at its column limit: values of properties without a column are kept in _sdc_errors")
	}
	return nil
}

// widen flushes the rows of s, then widens the columns in cols (layout
// column -> type a value needs) so the record at hand fits.
func (r *runner) widen(s *stream, cols map[int]ColumnType, line int) error {
	if err := r.flush(s); err != nil {
		return err
	}
	l := s.layout
	l.table.Columns = slices.Clone(l.table.Columns) // in-flight jobs keep the old slice
	for c, to := range cols {
		l.table.Columns[c].Type = Widen(l.table.Columns[c].Type, to)
	}
	return r.bindTable(s, l, line)
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
	row, err := r.fillRow(s, m)
	if err != nil {
		return err
	}
	l := s.layout
	seq := r.nextSeq
	r.nextSeq++
	b := &s.buf
	if b.empty() {
		b.minSeq, b.started = seq, time.Now()
		r.timerAt = time.Time{} // re-arm
	}
	key, err := rowKey(l, row)
	if err != nil {
		// A record without its key cannot be upserted; it is kept whole.
		clean, _ := cleanJSON(m.Record, true)
		b.rejects = append(b.rejects, rejectedRow(s.name, nil, clean, err.Error(), r.opts.now(), r.opts.seqBase+seq))
		return r.account(s, len(m.Record))
	}
	b.aside += s.fill.errs.n
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
	return r.account(s, len(m.Record))
}

// fillRow converts a record into a row of its stream's table, widening
// columns first when the record needs it.
func (r *runner) fillRow(s *stream, m singer.Message) ([]any, error) {
	for attempt := 0; ; attempt++ {
		row := make([]any, len(s.layout.table.Columns))
		if err := s.fill.fill(m.Record, row); err != nil {
			return nil, lineErr(m.Line, "record of stream %q: %w", m.Stream, err)
		}
		if len(s.fill.widen) == 0 {
			return row, nil
		}
		cols := s.fill.widen
		s.fill.widen = nil
		if attempt == 3 {
			// Widen only grows types, so this means a loader that does not.
			return nil, lineErr(m.Line, "record of stream %q: table %s does not widen its columns", m.Stream, s.layout.table.Name)
		}
		if err := r.widen(s, cols, m.Line); err != nil {
			return nil, err
		}
	}
}

// account adds a record of n bytes to the buffer of s and flushes what is
// full.
func (r *runner) account(s *stream, n int) error {
	b := &s.buf
	b.bytes += n + 64
	r.buffered += n + 64
	if len(b.rows)+len(b.rejects) >= r.cfg.BatchSizeRows || int64(b.bytes) >= r.cfg.BatchSizeBytes {
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
			return "", fmt.Errorf("key column %s is missing or null", l.table.Keys[i])
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
	if b.empty() {
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
	batch := &Batch{Table: l.table.Name, Columns: cols, Keys: l.table.Keys, Types: slices.Clone(s.types), Rows: rows}
	meta := &batchMeta{stream: s.name, table: l.table, paths: l.paths, errCol: l.errCol, seqCol: -1, rejects: b.rejects}
	if l.meta >= 0 {
		meta.seqCol = l.meta + 3
	}
	r.nextJob++
	id := r.nextJob
	r.inflight[id] = inflightBatch{minSeq: b.minSeq, stream: s, layout: l, rows: len(rows), aside: b.aside}
	r.buffered -= b.bytes
	s.buf = batchBuf{}
	r.timerAt = time.Time{}
	return r.submit(job{id: id, batch: batch, meta: meta})
}

// flushAged flushes every stream whose oldest row is max_batch_age old.
func (r *runner) flushAged() error {
	now := time.Now()
	for _, s := range r.order {
		if !s.buf.empty() && !now.Before(s.buf.started.Add(r.cfg.MaxBatchAge)) {
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
		if !s.buf.empty() {
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
		if !s.buf.empty() && s.buf.minSeq < low {
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
	loaded := b.rows - res.rejected
	if loaded < 0 {
		loaded = 0
	}
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
			res.err = r.loadBatch(ctx, j, &res)
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

// truncateName shortens a property name for a log line (hostile names can
// be thousands of bytes), at a UTF-8 boundary.
func truncateName(name string, n int) string {
	if len(name) <= n {
		return name
	}
	for n > 0 && !utf8.RuneStart(name[n]) {
		n--
	}
	return name[:n] + "…"
}
