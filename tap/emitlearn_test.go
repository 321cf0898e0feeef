package tap

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cio-singer/tap-customerio-webhook/schemas"
	"github.com/cio-singer/tap-customerio-webhook/tap/event"
	"github.com/cio-singer/tap-customerio-webhook/tap/spool"
)

// learnSchema has what data.json lacks: a property whose schema is true, an
// object closed to new fields, and objects nested two deep.
const learnSchema = `{"type":"object","properties":{"event_id":{"type":"string"},"t":true,
	"closed":{"type":"object","properties":{"x":{}},"additionalProperties":false},
	"p":{"type":["object","null"],"properties":{"q":{"type":"object","properties":{"r":{}}}}}}}`

// learnConfig is a schema, the fields deselected from it, and their
// classifier.
type learnConfig struct {
	schema     json.RawMessage
	drop       [][]string
	classifier *event.Classifier
}

func learnConfigs(t testing.TB) map[string]learnConfig {
	t.Helper()
	data, err := schemas.Load(schemas.Data)
	if err != nil {
		t.Fatal(err)
	}
	drop := [][]string{{"data", "recipient"}, {"metric"}, {"data", "identifiers", "email"}, {"a.b"}, {"new", "x"}, {"p", "q", "gone"},
		{"data.future"}, {"p.u"}} // fields named with a dot: data's future and p's u are learnt
	configs := map[string]learnConfig{
		"data":            {schema: data},
		"data-deselected": {schema: data, drop: drop},
		"other":           {schema: json.RawMessage(learnSchema)},
		"other-deselect":  {schema: json.RawMessage(learnSchema), drop: drop},
	}
	for name, cfg := range configs {
		if cfg.classifier, err = event.NewClassifier(cfg.schema, cfg.drop); err != nil {
			t.Fatal(err)
		}
		configs[name] = cfg
	}
	return configs
}

// documentOf is what learn was given before records were learnt as bytes:
// the cleaned body, decoded with numbers as json.Number.
func documentOf(t testing.TB, body []byte) map[string]any {
	t.Helper()
	clean, _, err := event.Sanitize(body)
	if err != nil {
		t.Fatalf("a valid event that is not JSON: %q", body)
	}
	dec := json.NewDecoder(bytes.NewReader(clean))
	dec.UseNumber()
	var doc map[string]any
	if err := dec.Decode(&doc); err != nil {
		t.Fatal(err)
	}
	return doc
}

// checkLearnEvent fails t unless learning the valid events among bodies
// as the emitter does (learnEvent) grows each schema exactly as learning
// from their decoded documents (learn) does, body after body.
func checkLearnEvent(t *testing.T, configs map[string]learnConfig, bodies ...[]byte) {
	t.Helper()
	for name, cfg := range configs {
		want, err := parseSchemaDoc(cfg.schema, cfg.drop)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := parseSchemaDoc(cfg.schema, cfg.drop)
		for _, body := range bodies {
			res := cfg.classifier.Classify(body)
			if res.Reason != "" {
				continue
			}
			wantGrew := want.learn(documentOf(t, body))
			if gotGrew := got.learnEvent(res); gotGrew != wantGrew || !bytes.Equal(got.raw, want.raw) {
				t.Fatalf("%s: after %q (record %s)\nlearnEvent grew %v: %s\nlearn grew %v: %s", name, body, res.Record, gotGrew, got.raw, wantGrew, want.raw)
			}
		}
	}
}

func learnSeeds(t testing.TB) [][]byte {
	t.Helper()
	seeds := [][]byte{}
	for _, s := range []string{
		`{"event_id":"a","metric":"sent"}`, `{"event_id":"b","brand_new":{"x":1},"data":{"future_field":"y"}}`,
		`{"event_id":"c","data":{"identifiers":{"new_id":1,"email":"a@b.c"},"recipient":"x","headers":{"X":["a"]}}}`,
		`{"event_id":"d","metric":"m","new":{"x":1,"y":2},"a.b":1,"a":{"b":2}}`, `{"event_id":"e","\u0062rand":1,"data":{"\u0066":2}}`,
		`{"event_id":"f","\u0000":{"\u0000":1},"data":{"s":"\ud800"}}`, `{"event_id":"g","data":{"a":1},"data":{"b":2}}`,
		`{"event_id":"h","t":{"x":1},"closed":{"y":1},"p":{"q":{"r":1,"s":2,"gone":3},"u":1}}`, `{"event_id":"i","p":null,"closed":null}`,
		`{"event_id":"j","data":null}`, `{"event_id":"k","data":{"identifiers":null,"new2":[{"x":1}]}}`, "{\"event_id\":\"l\",\"\u00e9\":1,\"\\u00e9\":2}",
		`{"event_id":"m","x.y":{"z":1},"data":{"recipient.z":1}}`, ` { "event_id" : "n" , "spaced" : { "in" : 1 } } `,
		`{"event_id":"o","":1,"data":{"":{"":1}}}`, `{"event_id":"p","data":"oops"}`,
		`{"event_id":"q","data":{"future":1},"p":{"u":1},"data.future":2}`,
	} {
		seeds = append(seeds, []byte(s))
	}
	paths, _ := filepath.Glob(filepath.Join("..", "testdata", "payloads", "*.json"))
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		seeds = append(seeds, b)
	}
	return seeds
}

func TestLearnEventAgreesWithLearn(t *testing.T) {
	t.Parallel()
	configs := learnConfigs(t)
	seeds := learnSeeds(t)
	checkLearnEvent(t, configs, seeds...)
	for i := range seeds { // the same fields seen a second time, and in another order
		checkLearnEvent(t, configs, seeds[i], seeds[len(seeds)-1-i], seeds[i])
	}
}

// FuzzLearnEvent: learning two valid events in turn, as the emitter does
// (from Fields after one pass), grows the schema as learning their decoded
// documents does.
func FuzzLearnEvent(f *testing.F) {
	seeds := learnSeeds(f)
	for i, s := range seeds {
		f.Add(s, seeds[(i+1)%len(seeds)])
	}
	configs := learnConfigs(f)
	f.Fuzz(func(t *testing.T, first, second []byte) {
		if len(first)+len(second) > 1<<16 {
			return
		}
		checkLearnEvent(t, configs, first, second)
	})
}

// TestEmitSchemaMessagesAsLearnt: the emitter writes SCHEMA messages of the
// data stream exactly when and as learning from the decoded documents
// would grow the schema.
func TestEmitSchemaMessagesAsLearnt(t *testing.T) {
	t.Parallel()
	sel := deselect(t, "data/properties/data/properties/recipient", "data/properties/metric")
	var out bytes.Buffer
	e := newTestEmitter(t, &out, sel)
	ref, err := parseSchemaDoc(sel[schemas.Data].Schema, sel[schemas.Data].Drop)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{string(ref.raw)}
	c, err := event.NewClassifier(sel[schemas.Data].Schema, sel[schemas.Data].Drop)
	if err != nil {
		t.Fatal(err)
	}
	for i, body := range learnSeeds(t) {
		if err := e.emit(spool.Record{Offset: uint64(i + 1), ReceivedAt: receivedAt, Body: body}); err != nil {
			t.Fatal(err)
		}
		if c.Classify(body).Reason == "" && ref.learn(documentOf(t, body)) {
			want = append(want, string(ref.raw))
		}
	}
	if err := e.w.Flush(); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range messages(t, &out) {
		if m.Type == "SCHEMA" && m.Stream == schemas.Data {
			got = append(got, string(m.Schema))
		}
	}
	if len(want) < 3 || strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("SCHEMA messages of data:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// BenchmarkLearn: the emitter's schema learning for one sample record
// with nothing new in it, from the decoded document (learn, as before)
// and from the Fields of one pass (learnEvent).
func BenchmarkLearn(b *testing.B) {
	sel, body := benchInput(b)
	c, err := event.NewClassifier(sel[schemas.Data].Schema, nil)
	if err != nil {
		b.Fatal(err)
	}
	res := c.Classify(body)
	if res.Doc != nil {
		b.Fatal("the sample was decoded, not taken in one pass")
	}
	doc := documentOf(b, body)
	d, err := parseSchemaDoc(sel[schemas.Data].Schema, nil)
	if err != nil {
		b.Fatal(err)
	}
	d.learnEvent(res) // headers and the like are new once
	b.Run("document", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if d.learn(doc) {
				b.Fatal("grew")
			}
		}
	})
	b.Run("fields", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if d.learnEvent(res) {
				b.Fatal("grew")
			}
		}
	})
}
