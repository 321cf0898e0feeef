package jsonlex

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestParseString(t *testing.T) {
	t.Parallel()
	tests := map[string]string{
		`""`: "", `"abc"`: "abc", `"a\"b\\c\/d\b\f\n\r\t"`: "a\"b\\c/d\b\f\n\r\t", `"\u00e9\u20AC"`: "é€",
		`"\ud83d\ude00"`: "😀", `"\ud83d"`: "\uFFFD", `"\ude00x"`: "\uFFFDx", `"\ud83d\u0041"`: "\uFFFDA",
		`"\u0000"`: "\x00", "\"a\xffb\"": "a\uFFFDb", "\"\xff\\n\"": "\uFFFD\n", `"é"`: "é",
	}
	for in, want := range tests {
		got, end, ok := ParseString([]byte(in), 0)
		if !ok || got != want || end != len(in) {
			t.Errorf("ParseString(%q) = %q, %d, %v; want %q", in, got, end, ok, want)
		}
	}
	for _, in := range []string{`"`, `"abc`, `"\x"`, `"\u12"`, `"\u12g4"`, "\"a\x01\"", `"\`} {
		if s, _, ok := ParseString([]byte(in), 0); ok {
			t.Errorf("ParseString(%q) = %q, want an error", in, s)
		}
	}
}

func TestLoadableString(t *testing.T) {
	t.Parallel()
	got, ok := LoadableString([]byte(`"a\u0000b` + "\xff" + `\ud800"`))
	if !ok || got != "a\uFFFDb\uFFFD\uFFFD" {
		t.Fatalf("got %q, %v", got, ok)
	}
	if _, ok := LoadableString([]byte(`"a"b"`)); ok {
		t.Fatal("trailing bytes accepted")
	}
}

func TestClean(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{`{"a":"x"}`, `{"a":"x"}`},
		{`{"a":"x\u0000y"}`, `{"a":"x\ufffdy"}`},
		{`{"a":"\\u0000"}`, `{"a":"\\u0000"}`},         // an escaped backslash, then text
		{`{"a":"\\\u0000"}`, `{"a":"\\\ufffd"}`},       // escaped backslash, then a NUL escape
		{`["\u0000","\u0000"]`, `["\ufffd","\ufffd"]`}, // every one
		{`{ "a" : [1, 2] }`, `{"a":[1,2]}`},
		{`["\ud83d\ude00","\ud83d","\ude00","\u00e9"]`, `["\ud83d\ude00","\ufffd","\ufffd","\u00e9"]`},
		{"[\"a\xffb\"]", `["a` + "\uFFFD" + `b"]`},
		{"{ \"a\" :\n [1, 2] }", `{"a":[1,2]}`},
		{`{"s":"keep  spaces \" here"}`, `{"s":"keep  spaces \" here"}`},
		{`{"s":"x\\", "t":1}`, `{"s":"x\\","t":1}`}, // a string ending in an escaped backslash
	}
	for _, tc := range tests {
		if got, _ := Clean([]byte(tc.in), false); string(got) != tc.want {
			t.Errorf("Clean(%s) = %s, want %s", tc.in, got, tc.want)
		}
	}
	out, fits := Clean([]byte(`{"a":1e999999,"b":[1,-1e-20000]}`), true)
	if fits || string(out) != `{"a":"1e999999","b":[1,"-1e-20000"]}` {
		t.Errorf("Clean quoting: %s, %v", out, fits)
	}
	if out, fits := Clean([]byte(`[1e999999]`), false); fits || string(out) != `[1e999999]` {
		t.Errorf("Clean without quoting: %s, %v", out, fits)
	}
}

func TestEachMember(t *testing.T) {
	t.Parallel()
	var got []string
	err := EachMember([]byte(` { "a" : 1 , "b\"":{"c":[1,"}"]}, "d":"x" } `), func(k, v []byte) error {
		got = append(got, string(k)+"="+string(v))
		return nil
	})
	want := []string{`"a"=1`, `"b\""={"c":[1,"}"]}`, `"d"="x"`}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("got %q, %v", got, err)
	}
	for _, bad := range []string{``, `[]`, `{`, `{"a"}`, `{"a":}`, `{"a":1,}`, `{"a":1 "b":2}`, `{"a":"x}`, `{"a":[1}`} {
		if err := EachMember([]byte(bad), func(_, _ []byte) error { return nil }); err == nil {
			t.Errorf("EachMember(%s): no error", bad)
		}
	}
}

// FuzzString compares ParseString with encoding/json, and checks that
// AppendLoadableString keeps the decoded text but for what PostgreSQL
// refuses.
func FuzzString(f *testing.F) {
	for _, s := range []string{`"a"`, `"\u00e9\ud83d\ude00"`, `"\ud83d\ud83d\ude00"`, `"\u0000\\u0000"`, "\"\xff\xfe\"", `"\"`, `"\q"`, `"` + "\x01" + `"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) == 0 || b[0] != '"' {
			return
		}
		s, end, ok := ParseString(b, 0)
		closing := StringEnd(b, 0)
		if !ok {
			var want string
			if closing > 0 && json.Unmarshal(b[:closing], &want) == nil {
				t.Fatalf("ParseString(%q) refused, encoding/json decodes %q", b, want)
			}
			return
		}
		if end != closing {
			t.Fatalf("ParseString(%q) ends at %d, StringEnd at %d", b, end, closing)
		}
		var want string
		if err := json.Unmarshal(b[:end], &want); err != nil || want != s {
			t.Fatalf("ParseString(%q) = %q; encoding/json %q, %v", b, s, want, err)
		}
		clean := AppendLoadableString(nil, b[:end])
		var back string
		if err := json.Unmarshal(clean, &back); err != nil || back != ReplaceNUL(s) {
			t.Fatalf("AppendLoadableString(%q) = %q, decodes to %q (%v), want %q", b[:end], clean, back, err, ReplaceNUL(s))
		}
		if !utf8.Valid(clean) || bytes.Contains(clean, []byte(`\u0000`)) && !bytes.Contains(b[:end], []byte(`\\u0000`)) {
			t.Fatalf("AppendLoadableString(%q) = %q is not loadable", b[:end], clean)
		}
	})
}

// FuzzEachMember compares the members EachMember finds in a valid JSON
// object with encoding/json's decoding of it.
func FuzzEachMember(f *testing.F) {
	for _, s := range []string{`{"a":1,"b":[1,{"c":"}"}],"a":"\"x"}`, ` { } `, `{"\u0061":null,"b":true}`, `{"a":{"b":{"c":[[]]}}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var want map[string]any
		if !json.Valid(b) || json.Unmarshal(b, &want) != nil || want == nil {
			if !json.Valid(b) {
				_ = EachMember(b, func(_, _ []byte) error { return nil }) // must not panic
			}
			return
		}
		got := map[string]any{}
		err := EachMember(b, func(k, v []byte) error {
			key, end, ok := ParseString(k, 0)
			if !ok || end != len(k) {
				t.Fatalf("key %q is not a JSON string", k)
			}
			var val any
			if err := json.Unmarshal(v, &val); err != nil {
				t.Fatalf("value %q of %q: %v", v, k, err)
			}
			got[key] = val
			return nil
		})
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Fatalf("EachMember(%s) = %v, %v; encoding/json %v", b, got, err, want)
		}
	})
}

// FuzzClean: Clean keeps valid JSON valid and its meaning, but for NUL
// (which becomes U+FFFD) and, when asked, numbers that do not fit (which
// become strings of their literal). It merges the former
// FuzzReplaceJSONNul of target/pgload.
func FuzzClean(f *testing.F) {
	for _, s := range []string{`{"a":"x\u0000y"}`, `"\\u0000"`, `"\\\u0000"`, `{}`, `[1,"\u0000",{"\u0000":null}]`, `\`, ``,
		`{"n":1e999999, "s":"\ud800"}`, "[\"\xff\"]"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, quote := range []bool{false, true} {
			out, fits := Clean([]byte(s), quote)
			var before, after any
			if json.Unmarshal([]byte(s), &before) != nil {
				return
			}
			if err := json.Unmarshal(out, &after); err != nil {
				t.Fatalf("valid %q became invalid %q: %v", s, out, err)
			}
			if !utf8.Valid(out) || containsNul(after) {
				t.Fatalf("%q: NUL or invalid UTF-8 survived in %q", s, out)
			}
			if quote && !fits {
				continue // numbers became strings
			}
			a, _ := json.Marshal(after)
			b, _ := json.Marshal(replaceNul(before))
			if !bytes.Equal(a, b) && utf8.ValidString(s) {
				t.Fatalf("%q -> %q: decoded %s, want %s", s, out, a, b)
			}
		}
	})
}

func containsNul(v any) bool {
	switch v := v.(type) {
	case string:
		return strings.IndexByte(v, 0) >= 0
	case []any:
		for _, e := range v {
			if containsNul(e) {
				return true
			}
		}
	case map[string]any:
		for k, e := range v {
			if strings.IndexByte(k, 0) >= 0 || containsNul(e) {
				return true
			}
		}
	}
	return false
}

func replaceNul(v any) any {
	switch v := v.(type) {
	case string:
		return ReplaceNUL(v)
	case []any:
		for i, e := range v {
			v[i] = replaceNul(e)
		}
	case map[string]any:
		m := make(map[string]any, len(v))
		for k, e := range v {
			m[ReplaceNUL(k)] = replaceNul(e)
		}
		return m
	}
	return v
}
