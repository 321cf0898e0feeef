package target

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/cio-singer/tap-customerio-webhook/internal/singer"
)

// nopLoader accepts everything: the benchmarks measure the core alone.
type nopLoader struct{ rows int }

func (n *nopLoader) EnsureTable(_ context.Context, t Table) (Table, error) { return t, nil }
func (n *nopLoader) Load(_ context.Context, b *Batch) error                { n.rows += len(b.Rows); return nil }
func (n *nopLoader) Retryable(error) bool                                  { return false }
func (n *nopLoader) DataError(error) (string, bool)                        { return "", false }
func (n *nopLoader) Close() error                                          { return nil }

const benchSchema = `{"type":"SCHEMA","stream":"data","key_properties":["event_id"],"schema":{"type":"object","properties":{` +
	`"event_id":{"type":"string"},"object_type":{"type":["null","string"]},"metric":{"type":["null","string"]},` +
	`"timestamp":{"type":["null","integer"]},"received_at":{"type":["null","string"],"format":"date-time"},` +
	`"data":{"type":["null","object"],"properties":{"customer_id":{"type":["null","string"]},"campaign_id":{"type":["null","integer"]},` +
	`"identifiers":{"type":["null","object"]},"subject":{"type":["null","string"]},"content":{"type":["null","string"]}}}}}}`

// benchInput returns n Customer.io-shaped RECORD lines of about 1 KB, with
// a STATE every 1000 records.
func benchInput(n int) []byte {
	var b bytes.Buffer
	b.WriteString(benchSchema + "\n")
	pad := strings.Repeat("x", 430)
	for i := range n {
		fmt.Fprintf(&b, `{"type":"RECORD","stream":"data","record":{"event_id":"01J9A4QK7M2T5V8XWB3N%06d","object_type":"email","metric":"sent",`+
			`"timestamp":1727712043,"received_at":"2026-01-02T03:04:05.123456Z","data":{"action_id":314,"campaign_id":27,"journey_id":"01J9A4PZ1F0A1B2C3D4E5F6G7H",`+
			`"customer_id":"user-7781","delivery_id":"dgOyBwYAAZIWvW1cFq3H9XbE2Lk=","identifiers":{"id":"user-7781","email":"ana.ruiz@example.org","cio_id":"a4f20c000123"},`+
			`"recipient":"ana.ruiz@example.org","subject":"Your October summary","content":"<p>Hi Ana, here is your summary.</p>%s"}},"time_extracted":"2026-01-02T03:04:05.123456Z"}`+"\n", i, pad)
		if i%1000 == 999 {
			fmt.Fprintf(&b, `{"type":"STATE","value":{"bookmarks":{"data":{"spool_offset":%d}}}}`+"\n", i)
		}
	}
	return b.Bytes()
}

func BenchmarkRun(b *testing.B) {
	for _, flatten := range []int{0, 1} {
		b.Run(fmt.Sprintf("rows=20000/flatten=%d", flatten), func(b *testing.B) {
			const n = 20000
			input := benchInput(n)
			cfg := DefaultConfig()
			cfg.BatchSizeRows = 5000
			cfg.MaxBatchAge = time.Hour
			cfg.FlatteningMaxLevel = flatten
			b.SetBytes(int64(len(input)))
			b.ReportAllocs()
			start := time.Now()
			for b.Loop() {
				l := &nopLoader{}
				if err := run(context.Background(), cfg, l, bytes.NewReader(input), io.Discard, zerolog.Nop(), defaultOptions()); err != nil {
					b.Fatal(err)
				}
				if l.rows != n {
					b.Fatalf("%d rows loaded, want %d", l.rows, n)
				}
			}
			b.ReportMetric(float64(n*b.N)/time.Since(start).Seconds(), "rows/s")
		})
	}
}

func BenchmarkFillRow(b *testing.B) {
	l, err := newLayout("data", []byte(benchSchema[strings.Index(benchSchema, `"schema":`)+9:len(benchSchema)-1]), []string{"event_id"}, 0, true)
	if err != nil {
		b.Fatal(err)
	}
	rd := singer.NewReader(bytes.NewReader(benchInput(1)), 0)
	m, err := rd.Next()
	if err == nil {
		m, err = rd.Next() // the RECORD after the SCHEMA
	}
	if err != nil || m.Type != singer.TypeRecord {
		b.Fatalf("%+v, %v", m, err)
	}
	rec := m.Record
	types := make([]ColumnType, len(l.table.Columns))
	for i, c := range l.table.Columns {
		types[i] = c.Type
	}
	f := filler{l: l, types: types, unknown: func(string) {}}
	b.SetBytes(int64(len(rec)))
	b.ReportAllocs()
	for b.Loop() {
		row := make([]any, len(types))
		if err := f.fill(rec, m.Members, row); err != nil {
			b.Fatal(err)
		}
	}
}
