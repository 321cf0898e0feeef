package sqliteload_test

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/rs/zerolog"

	"github.com/cio-singer/tap-customerio-webhook/target/sqliteload"
)

// BenchmarkLoad measures upserting batches of new ~1 KB Customer.io-shaped
// rows (synchronous=FULL, so one fsync per batch is included).
func BenchmarkLoad(b *testing.B) {
	for _, size := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("rows=%d", size), func(b *testing.B) {
			l, err := sqliteload.Open(b.Context(), filepath.Join(b.TempDir(), "bench.db"), zerolog.Nop())
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			if _, err := l.EnsureTable(b.Context(), eventsTable); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			next := 0
			for b.Loop() {
				b.StopTimer()
				batch := numberedBatch(next, size)
				next += size
				b.StartTimer()
				if err := l.Load(b.Context(), batch); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*size)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}
