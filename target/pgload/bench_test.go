package pgload_test

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/rs/zerolog"

	"github.com/cio-singer/tap-customerio-webhook/target"
	"github.com/cio-singer/tap-customerio-webhook/target/pgload"
)

// BenchmarkIntegrationLoad loads batches of Customer.io-shaped rows, keyed
// (staging table + upsert) and keyless (COPY straight into the table), so
// the cost of the staging path is visible.
func BenchmarkIntegrationLoad(b *testing.B) {
	for _, keyed := range []bool{true, false} {
		for _, n := range []int{1000, 10000} {
			b.Run(fmt.Sprintf("keyed=%v/rows=%d", keyed, n), func(b *testing.B) { benchLoad(b, keyed, n) })
		}
	}
}

func benchLoad(b *testing.B, keyed bool, n int) {
	l, err := pgload.Open(b.Context(), pgload.Config{DSN: pg.NewDatabase(b), Schema: "cio"}, zerolog.Nop())
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	tbl := dataTable
	if !keyed {
		tbl.Name, tbl.Keys = "data_append", nil
	}
	if _, err := l.EnsureTable(b.Context(), tbl); err != nil {
		b.Fatal(err)
	}
	batch := &target.Batch{Table: tbl.Name, Keys: tbl.Keys, Columns: []string{"event_id", "metric", "timestamp", "data"}}
	var bytes int64
	for i := range n {
		data := json.RawMessage(fmt.Sprintf(`{"customer_id":"user-%d","identifiers":{"email":"p%d@example.net"},"subject":"Spring update \u2603","href":"https://shop.example.com/new?i=%d"}`, i, i, i))
		bytes += int64(len(data)) + 40
		batch.Rows = append(batch.Rows, []any{fmt.Sprintf("01J9B7C2ZP%016d", i), "clicked", int64(1727798421 + i), data})
	}
	b.SetBytes(bytes)
	b.ReportAllocs()
	for b.Loop() {
		if err := l.Load(b.Context(), batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}
