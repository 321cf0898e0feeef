package jsonconfig

import (
	"bytes"
	"encoding/json"
	"sort"
	"strings"
	"testing"
)

func TestObject(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      string
		keys    string // the keys returned, sorted and comma-joined; "-" for a nil map
		wantErr string // "" for none
		dups    []string
	}{
		{name: "object", in: `{"a": 1, "b": [2]}`, keys: "a,b"},
		{name: "white space around", in: " \n{\"a\":1}\r\n\t ", keys: "a"},
		{name: "null is empty", in: `null`, keys: ""},
		{name: "empty object", in: `{}`, keys: ""},
		{name: "second object", in: `{"a":1} {"a":2}`, keys: "-", wantErr: "trailing data after the JSON object at byte 8"},
		{name: "trailing word", in: `{"a":1} x`, keys: "-", wantErr: "trailing data after the JSON object at byte 8"},
		{name: "trailing brace", in: `{"a":1}}`, keys: "-", wantErr: "trailing data after the JSON object at byte 7"},
		{name: "array", in: `[1]`, keys: "-", wantErr: "not a JSON object: the file holds a JSON array"},
		{name: "string", in: `"a"`, keys: "-", wantErr: "not a JSON object: the file holds a JSON string"},
		{name: "empty", in: ``, keys: "-", wantErr: "not a JSON object: EOF"},
		{name: "unterminated", in: `{"a":1`, keys: "-", wantErr: "not a JSON object"},
		{name: "bad value", in: `{"a":tru}`, keys: "-", wantErr: "not a JSON object"},
		{name: "duplicate", in: `{"signing_keys":["k"],"signing_keys":[]}`, keys: "signing_keys",
			dups: []string{"signing_keys"}},
		{name: "duplicate by escape", in: `{"a":1,"\u0061":2}`, keys: "a", dups: []string{"a"}},
		{name: "two duplicates, each once", in: `{"b":1,"a":1,"b":2,"a":2,"b":3}`, keys: "a,b",
			dups: []string{"b", "a"}},
		{name: "nested duplicates are the value's business", in: `{"a":{"x":1,"x":2}}`, keys: "a"},
		{name: "duplicate and trailing", in: `{"a":1,"a":2} x`, keys: "-", wantErr: "trailing data"},
		{name: "case differs", in: `{"a":1,"A":2}`, keys: "A,a"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, dups, err := Object([]byte(tc.in))
			if (err == nil) != (tc.wantErr == "") || (err != nil && !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
			}
			keys := "-"
			if got != nil {
				var ks []string
				for k := range got {
					ks = append(ks, k)
				}
				sort.Strings(ks)
				keys = strings.Join(ks, ",")
			}
			if keys != tc.keys {
				t.Errorf("keys %q, want %q", keys, tc.keys)
			}
			if strings.Join(dups, ",") != strings.Join(tc.dups, ",") {
				t.Errorf("duplicates %v, want %v", dups, tc.dups)
			}
		})
	}
}

// TestObjectNeverQuotesValues: a secret in a broken or repeated value does
// not reach the error message.
func TestObjectNeverQuotesValues(t *testing.T) {
	t.Parallel()
	const secret = "s3cret-signing-key"
	for _, in := range []string{
		`{"signing_keys":["` + secret + `"]} {"signing_keys":["` + secret + `"]}`,
		`{"signing_keys":["` + secret + `"] "x":1}`,
		`{"signing_keys":["` + secret + `]}`,
	} {
		if _, _, err := Object([]byte(in)); err == nil || strings.Contains(err.Error(), secret) {
			t.Errorf("%s: error %v (nil, or quotes the secret)", in, err)
		}
	}
}

// FuzzObject: whatever Object accepts, encoding/json reads as the same
// object, and Object accepts every object encoding/json reads that has
// neither repeated keys nor text after it.
func FuzzObject(f *testing.F) {
	for _, seed := range []string{`{"a":1}`, `{"a":1,"a":2}`, `{"a":1} x`, `null`, `[1]`, `{"a":{"b":[1,"x"]}}`, ` {"\u0061":1} `} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		got, dups, err := Object(data)
		var want map[string]json.RawMessage
		stdErr := json.Unmarshal(data, &want)
		if err == nil {
			if stdErr != nil {
				t.Fatalf("Object accepted what encoding/json refuses: %v", stdErr)
			}
			if len(got) != len(want) {
				t.Fatalf("%d keys, encoding/json reads %d", len(got), len(want))
			}
			if len(dups) > 0 && bytes.TrimSpace(data)[0] != '{' {
				t.Fatalf("duplicates %v outside an object", dups)
			}
			for k, v := range want {
				if !bytes.Equal(bytes.TrimSpace(got[k]), bytes.TrimSpace(v)) {
					t.Fatalf("key %q: %s, encoding/json reads %s", k, got[k], v)
				}
			}
			return
		}
		if stdErr == nil && bytes.TrimSpace(data)[0] == '{' {
			t.Fatalf("Object refused an object encoding/json reads: %v", err)
		}
	})
}
