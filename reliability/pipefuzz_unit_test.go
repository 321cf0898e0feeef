package reliability_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// Checks of the pipeline fuzzer's own parts: a wrong oracle would prove
// nothing, and a generator that is not deterministic could not replay.

func TestCanonicalNumber(t *testing.T) {
	same := [][]string{
		{"100", "1e2", "1E+2", "100.0", "0100", "10e1", "1000e-1"},
		{"0", "-0", "0.0", "0e5"},
		{"-1.5", "-15e-1", "-0.15E1"},
		{"1e30", "1000000000000000000000000000000"},
		{"0.1", "1e-1"},
	}
	for _, group := range same {
		want, ok := canonicalNumber(group[0])
		if !ok {
			t.Fatalf("%s not a number", group[0])
		}
		for _, s := range group[1:] {
			if got, ok := canonicalNumber(s); !ok || got != want {
				t.Errorf("canonicalNumber(%s) = %s, want %s (as %s)", s, got, want, group[0])
			}
		}
	}
	if a, _ := canonicalNumber("1"); a == func() string { b, _ := canonicalNumber("-1"); return b }() {
		t.Error("1 and -1 are the same number")
	}
	for _, s := range []string{"", "-", "1e", "abc", "1.2.3", "0x10", "1e1.5"} {
		if _, ok := canonicalNumber(s); ok {
			t.Errorf("canonicalNumber(%q) accepted", s)
		}
	}
}

func TestNormBody(t *testing.T) {
	same := [][]string{
		{`{"a":"x\u0000y"}`, "{\"a\":\"x\x00y\"}", `{"a":"x\ufffdy"}`, "{\"a\":\"x\uFFFDy\"}", `{"a":"x\ud83dy"}`, `{"a":"x\udc00y"}`},
		{"bad \xff\xfe utf8", "bad \uFFFD utf8", "bad \uFFFD\uFFFD utf8"},
	}
	for _, group := range same {
		for _, s := range group[1:] {
			if normBody(s) != normBody(group[0]) {
				t.Errorf("normBody(%q) = %q, want %q", s, normBody(s), normBody(group[0]))
			}
		}
	}
	if normBody(`"\ud83d\udc00"`) != `"\ud83d\udc00"` {
		t.Error("a valid surrogate pair was changed")
	}
}

func TestCheckSingerLine(t *testing.T) {
	good := []string{
		`{"type":"RECORD","stream":"data","record":{"a":"x\ufffd","b":"\ud83d\udc00","c":[1,-2.5e3,true,null,{}],"d":"\\u0000"}}`,
		`{"a":"\n","n":"x"}`,
	}
	for _, s := range good {
		if err := checkSingerLine([]byte(s)); err != nil {
			t.Errorf("%s: %v", s, err)
		}
	}
	bad := map[string]string{
		`{"a":"x\u0000"}`:        `\u0000`,
		`{"a":"x\ud83d"}`:        "lone high",
		`{"a":"\ud83d\ud83d"}`:   "lone high",
		`{"a":"\udc00"}`:         "lone low",
		`{"a\u0000":1}`:          `\u0000`,
		`{"a":1,"a":2}`:          "duplicate",
		`{"o":{"k":1,"k":"s"}}`:  "duplicate",
		"{\"a\":\"\xff\"}":       "UTF-8",
		`{"a":1} x`:              "trailing",
		`{"a":NaN}`:              "literal",
		"{\"a\":\"tab\there\"}":  "control",
		`{"a":"x\q"}`:            "escape",
		`{"a":[1,2}`:             "expected",
		`{"a":"unterminated}`:    "unterminated",
		`{"a":"x","b":"\u00"}`:   "escape",
		`{"a":1,"b":{"a":1},"a"`: "duplicate",
	}
	for s, want := range bad {
		err := checkSingerLine([]byte(s))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want one about %q", s, err, want)
		}
	}
}

func TestOracleJudge(t *testing.T) {
	body := fuzzBody{n: 1, raw: []byte(`{"event_id":"e1","n":1e2,"s":"a\u0000b","b":true,"o":{"deep":[{"x":"y"}]},"dup":1,"dup":"last"}`)}
	e := expect(body, nil)
	if !e.isDoc || e.id != "e1" {
		t.Fatalf("expectation %+v", e)
	}
	var lost int
	w := newWarehouse()
	if v := w.judge(e, &lost); v != missing {
		t.Errorf("empty warehouse: verdict %d, want missing", v)
	}
	// A flattened row, a JSON column held as text, numbers as text.
	w.addData(map[string]any{"event_id": "e1", "n": "100", "s": "a\uFFFDb", "b": true, "o__deep": `[{"x":"y"}]`, "dup": "last"})
	if v := w.judge(e, &lost); v != foundData {
		t.Errorf("full row: verdict %d, want foundData", v)
	}
	w = newWarehouse()
	w.addData(map[string]any{"event_id": "e1", "n": "100", "s": "a\uFFFDb", "b": true, "dup": 1}) // first duplicate, not the last
	if v := w.judge(e, &lost); v != missingValues || lost != 2 {
		t.Errorf("row without o and with the first dup: verdict %d, lost %d, want missingValues, 2", v, lost)
	}
	w.addErrorRecord(map[string]any{"stream": "data", "record": `{"event_id":"e1","o":{"deep":[{"x":"y"}]},"dup":"last"}`, "error": "too deep"})
	if v := w.judge(e, &lost); v != foundData {
		t.Errorf("row plus _sdc_rejected_records: verdict %d, want foundData", v)
	}
	bad := fuzzBody{n: 2, raw: []byte("{\"event_id\":\"e2\",\"s\":\"\xff\"}"), mustBeData: false}
	e2 := expect(bad, nil)
	w.addRejectedBody("{\"event_id\":\"e2\",\"s\":\"\uFFFD\"}")
	if v := w.judge(e2, &lost); v != foundRejected {
		t.Errorf("rejected body: verdict %d, want foundRejected", v)
	}
	// A rejected body the tap cleaned and re-encoded (duplicates collapsed,
	// NUL replaced, other key order) is still this body.
	dup := fuzzBody{n: 3, raw: []byte(`{"event_id":"e3","event_id":5,"s":"a\u0000"}`)}
	w.addRejectedBody("{\"s\":\"a\uFFFD\",\"event_id\":5}")
	if v := w.judge(expect(dup, nil), &lost); v != foundRejected {
		t.Errorf("re-encoded rejected body: verdict %d, want foundRejected", v)
	}
	e.mustBeData = true
	w = newWarehouse()
	w.addRejectedBody(string(body.raw))
	if v := w.judge(e, &lost); v != wrongStream {
		t.Errorf("valid event on rejected: verdict %d, want wrongStream", v)
	}
}

func TestGeneratorIsDeterministic(t *testing.T) {
	bases, err := loadBasePayloads()
	if err != nil {
		t.Fatal(err)
	}
	a, b := newGenerator(42, bases), newGenerator(42, bases)
	tags := map[string]bool{}
	for range 500 {
		x, y := a.next(), b.next()
		if !bytes.Equal(x.raw, y.raw) || x.String() != y.String() {
			t.Fatalf("same seed, different bodies:\n%s\n%s", x, y)
		}
		for _, tag := range x.tags {
			tags[strings.Fields(tag)[0]] = true
		}
	}
	for _, m := range mutations {
		if !tags[m.name] {
			t.Errorf("500 bodies without mutation %s", m.name)
		}
	}
	if !tags["invalid"] {
		t.Error("500 bodies without an invalid one")
	}
}

func TestCaseFileFormat(t *testing.T) {
	data := []byte("what it found\n" + caseSeparator + "# first\n{\"a\":1}" + caseSeparator + "{\"b\":\n2}" + caseSeparator + "# empty body\n")
	desc, bodies := parseCaseFile(data)
	if desc != "what it found" || len(bodies) != 3 || string(bodies[0]) != `{"a":1}` || string(bodies[1]) != "{\"b\":\n2}" || len(bodies[2]) != 0 {
		t.Errorf("parseCaseFile: %q %q", desc, bodies)
	}
}

// TestDropGenerator checks the deselection generator: its mutations all
// occur, and every marked value it writes is in a deselected field or in
// a body that must be withheld, so that a marked value in the warehouse is
// a leak and never the generator's doing.
func TestDropGenerator(t *testing.T) {
	bases, err := loadBasePayloads()
	if err != nil {
		t.Fatal(err)
	}
	tags := map[string]bool{}
	var secrets, withheld, valid int
	for seed := range uint64(3) {
		g := newGenerator(seed, bases).deselecting()
		for range 600 {
			b := g.next()
			for _, tag := range b.tags {
				f := strings.Fields(tag)
				tags[f[0]] = true
				if len(f) > 2 {
					tags[f[0]+" "+f[2]] = true // secret: how
				}
			}
			if !bytes.Contains(b.raw, []byte(secretMark)) {
				continue
			}
			secrets++
			e := expect(b, dropPaths)
			if e.withhold {
				withheld++
				continue
			}
			doc, err := decodeDoc(b.raw)
			if err != nil {
				continue // blank
			}
			if b.mustBeData {
				valid++
			}
			removeDeselected(doc, dropPaths)
			out, _ := json.Marshal(doc)
			if bytes.Contains(out, []byte(secretMark)) {
				t.Fatalf("%s keeps a marked value once its deselected fields are removed:\n%s\n%s", b, b.raw, out)
			}
		}
	}
	for _, m := range dropMutations {
		if !tags[m.name] {
			t.Errorf("1800 bodies without mutation %s", m.name)
		}
	}
	for _, how := range []string{"escaped-name", "repeated", "null", "json-text", "escaped-value", "plain"} {
		if !tags["secret "+how] {
			t.Errorf("1800 bodies without a secret written %s", how)
		}
	}
	if secrets < 900 || withheld < 20 || valid < 300 {
		t.Errorf("of 1800 bodies %d hold marked values, %d of them to be withheld, %d valid events: too few", secrets, withheld, valid)
	}
}

func TestOracleDeselection(t *testing.T) {
	body := func(n int, raw string, valid bool) expectation {
		return expect(fuzzBody{n: n, raw: []byte(raw), mustBeData: valid}, dropPaths)
	}
	var lost int
	// Escaped and repeated names: all removed; a case twin stays.
	e := body(1, `{"event_id":"d1","data":{"recip\u0069ent":"SECRET-PII-1-1","recipient":"SECRET-PII-1-2","Recipient":"keep-1","identifiers":{"email":"SECRET-PII-1-3","id":"u1"}},"object_type_type":"SECRET-PII-1-4"}`, true)
	if e.withhold || e.rawMatch || len(e.forbidden) != 3 { // the first duplicate is collapsed, not removed
		t.Fatalf("expectation %+v", e)
	}
	w := newWarehouse()
	w.addData(map[string]any{"event_id": "d1", "data": map[string]any{"Recipient": "keep-1", "identifiers": map[string]any{"id": "u1"}}})
	if v := w.judge(e, &lost); v != foundData {
		t.Errorf("row without the deselected fields: verdict %d, want foundData", v)
	}
	w.addData(map[string]any{"event_id": "d1", "data__recipient": "SECRET-PII-1-2"})
	if v := w.judge(e, &lost); v != leakedValues {
		t.Errorf("row with a deselected value: verdict %d, want leakedValues", v)
	}
	// Not removable: data a string, identifiers an array, not JSON, a JSON array.
	for i, raw := range []string{`{"event_id":"d2","data":"{\"recipient\":\"SECRET-PII-2-1\"}"}`,
		`{"event_id":"d3","data":{"identifiers":[{"email":"SECRET-PII-3-1"}]}}`, `{"event_id":"d4",`, `[{"data":{}}]`, "{\"s\":1}\xff"} {
		e := body(10+i, raw, false)
		if !e.withhold {
			t.Errorf("%s: not to be withheld", raw)
		}
		w := newWarehouse()
		w.addRejectedBody(raw)
		if v := w.judge(e, &lost); v != notWithheld {
			t.Errorf("%s on rejected with its body: verdict %d, want notWithheld", raw, v)
		}
		w.addRejected(map[string]any{"rejection_id": "s:1", "body": nil, "body_sha256": e.sha})
		if v := w.judge(e, &lost); v != foundWithheld {
			t.Errorf("%s withheld: verdict %d, want foundWithheld", raw, v)
		}
	}
	// Removable: null on the path, blank, null, bytes that are not UTF-8 in a string (they become U+FFFD).
	for _, raw := range []string{"{\"s\":\"\xff\"}", `{"event_id":"d5","data":null,"recipient":"keep"}`, `{"event_id":"d6","data":{"identifiers":null}}`, "", " ", "null"} {
		if e := body(20, raw, false); e.withhold || !e.rawMatch {
			t.Errorf("%q: withhold %v, rawMatch %v; want false, true", raw, e.withhold, e.rawMatch)
		}
	}
	e = body(30, `{"event_id":"d7","data":{"recipient":{"a":"SECRET-PII-7-1"}},"x":1}`, false)
	w = newWarehouse()
	w.addRejectedBody(`{"event_id":"d7","data":{"recipient":{"a":"SECRET-PII-7-1"}},"x":1}`)
	if v := w.judge(e, &lost); v != missing {
		t.Errorf("rejected body as sent, deselected field included: verdict %d, want missing", v)
	}
	w.addRejected(map[string]any{"body": nil, "body_sha256": e.sha})
	if v := w.judge(e, &lost); v != needlesslyWithheld {
		t.Errorf("removable body withheld: verdict %d, want needlesslyWithheld", v)
	}
	w.addRejectedBody(`{"event_id":"d7","data":{},"x":1}`)
	if v := w.judge(e, &lost); v != foundRejected {
		t.Errorf("rejected body without the deselected field: verdict %d, want foundRejected", v)
	}
}
