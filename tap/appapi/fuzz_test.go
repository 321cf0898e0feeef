package appapi

import (
	"encoding/json"
	"testing"
)

// FuzzDecodePage feeds answers of any shape to the page decoder: it must
// answer with rows that are JSON, or an error, never a panic.
func FuzzDecodePage(f *testing.F) {
	for _, s := range []string{
		`{"messages":[{"id":"a","created":1}],"next":"c1"}`,
		`{"messages":[],"next":""}`,
		`{"messages":null,"next":null}`,
		`{"messages":[1,"x",null,{}],"next":"\u0000"}`,
		`{"next":"c"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var page map[string]json.RawMessage
		if json.Unmarshal(body, &page) != nil {
			return
		}
		rows, _, err := decodePage(page, "messages")
		if err != nil {
			return
		}
		for _, r := range rows {
			if !json.Valid(r) {
				t.Fatalf("row %q is not JSON", r)
			}
		}
	})
}
