// Package targettest holds what the end-to-end tests of every target
// share: Singer input with record content that once stopped
// target-postgres (hostile property names and values, each in a record that
// matches its SCHEMA, the way tap-customerio-webhook emits it), and a check
// that every value of it can be found in the warehouse afterwards.
package targettest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/big"
	"sort"
	"strings"
)

// anyType is the type the tap gives fields it learns from bodies.
const anyType = `{"type":["null","string","number","integer","boolean","object","array"]}`

// Case is one hostile record of stream "data" (key event_id).
type Case struct {
	Name string
	// Record is the record's JSON text; it may hold invalid UTF-8.
	Record string
	// Learned are the top-level properties the SCHEMA gains (typed as the
	// tap types learned fields) before this record; DataLearned the same
	// inside data.
	Learned, DataLearned []string
	// Needles must be findable in the warehouse afterwards: strings (found
	// inside any text) or json.Number (equal as numbers, or as text).
	Needles []any
}

// FinalState is the state value Input ends with.
const FinalState = `{"bookmarks":{"data":{"spool_offset":999}}}`

// Cases returns the hostile records, one per way a body once stopped a
// target.
func Cases() []Case {
	long := strings.Repeat("k", 64)
	cyr := strings.TrimSpace(strings.Repeat("слово ", 20))
	var many []string
	var manyRec strings.Builder
	var manyNeedles []any
	for i := range 2500 {
		name := fmt.Sprintf("f%04d", i)
		many = append(many, name)
		fmt.Fprintf(&manyRec, `,%q:"v-many-%04d"`, name, i)
		manyNeedles = append(manyNeedles, fmt.Sprintf("v-many-%04d", i))
	}
	longID := "e-longid-" + strings.Repeat("i", 3000)
	return []Case{
		{Name: "name of 64 ASCII characters", Record: `{"event_id":"e-long",%q:"v-long"}`, Learned: []string{long}, Needles: []any{"v-long"}},
		{Name: "name of 20 Cyrillic words", Record: `{"event_id":"e-cyr",%q:"v-cyr"}`, Learned: []string{cyr}, Needles: []any{"v-cyr"}},
		{Name: "case twins", Record: `{"event_id":"e-twin","metric":"v-twin-lower","Metric":"v-twin-upper"}`, Learned: []string{"Metric"}, Needles: []any{"v-twin-lower", "v-twin-upper"}},
		{Name: "twin of the key", Record: `{"event_id":"e-keytwin","Event_ID":"v-keytwin"}`, Learned: []string{"Event_ID"}, Needles: []any{"v-keytwin"}},
		{Name: "metadata name", Record: `{"event_id":"e-sdc","_sdc_sequence":"v-sdc","_sdc_errors":"v-sdc-errors"}`, Learned: []string{"_sdc_sequence", "_sdc_errors"}, Needles: []any{"v-sdc", "v-sdc-errors"}},
		{Name: "empty name", Record: `{"event_id":"e-empty","":"v-empty"}`, Learned: []string{""}, Needles: []any{"v-empty"}},
		{Name: "integer beyond 64 bits in data.action_id", Record: `{"event_id":"e-big","data":{"action_id":1180591620717411303424}}`, Needles: []any{json.Number("1180591620717411303424")}},
		{Name: "1e30 in data.action_id", Record: `{"event_id":"e-1e30","data":{"action_id":1e30}}`, Needles: []any{json.Number("1e30")}},
		{Name: "integer beyond 64 bits at the top", Record: `{"event_id":"e-topbig","n":-99999999999999999999999}`, Needles: []any{json.Number("-99999999999999999999999")}},
		{Name: "number beyond numeric", Record: `{"event_id":"e-huge","x":1e999999,"data":{"amount":2e-999999}}`, DataLearned: []string{"amount"}, Needles: []any{json.Number("1e999999"), json.Number("2e-999999")}},
		{Name: "unparsable date-time", Record: `{"event_id":"e-date","received_at":"v-notadate"}`, Needles: []any{"v-notadate"}},
		{Name: "lone surrogate", Record: `{"event_id":"e-surrogate","subject":"v-sale \ud83d ends","data":{"body":"v-lone \udc00 low","ok":"\ud83d\ude00"}}`, Learned: []string{"subject"}, DataLearned: []string{"body", "ok"}, Needles: []any{"v-sale", "v-lone", "😀"}},
		{Name: "NUL", Record: `{"event_id":"e-nul","subject":"v-nul \u0000 here","data":{"body":"v-nul-data \u0000"}}`, Needles: []any{"v-nul \uFFFD here", "v-nul-data \uFFFD"}},
		{Name: "invalid UTF-8", Record: "{\"event_id\":\"e-utf8\",\"subject\":\"v-badutf8 \xff\xfe end\",\"data\":{\"body\":\"v-badutf8-data \xc3\"}}", Needles: []any{"v-badutf8 ", "v-badutf8-data "}},
		{Name: "duplicate names of different types", Record: `{"event_id":"e-dup","dup":{"a":1},"dup":"v-dup"}`, Learned: []string{"dup"}, Needles: []any{"v-dup"}},
		{Name: "shape change", Record: `{"event_id":"e-shape","dup":[1,{"k":"v-shape"}],"subject":{"k":"v-shape-obj"}}`, Needles: []any{"v-shape", "v-shape-obj"}},
		{Name: "no key", Record: `{"metric":"v-nokey"}`, Needles: []any{"v-nokey"}},
		{Name: "key too long for an index", Record: `{"event_id":%q,"metric":"v-longid"}`, Needles: []any{longID, "v-longid"}},
		{Name: "thousands of new fields", Record: `{"event_id":"e-many"` + manyRec.String() + `}`, Learned: many, Needles: manyNeedles},
	}
}

// Input returns Singer lines for cases: before each record a SCHEMA of
// stream data with every property declared so far (as the tap emits it),
// a STATE after each record, and FinalState at the end.
func Input(cases []Case) []byte {
	top := []string{`"event_id":{"type":"string"}`, `"metric":{"type":["null","string"]}`, `"n":{"type":["null","integer"]}`,
		`"x":{"type":["null","number"]}`, `"received_at":{"type":["null","string"],"format":"date-time"}`}
	data := []string{`"action_id":{"type":["null","integer"]}`}
	var b bytes.Buffer
	long := strings.Repeat("k", 64)
	cyr := strings.TrimSpace(strings.Repeat("слово ", 20))
	longID := "e-longid-" + strings.Repeat("i", 3000)
	for i, c := range cases {
		for _, n := range c.Learned {
			top = append(top, quote(n)+":"+anyType)
		}
		for _, n := range c.DataLearned {
			data = append(data, quote(n)+":"+anyType)
		}
		props := append(append([]string(nil), top...), `"data":{"type":["null","object"],"properties":{`+strings.Join(data, ",")+`}}`)
		fmt.Fprintf(&b, `{"type":"SCHEMA","stream":"data","key_properties":["event_id"],"schema":{"type":"object","properties":{%s}}}`+"\n", strings.Join(props, ","))
		rec := c.Record
		switch c.Name {
		case "name of 64 ASCII characters":
			rec = fmt.Sprintf(rec, long)
		case "name of 20 Cyrillic words":
			rec = fmt.Sprintf(rec, cyr)
		case "key too long for an index":
			rec = fmt.Sprintf(rec, longID)
		}
		fmt.Fprintf(&b, `{"type":"RECORD","stream":"data","record":%s,"time_extracted":"2026-01-02T03:04:05Z"}`+"\n", rec)
		fmt.Fprintf(&b, `{"type":"STATE","value":{"bookmarks":{"data":{"spool_offset":%d}}}}`+"\n", i)
	}
	fmt.Fprintf(&b, `{"type":"STATE","value":%s}`+"\n", FinalState)
	return b.Bytes()
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// Missing returns the needles of cases that no document holds. docs are
// JSON texts (each row of each table as an object); strings inside them
// that are JSON themselves (a record in _sdc_rejected_records, a column
// widened to text) are searched too.
func Missing(cases []Case, docs [][]byte) []string {
	var strs []string
	var nums []*big.Rat
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for _, x := range v {
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		case string:
			strs = append(strs, v)
			if len(v) <= 64 && !strings.ContainsAny(v, "eE") {
				if r, ok := new(big.Rat).SetString(v); ok {
					nums = append(nums, r)
				}
			}
			// JSON kept as text: SQLite's JSON columns, columns widened
			// to text, records in _sdc_rejected_records.
			if t := strings.TrimSpace(v); strings.HasPrefix(t, "{") || strings.HasPrefix(t, "[") || strings.HasPrefix(t, `"`) {
				if inner, err := decode([]byte(t)); err == nil {
					walk(inner)
				}
			}
		case json.Number:
			if len(v) <= 1000 {
				if r, ok := new(big.Rat).SetString(string(v)); ok {
					nums = append(nums, r)
				}
			}
			strs = append(strs, string(v))
		}
	}
	for _, d := range docs {
		v, err := decode(d)
		if err != nil {
			return []string{fmt.Sprintf("document %.80s: %v", d, err)}
		}
		walk(v)
	}
	all := strings.Join(strs, "\x00")
	var missing []string
	for _, c := range cases {
		for _, n := range c.Needles {
			switch n := n.(type) {
			case string:
				if !strings.Contains(all, n) {
					missing = append(missing, fmt.Sprintf("%s: %.60q", c.Name, n))
				}
			case json.Number:
				if !strings.Contains(all, string(n)) && !hasNumber(nums, string(n)) {
					missing = append(missing, fmt.Sprintf("%s: %s", c.Name, n))
				}
			}
		}
	}
	sort.Strings(missing)
	return missing
}

func hasNumber(nums []*big.Rat, lit string) bool {
	if strings.ContainsAny(lit, "eE") && len(lit) > 12 {
		return false // beyond numeric: only ever kept as text
	}
	want, ok := new(big.Rat).SetString(lit)
	if !ok {
		return false
	}
	for _, r := range nums {
		if r.Cmp(want) == 0 {
			return true
		}
	}
	return false
}

func decode(b []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	err := dec.Decode(&v)
	return v, err
}
