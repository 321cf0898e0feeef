package singer_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/cio-singer/tap-customerio-webhook/internal/jsonlex"
	"github.com/cio-singer/tap-customerio-webhook/internal/singer"
)

func readAll(t *testing.T, input string, maxLine int) ([]singer.Message, error) {
	t.Helper()
	r := singer.NewReader(strings.NewReader(input), maxLine)
	var out []singer.Message
	for {
		m, err := r.Next()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, m)
	}
}

func TestWriter_Format(t *testing.T) {
	var buf bytes.Buffer
	w := singer.NewWriter(&buf)
	if err := w.WriteSchema("data", json.RawMessage(`{"type":"object","properties":{"u":{"type":"string"}}}`), nil); err != nil {
		t.Fatal(err)
	}
	ts := time.Date(2026, 1, 2, 3, 4, 5, 123456789, time.FixedZone("x", 5*3600))
	if err := w.WriteRecord("data", json.RawMessage(`{"u":"https://x/?a=1&b=<2>"}`), ts); err != nil {
		t.Fatal(err)
	}
	if buf.Len() != 0 {
		t.Fatalf("records reached the output before a flush: %q", buf.String())
	}
	if w.Buffered() == 0 {
		t.Fatal("Buffered() = 0 after two writes")
	}
	if err := w.WriteState(json.RawMessage(`{"bookmarks":{"data":{"spool_offset":7}}}`)); err != nil {
		t.Fatal(err)
	}
	want := `{"type":"SCHEMA","stream":"data","schema":{"type":"object","properties":{"u":{"type":"string"}}},"key_properties":[]}
{"type":"RECORD","stream":"data","record":{"u":"https://x/?a=1&b=<2>"},"time_extracted":"2026-01-01T22:04:05.123456Z"}
{"type":"STATE","value":{"bookmarks":{"data":{"spool_offset":7}}}}
`
	if got := buf.String(); got != want {
		t.Fatalf("output:\n%s\nwant:\n%s", got, want)
	}
	if w.Buffered() != 0 {
		t.Fatalf("Buffered() = %d after WriteState", w.Buffered())
	}
}

func TestWriter_SixFractionalDigits(t *testing.T) {
	var buf bytes.Buffer
	w := singer.NewWriter(&buf)
	if err := w.WriteRecord("s", json.RawMessage(`{}`), time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), `"time_extracted":"2026-01-02T03:04:05.000000Z"`) {
		t.Fatalf("got %s", buf.String())
	}
}

func TestReader_Messages(t *testing.T) {
	input := "\n" +
		`{"type":"schema","stream":"s","schema":{"properties":{}},"key_properties":["id"],"bookmark_properties":["ts"]}` + "\n" +
		"   \r\n" +
		`{"type":"Record","stream":"s","record":{"id":1},"time_extracted":"2026-01-03T00:00:00+05:00","version":9}` + "\r\n" +
		`{"type":"STATE","value":{"a":1}}` + "\n" +
		`{"type":"ACTIVATE_VERSION","stream":"s","version":9}` + "\n" +
		`{"type":"BATCH","stream":"s"}` + "\n" +
		`{"type":"SCHEMA","stream":"t","schema":{}}` // no newline at the end
	msgs, err := readAll(t, input, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 6 {
		t.Fatalf("got %d messages, want 6", len(msgs))
	}
	wantTypes := []string{"SCHEMA", "RECORD", "STATE", "ACTIVATE_VERSION", "BATCH", "SCHEMA"}
	wantLines := []int{2, 4, 5, 6, 7, 8}
	for i, m := range msgs {
		if m.Type != wantTypes[i] || m.Line != wantLines[i] {
			t.Errorf("message %d: type %s line %d, want %s line %d", i, m.Type, m.Line, wantTypes[i], wantLines[i])
		}
	}
	if !msgs[0].HasKeyProperties || !reflect.DeepEqual(msgs[0].KeyProperties, []string{"id"}) || !reflect.DeepEqual(msgs[0].BookmarkProperties, []string{"ts"}) {
		t.Errorf("schema keys: %+v", msgs[0])
	}
	if msgs[5].HasKeyProperties {
		t.Errorf("HasKeyProperties true for a SCHEMA without key_properties")
	}
	rec := msgs[1]
	if string(rec.Record) != `{"id":1}` || rec.Version == nil || *rec.Version != 9 {
		t.Errorf("record: %+v", rec)
	}
	if want := time.Date(2026, 1, 2, 19, 0, 0, 0, time.UTC); !rec.TimeExtracted.Equal(want) || rec.TimeExtracted.Location() != time.UTC {
		t.Errorf("time_extracted %v, want %v in UTC", rec.TimeExtracted, want)
	}
	if string(msgs[2].Value) != `{"a":1}` {
		t.Errorf("state value %s", msgs[2].Value)
	}
}

// TestReader_Members checks that a RECORD carries where its members lie,
// as EachMember finds them, with their escapes flagged, whatever the
// spacing and whatever follows the record on the line.
func TestReader_Members(t *testing.T) {
	input := `{"type":"RECORD","stream":"s","record": { "a" : 1 ,"b\"":"x\ny", "c":{"d":[1,{"e":2}]},"f":"plain"} ,"value":{"z":1}}` + "\n" +
		`{"record":{},"type":"record","stream":"s"}` + "\n" +
		`{"type":"RECORD","stream":"s","record":{"only":null}}` + "\n"
	msgs, err := readAll(t, input, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := [][]string{{`"a"`, `1`, `"b\""`, `"x\ny"`, `"c"`, `{"d":[1,{"e":2}]}`, `"f"`, `"plain"`}, {}, {`"only"`, `null`}}
	for i, m := range msgs {
		checkMembers(t, m)
		var got []string
		for _, mb := range m.Members {
			got = append(got, string(mb.Key(m.Record)), string(mb.Value(m.Record)))
		}
		if len(got) != len(want[i]) || (len(got) > 0 && !reflect.DeepEqual(got, want[i])) {
			t.Errorf("record %d: members %q, want %q", i, got, want[i])
		}
	}
	if mb := msgs[0].Members[1]; !mb.KeyEscaped || !mb.ValueEscaped || msgs[0].Members[3].ValueEscaped || msgs[0].Members[0].KeyEscaped {
		t.Errorf("escapes flagged wrongly: %+v", msgs[0].Members)
	}
}

// checkMembers fails unless a RECORD's Members are where EachMember finds
// the record's members, with escapes flagged where there are backslashes.
func checkMembers(t *testing.T, m singer.Message) {
	t.Helper()
	if m.Type != singer.TypeRecord {
		if m.Members != nil {
			t.Fatalf("%s message with Members", m.Type)
		}
		return
	}
	var want [][]byte
	if err := jsonlex.EachMember(m.Record, func(k, v []byte) error {
		want = append(want, k, v)
		return nil
	}); err != nil {
		t.Fatalf("record %s: %v", m.Record, err)
	}
	if len(m.Members)*2 != len(want) {
		t.Fatalf("record %s: %d members located, EachMember finds %d", m.Record, len(m.Members), len(want)/2)
	}
	for i, mb := range m.Members {
		k, v := mb.Key(m.Record), mb.Value(m.Record)
		if !bytes.Equal(k, want[2*i]) || !bytes.Equal(v, want[2*i+1]) {
			t.Fatalf("record %s: member %d is %s:%s, EachMember finds %s:%s", m.Record, i, k, v, want[2*i], want[2*i+1])
		}
		if mb.KeyEscaped != bytes.Contains(k, []byte(`\`)) || mb.ValueEscaped != (v[0] == '"' && bytes.Contains(v, []byte(`\`))) {
			t.Fatalf("record %s: member %s:%s flags escapes %v, %v", m.Record, k, v, mb.KeyEscaped, mb.ValueEscaped)
		}
	}
}

// TestReader_StreamAndTypeNames: the names the reader reuses without
// decoding (the previous stream, the known types) are the names decoding
// gives.
func TestReader_StreamAndTypeNames(t *testing.T) {
	input := `{"type":"STATE","stream":"a\\b","value":1}` + "\n" +
		`{"type":"STATE","stream":"a\b","value":1}` + "\n" +
		`{"type":"STATE","stream":"a\\b","value":1}` + "\n" +
		`{"type":"sTaTe","stream":"x","value":1}` + "\n" +
		`{"type":"st\u0061te","stream":"x","value":1}` + "\n" +
		`{"type":"ſtate","stream":"x","value":1}` + "\n" +
		`{"type":"STATE\u007f","stream":"x","value":1}` + "\n"
	msgs, err := readAll(t, input, 0)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range msgs {
		got = append(got, m.Type+"/"+m.Stream)
	}
	want := []string{`STATE/a\b`, "STATE/a\b", `STATE/a\b`, "STATE/x", "STATE/x", "STATE/x", "STATE\u007f/x"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestReader_Errors(t *testing.T) {
	tests := []struct {
		name string
		line string
	}{
		{"bad json", `{"type":"RECORD",`},
		{"not an object", `[1,2]`},
		{"missing type", `{"stream":"s"}`},
		{"type not a string", `{"type":1}`},
		{"record without stream", `{"type":"RECORD","record":{}}`},
		{"record without record", `{"type":"RECORD","stream":"s"}`},
		{"record not an object", `{"type":"RECORD","stream":"s","record":[1]}`},
		{"record null", `{"type":"RECORD","stream":"s","record":null}`},
		{"bad time_extracted", `{"type":"RECORD","stream":"s","record":{},"time_extracted":"yesterday"}`},
		{"naive time_extracted", `{"type":"RECORD","stream":"s","record":{},"time_extracted":"2026-01-01T00:00:00"}`},
		{"schema without stream", `{"type":"SCHEMA","schema":{}}`},
		{"schema not an object", `{"type":"SCHEMA","stream":"s","schema":true}`},
		{"key_properties not a list", `{"type":"SCHEMA","stream":"s","schema":{},"key_properties":"id"}`},
		{"version not an integer", `{"type":"RECORD","stream":"s","record":{},"version":1.5}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := readAll(t, `{"type":"STATE","value":1}`+"\n\n"+tc.line+"\n", 0)
			var le *singer.LineError
			if !errors.As(err, &le) {
				t.Fatalf("err = %v, want a *LineError", err)
			}
			if le.Line != 3 {
				t.Fatalf("line %d, want 3", le.Line)
			}
			if !strings.HasPrefix(err.Error(), "line 3: ") {
				t.Fatalf("Error() = %q", err.Error())
			}
		})
	}
}

func TestReader_LineLimit(t *testing.T) {
	long := `{"type":"STATE","value":"` + strings.Repeat("x", 200<<10) + `"}`
	input := long + "\n" + `{"type":"STATE","value":2}` + "\n"
	r := singer.NewReader(strings.NewReader(input), 1024)
	_, err := r.Next()
	var le *singer.LineError
	if !errors.As(err, &le) || le.Line != 1 || !errors.Is(err, singer.ErrLineTooLong) {
		t.Fatalf("err = %v, want line 1 too long", err)
	}
	m, err := r.Next()
	if err != nil || m.Line != 2 || string(m.Value) != "2" {
		t.Fatalf("after the long line: %+v, %v", m, err)
	}
	// Without a limit the same line is read whole.
	msgs, err := readAll(t, input, 0)
	if err != nil || len(msgs) != 2 || len(msgs[0].Value) != len(long)-len(`{"type":"STATE","value":}`) {
		t.Fatalf("unlimited read: %d messages, %v", len(msgs), err)
	}
}

func TestReader_HugeLine(t *testing.T) {
	big := strings.Repeat("é", 6<<20) // 12 MiB of UTF-8
	input := `{"type":"RECORD","stream":"s","record":{"body":"` + big + `"}}` + "\n"
	msgs, err := readAll(t, input, 0)
	if err != nil {
		t.Fatal(err)
	}
	var rec struct{ Body string }
	if err := json.Unmarshal(msgs[0].Record, &rec); err != nil || rec.Body != big {
		t.Fatalf("huge record not read back intact (%v)", err)
	}
}

func TestParseTime(t *testing.T) {
	tests := []struct {
		in   string
		want time.Time
	}{
		{"2026-01-02T03:04:05Z", time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)},
		{"2026-01-02T03:04:05.123456789-02:30", time.Date(2026, 1, 2, 5, 34, 5, 123456789, time.UTC)},
		{"2026-01-02 03:04:05+01:00", time.Date(2026, 1, 2, 2, 4, 5, 0, time.UTC)},
	}
	for _, tc := range tests {
		got, err := singer.ParseTime(tc.in)
		if err != nil || !got.Equal(tc.want) || got.Location() != time.UTC {
			t.Errorf("ParseTime(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "2026-01-02", "2026-13-02T00:00:00Z", "not a date"} {
		if _, err := singer.ParseTime(bad); err == nil {
			t.Errorf("ParseTime(%q) accepted", bad)
		}
	}
}

func TestWriter_RecordShapes(t *testing.T) {
	var buf bytes.Buffer
	w := singer.NewWriter(&buf)
	if err := w.WriteRecord("s", json.RawMessage("{\n  \"a\": 1\n}"), time.Time{}); err != nil {
		t.Fatal(err)
	}
	if err := w.WriteRecord("s<&>", json.RawMessage(`{"b":2}`), time.Time{}); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{``, `[1]`, `"x"`, `{`} {
		if err := w.WriteRecord("s", json.RawMessage(bad), time.Time{}); err == nil {
			t.Errorf("WriteRecord(%q) accepted a record that is not an object", bad)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	want := `{"type":"RECORD","stream":"s","record":{"a":1}}` + "\n" + `{"type":"RECORD","stream":"s<&>","record":{"b":2}}` + "\n"
	if buf.String() != want {
		t.Fatalf("got %q, want %q", buf.String(), want)
	}
}
