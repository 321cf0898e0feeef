package singer_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/cio-singer/tap-customerio-webhook/internal/singer"
)

func FuzzReader(f *testing.F) {
	body, err := os.ReadFile("testdata/email_sent.json")
	if err != nil {
		f.Fatal(err)
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, body); err != nil {
		f.Fatal(err)
	}
	f.Add(`{"type":"RECORD","stream":"data","record":` + compact.String() + `,"time_extracted":"2026-01-02T03:04:05.000000Z"}`)
	f.Add(`{"type":"SCHEMA","stream":"data","schema":{"properties":{}},"key_properties":["event_id"]}` + "\n" + `{"type":"STATE","value":{"a":1}}`)
	f.Add(`{"type":"record","stream":"s","record":{"a":"\u0000\n"},"version":3}` + "\r\n\n")
	f.Add(" \n\t\"")
	f.Add("")
	f.Add(`{"type":"STATE","value":` + strings.Repeat("[", 200) + strings.Repeat("]", 200) + `}`)
	f.Add(`{"type":"ACTIVATE_VERSION","stream":"s","version":1}` + "\n" + `{"type":7}`)
	f.Fuzz(func(t *testing.T, input string) {
		if len(input) > 1<<20 {
			return
		}
		lineCount := strings.Count(input, "\n") + 1
		r := singer.NewReader(strings.NewReader(input), 4096)
		var msgs []singer.Message
		for i := 0; ; i++ {
			m, err := r.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				var le *singer.LineError
				if !errors.As(err, &le) || le.Line < 1 || le.Line > lineCount {
					t.Fatalf("error %v is not a LineError within 1..%d", err, lineCount)
				}
				continue
			}
			if m.Line < 1 || m.Line > lineCount || m.Type == "" || m.Type != strings.ToUpper(m.Type) {
				t.Fatalf("message %+v out of 1..%d lines", m, lineCount)
			}
			checkMembers(t, m)
			msgs = append(msgs, m)
		}
		// Round trip: writing what was read and reading it back gives the
		// same messages.
		for _, m := range msgs {
			var buf bytes.Buffer
			w := singer.NewWriter(&buf)
			var err error
			switch m.Type {
			case singer.TypeSchema:
				err = w.WriteSchema(m.Stream, m.Schema, m.KeyProperties)
			case singer.TypeRecord:
				err = w.WriteRecord(m.Stream, m.Record, m.TimeExtracted)
			case singer.TypeState:
				if m.Value == nil {
					continue
				}
				err = w.WriteState(m.Value)
			default:
				continue
			}
			if err == nil {
				err = w.Flush()
			}
			if err != nil {
				t.Fatalf("writing %+v: %v", m, err)
			}
			back, err := singer.NewReader(&buf, 0).Next()
			if err != nil {
				t.Fatalf("reading back %q: %v", buf.String(), err)
			}
			assertSame(t, m, back)
		}
	})
}

// assertSame compares a message with its written-and-read-back copy.
func assertSame(t *testing.T, a, b singer.Message) {
	t.Helper()
	if a.Type != b.Type || (a.Type != singer.TypeState && a.Stream != b.Stream) {
		t.Fatalf("type/stream %s/%q became %s/%q", a.Type, a.Stream, b.Type, b.Stream)
	}
	for _, pair := range [][2]json.RawMessage{{a.Schema, b.Schema}, {a.Record, b.Record}, {a.Value, b.Value}} {
		if !sameJSON(pair[0], pair[1]) {
			t.Fatalf("%s: %s became %s", a.Type, pair[0], pair[1])
		}
	}
	if a.Type == singer.TypeSchema && !reflect.DeepEqual(nonNil(a.KeyProperties), b.KeyProperties) {
		t.Fatalf("key_properties %v became %v", a.KeyProperties, b.KeyProperties)
	}
	if want := a.TimeExtracted.Truncate(time.Microsecond); !want.Equal(b.TimeExtracted) {
		t.Fatalf("time_extracted %v became %v", a.TimeExtracted, b.TimeExtracted)
	}
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// sameJSON reports whether a and b are the same JSON once compacted.
func sameJSON(a, b json.RawMessage) bool {
	if len(a) == 0 || len(b) == 0 {
		return len(a) == len(b)
	}
	var ca, cb bytes.Buffer
	if json.Compact(&ca, a) != nil || json.Compact(&cb, b) != nil {
		return false
	}
	return bytes.Equal(ca.Bytes(), cb.Bytes())
}

func TestRoundTrip_Record(t *testing.T) {
	var buf bytes.Buffer
	w := singer.NewWriter(&buf)
	rec := json.RawMessage(`{"event_id":"e","n":9007199254740993,"s":"a\nb\u0000<&>"}`)
	ts := time.Date(2026, 1, 2, 3, 4, 5, 987654321, time.UTC)
	if err := w.WriteRecord("data", rec, ts); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	m, err := singer.NewReader(&buf, 0).Next()
	if err != nil {
		t.Fatal(err)
	}
	if string(m.Record) != string(rec) || !m.TimeExtracted.Equal(ts.Truncate(time.Microsecond)) {
		t.Fatalf("got %s %v", m.Record, m.TimeExtracted)
	}
}
