package tap

import (
	"testing"
	"time"
)

func TestRetainedRelease(t *testing.T) {
	now := time.Date(2026, 1, 8, 0, 0, 0, 0, time.UTC)
	day := 24 * time.Hour
	// Four segments of 100 bytes: offsets 1-10, 11-20, 21-30, 31- (active).
	segs := []sealedSegment{
		{First: 1, Size: 100, Newest: now.Add(-9 * day)},
		{First: 11, Size: 100, Newest: now.Add(-8 * day)},
		{First: 21, Size: 100, Newest: now.Add(-1 * day)},
		{First: 31, Size: 100, Newest: now},
	}
	tests := []struct {
		name      string
		committed uint64
		keep      time.Duration
		keepBytes int64
		want      uint64
	}{
		{"no retention releases what is committed", 25, 0, 0, 25},
		{"age: only old and committed", 40, 7 * day, 0, 20},
		{"age: never past the committed offset", 15, 7 * day, 0, 10},
		{"age: nothing committed keeps all", 0, 7 * day, 0, 0},
		{"age: all young keeps all", 40, 30 * day, 0, 0},
		{"bytes bound deletes oldest young ones", 40, 30 * day, 150, 20},
		{"bytes bound met keeps", 40, 30 * day, 300, 0},
		{"bytes bound never deletes unemitted", 5, 30 * day, 1, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := retainedRelease(segs, tc.committed, now, tc.keep, tc.keepBytes); got != tc.want {
				t.Fatalf("retainedRelease(committed %d, keep %v, bytes %d) = %d; want %d", tc.committed, tc.keep, tc.keepBytes, got, tc.want)
			}
		})
	}
}
