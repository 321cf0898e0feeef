package singer_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/cio-singer/tap-customerio-webhook/internal/singer"
)

// benchRecord returns a Customer.io-shaped record of about 1 KB.
func benchRecord(i int) json.RawMessage {
	return json.RawMessage(fmt.Sprintf(`{"event_id":"01J9A4QK7M2T5V8XWB3N6R%04d","object_type":"email","metric":"sent","timestamp":1727712043,`+
		`"data":{"action_id":314,"campaign_id":27,"journey_id":"01J9A4PZ1F0A1B2C3D4E5F6G7H","parent_action_id":310,`+
		`"trigger_event_id":"01J9A4PX9QWE4RTY5UIO6PASDF","customer_id":"user-7781","delivery_id":"dgOyBwYAAZIWvW1cFq3H9XbE2Lk=",`+
		`"identifiers":{"id":"user-7781","email":"ana.ruiz@example.org","cio_id":"a4f20c000123"},"recipient":"ana.ruiz@example.org",`+
		`"subject":"Your October summary","content":"<html><body><p>Hi Ana, here is your monthly summary.</p>%s</body></html>",`+
		`"headers":{"X-Campaign-Tag":["october-digest"]}}}`, i%10000, strings.Repeat("x", 420)))
}

func BenchmarkWriter_Record(b *testing.B) {
	rec := benchRecord(1)
	w := singer.NewWriter(io.Discard)
	ts := time.Now()
	b.SetBytes(int64(len(rec)))
	b.ReportAllocs()
	for b.Loop() {
		if err := w.WriteRecord("data", rec, ts); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkReader_Record(b *testing.B) {
	var buf bytes.Buffer
	w := singer.NewWriter(&buf)
	const n = 1000
	for i := range n {
		if err := w.WriteRecord("data", benchRecord(i), time.Now()); err != nil {
			b.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	input := buf.Bytes()
	b.SetBytes(int64(len(input) / n))
	b.ReportAllocs()
	var r *singer.Reader
	i := n
	for b.Loop() {
		if i == n {
			r, i = singer.NewReader(bytes.NewReader(input), 0), 0
		}
		if _, err := r.Next(); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
