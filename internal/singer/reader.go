package singer

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/cio-singer/tap-customerio-webhook/internal/jsonlex"
)

// Message is one Singer message as read. Only the fields of its type are set.
type Message struct {
	// Type is upper-cased: SCHEMA, RECORD, STATE, ACTIVATE_VERSION, or any
	// other type seen (the caller decides what to do with those).
	Type string
	// Line is the 1-based input line the message came from.
	Line   int
	Stream string

	// SCHEMA
	Schema             json.RawMessage
	KeyProperties      []string
	HasKeyProperties   bool // key_properties was present (possibly as [])
	BookmarkProperties []string

	// RECORD (Version also for ACTIVATE_VERSION)
	Record json.RawMessage // a JSON object, as sent
	// Members locates the record's members in Record, as the Reader found
	// them while validating the line, so a caller takes the record apart
	// without scanning it again. Its capacity is its length: appending
	// copies.
	Members       []jsonlex.Member
	TimeExtracted time.Time // UTC; zero when absent
	Version       *int64

	// STATE
	Value json.RawMessage
}

// LineError is a malformed input line.
type LineError struct {
	Line int
	Err  error
}

func (e *LineError) Error() string { return fmt.Sprintf("line %d: %v", e.Line, e.Err) }

// Unwrap returns the reason the line was rejected.
func (e *LineError) Unwrap() error { return e.Err }

// ErrLineTooLong is the reason of a LineError for a line over the limit.
var ErrLineTooLong = errors.New("singer: line too long")

// Reader reads Singer messages, one per line.
type Reader struct {
	br      *bufio.Reader
	maxLine int
	line    int
	buf     []byte
	// found holds what the validation of a line found inside its object
	// members; slab is where messages' Members are cut from, so a record
	// does not cost an allocation for them.
	found, slab []jsonlex.Member
	stream      string // the last stream name: most lines repeat it
}

// NewReader returns a Reader over r. maxLine limits the length of a line in
// bytes; 0 means no limit, so a record of any size is read.
func NewReader(r io.Reader, maxLine int) *Reader {
	return &Reader{br: bufio.NewReaderSize(r, 64<<10), maxLine: maxLine}
}

// Next returns the next message. It returns io.EOF at the end of input and
// a *LineError for a malformed line; blank lines are skipped. After a
// LineError the next call continues with the following line.
func (r *Reader) Next() (Message, error) {
	for {
		line, err := r.readLine()
		if err != nil {
			return Message{}, err
		}
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		m, err := r.parse(line)
		if err != nil {
			return Message{}, &LineError{Line: r.line, Err: err}
		}
		m.Line = r.line
		return m, nil
	}
}

// readLine returns the next line without its newline. The slice is valid
// until the next call.
func (r *Reader) readLine() ([]byte, error) {
	r.buf = r.buf[:0]
	tooLong := false
	for {
		chunk, err := r.br.ReadSlice('\n')
		if !tooLong {
			if r.maxLine > 0 && len(r.buf)+len(chunk) > r.maxLine+1 {
				tooLong = true
				r.buf = r.buf[:0]
			} else if err == nil && len(r.buf) == 0 {
				// The common case: the whole line is in bufio's buffer.
				r.line++
				return chunk[:len(chunk)-1], nil
			} else {
				r.buf = append(r.buf, chunk...)
			}
		}
		switch {
		case err == nil:
			r.line++
			if tooLong {
				return nil, &LineError{Line: r.line, Err: ErrLineTooLong}
			}
			return r.buf[:len(r.buf)-1], nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF):
			if len(r.buf) == 0 && !tooLong {
				return nil, io.EOF
			}
			r.line++
			if tooLong {
				return nil, &LineError{Line: r.line, Err: ErrLineTooLong}
			}
			return r.buf, nil
		default:
			return nil, fmt.Errorf("reading line %d: %w", r.line+1, err)
		}
	}
}

// envelope is every field any message may carry, as raw JSON values
// (sub-slices of the line). nil means absent.
type envelope struct {
	typ, stream, schema, keyProperties, bookmarkProperties []byte
	record, timeExtracted, version, value                  []byte
	members                                                []jsonlex.Member // of record
}

// parse decodes one line. The line is validated, its envelope's members
// and the record's members located in one pass (jsonlex.EachValidMember),
// without decoding the record, which is copied as is, with where its
// members lie, for the caller to decode once.
func (r *Reader) parse(line []byte) (Message, error) {
	if line[0] != '{' {
		return Message{}, errors.New("not a JSON object")
	}
	var e envelope
	var err error
	r.found, err = jsonlex.EachValidMember(line, r.found[:0], func(key, value []byte, inner []jsonlex.Member) error {
		switch strings.ToLower(string(key[1 : len(key)-1])) {
		case "type":
			e.typ = value
		case "stream":
			e.stream = value
		case "schema":
			e.schema = value
		case "key_properties":
			e.keyProperties = value
		case "bookmark_properties":
			e.bookmarkProperties = value
		case "record":
			e.record, e.members = value, inner
		case "time_extracted":
			e.timeExtracted = value
		case "version":
			e.version = value
		case "value":
			e.value = value
		}
		return nil
	})
	if err != nil {
		var v any
		if uerr := json.Unmarshal(line, &v); uerr != nil { // only to say where the JSON is wrong
			err = uerr
		}
		return Message{}, fmt.Errorf("decoding message: %w", err)
	}
	m, err := e.message(r.stream)
	if err != nil {
		return Message{}, err
	}
	r.stream = m.Stream
	if m.Type == TypeRecord {
		m.Members = r.cut(e.members)
	}
	return m, nil
}

// cut returns a copy of members from the reader's slab.
func (r *Reader) cut(members []jsonlex.Member) []jsonlex.Member {
	n := len(members)
	if n > cap(r.slab) {
		r.slab = make([]jsonlex.Member, max(n, 512))
	}
	out := r.slab[:n:n]
	copy(out, members)
	r.slab = r.slab[n:]
	return out
}

// message checks the envelope and decodes its fields but the record. A
// stream named as lastStream takes that string.
func (e *envelope) message(lastStream string) (Message, error) {
	m := Message{Type: knownType(e.typ)}
	if m.Type == "" {
		typ, err := stringField("type", e.typ)
		if err != nil {
			return Message{}, err
		}
		if typ == "" {
			return Message{}, errors.New("message has no type")
		}
		m.Type = strings.ToUpper(typ)
	}
	var err error
	if isPlainString(e.stream, lastStream) {
		m.Stream = lastStream
	} else if m.Stream, err = stringField("stream", e.stream); err != nil {
		return Message{}, err
	}
	switch m.Type {
	case TypeSchema:
		if m.Stream == "" {
			return Message{}, errors.New("SCHEMA without stream")
		}
		if !isObject(e.schema) {
			return Message{}, errors.New("SCHEMA without a schema object")
		}
		m.Schema = bytes.Clone(e.schema)
		if !isNull(e.keyProperties) {
			if err := json.Unmarshal(e.keyProperties, &m.KeyProperties); err != nil {
				return Message{}, fmt.Errorf("key_properties: %w", err)
			}
			m.HasKeyProperties = true
			if m.KeyProperties == nil {
				m.KeyProperties = []string{}
			}
		}
		if !isNull(e.bookmarkProperties) {
			if err := json.Unmarshal(e.bookmarkProperties, &m.BookmarkProperties); err != nil {
				return Message{}, fmt.Errorf("bookmark_properties: %w", err)
			}
		}
	case TypeRecord:
		if m.Stream == "" {
			return Message{}, errors.New("RECORD without stream")
		}
		if !isObject(e.record) {
			return Message{}, errors.New("RECORD without a record object")
		}
		m.Record = bytes.Clone(e.record)
		if m.Version, err = versionField(e.version); err != nil {
			return Message{}, err
		}
		if !isNull(e.timeExtracted) {
			s, err := stringField("time_extracted", e.timeExtracted)
			if err != nil {
				return Message{}, err
			}
			if m.TimeExtracted, err = ParseTime(s); err != nil {
				return Message{}, fmt.Errorf("time_extracted: %w", err)
			}
		}
	case TypeState:
		if !isNull(e.value) {
			m.Value = bytes.Clone(e.value)
		}
	case TypeActivateVersion:
		if m.Version, err = versionField(e.version); err != nil {
			return Message{}, err
		}
	}
	return m, nil
}

// knownTypes are the types knownType spots without decoding.
var knownTypes = [...]string{TypeRecord, TypeState, TypeSchema, TypeActivateVersion}

// knownType returns the type raw names when raw is a JSON string spelling
// a type of knownTypes in ASCII letters of any case, else "".
func knownType(raw []byte) string {
	if len(raw) < 2 || raw[0] != '"' {
		return ""
	}
	name := raw[1 : len(raw)-1]
	for _, t := range knownTypes {
		if len(name) == len(t) && equalUpper(name, t) {
			return t
		}
	}
	return ""
}

// equalUpper reports whether b, with its ASCII lower-case letters made
// upper case, is upper (of the same length).
func equalUpper(b []byte, upper string) bool {
	for i, c := range b {
		if c != upper[i] && (c < 'a' || c > 'z' || c-('a'-'A') != upper[i]) {
			return false
		}
	}
	return true
}

// isPlainString reports whether raw is the JSON string s written without
// escapes, so decoding raw would give s.
func isPlainString(raw []byte, s string) bool {
	return len(raw) == len(s)+2 && raw[0] == '"' && string(raw[1:len(raw)-1]) == s && bytes.IndexByte(raw, '\\') < 0
}

// stringField decodes a JSON string member; absent or null gives "".
func stringField(name string, raw []byte) (string, error) {
	if isNull(raw) {
		return "", nil
	}
	if raw[0] != '"' {
		return "", fmt.Errorf("%s is not a string", name)
	}
	s, end, ok := jsonlex.ParseString(raw, 0)
	if !ok || end != len(raw) {
		return "", fmt.Errorf("%s is not a valid string", name)
	}
	return s, nil
}

func versionField(raw []byte) (*int64, error) {
	if isNull(raw) {
		return nil, nil
	}
	n, err := strconv.ParseInt(string(raw), 10, 64)
	if err != nil {
		return nil, fmt.Errorf("version %.30s is not an integer", raw)
	}
	return &n, nil
}

// ParseTime parses an RFC 3339 date-time with any offset and returns the
// same instant in UTC. A space instead of "T" is accepted, as some taps send.
func ParseTime(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil && len(s) > 10 && s[10] == ' ' {
		t, err = time.Parse(time.RFC3339Nano, s[:10]+"T"+s[11:])
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is not an RFC 3339 date-time", truncate(s, 40))
	}
	return t.UTC(), nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

func isObject(raw []byte) bool { return len(raw) > 0 && raw[0] == '{' }

func isNull(raw []byte) bool { return len(raw) == 0 || string(raw) == "null" }
