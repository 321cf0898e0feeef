package tap

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/cio-singer/tap-customerio-webhook/catalog"
	"github.com/cio-singer/tap-customerio-webhook/internal/singer"
	"github.com/cio-singer/tap-customerio-webhook/schemas"
	"github.com/cio-singer/tap-customerio-webhook/tap/event"
	"github.com/cio-singer/tap-customerio-webhook/tap/spool"
)

// anyType is the schema of a field Customer.io sends that data.json does
// not describe yet. Listing every type (rather than {}) keeps targets that
// require a "type" working; they store it as JSON or text.
var anyType = json.RawMessage(`{"type":["null","string","number","integer","boolean","object","array"]}`)

// emitter turns spool records into Singer messages. It is used from one
// goroutine.
type emitter struct {
	w          *singer.Writer
	log        zerolog.Logger
	sel        map[string]catalog.Selection
	classifier *event.Classifier
	spoolID    string
	timer      *stateTimer // when to write a STATE (statetiming.go)

	dataSchema *schemaDoc // the data schema as last written, grown by unknown fields
	sent       map[string]bool
	emitted    uint64 // offset of the last record handled
	stated     uint64 // offset in the last STATE written
	wroteState bool

	// Read by /metrics from other goroutines.
	dataCount     atomic.Uint64       // records written on stream data
	rejectedCount atomic.Uint64       // records written on stream rejected
	badBodies     atomic.Uint64       // bodies classified invalid, whether or not rejected is selected
	handled       atomic.Uint64       // mirror of emitted
	onState       func(offset uint64) // called after each STATE written; may be nil
	// keepWithheld durably keeps a body withheld from stream rejected
	// before its record is written; nil keeps nothing (tests).
	keepWithheld func(rejectionID string, body []byte) error
	// history writes the App API streams (history_emit.go); nil without.
	history *historyOut
	// rejectionID names the record at offset in stream rejected, and
	// webhookBookmark is the webhook streams' STATE bookmarks; nil for both
	// means the disk spool's (<spool_id>:<offset>, Bookmark). The Kafka
	// loader sets them (kafka.go).
	rejectionID     func(offset uint64) string
	webhookBookmark func() map[string]json.RawMessage
}

// newEmitter returns an emitter after offset start that writes a STATE
// at most every interval by clock (time.Now outside tests).
func newEmitter(w *singer.Writer, sel map[string]catalog.Selection, spoolID string, start uint64, interval time.Duration, clock func() time.Time, log zerolog.Logger) (*emitter, error) {
	e := &emitter{w: w, log: log, sel: sel, spoolID: spoolID, timer: newStateTimer(clock, interval),
		sent: map[string]bool{}, emitted: start, stated: start}
	e.handled.Store(start)
	dataSel, ok := sel[schemas.Data]
	if !ok {
		// Valid events are still classified, so that invalid ones reach
		// the rejected stream; the default schema decides.
		raw, err := schemas.Load(schemas.Data)
		if err != nil {
			return nil, err
		}
		dataSel = catalog.Selection{Stream: schemas.Data, Schema: raw}
	}
	c, err := event.NewClassifier(dataSel.Schema, dataSel.Drop)
	if err != nil {
		return nil, fmt.Errorf("data schema: %w", err)
	}
	e.classifier = c
	if e.dataSchema, err = parseSchemaDoc(dataSel.Schema, dataSel.Drop); err != nil {
		return nil, fmt.Errorf("data schema: %w", err)
	}
	return e, nil
}

// emit writes the messages for one spool record.
func (e *emitter) emit(rec spool.Record) error {
	res := e.classifier.Classify(rec.Body)
	if res.Reason == "" {
		if err := e.emitData(rec, res); err != nil {
			return err
		}
	} else if err := e.emitRejected(rec, res.Reason); err != nil {
		return err
	}
	e.emitted = rec.Offset
	e.handled.Store(rec.Offset)
	if e.timer.dueAfterRecord() {
		return e.writeState()
	}
	return nil
}

func (e *emitter) emitData(rec spool.Record, res event.Result) error {
	sel, ok := e.sel[schemas.Data]
	if !ok {
		return nil
	}
	grew := e.dataSchema.learnEvent(res)
	if grew || !e.sent[schemas.Data] {
		if err := e.w.WriteSchema(schemas.Data, e.dataSchema.raw, sel.KeyProperties); err != nil {
			return fmt.Errorf("writing schema: %w", err)
		}
		e.sent[schemas.Data] = true
	}
	if err := e.w.WriteRecord(schemas.Data, res.Record, rec.ReceivedAt); err != nil {
		return fmt.Errorf("writing record: %w", err)
	}
	e.dataCount.Add(1)
	e.log.Debug().Uint64("offset", rec.Offset).Str("event_id", res.EventID).Msg("emitted event")
	return nil
}

func (e *emitter) emitRejected(rec spool.Record, reason string) error {
	e.badBodies.Add(1)
	e.log.Warn().Uint64("offset", rec.Offset).Int("bytes", len(rec.Body)).Str("reason", truncate(reason, 200)).
		Msg("webhook body is not a valid event: emitted on stream rejected")
	sel, ok := e.sel[schemas.Rejected]
	if !ok {
		return nil
	}
	if !e.sent[schemas.Rejected] {
		if err := e.w.WriteSchema(schemas.Rejected, sel.Schema, sel.KeyProperties); err != nil {
			return fmt.Errorf("writing schema: %w", err)
		}
		e.sent[schemas.Rejected] = true
	}
	id := fmt.Sprintf("%s:%d", e.spoolID, rec.Offset)
	if e.rejectionID != nil {
		id = e.rejectionID(rec.Offset)
	}
	record, withheld, err := event.Rejection(id, rec.ReceivedAt, reason, rec.Body, e.sel[schemas.Data].Drop, sel.Drop)
	if err != nil {
		return err
	}
	if withheld && e.keepWithheld != nil {
		if err := e.keepWithheld(id, rec.Body); err != nil {
			return err
		}
		e.log.Warn().Uint64("offset", rec.Offset).Str("rejection_id", id).Str("dir", event.WithheldDir).
			Msg("rejected body withheld (deselected fields could not be removed); raw body kept in spool_dir")
	}
	if err := e.w.WriteRecord(schemas.Rejected, record, rec.ReceivedAt); err != nil {
		return fmt.Errorf("writing record: %w", err)
	}
	e.rejectedCount.Add(1)
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// schemaDoc is a stream schema that grows when records carry fields it
// does not describe: a new top-level field, or a new field inside an object
// whose properties it lists (such as data). Without this, targets build
// columns from the schema and would silently drop what Customer.io adds
// tomorrow. Known fields never change type.
type schemaDoc struct {
	root map[string]any
	raw  json.RawMessage
	drop *deselected // fields deselected in the catalog: never learnt back
}

// deselected is the tree of the deselected fields within one object: by
// member name, a field deselected whole, or one with deselected fields
// within. Names are matched one by one, never joined: a field named
// "data.recipient" is not data's recipient.
type deselected struct {
	whole  bool
	within map[string]*deselected
}

func newDeselected(paths [][]string) *deselected {
	if len(paths) == 0 {
		return nil
	}
	root := &deselected{}
	for _, p := range paths {
		n := root
		for _, name := range p {
			if n.within == nil {
				n.within = map[string]*deselected{}
			}
			if n.within[name] == nil {
				n.within[name] = &deselected{}
			}
			n = n.within[name]
		}
		n.whole = true
	}
	return root
}

func parseSchemaDoc(raw json.RawMessage, drop [][]string) (*schemaDoc, error) {
	d := &schemaDoc{drop: newDeselected(drop)}
	if err := json.Unmarshal(raw, &d.root); err != nil {
		return nil, err
	}
	return d, d.encode()
}

func (d *schemaDoc) encode() error {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(d.root); err != nil {
		return err
	}
	d.raw = bytes.TrimRight(b.Bytes(), "\n")
	return nil
}

// grown re-encodes the schema after learning and reports whether it grew.
func (d *schemaDoc) grown(grew bool) bool {
	return grew && d.encode() == nil
}

// learn adds the fields of doc the schema lacks and reports whether it grew.
func (d *schemaDoc) learn(doc map[string]any) bool {
	return d.grown(d.learnObject(d.root, doc, d.drop))
}

// learnEvent is learn for a valid event: from the decoded document when
// the classifier made one, else from the names of its fields, with no
// allocation unless something is new.
func (d *schemaDoc) learnEvent(res event.Result) bool {
	if res.Doc != nil {
		return d.learn(res.Doc)
	}
	return d.grown(d.learnFields(d.root, res.Fields, 0, res.Fields.Len(), d.drop))
}

// learnable returns the properties of a schema node that records may add
// to, or nil.
func learnable(node map[string]any) map[string]any {
	props, ok := node["properties"].(map[string]any)
	if !ok || node["additionalProperties"] == false {
		return nil
	}
	return props
}

// newField describes a field the schema did not know.
func newField() map[string]any {
	var t map[string]any
	_ = json.Unmarshal(anyType, &t)
	return t
}

// learnObject adds the fields of doc that node lacks, but those that drop
// (nil: none) deselects.
func (d *schemaDoc) learnObject(node map[string]any, doc map[string]any, drop *deselected) bool {
	props := learnable(node)
	if props == nil {
		return false
	}
	// Runs for every record: no sorting or string building unless needed
	// (the schema is encoded with sorted keys anyway).
	grew := false
	for k, v := range doc {
		var innerDrop *deselected
		if drop != nil {
			if n := drop.within[k]; n != nil {
				if n.whole {
					continue
				}
				innerDrop = n
			}
		}
		sub, known := props[k].(map[string]any)
		if !known {
			props[k] = newField()
			grew = true
			continue
		}
		inner, ok := v.(map[string]any)
		if !ok {
			continue
		}
		if d.learnObject(sub, inner, innerDrop) {
			grew = true
		}
	}
	return grew
}

// learnFields is learnObject over the members f lists from from up to
// to.
func (d *schemaDoc) learnFields(node map[string]any, f event.Fields, from, to int, drop *deselected) bool {
	props := learnable(node)
	if props == nil {
		return false
	}
	grew := false
	for i := from; i < to; i = f.Skip(i) {
		name := f.Name(i)
		var innerDrop *deselected
		if drop != nil {
			if n := drop.within[string(name)]; n != nil {
				if n.whole {
					continue
				}
				innerDrop = n
			}
		}
		sub, known := props[string(name)].(map[string]any)
		if !known {
			props[string(name)] = newField()
			grew = true
			continue
		}
		if f.Object(i) && d.learnFields(sub, f, i+1, f.Skip(i), innerDrop) {
			grew = true
		}
	}
	return grew
}
