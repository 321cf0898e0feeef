package singer

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
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
	Record        json.RawMessage // a JSON object, as sent
	TimeExtracted time.Time       // UTC; zero when absent
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
		m, err := parse(line)
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

// wireIn is every field any message may carry. Pointers tell absent from
// empty where the difference matters.
type wireIn struct {
	Type               *string         `json:"type"`
	Stream             *string         `json:"stream"`
	Schema             json.RawMessage `json:"schema"`
	KeyProperties      *[]string       `json:"key_properties"`
	BookmarkProperties []string        `json:"bookmark_properties"`
	Record             json.RawMessage `json:"record"`
	TimeExtracted      *string         `json:"time_extracted"`
	Version            *int64          `json:"version"`
	Value              json.RawMessage `json:"value"`
}

func parse(line []byte) (Message, error) {
	if line[0] != '{' {
		return Message{}, errors.New("not a JSON object")
	}
	var w wireIn
	if err := json.Unmarshal(line, &w); err != nil {
		return Message{}, fmt.Errorf("decoding message: %w", err)
	}
	if w.Type == nil || *w.Type == "" {
		return Message{}, errors.New("message has no type")
	}
	m := Message{Type: strings.ToUpper(*w.Type)}
	if w.Stream != nil {
		m.Stream = *w.Stream
	}
	switch m.Type {
	case TypeSchema:
		if m.Stream == "" {
			return Message{}, errors.New("SCHEMA without stream")
		}
		if !isObject(w.Schema) {
			return Message{}, errors.New("SCHEMA without a schema object")
		}
		m.Schema = w.Schema
		if w.KeyProperties != nil {
			m.KeyProperties, m.HasKeyProperties = *w.KeyProperties, true
			if m.KeyProperties == nil {
				m.KeyProperties = []string{}
			}
		}
		m.BookmarkProperties = w.BookmarkProperties
	case TypeRecord:
		if m.Stream == "" {
			return Message{}, errors.New("RECORD without stream")
		}
		if !isObject(w.Record) {
			return Message{}, errors.New("RECORD without a record object")
		}
		m.Record, m.Version = w.Record, w.Version
		if w.TimeExtracted != nil {
			t, err := ParseTime(*w.TimeExtracted)
			if err != nil {
				return Message{}, fmt.Errorf("time_extracted: %w", err)
			}
			m.TimeExtracted = t
		}
	case TypeState:
		if !isNull(w.Value) {
			m.Value = w.Value
		}
	case TypeActivateVersion:
		m.Version = w.Version
	}
	return m, nil
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

func isObject(raw json.RawMessage) bool { return len(raw) > 0 && raw[0] == '{' }

func isNull(raw json.RawMessage) bool { return len(raw) == 0 || string(raw) == "null" }
