package event

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

// stdDecode is what decode did before fastDecode: encoding/json with UseNumber.
func stdDecode(body []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("more than one JSON value")
	}
	return doc, nil
}

func TestFastDecode_AgreesWithEncodingJSON(t *testing.T) {
	t.Parallel()
	bodies := []string{
		`{}`, ` {"a":1} `, `{"a":-0.5e+10,"b":[],"c":{},"d":[1,"x",null,true,false,{"e":[[]]}]}`,
		`{"s":"\"\\\/\b\f\n\r\t\u00e9\u20ac","k\u0041":1,"k\u0041":2}`, `{"big":123456789012345678901234567890}`,
		`{"a":1}{}`, `{"a":01}`, `{"a":-}`, `{"a":1.}`, `{"a":.5}`, `{"a":1e}`, `{"a":"\ud83d\ude00"}`, `{"a":"\ud83d"}`,
		`{"a":"x` + "\x01" + `"}`, `{"a" 1}`, `{"a":1,}`, `[1]`, `"x"`, ``, `{"a":tru}`, `{"a":nulll}`, `{"a":[1,]}`,
		`{"a":"\x"}`, `{"a":"\u12"}`, "{\"a\":\"\u00e9\"}", `{"e":1E-7,"f":-0}`, strings.Repeat(`{"a":`, 50) + `1` + strings.Repeat(`}`, 50),
	}
	for _, b := range bodies {
		checkFastDecode(t, []byte(b))
	}
	for name, body := range samplePayloads(t) {
		if _, ok := fastDecode(body); !ok {
			t.Fatalf("fastDecode refused sample %s", name)
		}
		checkFastDecode(t, body)
	}
}

// checkFastDecode fails when fastDecode accepts what encoding/json rejects
// or decodes it differently.
func checkFastDecode(t *testing.T, body []byte) {
	t.Helper()
	if !utf8.Valid(body) {
		return
	}
	got, ok := fastDecode(body)
	if !ok {
		return
	}
	want, err := stdDecode(body)
	if err != nil {
		t.Fatalf("fastDecode accepted %q, encoding/json refused it: %v", body, err)
	}
	if !reflect.DeepEqual(any(got), want) {
		t.Fatalf("fastDecode(%q) = %#v; encoding/json: %#v", body, got, want)
	}
}

func FuzzFastDecode(f *testing.F) {
	for _, s := range []string{`{"a":[1,2,{"b":"c\n"}],"d":-1.5e3,"e":null,"f":true}`, `{"\u00e9":"\ud83d\ude00"}`, `{}`} {
		f.Add([]byte(s))
	}
	for _, body := range samplePayloads(f) {
		f.Add(body)
	}
	f.Fuzz(func(t *testing.T, body []byte) { checkFastDecode(t, body) })
}

// BenchmarkDecode: one sample body to the decoded document, encoding/json
// (before) and fastDecode (after).
func BenchmarkDecode(b *testing.B) {
	body := samplePayloads(b)["email_sent.json"]
	b.Run("encoding-json", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := stdDecode(body); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("fast", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		for b.Loop() {
			if _, ok := fastDecode(body); !ok {
				b.Fatal("refused")
			}
		}
	})
}
