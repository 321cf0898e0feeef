package spool

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// bench1K is a Customer.io-sized body.
var bench1K = bytes.Repeat([]byte(`{"event_id":"01HZ","x":1}`), 41)[:1024]

// BenchmarkAppend measures durable appends of 1 KB bodies on the real file system (t.TempDir):
// serially, where every Append pays an fsync, and from parallel callers, where group commit
// shares each fsync among everyone waiting.
func BenchmarkAppend(b *testing.B) {
	b.Run("serial/body=1KB", func(b *testing.B) {
		s := benchSpool(b)
		ctx := context.Background()
		b.SetBytes(int64(len(bench1K)))
		b.ReportAllocs()
		start := time.Now()
		for b.Loop() {
			if _, err := s.Append(ctx, bench1K, "tok"); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "appends/s")
	})
	b.Run("parallel=64/body=1KB", func(b *testing.B) {
		s := benchSpool(b)
		ctx := context.Background()
		b.SetBytes(int64(len(bench1K)))
		b.ReportAllocs()
		b.SetParallelism(32) // x GOMAXPROCS (2 here): 64 concurrent appenders
		start := time.Now()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := s.Append(ctx, bench1K, "tok"); err != nil {
					b.Error(err)
					return
				}
			}
		})
		b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "appends/s")
	})
}

// BenchmarkRead measures reading 1 KB records back from segment files.
func BenchmarkRead(b *testing.B) {
	s := benchSpool(b)
	const n = 20_000
	ctx := context.Background()
	// Fill in parallel so setup does not pay one fsync per record.
	done := make(chan error, 50)
	for w := 0; w < 50; w++ {
		go func() {
			for i := 0; i < n/50; i++ {
				if _, err := s.Append(ctx, bench1K, "tok"); err != nil {
					done <- err
					return
				}
			}
			done <- nil
		}()
	}
	for w := 0; w < 50; w++ {
		if err := <-done; err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(len(bench1K)))
	b.ReportAllocs()
	var r *Reader
	start := time.Now()
	for b.Loop() {
		if r == nil {
			var err error
			if r, err = s.NewReader(0); err != nil {
				b.Fatal(err)
			}
		}
		_, ok, err := r.TryNext()
		if err != nil {
			b.Fatal(err)
		}
		if !ok {
			r.Close()
			r = nil
		}
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "records/s")
	if r != nil {
		r.Close()
	}
}

func benchSpool(b *testing.B) *Spool {
	b.Helper()
	s, err := Open(Options{Dir: b.TempDir(), Log: zerolog.Nop()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close() })
	return s
}

// BenchmarkZeroFill measures preparing a 16 MiB spare segment on the real file system
// (written back chunk by chunk, then synced).
func BenchmarkZeroFill(b *testing.B) {
	dir := b.TempDir()
	s := &Spool{fs: OSFS{}, prepStop: make(chan struct{})}
	const size = 16 << 20
	b.SetBytes(size)
	for b.Loop() {
		f, err := s.zeroFill(filepath.Join(dir, spareName), size)
		if err != nil {
			b.Fatal(err)
		}
		_ = f.Close()
	}
}
