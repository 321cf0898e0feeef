// Package event decides what a spooled webhook body becomes: a RECORD of
// stream data (a JSON object with a non-empty string event_id that matches
// the stream's schema), or a RECORD of stream rejected with the reason. It
// never drops a body and never changes a valid one beyond removing
// insignificant whitespace (and fields deselected in the catalog), so every
// field arrives in the warehouse exactly as Customer.io sent it. No I/O.
package event

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/xeipuuv/gojsonschema"
)

// Classifier validates bodies against one compiled schema. It is not safe
// for concurrent use: gojsonschema's concurrency safety is undocumented, so
// the emitter's single goroutine owns it.
type Classifier struct {
	schema *gojsonschema.Schema
	drop   [][]string
}

// NewClassifier compiles schema once. drop lists fields (paths of property
// names) to remove from every valid record, as the catalog deselected them.
func NewClassifier(schema json.RawMessage, drop [][]string) (*Classifier, error) {
	s, err := gojsonschema.NewSchema(gojsonschema.NewBytesLoader(schema))
	if err != nil {
		return nil, fmt.Errorf("compiling schema: %w", err)
	}
	return &Classifier{schema: s, drop: drop}, nil
}

// Result is the outcome of Classify.
type Result struct {
	// Record is the body as one line of compact JSON when the body is a
	// valid event; nil otherwise.
	Record json.RawMessage
	// EventID of a valid event.
	EventID string
	// Fields are the top-level property names of a valid event, in order,
	// so the emitter can notice fields the schema does not describe yet.
	Fields map[string]json.RawMessage
	// Reason says why the body is not a valid event; empty when it is.
	Reason string
}

// Classify parses and validates body. body is not retained.
func (c *Classifier) Classify(body []byte) Result {
	if !utf8.Valid(body) {
		return Result{Reason: "body is not valid UTF-8"}
	}
	var fields map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&fields); err != nil || fields == nil {
		return Result{Reason: notAnObject(body, err)}
	}
	if dec.More() {
		return Result{Reason: "body holds more than one JSON value"}
	}
	if _, err := dec.Token(); err == nil {
		return Result{Reason: "body holds more than one JSON value"}
	}
	var id string
	if raw, ok := fields["event_id"]; !ok {
		return Result{Reason: "event_id is missing"}
	} else if err := json.Unmarshal(raw, &id); err != nil {
		return Result{Reason: "event_id is not a string"}
	} else if strings.TrimSpace(id) == "" {
		return Result{Reason: "event_id is empty"}
	}
	if reason := c.validate(body); reason != "" {
		return Result{Reason: reason}
	}
	record, err := c.record(body)
	if err != nil {
		return Result{Reason: err.Error()}
	}
	return Result{Record: record, EventID: id, Fields: fields}
}

func notAnObject(body []byte, err error) string {
	trimmed := bytes.TrimSpace(body)
	switch {
	case len(trimmed) == 0:
		return "body is empty"
	case err == nil || trimmed[0] != '{':
		return "body is not a JSON object"
	default:
		var syn *json.SyntaxError
		if errors.As(err, &syn) {
			return fmt.Sprintf("body is not valid JSON: %s at byte %d", syn.Error(), syn.Offset)
		}
		return "body is not valid JSON: " + err.Error()
	}
}

// validate returns the schema violations of body, or "".
func (c *Classifier) validate(body []byte) string {
	res, err := c.schema.Validate(gojsonschema.NewBytesLoader(body))
	if err != nil {
		return "validating body: " + err.Error()
	}
	if res.Valid() {
		return ""
	}
	msgs := make([]string, 0, len(res.Errors()))
	for _, e := range res.Errors() {
		msgs = append(msgs, e.String())
	}
	return "schema: " + strings.Join(msgs, "; ")
}

// record returns body compacted onto one line, with deselected fields
// removed. Compaction keeps every value byte for byte (numbers keep their
// literal, strings their escapes).
func (c *Classifier) record(body []byte) (json.RawMessage, error) {
	var buf bytes.Buffer
	buf.Grow(len(body))
	if err := json.Compact(&buf, body); err != nil {
		return nil, fmt.Errorf("compacting body: %w", err)
	}
	out := buf.Bytes()
	for _, path := range c.drop {
		var err error
		if out, err = removePath(out, path); err != nil {
			return nil, fmt.Errorf("removing deselected field %s: %w", strings.Join(path, "."), err)
		}
	}
	return out, nil
}
