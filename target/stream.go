package target

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/rs/zerolog"
	"github.com/xeipuuv/gojsonschema"

	"github.com/cio-singer/tap-customerio-webhook/internal/jsonlex"
	"github.com/cio-singer/tap-customerio-webhook/internal/singer"
	"github.com/cio-singer/tap-customerio-webhook/target/batch"
)

// maxWarnedFields bounds the per-stream memory of "field not in schema"
// warnings when a stream sends ever-new keys.
const maxWarnedFields = 1000

// recordOverhead is what a buffered record costs beyond its JSON, counted
// towards batch_size_bytes.
const recordOverhead = 64

// stream is one Singer stream: its table, converter and buffered rows.
type stream struct {
	name         string
	layout       *layout
	types        []ColumnType // actual column types, by layout column
	fill         filler
	schemaKey    string // compact schema and keys: to spot a repeated SCHEMA
	validator    *gojsonschema.Schema
	warned       map[string]bool
	buf          *batch.Buffer
	aside        int // values set aside in _sdc_errors by the rows in buf
	loadedRows   int64
	setAside     int64 // values kept in _sdc_errors
	rejected     int64 // records kept in _sdc_rejected_records
	loggedNoRoom bool  // the column limit was reported
	log          zerolog.Logger
}

// schema handles a SCHEMA message: it derives the stream's table, ensures
// it, and flushes rows made for the stream's previous layout first. A
// SCHEMA repeated as it was changes nothing.
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
		s = &stream{
			name:   m.Stream,
			warned: map[string]bool{},
			buf:    batch.NewBuffer(r.policy(), time.Now),
			log:    r.log.With().Str("stream", m.Stream).Logger(),
		}
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

// record handles a RECORD message: it numbers the record, converts it into
// a row of its stream's table with the metadata columns filled, and
// buffers the row. Within a batch the last record per key wins (see
// [batch.Buffer.Add]). A record whose key is missing or null cannot be
// upserted: it is buffered whole as a row of _sdc_rejected_records.
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
	if s.buf.Empty() {
		r.ages.invalidate() // a new oldest record
	}
	size := len(m.Record) + recordOverhead
	key, err := rowKey(l, row)
	if err != nil {
		clean, _ := jsonlex.Clean(m.Record, true)
		rejected := rejectedRow(s.name, nil, clean, err.Error(), r.opts.now(), r.opts.seqBase+seq)
		return r.account(s, size, s.buf.AddReject(seq, rejected, size))
	}
	s.aside += s.fill.errs.n
	if l.meta.present() {
		l.meta.stampRecord(row, m.TimeExtracted, r.opts.now().UTC(), r.opts.seqBase+seq, m.Version)
	}
	return r.account(s, size, s.buf.Add(seq, key, row, size))
}

// fillRow converts a record into a row of its stream's table, widening
// columns first when the record needs it.
func (r *runner) fillRow(s *stream, m singer.Message) ([]any, error) {
	for attempt := 0; ; attempt++ {
		row := make([]any, len(s.layout.table.Columns))
		if err := s.fill.fill(m.Record, m.Members, row); err != nil {
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

func (r *runner) unknownField(s *stream, path string) {
	if s.warned[path] || len(s.warned) >= maxWarnedFields {
		return
	}
	s.warned[path] = true
	s.log.Warn().Str("field", path).Msg("dropping field the schema does not declare")
}

// rowKey returns a map key for the key columns of row: "" for a stream
// without keys, else a non-empty string that is the same exactly when the
// key values are. Key values may not be null.
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
