package jsonlex

import (
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
// json.Valid on an object, or finds members other than EachMember does.
func checkEachValidMember(t *testing.T, b []byte) {
	t.Helper()
	var got, want []string
	err := EachValidMember(b, func(k, v []byte) error {
		got = append(got, string(k), string(v))
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
