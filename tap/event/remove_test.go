package event

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// FuzzRemovePath: removing a field from any JSON object leaves valid JSON
// that decodes to the object without that field, made only by taking bytes
// away (every other name and value stays as sent).
func FuzzRemovePath(f *testing.F) {
	for _, s := range []string{`{"a":1,"b":2}`, `{"b":{"c":1,"d":[2]},"a":null}`, `{ "b" : 1 , "b" : 2 }`,
		`{"\u0062":1,"c":"\u2028"}`, `{"a":{"b":{"c":null}}}`, `[1]`, `null`, `{"a":"x"}`} {
		f.Add([]byte(s), "b")
		f.Add([]byte(s), "a.b")
		f.Add([]byte(s), "a.b.c")
	}
	f.Fuzz(func(t *testing.T, obj []byte, dotted string) {
		path := strings.Split(dotted, ".")
		out, err := removePath(obj, path)
		var shape errShape
		switch {
		case errors.Is(err, errNotJSON):
			if json.Valid(obj) {
				t.Fatalf("removePath(%q) says not JSON", obj)
			}
			return
		case errors.As(err, &shape):
			return
		case err != nil:
			t.Fatalf("removePath(%q, %q): %v", obj, path, err)
		}
		var got, want any
		if err := decodeNumbers(out, &got); err != nil {
			t.Fatalf("removePath(%q, %q) = %q, not JSON: %v", obj, path, out, err)
		}
		if err := decodeNumbers(obj, &want); err != nil {
			t.Fatal(err)
		}
		deletePath(want, path)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("removePath(%q, %q) = %q, decodes to %v, want %v", obj, path, out, got, want)
		}
		if !subsequence(out, obj) {
			t.Fatalf("removePath(%q, %q) = %q: not only bytes taken away", obj, path, out)
		}
	})
}

func decodeNumbers(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	return dec.Decode(v)
}

// deletePath deletes path from the decoded document doc, as far as it goes.
func deletePath(doc any, path []string) {
	m, ok := doc.(map[string]any)
	if !ok {
		return
	}
	if len(path) == 1 {
		delete(m, path[0])
		return
	}
	deletePath(m[path[0]], path[1:])
}

// subsequence reports whether s can be made from t by taking bytes away.
func subsequence(s, t []byte) bool {
	for _, c := range s {
		k := bytes.IndexByte(t, c)
		if k < 0 {
			return false
		}
		t = t[k+1:]
	}
	return true
}
