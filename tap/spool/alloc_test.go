//go:build !race

package spool

import (
	"context"
	"testing"

	"github.com/rs/zerolog"
)

// TestAppend_Allocations bounds the allocations of a serial 1 KB Append, the receiver's hot
// path. Each Append there is its own batch: the batch, its done channel and the readers'
// wake-up channel. The body is copied into a reused buffer, so its size does not matter.
func TestAppend_Allocations(t *testing.T) {
	s, err := Open(Options{Dir: t.TempDir(), Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	allocs := testing.AllocsPerRun(200, func() {
		if _, err := s.Append(ctx, bench1K, "tok"); err != nil {
			t.Fatal(err)
		}
	})
	if allocs > 3 {
		t.Fatalf("Append of 1 KB made %.1f allocations, want <= 3", allocs)
	}
	t.Logf("%.1f allocations per Append", allocs)
}
