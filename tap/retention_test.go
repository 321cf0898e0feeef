package tap

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cio-singer/tap-customerio-webhook/tap/spool"
)

func TestRetainedRelease(t *testing.T) {
	t.Parallel()
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

// fillSpool appends n events to a spool of small segments.
func fillSpool(t *testing.T, dir string, n int) {
	t.Helper()
	sp, err := spool.Open(spool.Options{Dir: dir, SegmentBytes: 512})
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	for i := range n {
		if _, err := sp.Append(context.Background(), []byte(sentEvent(fmt.Sprint("r", i))), "tok"); err != nil {
			t.Fatal(err)
		}
	}
}

func segmentCount(t *testing.T, dir string) int {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*.seg"))
	if err != nil {
		t.Fatal(err)
	}
	return len(m)
}

// TestRetentionAndReplay: with spool_retention, a run with the state keeps
// the emitted segments, and a run with no state emits everything again (a
// new warehouse refills); once past the retention (age or bytes), they go.
func TestRetentionAndReplay(t *testing.T) {
	t.Parallel()
	for _, bound := range []string{"age", "bytes"} {
		t.Run(bound, func(t *testing.T) {
			dir := t.TempDir()
			fillSpool(t, dir, 30)
			segs := segmentCount(t, dir)
			if segs < 3 {
				t.Fatalf("%d segments; the test needs several", segs)
			}
			cfg := Config{SpoolDir: dir, StateInterval: time.Second, SpoolRetention: 168 * time.Hour}

			ids, st := load(t, cfg, Bookmark{})
			if len(ids) != 30 || st.SpoolOffset != 30 {
				t.Fatalf("first run: %d records, state %+v", len(ids), st)
			}
			ids, st2 := load(t, cfg, st)
			if len(ids) != 0 || st2.SpoolOffset != 30 || segmentCount(t, dir) != segs {
				t.Fatalf("run with the state: %d records, %d of %d segments kept", len(ids), segmentCount(t, dir), segs)
			}
			ids, _ = load(t, cfg, Bookmark{})
			if len(ids) != 30 || ids[0] != "r0" || ids[29] != "r29" {
				t.Fatalf("replay with no state: %d records %v; want r0..r29", len(ids), ids)
			}

			switch bound {
			case "age":
				old := time.Now().Add(-200 * time.Hour)
				m, _ := filepath.Glob(filepath.Join(dir, "*.seg"))
				for _, f := range m {
					os.Chtimes(f, old, old)
				}
			case "bytes":
				cfg.SpoolRetentionBytes = 1
			}
			ids, _ = load(t, cfg, st)
			if len(ids) != 0 || segmentCount(t, dir) != 1 {
				t.Fatalf("past retention: %d records, %d segments; want 0 and only the active one", len(ids), segmentCount(t, dir))
			}
		})
	}
	// Without retention a run deletes what its state covers, as before.
	dir := t.TempDir()
	fillSpool(t, dir, 30)
	cfg := Config{SpoolDir: dir, StateInterval: time.Second}
	_, st := load(t, cfg, Bookmark{})
	load(t, cfg, st)
	if n := segmentCount(t, dir); n != 1 {
		t.Fatalf("no retention: %d segments left; want 1", n)
	}
}
