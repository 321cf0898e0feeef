package event

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/xeipuuv/gojsonschema"

	"github.com/cio-singer/tap-customerio-webhook/schemas"
)

func TestCompileFast(t *testing.T) {
	t.Parallel()
	for _, name := range []string{schemas.Data, schemas.Rejected} {
		raw, _ := schemas.Load(name)
		_, ok := compileFast(raw)
		if want := name == schemas.Data; ok != want {
			t.Errorf("%s: compiled = %v, want %v (rejected.json uses format)", name, ok, want)
		}
	}
	for _, s := range []string{`{"type":"string","minLength":1}`, `{"anyOf":[{"type":"string"}]}`, `{"items":[{"type":"string"}]}`, `{"type":"decimal"}`, `[]`} {
		if _, ok := compileFast(json.RawMessage(s)); ok {
			t.Errorf("compiled %s, which is outside the subset", s)
		}
	}
}

// TestFastAgreesWithGojsonschema: over documents of every shape, the fast
// path never accepts what gojsonschema rejects (and accepts what it
// accepts, or it would be no faster).
func TestFastAgreesWithGojsonschema(t *testing.T) {
	t.Parallel()
	docs := []string{
		`{"event_id":"a"}`, `{"event_id":1}`, `{"event_id":null}`, `{"timestamp":1.0}`, `{"timestamp":1e3}`,
		`{"timestamp":1.5}`, `{"timestamp":"x"}`, `{"timestamp":true}`, `{"data":[]}`, `{"data":{"link_id":{}}}`,
		`{"data":{"identifiers":{"id":3,"email":false}}}`, `{"data":{"recipients":[{"device_id":1}]}}`,
		`{"data":{"recipients":[null,{"device_id":"x"}]}}`, `{"data":{"recipients":{}}}`, `{"data":{"headers":[]}}`,
		`{"extra":{"deep":[1,2,{"x":null}]}}`, `{"data":{"machine":"yes"}}`, `{"data":{"campaign_id":-0}}`,
		`{"data":{"campaign_id":12345678901234567890123}}`, `{"data":{"campaign_id":1.0e-2}}`, `[]`, `"s"`, `null`,
	}
	for _, p := range samplePayloads(t) {
		docs = append(docs, string(p))
	}
	raw, _ := schemas.Load(schemas.Data)
	checkAgreement(t, raw, docs)
	checkAgreement(t, json.RawMessage(`{"type":"object","properties":{"a":{"type":"integer"}},"additionalProperties":{"type":"array","items":{"type":["string","null"]}}}`),
		[]string{`{"a":1}`, `{"a":1.5}`, `{"b":["x",null]}`, `{"b":[1]}`, `{"b":"x"}`, `{}`})
	checkAgreement(t, json.RawMessage(`{"type":"object","additionalProperties":false,"properties":{"a":{}}}`),
		[]string{`{"a":{"any":1}}`, `{"b":1}`})
}

func checkAgreement(t *testing.T, schema json.RawMessage, docs []string) {
	t.Helper()
	fast, ok := compileFast(schema)
	if !ok {
		t.Fatalf("schema not compiled: %s", schema)
	}
	ref, err := gojsonschema.NewSchema(gojsonschema.NewBytesLoader(schema))
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range docs {
		dec := json.NewDecoder(bytes.NewReader([]byte(d)))
		dec.UseNumber()
		var doc any
		if err := dec.Decode(&doc); err != nil {
			t.Fatal(err)
		}
		res, err := ref.Validate(gojsonschema.NewBytesLoader([]byte(d)))
		if err != nil {
			t.Fatal(err)
		}
		if got := fast.valid(doc); got != res.Valid() {
			t.Errorf("%s: fast %v, gojsonschema %v", d, got, res.Valid())
		}
	}
}

// FuzzFastSchema: the fast path never accepts a document gojsonschema
// rejects.
func FuzzFastSchema(f *testing.F) {
	for _, p := range samplePayloads(f) {
		f.Add(p)
	}
	f.Add([]byte(`{"event_id":"a","timestamp":1e3,"data":{"recipients":[{"device_id":1}]}}`))
	raw, _ := schemas.Load(schemas.Data)
	fast, _ := compileFast(raw)
	ref, _ := gojsonschema.NewSchema(gojsonschema.NewBytesLoader(raw))
	f.Fuzz(func(t *testing.T, body []byte) {
		if len(body) > 1<<16 {
			return
		}
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.UseNumber()
		var doc any
		if dec.Decode(&doc) != nil || hugeNumber(doc) {
			return // Classify rejects huge numbers before either validator
		}
		if !fast.valid(doc) {
			return
		}
		res, err := ref.Validate(decodedLoader{JSONLoader: gojsonschema.NewGoLoader(nil), doc: doc})
		if err != nil || !res.Valid() {
			t.Fatalf("fast path accepted %s, gojsonschema: %v %v", body, err, res.Errors())
		}
	})
}

// TestHugeExponentIsCheap: a body with an absurd number is rejected (kept
// as text) without gojsonschema's big.Rat taking seconds over it.
func TestHugeExponentIsCheap(t *testing.T) {
	t.Parallel()
	c := newClassifier(t, nil)
	for _, body := range []string{`{"event_id":"e1","timestamp":1.5e-9999999}`, `{"event_id":"e1","data":{"campaign_id":1e9999999}}`,
		`{"event_id":"e1","data":{"x":[` + strings.Repeat("9", 500) + `]}}`, `{"event_id":"0","0":10e310}`,
		`{"event_id":"e1","x":-` + strings.Repeat("9", 310) + `}`} {
		if res := c.Classify([]byte(body)); !strings.Contains(res.Reason, "a number is beyond") {
			t.Fatalf("%.60s: reason %q", body, res.Reason)
		}
	}
	if res := c.Classify([]byte(`{"event_id":"e1","timestamp":1727803360e0,"data":{"x":1.5e300,"y":12345678901234567890123,"z":1e-300}}`)); res.Reason != "" {
		t.Fatalf("ordinary numbers rejected: %q", res.Reason)
	}
}
