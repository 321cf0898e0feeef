package jsonlex

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

var validCases = []string{
	`{}`, ` {"a":1} `, `[]`, `"x"`, `1`, `-0.5e+10`, `true`, `null`, `{"a":[1,"x",null,true,false,{"e":[[]]}]}`,
	`{"s":"\"\\\/\b\f\n\r\t\u00e9"}`, "\"\xff\"", `{"a":1}{}`, `{"a":01}`, `{"a":-}`, `{"a":1.}`, `{"a":.5}`, `{"a":1e}`,
	`{"a":"x` + "\x01" + `"}`, `{"a" 1}`, `{"a":1,}`, ``, ` `, `{"a":tru}`, `{"a":nulll}`, `{"a":[1,]}`, `{"a":"\x"}`, `{"a":"\u12"}`,
	`{"a":1 "b":2}`, `[1 2]`, `{1:2}`, `{"a":[}`, `"\u123g"`, `nul`, `{"a":"\`,
	`{"r":{"k\"":"v\n","n":{"o":[1]},"e":{}},"s":"\u0041","t":{ "a" : 1 , "b":"x"} }`, `{"r":{"a":1,}}`, `{"r":{"a" 1}}`, `{"r":{}x}`, `{"r":{"a":1},"e":{}}`,
	strings.Repeat("[", MaxDepth) + strings.Repeat("]", MaxDepth), strings.Repeat("[", MaxDepth+1) + strings.Repeat("]", MaxDepth+1),
	strings.Repeat(`{"a":`, MaxDepth) + "1" + strings.Repeat("}", MaxDepth), strings.Repeat(`{"a":`, MaxDepth+1) + "1" + strings.Repeat("}", MaxDepth+1),
}

func TestValid_AgreesWithEncodingJSON(t *testing.T) {
	t.Parallel()
	for _, c := range validCases {
		if got, want := Valid([]byte(c)), json.Valid([]byte(c)); got != want {
			t.Errorf("Valid(%.40q) = %v, json.Valid %v", c, got, want)
		}
		checkEachValidMember(t, []byte(c))
	}
}

// checkEachValidMember fails when EachValidMember disagrees with
// json.Valid on an object, or finds members other than EachMember does, at
// the top level or inside an object value.
func checkEachValidMember(t *testing.T, b []byte) {
	t.Helper()
	var got, want []string
	var inners [][]Member
	_, err := EachValidMember(b, nil, func(k, v []byte, inner []Member) error {
		got = append(got, string(k), string(v))
		if (inner != nil) != (v[0] == '{') {
			t.Fatalf("EachValidMember(%q): inner %v for value %q", b, inner, v)
		}
		inners = append(inners, inner)
		return nil
	})
	var obj map[string]json.RawMessage
	isObject := json.Valid(b) && json.Unmarshal(b, &obj) == nil && obj != nil
	if (err == nil) != isObject {
		t.Fatalf("EachValidMember(%.60q): %v; encoding/json says object %v", b, err, isObject)
	}
	if err != nil {
		return
	}
	_ = EachMember(b, func(k, v []byte) error {
		want = append(want, string(k), string(v))
		return nil
	})
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("EachValidMember(%q) = %q; EachMember %q", b, got, want)
	}
	for n, inner := range inners {
		if inner == nil {
			continue
		}
		value := []byte(got[2*n+1])
		var found []string
		_ = EachMember(value, func(k, v []byte) error {
			found = append(found, string(k), string(v))
			return nil
		})
		var listed []string
		for _, m := range inner {
			k, v := m.Key(value), m.Value(value)
			listed = append(listed, string(k), string(v))
			if m.KeyEscaped != bytes.Contains(k, []byte(`\`)) || m.ValueEscaped != (v[0] == '"' && bytes.Contains(v, []byte(`\`))) {
				t.Fatalf("EachValidMember(%q): member %+v (%s:%s) flags escapes wrongly", b, m, k, v)
			}
		}
		if !reflect.DeepEqual(listed, found) {
			t.Fatalf("EachValidMember(%q): inner members of %s are %q; EachMember %q", b, value, listed, found)
		}
	}
}

// FuzzValid compares Valid and EachValidMember with json.Valid.
func FuzzValid(f *testing.F) {
	for _, c := range validCases {
		if len(c) < 1000 {
			f.Add([]byte(c))
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if got, want := Valid(b), json.Valid(b); got != want {
			t.Fatalf("Valid(%q) = %v, json.Valid %v", b, got, want)
		}
		checkEachValidMember(t, b)
	})
}

// plainEndByByte is what plainEnd computes, a byte at a time.
func plainEndByByte(b []byte, j int) int {
	for j < len(b) && b[j] != '"' && b[j] != '\\' && b[j] >= 0x20 {
		j++
	}
	return j
}

// TestPlainEnd puts every byte value at every place of a word, among
// neighbours that differ from the special bytes by one bit or one unit
// (where a borrow or a carry would show).
func TestPlainEnd(t *testing.T) {
	for _, fill := range []byte{'a', ' ', '!', '#', '[', ']', 0x7f, 0x80, 0xff} {
		for c := range 256 {
			for pos := range 11 {
				b := bytes.Repeat([]byte{fill}, 19)
				b[pos] = byte(c)
				for from := range 3 {
					if got, want := plainEnd(b, from), plainEndByByte(b, from); got != want {
						t.Fatalf("plainEnd(%q, %d) = %d, want %d", b, from, got, want)
					}
				}
			}
		}
	}
}

// FuzzPlainEnd compares plainEnd with a byte loop.
func FuzzPlainEnd(f *testing.F) {
	f.Add([]byte("0123456789\"\\\x1f\x00\x01 !\x7f\x80\xff"), uint8(0))
	f.Add([]byte(`abcdefgh\"ijklmnop`), uint8(3))
	f.Fuzz(func(t *testing.T, b []byte, from uint8) {
		j := min(int(from), len(b))
		if got, want := plainEnd(b, j), plainEndByByte(b, j); got != want {
			t.Fatalf("plainEnd(%q, %d) = %d, want %d", b, j, got, want)
		}
	})
}
