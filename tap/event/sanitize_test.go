package event

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

const fffd = "\uFFFD"

func TestSanitize(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in, want string
		changed        bool
	}{
		// NUL
		{"nul in a value", `{"a":"x\u0000y"}`, `{"a":"x` + fffd + `y"}`, true},
		{"nul in a name", `{"\u0000":1}`, `{"` + fffd + `":1}`, true},
		{"nul alone at top", `"\u0000"`, `"` + fffd + `"`, true},
		{"escaped backslash then u0000 is text", `{"a":"\\u0000"}`, `{"a":"\\u0000"}`, false},
		{"escaped backslash then a real nul", `{"a":"\\\u0000"}`, `{"a":"\\` + fffd + `"}`, true},
		{"\\U is not an escape", `["\U0000"]`, "", false},
		// Surrogates
		{"lone high in the middle", `{"s":"Sale \ud83d ends"}`, `{"s":"Sale ` + fffd + ` ends"}`, true},
		{"lone high at the end", `"\ud83d"`, `"` + fffd + `"`, true},
		{"low alone", `"\udc00x"`, `"` + fffd + `x"`, true},
		{"low before high", `"\ude00\ud83d"`, `"` + fffd + fffd + `"`, true},
		{"high then another escape", `"\ud83d\u0041"`, `"` + fffd + `\u0041"`, true},
		{"high then a raw character", `"\ud83dA"`, `"` + fffd + `A"`, true},
		{"high, high, low: the second pair stands", `"\ud83d\ud83d\ude00"`, `"` + fffd + `\ud83d\ude00"`, true},
		{"valid pair kept as sent", `{"e":"\ud83d\ude00"}`, `{"e":"\ud83d\ude00"}`, false},
		{"valid pair in upper case kept", `{"e":"\uD83D\uDE00"}`, `{"e":"\uD83D\uDE00"}`, false},
		{"pair in a name kept", `{"\ud83d\ude00":1}`, `{"\ud83d\ude00":1}`, false},
		{"lone surrogate in a name", `{"k\udfff":1}`, `{"k` + fffd + `":1}`, true},
		// Bytes that are not UTF-8
		{"invalid byte", "\"a\xffb\"", `"a` + fffd + `b"`, true},
		{"truncated sequence: one U+FFFD per byte", "[\"\xe2\x82\"]", `["` + fffd + fffd + `"]`, true},
		{"encoded surrogate is not UTF-8", "\"\xed\xa0\xbd\"", `"` + fffd + fffd + fffd + `"`, true},
		{"invalid byte in a name", "{\"\xc0\":1}", `{"` + fffd + `":1}`, true},
		{"valid multi-byte kept", `{"café":"日本 😀"}`, `{"café":"日本 😀"}`, false},
		// Duplicate names: the last stays, where it stands
		{"duplicate", `{"a":1,"b":2,"a":3}`, `{"b":2,"a":3}`, true},
		{"duplicates of different types", `{"a":{"x":1},"b":0,"a":[1],"a":"s"}`, `{"b":0,"a":"s"}`, true},
		{"duplicate last first", `{"a":1,"a":2,"b":3}`, `{"a":2,"b":3}`, true},
		{"nested", `{"o":{"k":1,"k":2},"p":[{"k":1,"k":{"k":3,"k":4}}]}`, `{"o":{"k":2},"p":[{"k":{"k":4}}]}`, true},
		{"inside a dropped duplicate", `{"a":{"k":1,"k":2},"a":{"k":3,"k":4}}`, `{"a":{"k":4}}`, true},
		{"equal once decoded", `{"a":1,"\u0061":2}`, `{"\u0061":2}`, true},
		{"escaped slash", `{"a/b":1,"a\/b":2}`, `{"a\/b":2}`, true},
		{"equal once cleaned: nul and U+FFFD", `{"\u0000":1,"\ufffd":2}`, `{"\ufffd":2}`, true},
		{"equal once cleaned: two lone surrogates", `{"\ud800":1,"\udbff":2}`, `{"` + fffd + `":2}`, true},
		{"same name in different objects", `[{"a":1},{"a":2}]`, `[{"a":1},{"a":2}]`, false},
		{"same name at different depths", `{"a":{"a":1}}`, `{"a":{"a":1}}`, false},
		// Everything else as sent
		{"whitespace only", " { \"a\" :\t[ 1 ,\n2 ] ,\r\n \"b\" : { } , \"c\":[ ] } ", `{"a":[1,2],"b":{},"c":[]}`, false},
		{"numbers keep their digits", `[1.50E+3,-0.0,123456789012345678901234567890,1e-7,0]`, `[1.50E+3,-0.0,123456789012345678901234567890,1e-7,0]`, false},
		{"other escapes kept", `"\"\\\/\b\f\n\r\t\u00e9\u001f<>&\u2028"`, `"\"\\\/\b\f\n\r\t\u00e9\u001f<>&\u2028"`, false},
		{"literals", `[true,false,null]`, `[true,false,null]`, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, changed, err := Sanitize([]byte(tc.in))
			if tc.want == "" {
				if err == nil {
					t.Fatalf("accepted %s as %s", tc.in, out)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(out) != tc.want || changed != tc.changed {
				t.Fatalf("Sanitize(%s)\n got %s changed=%v\nwant %s changed=%v", tc.in, out, changed, tc.want, tc.changed)
			}
			checkLoadable(t, out)
		})
	}
}

func TestSanitizeRefusesWhatIsNotJSON(t *testing.T) {
	t.Parallel()
	for _, in := range []string{``, ` `, `{`, `}`, `{"a"}`, `{"a":}`, `{"a":1,}`, `{a:1}`, `[1,]`, `[1 2]`, "\"\x01\"", `"\q"`, `"\u12"`,
		`"\u12g4"`, `"abc`, `01`, `1.`, `.5`, `-`, `1e`, `+1`, `tru`, `nul`, `{} {}`, `{}x`, `"\`, strings.Repeat("[", 10001) + strings.Repeat("]", 10001)} {
		if out, _, err := Sanitize([]byte(in)); err == nil {
			t.Errorf("Sanitize(%.40q) = %s, want an error", in, out)
		}
		if json.Valid([]byte(in)) {
			t.Errorf("test case %.40q is valid JSON", in)
		}
	}
	deep := strings.Repeat("[", 10000) + strings.Repeat("]", 10000)
	if _, _, err := Sanitize([]byte(deep)); err != nil {
		t.Errorf("10000 levels, as encoding/json accepts: %v", err)
	}
}

// TestClassifyCleans: validation sees the cleaned document, the one that is
// emitted.
func TestClassifyCleans(t *testing.T) {
	t.Parallel()
	c := newClassifier(t, [][]string{{"data", "recipient"}})
	tests := []struct {
		body, want, reason string
	}{
		{`{"event_id":"e1","data":{"failure_message":"bad \u0000 byte"}}`, `{"event_id":"e1","data":{"failure_message":"bad ` + fffd + ` byte"}}`, ""},
		{`{"event_id":"e\u0000"}`, `{"event_id":"e` + fffd + `"}`, ""},
		{`{"event_id":"e1","data":{"subject":"Sale \ud83d ends","recipient":"a@b.c"}}`, `{"event_id":"e1","data":{"subject":"Sale ` + fffd + ` ends"}}`, ""},
		{`{"event_id":"e1","data":"oops","data":{"recipient":"a@b.c","x":1}}`, `{"event_id":"e1","data":{"x":1}}`, ""},
		{`{"event_id":12,"event_id":"e1"}`, `{"event_id":"e1"}`, ""},
		{`{"event_id":"e1","event_id":12}`, "", "event_id is not a string"},
		{`{"event_id":"e1","data":{},"data":"oops"}`, "", "schema"},
		{`{"event_id":"e1","timestamp":"x","timestamp":1.5}`, "", "schema"},
		{`{"event_id":"e1","timestamp":1.5,"timestamp":7}`, `{"event_id":"e1","timestamp":7}`, ""},
		{`{"event_id":"e1","\u0000":{"\u0000":1,"\u0000":2}}`, `{"event_id":"e1","` + fffd + `":{"` + fffd + `":2}}`, ""},
	}
	for _, tc := range tests {
		res := c.Classify([]byte(tc.body))
		if tc.reason != "" {
			if res.Record != nil || !strings.Contains(res.Reason, tc.reason) {
				t.Errorf("Classify(%s) = %s, %q; want reason %q", tc.body, res.Record, res.Reason, tc.reason)
			}
			continue
		}
		if res.Reason != "" || string(res.Record) != tc.want {
			t.Errorf("Classify(%s)\n got %s %q\nwant %s", tc.body, res.Record, res.Reason, tc.want)
			continue
		}
		var doc map[string]any
		_ = json.Unmarshal(res.Record, &doc)
		if !jsonEqual(doc, res.Doc) && !strings.Contains(tc.body, "recipient") {
			t.Errorf("Doc %v is not the record %s", res.Doc, res.Record)
		}
	}
}

// TestRejectedBody: the rejected stream's body is loadable text and holds
// no deselected field; what cannot be cleaned is withheld.
func TestRejectedBody(t *testing.T) {
	t.Parallel()
	drop := [][]string{{"data", "recipient"}}
	tests := []struct {
		name, body string
		drop       [][]string
		want       string // "" with withheld
		withheld   string
	}{
		{"not JSON, nothing deselected: kept", "not json", nil, "not json", ""},
		{"not JSON: nul and bad bytes replaced", "a\x00b\xffc\\u0000", nil, "a" + fffd + "b" + fffd + "c\\u0000", ""},
		{"JSON as sent when clean", "{ \"no_id\": 1 }", drop, "{ \"no_id\": 1 }", ""},
		{"JSON cleaned", `{"no_id":"\u0000","x":1,"x":2}`, nil, `{"no_id":"` + fffd + `","x":2}`, ""},
		{"deselected field removed", `{"data": {"recipient": "a@b.c", "x": 1}}`, drop, `{"data":{"x":1}}`, ""},
		{"deselected field in a duplicate", `{"data":{"recipient":"a@b.c"},"data":{"recipient":"d@e.f"}}`, drop, `{"data":{}}`, ""},
		{"data null", `{"data":null,"e":1}`, drop, `{"data":null,"e":1}`, ""},
		{"empty, field deselected: nothing to withhold", " \n", drop, " \n", ""},
		{"not JSON, field deselected: withheld", `{"data":{"recipient":"a@b.c"`, drop, "", "it is not JSON"},
		{"data a string: withheld", `{"data":"a@b.c"}`, drop, "", "data is not an object, so the deselected field data.recipient cannot be removed"},
		{"an array: withheld", `[{"data":{"recipient":"a@b.c"}}]`, drop, "", "the body is not a JSON object"},
		{"two values: withheld", `{"event_id":"a"}{"data":{"recipient":"a@b.c"}}`, drop, "", "not JSON"},
		{"invalid UTF-8 JSON: cleaned and removed", "{\"data\":{\"recipient\":\"a@b.c\",\"s\":\"\xff\"}}", drop, `{"data":{"s":"` + fffd + `"}}`, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := rejectedBody([]byte(tc.body), tc.drop)
			if tc.withheld != "" {
				if err == nil || !strings.Contains(err.Error(), tc.withheld) {
					t.Fatalf("body %q, error %v; want withheld because %q", got, err, tc.withheld)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %q, %v; want %q", got, err, tc.want)
			}
			if strings.Contains(got, "a@b.c") || strings.Contains(got, "d@e.f") || strings.IndexByte(got, 0) >= 0 || !utf8.ValidString(got) {
				t.Fatalf("body %q is not clean", got)
			}
		})
	}

	at := time.Unix(0, 0)
	raw, withheld, err := Rejection("sp:1", at, "event_id is missing", []byte(`{"data":"a@b.c"}`), drop, nil)
	if err != nil || !withheld {
		t.Fatalf("withheld %v, err %v; want withheld", withheld, err)
	}
	var r map[string]any
	if err := json.Unmarshal(raw, &r); err != nil {
		t.Fatal(err)
	}
	if r["body"] != nil || r["body_bytes"] != float64(16) || r["body_sha256"] != "1484a7b5fa3bf3310f7af8a427ce67a3f121350cce8da1ea90c5a32f052c8cd2" ||
		!strings.HasPrefix(r["reason"].(string), "event_id is missing; body withheld: data is not an object") || bytes.Contains(raw, []byte("a@b.c")) {
		t.Fatalf("withheld rejection: %s", raw)
	}
}

// checkLoadable fails t unless out is one line of valid JSON and UTF-8
// with no \u0000, no lone surrogate escape and no duplicate names. It is
// written apart from Sanitize, so that it can catch it out.
func checkLoadable(t testing.TB, out []byte) {
	t.Helper()
	if !json.Valid(out) || !utf8.Valid(out) || bytes.ContainsAny(out, "\n\r") {
		t.Fatalf("not one line of valid JSON and UTF-8: %q", out)
	}
	if msg := escapeProblem(out); msg != "" {
		t.Fatalf("%s in %q", msg, out)
	}
	if name, ok := duplicateName(out); ok {
		t.Fatalf("duplicate name %q in %q", name, out)
	}
}

// escapeProblem names the first \u0000 or lone surrogate escape in the
// JSON text b, or returns "".
func escapeProblem(b []byte) string {
	var pendingHigh bool
	inString := false
	for i := 0; i < len(b); i++ {
		c := b[i]
		if !inString {
			inString = c == '"'
			continue
		}
		isU := c == '\\' && i+5 < len(b) && b[i+1] == 'u'
		var r uint64
		if isU {
			r, _ = strconv.ParseUint(string(b[i+2:i+6]), 16, 32)
		}
		isLow := isU && r >= 0xDC00 && r <= 0xDFFF
		if pendingHigh && !isLow {
			return "high surrogate without a low one"
		}
		if !pendingHigh && isLow {
			return "low surrogate alone"
		}
		pendingHigh = false
		switch {
		case isU:
			if r == 0 {
				return `\u0000`
			}
			pendingHigh = r >= 0xD800 && r <= 0xDBFF
			i += 5
		case c == '\\':
			i++
		case c == '"':
			inString = false
		}
	}
	return ""
}

// duplicateName returns a name that some object of the JSON text b holds
// twice.
func duplicateName(b []byte) (string, bool) {
	dec := json.NewDecoder(bytes.NewReader(b))
	var walk func() (string, bool)
	walk = func() (string, bool) {
		tok, err := dec.Token()
		if err != nil {
			return "", false
		}
		switch tok {
		case json.Delim('{'):
			seen := map[string]bool{}
			for dec.More() {
				k, _ := dec.Token()
				name, _ := k.(string)
				if seen[name] {
					return name, true
				}
				seen[name] = true
				if n, dup := walk(); dup {
					return n, true
				}
			}
			_, _ = dec.Token()
		case json.Delim('['):
			for dec.More() {
				if n, dup := walk(); dup {
					return n, true
				}
			}
			_, _ = dec.Token()
		}
		return "", false
	}
	return walk()
}

// withoutNUL returns v (decoded by encoding/json) with NUL replaced by
// U+FFFD in every string and name, and false when that makes two names of
// one object equal.
func withoutNUL(v any) (any, bool) {
	switch x := v.(type) {
	case string:
		return strings.ReplaceAll(x, "\x00", fffd), true
	case []any:
		for i := range x {
			var ok bool
			if x[i], ok = withoutNUL(x[i]); !ok {
				return nil, false
			}
		}
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, c := range x {
			k = strings.ReplaceAll(k, "\x00", fffd)
			if _, clash := m[k]; clash {
				return nil, false
			}
			var ok bool
			if m[k], ok = withoutNUL(c); !ok {
				return nil, false
			}
		}
		return m, true
	}
	return v, true
}

// FuzzSanitize: whatever the bytes, Sanitize agrees with encoding/json on
// what is JSON, and what it returns is loadable, means what encoding/json
// reads in the input (which also drops earlier duplicates and replaces
// lone surrogates; only NUL differs), and is the compacted input when the
// input was loadable already.
func FuzzSanitize(f *testing.F) {
	for _, s := range []string{`{"a":"x\u0000y"}`, `"Sale \ud83d ends"`, `{"a":1,"a":{"b":2}}`, `"\ud83d\ude00\\u0000"`,
		"{\"\xff\":[1e5,-0.5,true,null]}", `{"\u0000":1,"\ufffd":2}`, ` [ {"k" : "\ud800\udc00\udc00"} ] `, `{"a":`} {
		f.Add([]byte(s))
	}
	for _, b := range samplePayloads(f) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		out, changed, err := Sanitize(in)
		if (err == nil) != json.Valid(in) {
			t.Fatalf("Sanitize error %v, json.Valid %v for %q", err, json.Valid(in), in)
		}
		if err != nil {
			return
		}
		checkLoadable(t, out)
		var doc, got any // numbers as json.Number: 1e400 is JSON too
		for _, d := range []struct {
			src []byte
			dst *any
		}{{in, &doc}, {out, &got}} {
			dec := json.NewDecoder(bytes.NewReader(d.src))
			dec.UseNumber()
			if err := dec.Decode(d.dst); err != nil {
				t.Fatal(err)
			}
		}
		if want, ok := withoutNUL(doc); ok && !jsonEqual(want, got) {
			t.Fatalf("meaning changed:\n in %q\nout %q", in, out)
		}
		scanned, members, unloadable := compactScan(nil, in)
		_, dup := duplicateName(in)
		if !utf8.Valid(in) || escapeProblem(in) != "" || dup {
			if !changed {
				t.Fatalf("unloadable %q passed as unchanged", in)
			}
			if utf8.Valid(in) && !unloadable && members == countMembers(doc) {
				t.Fatalf("compactScan passes unloadable %q", in)
			}
			return
		}
		var compact bytes.Buffer
		if err := json.Compact(&compact, in); err != nil {
			t.Fatal(err)
		}
		if changed || !bytes.Equal(out, compact.Bytes()) {
			t.Fatalf("loadable input changed (changed=%v):\n in %q\nout %q", changed, in, out)
		}
		// The emitter's cheap test must agree.
		if unloadable || members != countMembers(doc) || !bytes.Equal(scanned, out) {
			t.Fatalf("compactScan(%q) = %q, %d members (decoded %d), unloadable %v", in, scanned, members, countMembers(doc), unloadable)
		}
	})
}

// BenchmarkClassifyUnclean: the path of a body that must be rewritten (one
// \u0000 in a sample payload), for comparison with BenchmarkClassify.
func BenchmarkClassifyUnclean(b *testing.B) {
	c := newClassifier(b, nil)
	body := bytes.Replace(samplePayloads(b)["email_sent.json"], []byte(`"subject": "`), []byte(`"subject": "\u0000`), 1)
	if !bytes.Contains(body, []byte(`\u0000`)) {
		b.Fatal("no subject to put a NUL in")
	}
	benchClassify(b, c.Classify, body)
}

// BenchmarkCleanPath compares what Classify does to a clean body's bytes
// now (compactScan, plus counting the decoded members) with what it did
// before loadability was checked (json.Compact), in one process so that a
// busy machine slows both alike.
func BenchmarkCleanPath(b *testing.B) {
	body := samplePayloads(b)["email_sent.json"]
	doc, _ := decode(body)
	b.Run("json.Compact", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		for b.Loop() {
			var buf bytes.Buffer
			buf.Grow(len(body))
			if err := json.Compact(&buf, body); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("compactScan", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		for b.Loop() {
			_, members, unloadable := compactScan(make([]byte, 0, len(body)), body)
			if unloadable || members != countMembers(doc) {
				b.Fatal("sample payload needs cleaning")
			}
		}
	})
	b.Run("Sanitize", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		for b.Loop() {
			if _, _, err := Sanitize(body); err != nil {
				b.Fatal(err)
			}
		}
	})
}
