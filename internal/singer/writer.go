package singer

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"time"
)

// timeLayout is RFC 3339 in UTC with exactly six fractional digits: Python
// readers and PostgreSQL keep microseconds, and a fixed width sorts as text.
const timeLayout = "2006-01-02T15:04:05.000000Z"

// Writer writes Singer messages, one JSON object per line. It buffers its
// output; WriteState and Flush push it to the underlying writer. A Writer is
// not safe for concurrent use.
type Writer struct {
	bw         *bufio.Writer
	enc        *json.Encoder
	line       []byte // reused for RECORD lines
	stream     string // the stream whose JSON form is in streamJSON
	streamJSON []byte
}

// NewWriter returns a Writer writing to w through a buffer.
func NewWriter(w io.Writer) *Writer {
	bw := bufio.NewWriterSize(w, 64<<10)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	return &Writer{bw: bw, enc: enc}
}

// The wire structs fix the field order (type first) and keep required
// fields even when empty: no omitempty on anything the spec requires.
type schemaWire struct {
	Type          string          `json:"type"`
	Stream        string          `json:"stream"`
	Schema        json.RawMessage `json:"schema"`
	KeyProperties []string        `json:"key_properties"`
}

type recordWire struct {
	Type          string          `json:"type"`
	Stream        string          `json:"stream"`
	Record        json.RawMessage `json:"record"`
	TimeExtracted string          `json:"time_extracted,omitempty"` // optional in the spec
}

type stateWire struct {
	Type  string          `json:"type"`
	Value json.RawMessage `json:"value"`
}

// WriteSchema writes a SCHEMA message. keyProperties is written as [] when
// empty, never omitted.
func (w *Writer) WriteSchema(stream string, schema json.RawMessage, keyProperties []string) error {
	if keyProperties == nil {
		keyProperties = []string{}
	}
	if err := w.enc.Encode(schemaWire{Type: TypeSchema, Stream: stream, Schema: schema, KeyProperties: keyProperties}); err != nil {
		return fmt.Errorf("writing schema of %s: %w", stream, err)
	}
	return nil
}

// WriteRecord writes a RECORD message. record must be a compact JSON
// object; it is written as is, without being re-encoded (a record holding
// line breaks is compacted first, so it cannot break the line framing).
// timeExtracted is written in UTC with six fractional digits; a zero time
// leaves time_extracted out.
func (w *Writer) WriteRecord(stream string, record json.RawMessage, timeExtracted time.Time) error {
	if len(record) < 2 || record[0] != '{' || record[len(record)-1] != '}' {
		return fmt.Errorf("writing record of %s: record is not a JSON object", stream)
	}
	if bytes.IndexByte(record, '\n') >= 0 || bytes.IndexByte(record, '\r') >= 0 {
		return w.writeRecordEncoded(stream, record, timeExtracted)
	}
	if stream != w.stream || w.streamJSON == nil {
		enc, err := encodeString(stream)
		if err != nil {
			return fmt.Errorf("writing record of %s: %w", stream, err)
		}
		w.stream, w.streamJSON = stream, enc
	}
	line := append(w.line[:0], `{"type":"RECORD","stream":`...)
	line = append(line, w.streamJSON...)
	line = append(line, `,"record":`...)
	line = append(line, record...)
	if !timeExtracted.IsZero() {
		line = append(line, `,"time_extracted":"`...)
		line = timeExtracted.UTC().AppendFormat(line, timeLayout)
		line = append(line, '"')
	}
	line = append(line, "}\n"...)
	w.line = line
	if _, err := w.bw.Write(line); err != nil {
		return fmt.Errorf("writing record of %s: %w", stream, err)
	}
	return nil
}

// writeRecordEncoded is the slow path: encoding/json compacts record.
func (w *Writer) writeRecordEncoded(stream string, record json.RawMessage, timeExtracted time.Time) error {
	m := recordWire{Type: TypeRecord, Stream: stream, Record: record}
	if !timeExtracted.IsZero() {
		m.TimeExtracted = timeExtracted.UTC().Format(timeLayout)
	}
	if err := w.enc.Encode(m); err != nil {
		return fmt.Errorf("writing record of %s: %w", stream, err)
	}
	return nil
}

// encodeString returns s as a JSON string, without HTML escaping.
func encodeString(s string) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(s); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// WriteState writes a STATE message and flushes, so a state never waits in
// the buffer behind records that are already out.
func (w *Writer) WriteState(value json.RawMessage) error {
	if err := w.enc.Encode(stateWire{Type: TypeState, Value: value}); err != nil {
		return fmt.Errorf("writing state: %w", err)
	}
	return w.Flush()
}

// Flush writes buffered messages to the underlying writer.
func (w *Writer) Flush() error {
	if err := w.bw.Flush(); err != nil {
		return fmt.Errorf("flushing singer output: %w", err)
	}
	return nil
}

// Buffered returns the number of bytes written but not yet flushed.
func (w *Writer) Buffered() int { return w.bw.Buffered() }
