package tap

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/cio-singer/tap-customerio-webhook/catalog"
	"github.com/cio-singer/tap-customerio-webhook/internal/singer"
	"github.com/cio-singer/tap-customerio-webhook/tap/spool"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

var receivedAt = time.Date(2026, 11, 25, 10, 0, 0, 123456789, time.UTC)

func newTestEmitter(t *testing.T, out *bytes.Buffer, sel map[string]catalog.Selection) *emitter {
	t.Helper()
	if sel == nil {
		var err error
		if sel, err = catalog.Default(); err != nil {
			t.Fatal(err)
		}
	}
	e, err := newEmitter(singer.NewWriter(out), sel, "spool-test", 0, time.Hour, func() time.Time { return receivedAt }, zerolog.New(zerolog.NewTestWriter(t)))
	if err != nil {
		t.Fatal(err)
	}
	e.timer.stated() // no STATE until asked for
	return e
}

// TestEmitGolden pins the exact Singer lines emitted for every sample
// payload: the format other people's targets parse.
func TestEmitGolden(t *testing.T) {
	t.Parallel()
	paths, _ := filepath.Glob(filepath.Join("..", "testdata", "payloads", "*.json"))
	if len(paths) == 0 {
		t.Fatal("no sample payloads")
	}
	for _, p := range paths {
		name := strings.TrimSuffix(filepath.Base(p), ".json")
		t.Run(name, func(t *testing.T) {
			body, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			e := newTestEmitter(t, &out, nil)
			if err := e.emit(spool.Record{Offset: 1, ReceivedAt: receivedAt, TokenID: "tok", Body: body}); err != nil {
				t.Fatal(err)
			}
			if err := e.writeState(); err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join("testdata", "golden", name+".singer.jsonl")
			if *update {
				if err := os.WriteFile(golden, out.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if out.String() != string(want) {
				t.Fatalf("output differs from %s (go test ./tap -run Golden -update, then review the diff):\n%s", golden, out.String())
			}
			lines := strings.Split(strings.TrimSpace(out.String()), "\n")
			if len(lines) != 3 || !strings.HasPrefix(lines[0], `{"type":"SCHEMA","stream":"data"`) ||
				!strings.HasPrefix(lines[1], `{"type":"RECORD","stream":"data"`) || !strings.HasPrefix(lines[2], `{"type":"STATE"`) {
				t.Fatalf("want SCHEMA, RECORD, STATE for stream data, got:\n%s", out.String())
			}
			var rec struct {
				Record        map[string]any `json:"record"`
				TimeExtracted string         `json:"time_extracted"`
			}
			if err := json.Unmarshal([]byte(lines[1]), &rec); err != nil {
				t.Fatal(err)
			}
			var sent map[string]any
			_ = json.Unmarshal(body, &sent)
			a, _ := json.Marshal(sent)
			b, _ := json.Marshal(rec.Record)
			if !bytes.Equal(a, b) {
				t.Errorf("record is not the body as sent:\n%s\n%s", a, b)
			}
			if rec.TimeExtracted != "2026-11-25T10:00:00.123456Z" {
				t.Errorf("time_extracted = %q", rec.TimeExtracted)
			}
		})
	}
}

func messages(t *testing.T, out *bytes.Buffer) []singer.Message {
	t.Helper()
	r := singer.NewReader(bytes.NewReader(out.Bytes()), 0)
	var msgs []singer.Message
	for {
		m, err := r.Next()
		if err != nil {
			break
		}
		msgs = append(msgs, m)
	}
	return msgs
}

func TestEmitRejected(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	e := newTestEmitter(t, &out, nil)
	for i, body := range []string{"not json", `{"no_id":1}`, `{"event_id":"ok"}`} {
		if err := e.emit(spool.Record{Offset: uint64(i + 1), ReceivedAt: receivedAt, Body: []byte(body)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.writeState(); err != nil {
		t.Fatal(err)
	}
	var rejected []map[string]any
	var data int
	for _, m := range messages(t, &out) {
		switch {
		case m.Type == "RECORD" && m.Stream == "rejected":
			var r map[string]any
			_ = json.Unmarshal(m.Record, &r)
			rejected = append(rejected, r)
		case m.Type == "RECORD" && m.Stream == "data":
			data++
		}
	}
	if len(rejected) != 2 || data != 1 {
		t.Fatalf("got %d rejected and %d data records, want 2 and 1", len(rejected), data)
	}
	if rejected[0]["rejection_id"] != "spool-test:1" || rejected[0]["body"] != "not json" || rejected[1]["reason"] != "event_id is missing" {
		t.Errorf("rejected records: %v", rejected)
	}
	// sha256("not json"): every rejected record says which raw body it is.
	if rejected[0]["body_sha256"] != sha256Hex("not json") || rejected[0]["body_bytes"] != float64(8) {
		t.Errorf("rejected record without the raw body's hash and length: %v", rejected[0])
	}
}

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// deselect returns the default catalog's selection with the fields at
// breadcrumbs (stream/breadcrumb, e.g. "data/properties/data/properties/recipient")
// deselected.
func deselect(t *testing.T, breadcrumbs ...string) map[string]catalog.Selection {
	t.Helper()
	c, err := catalog.Discover()
	if err != nil {
		t.Fatal(err)
	}
	for i := range c.Streams {
		for j, m := range c.Streams[i].Metadata {
			if slices.Contains(breadcrumbs, c.Streams[i].Stream+"/"+strings.Join(m.Breadcrumb, "/")) {
				c.Streams[i].Metadata[j].Metadata["selected"] = false
			}
		}
	}
	sel, err := c.Select()
	if err != nil {
		t.Fatal(err)
	}
	return sel
}

// TestEmitDeselectedFieldNeverLeaves: data.recipient deselected is on no
// stream: removed from data records, removed from rejected bodies that are
// JSON, and a rejected body it cannot be removed from is withheld.
func TestEmitDeselectedFieldNeverLeaves(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	e := newTestEmitter(t, &out, deselect(t, "data/properties/data/properties/recipient"))
	const secret = "ana.ruiz@example.org"
	bodies := []struct {
		body     string
		withheld string // what the reason must say; "" when the body goes out
		want     string // the body that goes out on rejected
	}{
		{`{"event_id":"e1","data":{"recipient":"` + secret + `","x":1}}`, "", ""},                                       // data
		{`{"event_id":"e2","data":{"recipient":"` + secret + `","x":1},"data":{"recipient":"` + secret + `"}}`, "", ""}, // data, duplicate
		{"{\"no_id\": 1,\n \"data\": {\"recipient\": \"" + secret + "\", \"x\": 2}}", "", `{"no_id":1,"data":{"x":2}}`},
		{`{"event_id":"e3","timestamp":1.5,"data":{"recipient":"` + secret + `"}}`, "", `{"event_id":"e3","timestamp":1.5,"data":{}}`},
		{`{"no_id":1,"data":"` + secret + `"}`, "data is not an object", ""},
		{`[{"data":{"recipient":"` + secret + `"}}]`, "the body is not a JSON object", ""},
		{`{"data":{"recipient":"` + secret + `"`, "it is not JSON", ""},
		{"to: " + secret, "it is not JSON", ""},
	}
	for i, b := range bodies {
		if err := e.emit(spool.Record{Offset: uint64(i + 1), ReceivedAt: receivedAt, Body: []byte(b.body)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.writeState(); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.String(), secret) || strings.Contains(out.String(), "ana.ruiz") {
		t.Fatalf("a deselected field left on stdout:\n%s", out.String())
	}
	var data int
	var rejected []map[string]any
	for _, m := range messages(t, &out) {
		if m.Type == "RECORD" && m.Stream == "data" {
			data++
		}
		if m.Type == "RECORD" && m.Stream == "rejected" {
			var r map[string]any
			if err := json.Unmarshal(m.Record, &r); err != nil {
				t.Fatal(err)
			}
			rejected = append(rejected, r)
		}
	}
	if data != 2 || len(rejected) != len(bodies)-2 {
		t.Fatalf("%d data and %d rejected records, want 2 and %d", data, len(rejected), len(bodies)-2)
	}
	for i, r := range rejected {
		b := bodies[i+2]
		if r["body_sha256"] != sha256Hex(b.body) || r["body_bytes"] != float64(len(b.body)) {
			t.Errorf("body %d: hash %v, length %v", i+2, r["body_sha256"], r["body_bytes"])
		}
		reason, _ := r["reason"].(string)
		if b.withheld == "" {
			if r["body"] != b.want || strings.Contains(reason, "withheld") {
				t.Errorf("body %d: body %v, reason %q; want %s", i+2, r["body"], reason, b.want)
			}
			continue
		}
		if body, present := r["body"]; !present || body != nil || !strings.Contains(reason, "body withheld: "+b.withheld) {
			t.Errorf("body %d: body %v, reason %q; want null and withheld because %s", i+2, r["body"], reason, b.withheld)
		}
	}
}

// TestEmitWithoutDeselectionKeepsRejectedBody: with every field selected a
// rejected body goes out even when it is not JSON (cleaned of what no
// target can load).
func TestEmitWithoutDeselectionKeepsRejectedBody(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	e := newTestEmitter(t, &out, nil)
	for i, body := range []string{"{\"data\":{\"recipient\":\"x\"", "a\x00b\xff"} {
		if err := e.emit(spool.Record{Offset: uint64(i + 1), ReceivedAt: receivedAt, Body: []byte(body)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.writeState(); err != nil {
		t.Fatal(err)
	}
	var bodies []any
	for _, m := range messages(t, &out) {
		if m.Type == "RECORD" {
			var r map[string]any
			_ = json.Unmarshal(m.Record, &r)
			bodies = append(bodies, r["body"])
		}
	}
	if len(bodies) != 2 || bodies[0] != "{\"data\":{\"recipient\":\"x\"" || bodies[1] != "a\uFFFDb\uFFFD" {
		t.Fatalf("bodies %q", bodies)
	}
}

// TestEmitLearnsUnknownFields: a field data.json does not describe yet is
// added to the SCHEMA (sent again before the record), so targets that build
// columns from the schema keep it.
func TestEmitLearnsUnknownFields(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	e := newTestEmitter(t, &out, nil)
	bodies := []string{
		`{"event_id":"a","metric":"sent"}`,
		`{"event_id":"b","brand_new":{"x":1},"data":{"future_field":"y"}}`,
		`{"event_id":"c","brand_new":{"x":2},"data":{"future_field":"z"}}`,
	}
	for i, b := range bodies {
		if err := e.emit(spool.Record{Offset: uint64(i + 1), ReceivedAt: receivedAt, Body: []byte(b)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.w.Flush(); err != nil {
		t.Fatal(err)
	}
	var schemas []string
	for _, m := range messages(t, &out) {
		if m.Type == "SCHEMA" {
			schemas = append(schemas, string(m.Schema))
		}
	}
	if len(schemas) != 2 {
		t.Fatalf("got %d SCHEMA messages, want 2 (initial, then grown once)", len(schemas))
	}
	if strings.Contains(schemas[0], "brand_new") || !strings.Contains(schemas[1], `"brand_new"`) || !strings.Contains(schemas[1], `"future_field"`) {
		t.Fatalf("schema did not grow as expected:\n%s\n%s", schemas[0], schemas[1])
	}
}

func TestEmitCatalogSelection(t *testing.T) {
	t.Parallel()
	c, err := catalog.Discover()
	if err != nil {
		t.Fatal(err)
	}
	for i := range c.Streams {
		for j, m := range c.Streams[i].Metadata {
			crumb := strings.Join(m.Breadcrumb, "/")
			if (c.Streams[i].Stream == "data" && crumb == "properties/data/properties/recipient") ||
				(c.Streams[i].Stream == "rejected" && crumb == "") {
				c.Streams[i].Metadata[j].Metadata["selected"] = false
			}
		}
	}
	sel, err := c.Select()
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	e := newTestEmitter(t, &out, sel)
	body, _ := os.ReadFile(filepath.Join("..", "testdata", "payloads", "email_sent.json"))
	for i, b := range [][]byte{body, []byte("junk")} {
		if err := e.emit(spool.Record{Offset: uint64(i + 1), ReceivedAt: receivedAt, Body: b}); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.writeState(); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.String(), "ana.ruiz@example.org\"") && strings.Contains(out.String(), `"recipient"`) {
		t.Error("deselected data.recipient reached stdout")
	}
	if strings.Contains(out.String(), `"stream":"rejected"`) {
		t.Error("deselected stream rejected was emitted")
	}
	msgs := messages(t, &out)
	last := msgs[len(msgs)-1]
	if last.Type != "STATE" || !strings.Contains(string(last.Value), `"spool_offset":2`) {
		t.Errorf("state does not cover the unselected record: %s", last.Value)
	}
}

func TestParseState(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want Bookmark
		bad  bool
	}{
		{``, Bookmark{}, false},
		{`null`, Bookmark{}, false},
		{`{}`, Bookmark{}, false},
		{`{"bookmarks":{"data":{"spool_offset":7,"spool_id":"x"}}}`, Bookmark{7, "x"}, false},
		{`{"bookmarks":{"data":{"spool_offset":7,"spool_id":"x"},"rejected":{"spool_offset":5,"spool_id":"x"}}}`, Bookmark{5, "x"}, false},
		{`{"bookmarks":{"data":{"spool_offset":"seven"}}}`, Bookmark{}, true},
		{`[`, Bookmark{}, true},
	}
	for _, tc := range tests {
		got, err := ParseState([]byte(tc.in))
		if (err != nil) != tc.bad || got != tc.want {
			t.Errorf("ParseState(%s) = %+v, %v; want %+v, error %v", tc.in, got, err, tc.want, tc.bad)
		}
	}
	round, err := ParseState(encodeState(spoolBookmarks(Bookmark{42, "id"}), nil))
	if err != nil || round != (Bookmark{42, "id"}) {
		t.Errorf("round trip: %+v %v", round, err)
	}
}

// benchInput returns the default catalog's selection and a sample body.
func benchInput(b *testing.B) (map[string]catalog.Selection, []byte) {
	b.Helper()
	sel, err := catalog.Default()
	if err != nil {
		b.Fatal(err)
	}
	body, err := os.ReadFile(filepath.Join("..", "testdata", "payloads", "email_sent.json"))
	if err != nil {
		b.Fatal(err)
	}
	return sel, body
}

// BenchmarkEmit: one spool record to Singer lines, the emitter's work per
// webhook (classification, schema learning, writing).
func BenchmarkEmit(b *testing.B) {
	sel, body := benchInput(b)
	e, err := newEmitter(singer.NewWriter(io.Discard), sel, "bench", 0, time.Hour, time.Now, zerolog.Nop())
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	var off uint64
	for b.Loop() {
		off++
		if err := e.emit(spool.Record{Offset: off, ReceivedAt: receivedAt, Body: body}); err != nil {
			b.Fatal(err)
		}
	}
}

// TestEmitLearnsFieldsNamedLikeDeselectedPaths: deselecting data.recipient
// keeps data's recipient out, not a field whose name is "data.recipient":
// that one is learnt into the schema (or targets would drop its value),
// by the one pass and by the decoded path alike.
func TestEmitLearnsFieldsNamedLikeDeselectedPaths(t *testing.T) {
	t.Parallel()
	for name, body := range map[string]string{
		"one pass": `{"event_id":"a","data.recipient":"kept","data":{"recipient":"secret","z":1}}`,
		"decoded":  `{"event_id":"b","data.recipient":"kept","data":{"recipient":"secret","z":"\u0000"}}`,
	} {
		t.Run(name, func(t *testing.T) {
			var out bytes.Buffer
			e := newTestEmitter(t, &out, deselect(t, "data/properties/data/properties/recipient"))
			if err := e.emit(spool.Record{Offset: 1, ReceivedAt: receivedAt, Body: []byte(body)}); err != nil {
				t.Fatal(err)
			}
			if err := e.w.Flush(); err != nil {
				t.Fatal(err)
			}
			var schema struct {
				Properties map[string]struct {
					Properties map[string]any
				}
			}
			var record string
			for _, m := range messages(t, &out) {
				switch m.Type {
				case "SCHEMA":
					if err := json.Unmarshal(m.Schema, &schema); err != nil {
						t.Fatal(err)
					}
				case "RECORD":
					record = string(m.Record)
				}
			}
			if _, ok := schema.Properties["data.recipient"]; !ok {
				t.Errorf("the last SCHEMA lacks the field named data.recipient; record %s", record)
			}
			if _, ok := schema.Properties["data"].Properties["recipient"]; ok {
				t.Error("the last SCHEMA learnt data's deselected recipient")
			}
			if !strings.Contains(record, `"data.recipient":"kept"`) || strings.Contains(record, "secret") {
				t.Errorf("record %s", record)
			}
		})
	}
}
