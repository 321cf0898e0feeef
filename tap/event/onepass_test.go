package event

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// strictSchema exercises every keyword of fastSchema's subset: integer
// fields, additionalProperties false and as a schema, items, true.
const strictSchema = `{"type":"object","properties":{
	"event_id":{"type":["string","null"]},
	"n":{"type":"integer"},"f":{"type":"number"},"b":{"type":"boolean"},"z":{"type":"null"},"any":true,
	"list":{"type":"array","items":{"type":["integer","string"]}},
	"closed":{"type":"object","properties":{"x":{"type":"string"}},"additionalProperties":false},
	"open":{"type":["object","null"],"additionalProperties":{"type":"integer"}}},
	"additionalProperties":{"type":["string","object","array","null","boolean"]}}`

// differentialClassifiers are the classifiers FuzzOnePass runs each body
// through: the data schema with and without deselected fields, and
// strictSchema.
func differentialClassifiers(t testing.TB) map[string]*Classifier {
	t.Helper()
	strict, err := NewClassifier(json.RawMessage(strictSchema), [][]string{{"open", "gone"}})
	if err != nil || strict.fast == nil {
		t.Fatalf("strict schema: %v (fast %v)", err, strict != nil && strict.fast != nil)
	}
	return map[string]*Classifier{
		"data":       newClassifier(t, nil),
		"deselected": newClassifier(t, [][]string{{"data", "recipient"}, {"metric"}, {"data", "identifiers", "email"}}),
		"strict":     strict,
	}
}

// checkOnePass fails t unless Classify (one pass where it can) and
// classifyDecoded (the decoded document, the reference) give the same
// Result for body.
func checkOnePass(t *testing.T, classifiers map[string]*Classifier, body []byte) {
	t.Helper()
	for name, c := range classifiers {
		got, want := c.Classify(body), c.classifyDecoded(body)
		if !bytes.Equal(got.Record, want.Record) || (got.Record == nil) != (want.Record == nil) || got.EventID != want.EventID ||
			got.Reason != want.Reason {
			t.Fatalf("%s: Classify(%q)\n got %q %q %q\nwant %q %q %q", name, body, got.Record, got.EventID, got.Reason, want.Record, want.EventID, want.Reason)
		}
		if got.Reason != "" || got.Doc != nil {
			continue
		}
		gotPaths, wantPaths := fieldPaths(nil, got.Fields, 0, got.Fields.Len(), ""), docPaths(nil, want.Doc, "")
		slices.Sort(gotPaths)
		slices.Sort(wantPaths)
		if !slices.Equal(gotPaths, wantPaths) {
			t.Fatalf("%s: Fields of %q list %q; the document has %q", name, body, gotPaths, wantPaths)
		}
	}
}

// maxPathLen bounds the paths that fieldPaths and docPaths list: a body
// nested ten thousand deep would take quadratic time and memory.
const maxPathLen = 1024

// fieldPaths appends the members listed in f[from:to] to out as paths,
// names joined by NUL (which no name in one-pass Fields holds), with a "{"
// after those whose value is an object.
func fieldPaths(out []string, f Fields, from, to int, prefix string) []string {
	for i := from; i < to; i = f.Skip(i) {
		path := prefix + string(f.Name(i))
		if !f.Object(i) {
			out = append(out, path)
			continue
		}
		out = append(out, path+"{")
		if len(path) < maxPathLen {
			out = fieldPaths(out, f, i+1, f.Skip(i), path+"\x00")
		}
	}
	return out
}

// docPaths is fieldPaths for a decoded document.
func docPaths(out []string, doc map[string]any, prefix string) []string {
	for k, v := range doc {
		inner, ok := v.(map[string]any)
		if !ok {
			out = append(out, prefix+k)
			continue
		}
		out = append(out, prefix+k+"{")
		if len(prefix+k) < maxPathLen {
			out = docPaths(out, inner, prefix+k+"\x00")
		}
	}
	return out
}

// differentialSeeds are bodies on both sides of every line the one pass
// draws.
func differentialSeeds() []string {
	deep := func(n int, open, close string) string {
		return `{"event_id":"e1","x":` + strings.Repeat(open, n) + "1" + strings.Repeat(close, n) + "}"
	}
	return []string{
		``, ` `, `{}`, `[]`, `"x"`, `1`, `null`, `true`, `[{"event_id":"e1"}]`, `{"event_id":"e1"} x`, `{"event_id":"e1"}{}`,
		`{"event_id":"e1"}`, " {\n\t\"event_id\" : \"e1\" ,\r\n \"data\" : { } } \n", `{"event_id":"e1"`, `{"event_id":"e1",}`,
		// event_id
		`{"metric":"sent"}`, `{"event_id":null}`, `{"event_id":12}`, `{"event_id":""}`, `{"event_id":"  "}`,
		`{"event_id":"\u0020"}`, `{"event_id":"\u00a0"}`, "{\"event_id\":\"\u00a0\u2003\"}", `{"event_id":"e\u0031\n"}`,
		`{"event\u005fid":"e1"}`, `{"event_id":"e1","event_id":"e2"}`, `{"event_id":["e1"]}`, `{"data":{"event_id":"e1"}}`,
		`{"event_id":"\ud83d\ude00"}`, `{"event_id":"e\u0000"}`,
		// names: duplicates, escapes, at every depth and size
		`{"event_id":"e1","a":1,"a":2}`, `{"event_id":"e1","data":{"x":1,"x":1}}`, `{"event_id":"e1","data":{"x":{"y":[{"z":1,"z":2}]}}}`,
		`{"event_id":"e1","a":1,"\u0061":2}`, `{"event_id":"e1","\u0061":1}`, `{"event_id":"e1","\"":1,"\\":2}`,
		`{"event_id":"e1","a":{"b":1},"c":{"b":2}}`, many40(), strings.TrimSuffix(many40(), "}") + `,"k07":1}`, `{"event_id":"e1","":1,"":2}`,
		// strings
		`{"event_id":"e1","s":"\u0000"}`, "{\"event_id\":\"e1\",\"s\":\"\x00\"}", `{"event_id":"e1","s":"\q"}`,
		`{"event_id":"e1","s":"\u12G4"}`, `{"event_id":"e1","s":"\ud800"}`, `{"event_id":"e1","s":"\udc00"}`,
		`{"event_id":"e1","s":"\ud83d\ude00"}`, `{"event_id":"e1","s":"\ud800\u0041"}`, `{"event_id":"e1","s":"\ud800\ud800\udc00"}`,
		`{"event_id":"e1","s":"a\\u0000b"}`, `{"event_id":"e1","s":"\\\u0000"}`, "{\"event_id\":\"e1\",\"s\":\"\xff\"}",
		`{"event_id":"e1","s":"\"\\\/\b\f\n\r\t <>&` + "\u2028" + `"}`, `{"event_id":"e1","\u0000":{"\u0000":1,"\u0000":2}}`,
		// numbers
		`{"event_id":"e1","timestamp":1e400}`, `{"event_id":"e1","x":1e-401}`, `{"event_id":"e1","x":1e-400}`,
		`{"event_id":"e1","x":` + strings.Repeat("9", 401) + `}`, `{"event_id":"e1","x":` + strings.Repeat("9", 400) + `}`,
		`{"event_id":"e1","x":-0}`, `{"event_id":"e1","timestamp":1.0}`, `{"event_id":"e1","timestamp":1.5}`,
		`{"event_id":"e1","timestamp":15e-1}`, `{"event_id":"e1","timestamp":100e-2}`, `{"event_id":"e1","x":01}`,
		`{"event_id":"e1","x":1.}`, `{"event_id":"e1","x":-}`, `{"event_id":"e1","timestamp":9007199254740993}`,
		`{"event_id":"e1","n":1,"f":1.5,"b":true,"z":null,"list":[1,"a"],"closed":{"x":"y"},"open":{"a":1}}`,
		`{"event_id":"e1","n":1.5}`, `{"event_id":"e1","n":"1"}`, `{"event_id":"e1","list":[1.5]}`, `{"event_id":"e1","closed":{"y":1}}`,
		`{"event_id":"e1","open":{"a":"x"}}`, `{"event_id":"e1","extra":1}`, `{"event_id":"e1","extra":"x","any":1e3}`,
		`{"event_id":"e1","open":{"gone":"x","a":2}}`, `{"event_id":"e1","open":null}`, `{"event_id":"e1","open":"x"}`,
		// deselected fields
		`{"event_id":"e1","metric":"sent","data":{"recipient":"a@b.c","identifiers":{"email":"a@b.c","id":1}}}`,
		`{"event_id":"e1","data":null}`, `{"event_id":"e1","data":"x"}`, `{"event_id":"e1","data":{"identifiers":null}}`,
		`{"event_id":"e1","data":{"identifiers":[1]}}`, `{"event_id":"e1","data":{"\u0072ecipient":"a@b.c"}}`,
		// unknown fields, nested
		`{"event_id":"e1","brand_new":{"x":[1,2]},"data":{"future":true,"identifiers":{"new":1}}}`,
		`{"event_id":"e1","data":{"link_id":{}}}`, `{"event_id":"e1","data":{"headers":{"X":["a"]}}}`,
		// nesting
		deep(9998, `{"a":`, "}"), deep(9999, `{"a":`, "}"), deep(10000, `{"a":`, "}"),
		deep(9998, "[", "]"), deep(9999, "[", "]"), deep(10000, "[", "]"),
	}
}

// corpusSeeds returns the bodies of the committed fuzz corpora of this
// package.
func corpusSeeds(t testing.TB) [][]byte {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join("testdata", "fuzz", "*", "*"))
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for _, p := range paths {
		raw, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(raw), "\n")[1:] {
			if lit, ok := strings.CutPrefix(line, "[]byte("); ok {
				s, err := strconv.Unquote(strings.TrimSuffix(lit, ")"))
				if err != nil {
					t.Fatalf("%s: %v", p, err)
				}
				out = append(out, []byte(s))
			}
		}
	}
	if len(out) == 0 {
		t.Fatal("no fuzz corpus")
	}
	return out
}

func allSeeds(t testing.TB) [][]byte {
	seeds := corpusSeeds(t)
	for _, s := range differentialSeeds() {
		seeds = append(seeds, []byte(s))
	}
	for _, b := range samplePayloads(t) {
		seeds = append(seeds, b, bytes.ReplaceAll(bytes.ReplaceAll(b, []byte("\n"), nil), []byte(" "), nil))
	}
	return seeds
}

func TestOnePassAgreesOnSeeds(t *testing.T) {
	t.Parallel()
	classifiers := differentialClassifiers(t)
	for _, body := range allSeeds(t) {
		checkOnePass(t, classifiers, body)
	}
}

// FuzzOnePass: Classify, which takes a clean body in one pass, gives the
// same Result (record bytes, event_id, reason) as classifyDecoded, the
// decoded document's path, for any bytes.
func FuzzOnePass(f *testing.F) {
	for _, b := range allSeeds(f) {
		f.Add(b)
	}
	classifiers := differentialClassifiers(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		if len(body) > 1<<20 {
			return
		}
		checkOnePass(t, classifiers, body)
	})
}

// TestOnePassTakesCleanBodies: the one pass decides the bodies it is for
// (or it would be correct and useless), and leaves the others.
func TestOnePassTakesCleanBodies(t *testing.T) {
	t.Parallel()
	classifiers := differentialClassifiers(t)
	clean := []string{`{"event_id":"e1"}`, many40(), `{"event_id":"e\u0031","s":"\u00e9\ud83d\ude00\n"}`,
		`{"event_id":"e1","data":{"recipient":"a@b.c","identifiers":{"email":"a@b.c"}},"metric":"m"}`}
	for _, b := range samplePayloads(t) {
		clean = append(clean, string(b))
	}
	for _, body := range clean {
		for _, name := range []string{"data", "deselected"} {
			if _, ok := classifiers[name].classifyOnePass([]byte(body)); !ok {
				t.Errorf("%s: one pass left %.80s", name, body)
			}
		}
	}
	for _, body := range []string{`{"event_id":"e1","a":1,"a":2}`, `{"event_id":"e1","\u0061":1}`, `{"event_id":"e1","s":"\u0000"}`,
		`{"event_id":"e1","s":"\udc00"}`, `{"event_id":"e1","x":1e400}`, `{"event_id":"e1","timestamp":1.5}`, `{"event_id":" "}`,
		`{"event_id":null}`, `{}`, `[]`, `{"event_id":"e1"} {}`, `{"event_id":"e1","data":"x"}`, many40() + " ,"} {
		if res, ok := classifiers["deselected"].classifyOnePass([]byte(body)); ok {
			t.Errorf("one pass took %s: %+v", body, res)
		}
	}
}

// many40 is a valid event with 41 members, more than distinct compares in
// pairs.
func many40() string {
	var b strings.Builder
	b.WriteString(`{"event_id":"e1"`)
	for i := range 40 {
		fmt.Fprintf(&b, `,"k%02d":"v"`, 39-i)
	}
	return b.String() + "}"
}

// BenchmarkClassifyPaths: one sample body through Classify (one pass) and
// through classifyDecoded (the decoded document, as before), in one
// process so that a busy machine slows both alike.
func BenchmarkClassifyPaths(b *testing.B) {
	c := newClassifier(b, nil)
	body := samplePayloads(b)["email_sent.json"]
	for name, classify := range map[string]func([]byte) Result{"one-pass": c.Classify, "decoded": c.classifyDecoded} {
		b.Run(name, func(b *testing.B) { benchClassify(b, classify, body) })
	}
}

// BenchmarkClassifyDeselected is Classify with a field deselected in the
// catalog (data.recipient, an e-mail address kept out of the warehouse).
func BenchmarkClassifyDeselected(b *testing.B) {
	c := newClassifier(b, [][]string{{"data", "recipient"}})
	body := samplePayloads(b)["email_sent.json"]
	benchClassify(b, c.Classify, body)
}

// TestOnePassRemovesDeselected: the one pass takes bodies with deselected
// fields anywhere (first, last, in a row, nested, all of an object) and
// removes them exactly as removePath does after classifyDecoded.
func TestOnePassRemovesDeselected(t *testing.T) { // not parallel: it counts allocations
	c := newClassifier(t, [][]string{{"a"}, {"b"}, {"data", "x"}, {"data", "y", "z"}, {"event_id"}, {}})
	for _, body := range []string{
		`{"a":1,"event_id":"e1","c":2}`, `{"event_id":"e1","a":1}`, `{"event_id":"e1","a":1,"b":[2],"c":3}`,
		`{"a":1,"b":{"q":1},"event_id":"e1"}`, `{"event_id":"e1","data":{"x":1,"y":{"z":{"deep":[1]},"w":2},"v":{"x":3}}}`,
		`{"event_id":"e1","data":{"x":{},"y":{"z":null}}}`, `{"event_id":"e1","data":{"y":null}}`, `{"event_id":"e1","data":null}`,
		` { "a" : 1 , "event_id" : "e1" , "data" : { "v" : 1 , "x" : 2 } } `, `{"event_id":"e1","data":{"y":{"w":1}}}`,
	} {
		got, took := c.classifyOnePass([]byte(body))
		want := c.classifyDecoded([]byte(body))
		if !took {
			t.Errorf("one pass left %s (decoded: %s %s)", body, want.Record, want.Reason)
			continue
		}
		if string(got.Record) != string(want.Record) || got.EventID != want.EventID {
			t.Errorf("%s: one pass %s %q, decoded %s %q", body, got.Record, got.EventID, want.Record, want.EventID)
		}
	}
	// Removed as the pass goes: the compact record, the record without the
	// fields, the event_id; no decoding.
	recipient := newClassifier(t, [][]string{{"data", "recipient"}})
	body := samplePayloads(t)["email_sent.json"]
	if res := recipient.Classify(body); res.Reason != "" || bytes.Contains(res.Record, []byte(`"recipient"`)) {
		t.Fatalf("data.recipient deselected: %s %s", res.Record, res.Reason)
	}
	if allocs := testing.AllocsPerRun(20, func() { recipient.Classify(body) }); allocs > 3 {
		t.Errorf("Classify with data.recipient deselected: %v allocations, want at most 3", allocs)
	}
	// A deselected field inside something other than an object or null
	// cannot be removed safely: classifyDecoded says so.
	for _, body := range []string{`{"event_id":"e1","data":{"y":[{"z":1}]}}`, `{"event_id":"e1","data":{"y":"z"}}`} {
		if _, took := c.classifyOnePass([]byte(body)); took {
			t.Errorf("one pass took %s", body)
		}
		if res := c.Classify([]byte(body)); !strings.Contains(res.Reason, "data.y.z cannot be removed") {
			t.Errorf("%s: reason %q", body, res.Reason)
		}
	}
}
