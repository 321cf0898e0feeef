package event

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cio-singer/tap-customerio-webhook/schemas"
)

func newClassifier(t testing.TB, drop [][]string) *Classifier {
	t.Helper()
	raw, err := schemas.Load(schemas.Data)
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewClassifier(raw, drop)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func samplePayloads(t testing.TB) map[string][]byte {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join("..", "..", "testdata", "payloads", "*.json"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no sample payloads: %v", err)
	}
	out := map[string][]byte{}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		out[filepath.Base(p)] = b
	}
	return out
}

// TestSamplePayloadsAreValid: every sample of spec/customerio.md must land
// in data, with every field and value kept.
func TestSamplePayloadsAreValid(t *testing.T) {
	t.Parallel()
	c := newClassifier(t, nil)
	for name, body := range samplePayloads(t) {
		t.Run(name, func(t *testing.T) {
			res := c.Classify(body)
			if res.Reason != "" {
				t.Fatalf("rejected: %s", res.Reason)
			}
			if bytes.ContainsAny(res.Record, "\n\r") {
				t.Error("record spans more than one line")
			}
			var want, got any
			if err := json.Unmarshal(body, &want); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(res.Record, &got); err != nil {
				t.Fatal(err)
			}
			if !jsonEqual(want, got) {
				t.Errorf("record changed the body:\nwant %s\n got %s", body, res.Record)
			}
		})
	}
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}

func TestClassify(t *testing.T) {
	t.Parallel()
	c := newClassifier(t, nil)
	tests := []struct {
		name       string
		body       string
		wantReason string // substring; "" means valid
	}{
		{"minimal", `{"event_id":"e1"}`, ""},
		{"unknown object type and metric", `{"event_id":"e1","object_type":"carrier_pigeon","metric":"landed","data":{}}`, ""},
		{"unknown fields everywhere", `{"event_id":"e1","brand_new":{"x":[1,2]},"data":{"future":true}}`, ""},
		{"timestamp as numeric string", `{"event_id":"e1","timestamp":"1585250199"}`, ""},
		{"timestamp as odd string from a test event", `{"event_id":"e1","timestamp":"invalid timestamp format"}`, ""},
		{"object_type_type spelling", `{"event_id":"e1","object_type_type":"email","metric":"cio_subscription_preferences_changed"}`, ""},
		{"nulls everywhere", `{"event_id":"e1","object_type":null,"metric":null,"timestamp":null,"data":{"identifiers":{"id":null,"email":null},"recipient":null}}`, ""},
		{"legacy string ids", `{"event_id":"e1","event_type":"email_sent","data":{"campaign_id":"1","template_id":"2"}}`, ""},
		{"integer beyond 2^53 kept", `{"event_id":"e1","timestamp":9007199254740993}`, ""},
		{"empty body", ``, "body is empty"},
		{"whitespace body", " \n\t", "body is empty"},
		{"array", `[{"event_id":"e1"}]`, "not a JSON object"},
		{"string", `"hello"`, "not a JSON object"},
		{"null", `null`, "not a JSON object"},
		{"truncated", `{"event_id":"e1"`, "not valid JSON"},
		{"two values", `{"event_id":"e1"}{"event_id":"e2"}`, "more than one JSON value"},
		{"no event_id", `{"metric":"sent"}`, "event_id is missing"},
		{"numeric event_id", `{"event_id":12}`, "event_id is not a string"},
		{"empty event_id", `{"event_id":""}`, "event_id is empty"},
		{"blank event_id", `{"event_id":"  "}`, "event_id is empty"},
		{"invalid utf-8", "{\"event_id\":\"e1\",\"x\":\"\xff\"}", "not valid UTF-8"},
		{"timestamp as float", `{"event_id":"e1","timestamp":1.5}`, "schema"},
		{"data not an object", `{"event_id":"e1","data":"oops"}`, "schema"},
		{"link_id as object", `{"event_id":"e1","data":{"link_id":{}}}`, "schema"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := c.Classify([]byte(tc.body))
			if tc.wantReason == "" {
				if res.Reason != "" {
					t.Fatalf("rejected: %s", res.Reason)
				}
				if res.EventID != "e1" || res.Record == nil {
					t.Fatalf("valid event without id or record: %+v", res)
				}
				return
			}
			if res.Record != nil || !strings.Contains(res.Reason, tc.wantReason) {
				t.Fatalf("reason = %q, record = %s; want reason containing %q", res.Reason, res.Record, tc.wantReason)
			}
		})
	}
}

// TestRecordKeepsBytes: numbers keep their literal and strings their
// escapes; only whitespace between tokens goes.
func TestRecordKeepsBytes(t *testing.T) {
	t.Parallel()
	c := newClassifier(t, nil)
	for _, nul := range []string{"", ` \u0000`} { // the clean path and the one that rewrites
		body := "{\n  \"event_id\": \"e1\",\n  \"timestamp\": 9007199254740993,\n  \"data\": {\"subject\": \"a\\nb\\t\\\"c\\\" \\u00e9 \\ud83d\\ude00 <b>" + nul + "\", \"x\": 1.50e3}\n}"
		want := `{"event_id":"e1","timestamp":9007199254740993,"data":{"subject":"a\nb\t\"c\" \u00e9 \ud83d\ude00 <b>` + strings.ReplaceAll(nul, `\u0000`, "\uFFFD") + `","x":1.50e3}}`
		res := c.Classify([]byte(body))
		if res.Reason != "" {
			t.Fatal(res.Reason)
		}
		if string(res.Record) != want {
			t.Fatalf("record\n got %s\nwant %s", res.Record, want)
		}
	}
}

func TestDeselectedFieldsRemoved(t *testing.T) {
	t.Parallel()
	c := newClassifier(t, [][]string{{"data", "recipient"}, {"data", "identifiers", "email"}, {"metric"}})
	body := samplePayloads(t)["email_clicked.json"]
	res := c.Classify(body)
	if res.Reason != "" {
		t.Fatal(res.Reason)
	}
	for _, gone := range []string{`"recipient":`, `"email":`, `"metric":`, "lee.park@example.net"} {
		if bytes.Contains(res.Record, []byte(gone)) {
			t.Errorf("record still holds %s: %s", gone, res.Record)
		}
	}
	for _, kept := range []string{`"event_id":"01J9B7C2ZP4QH6D8K0M2N4R6TX"`, `"href":"https://shop.example.com/new?utm_source=cio"`, `"cio_id":"b71e0a000456"`} {
		if !bytes.Contains(res.Record, []byte(kept)) {
			t.Errorf("record lost %s: %s", kept, res.Record)
		}
	}
	if !json.Valid(res.Record) {
		t.Errorf("invalid JSON after removal: %s", res.Record)
	}
}

func TestRemovePath(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in, want string
		path     []string
	}{
		{`{"a":1,"b":2,"c":3}`, `{"a":1,"c":3}`, []string{"b"}},
		{`{"a":1}`, `{}`, []string{"a"}},
		{`{"a":1}`, `{"a":1}`, []string{"zz"}},
		{`{"a":{"b":1,"c":2}}`, `{"a":{"c":2}}`, []string{"a", "b"}},
		{`{"a":null}`, `{"a":null}`, []string{"a", "b"}},
		{`{"<k>":1,"b":2}`, `{"<k>":1}`, []string{"b"}},
		{`{"a":{"b":{"c":1,"d":2}}}`, `{"a":{"b":{"d":2}}}`, []string{"a", "b", "c"}},
		{`{"\u0061":{"b":1}}`, `{"\u0061":{}}`, []string{"a", "b"}},   // names compare decoded, stay as sent
		{"{\"k\u2028\":1,\"b\":2}", "{\"k\u2028\":1}", []string{"b"}}, // encoding/json would escape it
		{`{"b":1,"b":2,"c":3}`, `{"c":3}`, []string{"b"}},             // every member of that name
		{`{"a":1,"b":1,"b":2}`, `{"a":1}`, []string{"b"}},
		{`{"b":1,"a":{"b":2},"b":3}`, `{"a":{"b":2}}`, []string{"b"}},
		{`{ "b" : 1 , "c" : [ 2 ] }`, `{  "c" : [ 2 ] }`, []string{"b"}}, // whitespace elsewhere kept
		{`{ "c" : [ 2 ] , "b" : 1 }`, `{ "c" : [ 2 ]  }`, []string{"b"}},
		{`{"a":{}}`, `{"a":{}}`, []string{"a", "b"}},
		// The value at the path may be anything, it goes.
		{`{"a":{"b":[{"x":1}]}}`, `{"a":{}}`, []string{"a", "b"}},
	}
	for _, tc := range tests {
		got, err := removePath(json.RawMessage(tc.in), tc.path)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != tc.want {
			t.Errorf("removePath(%s, %v) = %s, want %s", tc.in, tc.path, got, tc.want)
		}
	}
	// A path that crosses something other than an object or null cannot
	// be resolved safely: the field may be in there in another form.
	for _, tc := range []struct {
		in, msg string
		path    []string
	}{
		{`{"a":"str"}`, "a is not an object", []string{"a", "b"}},
		{`{"a":[{"b":1}]}`, "a is not an object", []string{"a", "b"}},
		{`{"a":{"b":7}}`, "a.b is not an object", []string{"a", "b", "c"}},
		{`[{"a":1}]`, "the body is not a JSON object", []string{"a"}},
		{`"text"`, "the body is not a JSON object", []string{"a"}},
	} {
		_, err := removePath(json.RawMessage(tc.in), tc.path)
		var shape errShape
		if !errors.As(err, &shape) || err.Error() != tc.msg {
			t.Errorf("removePath(%s, %v): error %v, want %q", tc.in, tc.path, err, tc.msg)
		}
	}
}

// FuzzClassify: any bytes give either a valid one-line record that means
// the same as the body, or a reason; never a panic.
func FuzzClassify(f *testing.F) {
	for _, b := range samplePayloads(f) {
		f.Add(b)
	}
	for _, s := range []string{``, ` `, `{}`, `{"event_id":"x"}`, `{"event_id":"x","data":{"a":[[[[[[]]]]]]}}`, "{\"event_id\":\"\xff\"}", `{"event_id":"x"} `, strings.Repeat("[", 20000)} {
		f.Add([]byte(s))
	}
	c := newClassifier(f, [][]string{{"data", "recipient"}})
	f.Fuzz(func(t *testing.T, body []byte) {
		if len(body) > 1<<20 {
			return
		}
		res := c.Classify(body)
		if res.Reason != "" {
			if res.Record != nil {
				t.Fatal("rejected body has a record")
			}
			checkRejection(t, body, res.Reason)
			return
		}
		checkLoadable(t, res.Record)
		if holdsRecipient(res.Record) {
			t.Fatalf("deselected field in %s", res.Record)
		}
		if res.EventID == "" || !json.Valid(res.Record) || bytes.ContainsAny(res.Record, "\n\r") {
			t.Fatalf("bad valid result %q from %q", res.Record, body)
		}
		var m map[string]any
		if err := json.Unmarshal(res.Record, &m); err != nil || m["event_id"] != res.EventID {
			t.Fatalf("record %s does not carry event_id %q", res.Record, res.EventID)
		}
	})
}

// checkRejection fails t unless the rejected record of body is loadable
// and holds no data.recipient.
func checkRejection(t *testing.T, body []byte, reason string) {
	t.Helper()
	raw, _, err := Rejection("sp:1", time.Unix(0, 0), reason, body, [][]string{{"data", "recipient"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	checkLoadable(t, raw)
	var r struct{ Body *string }
	if err := json.Unmarshal(raw, &r); err != nil {
		t.Fatal(err)
	}
	if r.Body == nil {
		return
	}
	if strings.IndexByte(*r.Body, 0) >= 0 {
		t.Fatalf("NUL in body %q", *r.Body)
	}
	if holdsRecipient([]byte(*r.Body)) {
		t.Fatalf("data.recipient in rejected body %q", *r.Body)
	}
}

// holdsRecipient reports whether the JSON object b has data.recipient.
func holdsRecipient(b []byte) bool {
	var doc map[string]json.RawMessage
	var data map[string]json.RawMessage
	if json.Unmarshal(b, &doc) != nil || json.Unmarshal(doc["data"], &data) != nil {
		return false
	}
	_, ok := data["recipient"]
	return ok
}

func BenchmarkClassify(b *testing.B) {
	c := newClassifier(b, nil)
	body := samplePayloads(b)["email_sent.json"]
	benchClassify(b, c.Classify, body)
}

// benchClassify measures classify on body, which must be a valid event.
func benchClassify(b *testing.B, classify func([]byte) Result, body []byte) {
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if res := classify(body); res.Reason != "" {
			b.Fatal(res.Reason)
		}
	}
}

func TestRejection(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 1, 2, 3, 4, 5, 123456789, time.FixedZone("x", 3600))
	raw, withheld, err := Rejection("sp:7", at, "body is empty", []byte("a\"b\xff<"), nil, nil)
	if withheld {
		t.Fatal("withheld without deselected fields")
	}
	if err != nil {
		t.Fatal(err)
	}
	want := `{"rejection_id":"sp:7","received_at":"2026-01-02T02:04:05.123456Z","reason":"body is empty","body":"a\"b` + "\ufffd" + `<",` +
		`"body_sha256":"aac4b644f56c8ac3408a2ecf93bafa2646fd36ebe646f3d0a438a83381c783eb","body_bytes":5}`
	if string(raw) != want {
		t.Fatalf("got  %s\nwant %s", raw, want)
	}
	raw, _, err = Rejection("sp:7", at, "r", []byte("x"), nil, [][]string{{"body"}})
	if err != nil || bytes.Contains(raw, []byte(`"body"`)) {
		t.Fatalf("deselected body kept: %s %v", raw, err)
	}
}

// BenchmarkClassifyCompact: a sample body as senders post it, on one line
// (BenchmarkClassify's is indented).
func BenchmarkClassifyCompact(b *testing.B) {
	c := newClassifier(b, nil)
	var body bytes.Buffer
	if err := json.Compact(&body, samplePayloads(b)["email_sent.json"]); err != nil {
		b.Fatal(err)
	}
	benchClassify(b, c.Classify, body.Bytes())
}
