package target

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"unicode/utf8"

	"github.com/cio-singer/tap-customerio-webhook/internal/jsonlex"
	"github.com/cio-singer/tap-customerio-webhook/internal/singer"
)

// filler turns records of one stream into rows. It is reused from record
// to record, so the hot path allocates only the row itself.
type filler struct {
	l     *layout
	types []ColumnType // actual column types, by layout column
	row   []any
	// rank holds, per column, 1 + the rank of the property that filled it
	// in this record; only used when the layout has case twins.
	rank    []int
	errs    errorsBuilder
	widen   map[int]ColumnType // columns to widen before this record can load
	unknown func(path string)
	// mismatches are values of a kind their schema excludes. They fail the
	// record at its end unless a later member of the same name (a
	// duplicate key: the last one counts, as in JSON decoders) replaced
	// them.
	mismatches []mismatch
}

type mismatch struct {
	f   *field
	err error
}

// unfitError is a value that matches its schema but not its column as the
// column is: either a wider type holds it (widenTo), or none does and the
// value goes to _sdc_errors with reason.
type unfitError struct {
	widenTo ColumnType
	reason  string
}

func (e *unfitError) Error() string { return e.reason }

// fill decodes the JSON object rec into f.row (one value per column of the
// layout, converted to f.types). members, when not nil, locates rec's
// members as the singer.Reader found them while validating the line, so
// rec is not scanned again. Values the columns cannot hold go to
// _sdc_errors or, when a column can widen to hold them, into f.widen; the
// caller widens and fills again. Properties the schema lacks are passed to
// f.unknown and dropped. Metadata columns are left to the caller.
func (f *filler) fill(rec []byte, members []jsonlex.Member, row []any) error {
	f.row = row
	f.errs.reset()
	f.mismatches = f.mismatches[:0]
	if f.l.twins {
		if cap(f.rank) < len(row) {
			f.rank = make([]int, len(row))
		}
		f.rank = f.rank[:len(row)]
		clear(f.rank)
	}
	if members == nil {
		if err := f.fillObject(f.l.fields, rec, ""); err != nil {
			return err
		}
	}
	for _, m := range members {
		if err := f.fillMember(f.l.fields, "", m.Key(rec), m.Value(rec), m.KeyEscaped, m.ValueEscaped); err != nil {
			return err
		}
	}
	if len(f.mismatches) > 0 {
		return f.mismatches[0].err
	}
	if f.errs.n > 0 {
		row[f.l.errCol] = f.errs.object()
	}
	return nil
}

// fillObject fills the members of obj, which nobody located yet.
func (f *filler) fillObject(fields map[string]*field, obj []byte, prefix string) error {
	return jsonlex.EachMember(obj, func(rawKey, value []byte) error {
		return f.fillMember(fields, prefix, rawKey, value, escaped(rawKey), value[0] == '"' && escaped(value))
	})
}

// fillMember fills the column of one member of an object whose properties
// are fields; the escaped flags tell whether the key, and the value when a
// string, hold an escape (see jsonlex.Member).
func (f *filler) fillMember(fields map[string]*field, prefix string, rawKey, value []byte, keyEscaped, valueEscaped bool) error {
	fd, ok, err := lookupField(fields, rawKey, keyEscaped)
	if err != nil {
		return err
	}
	if !ok {
		f.unknown(prefix + keyName(rawKey))
		return nil
	}
	f.replaced(fd)
	switch fd.col {
	case colFlattened:
		switch value[0] {
		case 'n':
			return nil // every child column stays NULL
		case '{':
			return f.fillObject(fd.children, value, prefix+keyName(rawKey)+".")
		default:
			f.mismatches = append(f.mismatches, mismatch{fd, fmt.Errorf("field %q: %s where an object was declared", prefix+keyName(rawKey), kindOf(value))})
			return nil
		}
	case colAside:
		f.setAside(fd.path, value, "no column: table at the column limit")
		return nil
	}
	if f.l.twins && !f.takes(fd, value) {
		return nil
	}
	v, err := convertValue(value, valueEscaped, f.types[fd.col])
	if err != nil {
		unfit, ok := err.(*unfitError)
		if !ok {
			f.mismatches = append(f.mismatches, mismatch{fd, fmt.Errorf("field %q: %w", prefix+keyName(rawKey), err)})
			return nil
		}
		if unfit.widenTo != 0 {
			if f.widen == nil {
				f.widen = map[int]ColumnType{}
			}
			f.widen[fd.col] = Widen(max(f.widen[fd.col], f.types[fd.col]), unfit.widenTo)
			return nil
		}
		f.setAside(fd.path, value, unfit.reason)
		f.row[fd.col] = nil
		return nil
	}
	f.row[fd.col] = v
	return nil
}

// replaced forgets the mismatch of an earlier member named like fd.
func (f *filler) replaced(fd *field) {
	if len(f.mismatches) > 0 {
		f.mismatches = slices.DeleteFunc(f.mismatches, func(m mismatch) bool { return m.f == fd })
	}
}

// takes decides, for a column shared by case twins, whether fd's value
// fills it: the property of lowest rank present in the record does; the
// values of the others go to _sdc_errors (a null one carries nothing).
// A property repeated in one record keeps its last value.
func (f *filler) takes(fd *field, value []byte) bool {
	held := f.rank[fd.col]
	switch {
	case held == 0 || held == fd.rank+1:
		f.rank[fd.col] = fd.rank + 1
		return true
	case held-1 < fd.rank:
		if value[0] != 'n' {
			f.setAside(fd.path, value, "column "+f.l.table.Columns[fd.col].Name+" holds the value of a case twin of this property")
		}
		return false
	default:
		// fd outranks the property that filled the column: that value
		// moves aside. It is re-read from the column's JSON form.
		if prev := f.row[fd.col]; prev != nil {
			f.setAside(f.l.twinPaths[fd.col][held-1], valueJSON(prev), "column "+f.l.table.Columns[fd.col].Name+" holds the value of a case twin of this property")
		}
		f.rank[fd.col] = fd.rank + 1
		return true
	}
}

func (f *filler) setAside(path string, value []byte, reason string) {
	f.errs.add(path, value, reason)
}

// lookupField finds the field a raw object key names. A key without
// escapes that is valid UTF-8 is its own name: it is looked up without
// decoding or allocating.
func lookupField(fields map[string]*field, rawKey []byte, escaped bool) (fd *field, ok bool, err error) {
	if len(rawKey) < 2 {
		return nil, false, errMalformed
	}
	if name := rawKey[1 : len(rawKey)-1]; !escaped && utf8.Valid(name) {
		fd, ok = fields[string(name)]
		return fd, ok, nil
	}
	key, end, valid := jsonlex.ParseString(rawKey, 0)
	if !valid || end != len(rawKey) {
		return nil, false, errMalformed
	}
	fd, ok = fields[key]
	return fd, ok, nil
}

// keyName decodes a raw object key that lookupField accepted, for messages.
func keyName(rawKey []byte) string {
	s, _, _ := jsonlex.ParseString(rawKey, 0)
	return s
}

// escaped reports whether the raw JSON string s holds an escape.
func escaped(s []byte) bool { return bytes.IndexByte(s, '\\') >= 0 }

// Records are walked over JSON the singer.Reader has already validated
// (where the Reader located the members, or with jsonlex.EachMember), so a
// record is decoded once, straight into column values, without building
// maps. The helpers still check bounds and never panic on malformed input.
var errMalformed = errors.New("malformed JSON")

// decodeString returns the Go string of the JSON string raw, loadable: NUL,
// invalid UTF-8 and lone surrogate escapes become U+FFFD. A string without
// escapes (escaped false) and valid UTF-8 is its text as it is.
func decodeString(raw []byte, escaped bool) (string, error) {
	if !escaped && len(raw) >= 2 {
		if text := raw[1 : len(raw)-1]; utf8.Valid(text) {
			return jsonlex.ReplaceNUL(string(text)), nil
		}
	}
	s, ok := jsonlex.LoadableString(raw)
	if !ok {
		return "", errMalformed
	}
	return s, nil
}

// convertValue turns one JSON value into the Go value loaders expect for
// column type t (see ColumnType). null is nil for every type. A value of a
// kind the column's type excludes (a string where an integer is declared)
// is an error: the record does not match its schema. A value of the right
// kind that the column cannot hold as it is gives an *unfitError.
// escaped tells whether raw, when a string, holds an escape.
func convertValue(raw []byte, escaped bool, t ColumnType) (any, error) {
	if len(raw) == 0 {
		return nil, errMalformed
	}
	if raw[0] == 'n' {
		return nil, nil
	}
	switch t {
	case TypeText:
		if raw[0] == '"' {
			return decodeString(raw, escaped)
		}
		// A column widened to text takes numbers, booleans and JSON as
		// their JSON text.
		clean, _ := jsonlex.Clean(raw, false)
		return string(clean), nil
	case TypeBigint:
		if !isNumber(raw) {
			return nil, fmt.Errorf("%s where an integer was expected", kindOf(raw))
		}
		return parseBigint(raw)
	case TypeNumeric:
		if !isNumber(raw) {
			return nil, fmt.Errorf("%s where a number was expected", kindOf(raw))
		}
		if !jsonlex.Fits(raw) {
			return nil, errNumberRange
		}
		return json.Number(raw), nil
	case TypeBoolean:
		switch string(raw) {
		case "true":
			return true, nil
		case "false":
			return false, nil
		}
		return nil, fmt.Errorf("%s where a boolean was expected", kindOf(raw))
	case TypeTimestamp:
		if raw[0] != '"' {
			return nil, fmt.Errorf("%s where a date-time string was expected", kindOf(raw))
		}
		s, err := decodeString(raw, escaped)
		if err != nil {
			return nil, err
		}
		ts, err := singer.ParseTime(s)
		if err != nil {
			return nil, &unfitError{reason: "not an RFC 3339 date-time"}
		}
		if y := ts.Year(); y < 1 || y > 9999 {
			return nil, &unfitError{reason: "date-time outside the years 0001-9999"}
		}
		return ts, nil
	case TypeJSON:
		clean, fits := jsonlex.Clean(raw, false)
		if !fits {
			return nil, errNumberRange
		}
		return json.RawMessage(clean), nil
	default:
		return nil, fmt.Errorf("column type %d unknown", t)
	}
}

// errNumberRange: a number beyond what PostgreSQL's numeric (and so jsonb)
// holds (jsonlex.Fits). SQLite could keep it as text, but both warehouses
// treat it alike.
var errNumberRange = &unfitError{reason: "number beyond the warehouse's numeric range"}

func isNumber(raw []byte) bool {
	return raw[0] == '-' || (raw[0] >= '0' && raw[0] <= '9')
}

// parseBigint keeps integers exact: no float64 round trip. An integral
// value written as 1.0 or 1e3 is accepted. An integer outside int64 asks
// for a numeric column; one beyond numeric's range (see jsonlex.Fits)
// goes aside; a fraction is an error (not an integer, so not what the
// schema declared).
func parseBigint(raw []byte) (any, error) {
	if n, ok := jsonlex.Int64(raw); ok && jsonlex.Fits(raw) {
		return n, nil
	}
	d, ok := jsonlex.ParseNumber(raw)
	switch {
	case !ok:
		return nil, fmt.Errorf("malformed number")
	case !d.Integral():
		return nil, fmt.Errorf("a fraction where an integer was expected")
	case !d.Fits():
		return nil, errNumberRange
	}
	return nil, &unfitError{widenTo: TypeNumeric, reason: "integer beyond 64 bits"}
}

func kindOf(raw []byte) string {
	switch raw[0] {
	case '"':
		return "a string"
	case '{':
		return "an object"
	case '[':
		return "an array"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	default:
		return "a number"
	}
}

// errorsBuilder collects the members of one row's _sdc_errors object.
type errorsBuilder struct {
	buf []byte
	n   int
}

func (e *errorsBuilder) reset() { e.buf, e.n = e.buf[:0], 0 }

// add records value (raw JSON, made loadable: numbers beyond the warehouse
// become strings) under path with reason.
func (e *errorsBuilder) add(path string, value []byte, reason string) {
	if e.n > 0 {
		e.buf = append(e.buf, ',')
	}
	e.n++
	e.buf = appendErrorMember(e.buf, path, value, reason)
}

// object returns a copy of the collected members as a JSON object.
func (e *errorsBuilder) object() json.RawMessage {
	out := make([]byte, 0, len(e.buf)+2)
	out = append(out, '{')
	out = append(out, e.buf...)
	return append(out, '}')
}

func appendErrorMember(b []byte, path string, value []byte, reason string) []byte {
	b = appendJSONString(b, path)
	b = append(b, `:{"value":`...)
	clean, _ := jsonlex.Clean(value, true)
	b = append(b, clean...)
	b = append(b, `,"error":`...)
	b = appendJSONString(b, reason)
	return append(b, '}')
}

// addError returns the _sdc_errors object errs with one more member.
func addError(errs json.RawMessage, path string, value []byte, reason string) json.RawMessage {
	var b []byte
	if len(errs) < 2 || string(errs) == "{}" || errs[0] != '{' {
		b = append(b, '{')
	} else {
		b = append(b, errs[:len(errs)-1]...)
		b = append(b, ',')
	}
	b = appendErrorMember(b, path, value, reason)
	return append(b, '}')
}

// valueJSON returns a converted value (see ColumnType) as JSON, for
// _sdc_errors and _sdc_rejected_records.
func valueJSON(v any) []byte {
	switch v := v.(type) {
	case nil:
		return []byte("null")
	case string:
		return appendJSONString(nil, v)
	case int64:
		return strconv.AppendInt(nil, v, 10)
	case json.Number:
		return []byte(v)
	case bool:
		return strconv.AppendBool(nil, v)
	case json.RawMessage:
		return v
	default:
		b, err := json.Marshal(v)
		if err != nil {
			return appendJSONString(nil, fmt.Sprint(v))
		}
		return b
	}
}

// appendJSONString appends s as a JSON string that every warehouse loads:
// NUL and invalid UTF-8 become U+FFFD.
func appendJSONString(b []byte, s string) []byte {
	q, _ := json.Marshal(jsonlex.ReplaceNUL(s)) // invalid UTF-8 becomes U+FFFD; cannot fail for a string
	return append(b, q...)
}
