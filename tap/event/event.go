// Package event decides what a spooled webhook body becomes: a RECORD of
// stream data (a JSON object with a non-empty string event_id that matches
// the stream's schema), or a RECORD of stream rejected with the reason. It
// never drops a body and never changes a valid one beyond removing
// insignificant whitespace, fields deselected in the catalog and what no
// target can load (Sanitize), so every field arrives in the warehouse as
// Customer.io sent it. No I/O.
package event

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/xeipuuv/gojsonschema"

	"github.com/cio-singer/tap-customerio-webhook/internal/jsonlex"
)

// Classifier validates bodies against one compiled schema. It is not safe
// for concurrent use: gojsonschema's concurrency safety is undocumented, so
// the emitter's single goroutine owns it.
type Classifier struct {
	schema *gojsonschema.Schema
	fast   *fastSchema // nil when the schema is outside its subset
	drop   [][]string

	pass onePass // of the last body: its scratch slices are reused
}

// NewClassifier compiles schema once. drop lists fields (paths of property
// names) to remove from every valid record, as the catalog deselected them.
func NewClassifier(schema json.RawMessage, drop [][]string) (*Classifier, error) {
	s, err := gojsonschema.NewSchema(gojsonschema.NewBytesLoader(schema))
	if err != nil {
		return nil, fmt.Errorf("compiling schema: %w", err)
	}
	fast, _ := compileFast(schema)
	return &Classifier{schema: s, fast: fast, drop: drop}, nil
}

// Result is the outcome of Classify.
type Result struct {
	// Record is the body as one line of compact JSON when the body is a
	// valid event; nil otherwise.
	Record json.RawMessage
	// EventID of a valid event.
	EventID string
	// Doc or Fields (one of them, for a valid event) tell the emitter the
	// member names of the event, cleaned but before deselected fields are
	// removed, so that it can notice fields the schema does not describe
	// yet without parsing again. Doc is the decoded event (numbers as
	// json.Number) when Classify had to decode it; Fields when it took the
	// body in one pass, valid until the next Classify.
	Doc    map[string]any
	Fields Fields
	// Reason says why the body is not a valid event; empty when it is.
	Reason string
}

// Classify parses and validates body. body is not retained. A body that
// holds what targets cannot load (see Sanitize) is cleaned first, and the
// cleaned document is what is validated and emitted.
func (c *Classifier) Classify(body []byte) Result {
	if utf8.Valid(body) {
		if res, ok := c.classifyOnePass(body); ok {
			return res
		}
	}
	return c.classifyDecoded(body)
}

// classifyDecoded is Classify for any body: it decodes the body into a
// document (cleaned first when it must be), and the document is checked.
// Every reason to reject a body comes from here.
func (c *Classifier) classifyDecoded(body []byte) Result {
	if !utf8.Valid(body) {
		return Result{Reason: "body is not valid UTF-8"}
	}
	doc, reason := decode(body)
	if reason != "" {
		return Result{Reason: reason}
	}
	record, members, unloadable := compactScan(make([]byte, 0, len(body)), body)
	if unloadable || members != countMembers(doc) {
		clean, _, err := Sanitize(body)
		if err != nil { // the decoder accepted body: cannot happen
			return Result{Reason: "cleaning body: " + err.Error()}
		}
		record = clean
		if doc, reason = decode(clean); reason != "" {
			return Result{Reason: reason}
		}
	}
	fields := doc.(map[string]any)
	id, isString := fields["event_id"].(string)
	switch {
	case fields["event_id"] == nil:
		return Result{Reason: "event_id is missing"}
	case !isString:
		return Result{Reason: "event_id is not a string"}
	case strings.TrimSpace(id) == "":
		return Result{Reason: "event_id is empty"}
	}
	if reason := c.validate(doc); reason != "" {
		return Result{Reason: reason}
	}
	record, err := c.removeDeselected(record)
	if err != nil {
		return Result{Reason: err.Error()}
	}
	return Result{Record: record, EventID: id, Doc: fields}
}

// decode parses body, one JSON object, keeping numbers as json.Number.
// body is valid UTF-8. fastDecode takes what it can; encoding/json decides
// the rest and words the reasons.
func decode(body []byte) (any, string) {
	if doc, ok := fastDecode(body); ok {
		return doc, ""
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber() // integers beyond 2^53 stay exact for validation
	var doc any
	if err := dec.Decode(&doc); err != nil {
		return nil, notAnObject(body, err)
	}
	if _, ok := doc.(map[string]any); !ok {
		return nil, notAnObject(body, nil)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, "body holds more than one JSON value"
	}
	return doc, ""
}

// countMembers returns the number of object members in doc, at every depth.
func countMembers(doc any) int {
	n := 0
	switch v := doc.(type) {
	case map[string]any:
		n += len(v)
		for _, c := range v {
			n += countMembers(c)
		}
	case []any:
		for _, c := range v {
			n += countMembers(c)
		}
	}
	return n
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

// decodedLoader hands gojsonschema a document decoded already, so a body is
// parsed once (gojsonschema's own loaders decode again, or even marshal and
// decode again).
type decodedLoader struct {
	gojsonschema.JSONLoader
	doc any
}

func (l decodedLoader) LoadJSON() (any, error) { return l.doc, nil }

// validate returns the schema violations of doc, or "".
func (c *Classifier) validate(doc any) string {
	if hugeNumber(doc) {
		return fmt.Sprintf("a number is beyond float64's range, longer than %d characters or has an exponent beyond ±%d", jsonlex.MaxPortableLen, jsonlex.MaxPortableExponent)
	}
	if c.fast != nil && c.fast.valid(doc) {
		return ""
	}
	res, err := c.schema.Validate(decodedLoader{JSONLoader: gojsonschema.NewGoLoader(nil), doc: doc})
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
	// gojsonschema lists some errors (additionalProperties) in map order;
	// sorted, a body gets the same reason every time it is classified.
	slices.Sort(msgs)
	return "schema: " + strings.Join(msgs, "; ")
}

// removeDeselected returns record, compact, without the deselected fields.
func (c *Classifier) removeDeselected(record json.RawMessage) (json.RawMessage, error) {
	for _, path := range c.drop {
		var err error
		if record, err = removePath(record, path); err != nil {
			return nil, fmt.Errorf("deselected field %s cannot be removed: %w", strings.Join(path, "."), err)
		}
	}
	return record, nil
}
