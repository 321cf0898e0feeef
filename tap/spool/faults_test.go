package spool

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/cio-singer/tap-customerio-webhook/internal/poll"
	"github.com/cio-singer/tap-customerio-webhook/tap/spool/spooltest"
)

// failOp returns a fault that fails op on files whose base name ends in suffix.
func failOp(op, suffix string) func(string, string) error {
	return func(o, name string) error {
		if o == op && strings.HasSuffix(name, suffix) {
			return spooltest.ErrInjected
		}
		return nil
	}
}

// assertTailClean checks the active segment holds exactly its durable bytes: no half-written
// record may remain in front of the next one.
func assertTailClean(t *testing.T, fsys *spooltest.MemFS, s *Spool) {
	t.Helper()
	s.mu.Lock()
	last := s.segments[len(s.segments)-1]
	s.mu.Unlock()
	if got := int64(len(fsys.File(s.path(segmentName(last.first))))); got != last.size {
		t.Fatalf("active segment is %d bytes, durable length %d", got, last.size)
	}
}

func TestAppend_IOFailures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		fault func(string, string) error
	}{
		{"fsync fails", failOp("sync", segmentSuffix)},
		{"write fails after half the bytes", failOp("write", segmentSuffix)},
		{"fsync and the truncation after it fail", func(op, name string) error {
			if (op == "sync" || op == "truncate") && strings.HasSuffix(name, segmentSuffix) {
				return spooltest.ErrInjected
			}
			return nil
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fsys := spooltest.New()
			s := mustOpen(t, Options{Dir: testDir, FS: fsys, Log: testLog(t)})
			mustAppend(t, s, "before", "t")

			fsys.SetFault(tc.fault)
			for i := 0; i < 3; i++ { // later Appends retry, and fail while the disk does
				off, err := s.Append(context.Background(), []byte("during"), "t")
				if !errors.Is(err, spooltest.ErrInjected) || off != 0 {
					t.Fatalf("Append on a failing disk = %d, %v; want 0 and the I/O error", off, err)
				}
			}
			if d := s.Durable(); d != 1 {
				t.Fatalf("Durable = %d after failed appends, want 1", d)
			}

			fsys.SetFault(nil)
			off := mustAppend(t, s, "after", "t")
			if off <= 1 {
				t.Fatalf("offset after recovery %d, want > 1", off)
			}
			assertTailClean(t, fsys, s)
			if got := bodies(readAll(t, s, 0)); strings.Join(got, ",") != "before,after" {
				t.Fatalf("read %q, want before,after: a failed record must not appear", got)
			}

			// And after power loss, exactly the acknowledged records are there.
			crashed := fsys.Crash(rand.New(rand.NewPCG(7, 7)))
			s2 := mustOpen(t, Options{Dir: testDir, FS: crashed, Log: testLog(t)})
			if got := bodies(readAll(t, s2, 0)); strings.Join(got, ",") != "before,after" {
				t.Fatalf("after power loss read %q, want before,after", got)
			}
		})
	}
}

func TestAppend_RotationFailures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		op    string
		spare bool // rotate onto a zero-filled spare; else create the segment (the fallback)
	}{
		{"create", false}, {"write", false}, {"sync", false}, {"rename", false}, {"syncdir", false},
		{"write", true}, {"sync", true}, {"rename", true}, {"syncdir", true},
	}
	for _, tc := range tests {
		op := tc.op
		t.Run(fmt.Sprintf("%s/spare=%v", op, tc.spare), func(t *testing.T) {
			fsys := spooltest.New()
			// One 31-byte record fills a segment, so every Append after the first rotates.
			s := mustOpen(t, Options{Dir: testDir, FS: fsys, SegmentBytes: 50, Log: testLog(t), noPrealloc: !tc.spare})
			mustAppend(t, s, "one", "t")
			if tc.spare {
				waitSpare(t, s)
			}

			var failing atomic.Bool
			failing.Store(true)
			fsys.SetFault(func(o, name string) error {
				// Fail the new segment's creation, not the active segment's writes.
				if o == op && failing.Load() && (strings.HasSuffix(name, tmpSuffix) || o == "rename" || o == "syncdir") {
					return spooltest.ErrInjected
				}
				return nil
			})
			if _, err := s.Append(context.Background(), []byte("two"), "t"); !errors.Is(err, spooltest.ErrInjected) {
				t.Fatalf("Append while rotation fails: %v, want the I/O error", err)
			}
			failing.Store(false)
			mustAppend(t, s, "three", "t")
			mustAppend(t, s, "four", "t")
			if got := bodies(readAll(t, s, 0)); strings.Join(got, ",") != "one,three,four" {
				t.Fatalf("read %q", got)
			}
			crashed := fsys.Crash(rand.New(rand.NewPCG(3, 3)))
			s2 := mustOpen(t, Options{Dir: testDir, FS: crashed, SegmentBytes: 50, Log: testLog(t), noPrealloc: !tc.spare})
			if got := bodies(readAll(t, s2, 0)); strings.Join(got, ",") != "one,three,four" {
				t.Fatalf("after power loss read %q", got)
			}
			s2.mu.Lock()
			preparing := s2.prep != nil // the reopened spool's own spare, not a leftover
			s2.mu.Unlock()
			for _, name := range mustReadDir(t, crashed) {
				if strings.HasSuffix(name, tmpSuffix) && !(preparing && name == spareName) {
					t.Fatalf("leftover %s after reopen", name)
				}
			}
		})
	}
}

func mustReadDir(t *testing.T, fsys FS) []string {
	t.Helper()
	names, err := fsys.ReadDir(testDir)
	if err != nil {
		t.Fatal(err)
	}
	return names
}

func TestAppend_DiskFullThenFreed(t *testing.T) {
	t.Parallel()
	fsys := spooltest.New()
	s := mustOpen(t, Options{Dir: testDir, FS: fsys, Log: testLog(t)})
	fsys.SetCapacity(fsys.Used() + 500)

	var acked []string
	var err error
	for i := 0; i < 100; i++ {
		body := fmt.Sprintf("record-%03d", i)
		if _, err = s.Append(context.Background(), []byte(body), "t"); err != nil {
			break
		}
		acked = append(acked, body)
	}
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("Append on a full disk: %v, want ENOSPC", err)
	}
	assertTailClean(t, fsys, s)

	fsys.SetCapacity(0) // space freed
	mustAppend(t, s, "after", "t")
	acked = append(acked, "after")
	if got := bodies(readAll(t, s, 0)); strings.Join(got, ",") != strings.Join(acked, ",") {
		t.Fatalf("read %q, want %q", got, acked)
	}
}

func TestAppend_GroupCommit(t *testing.T) {
	t.Parallel()
	fsys := spooltest.New()
	s := mustOpen(t, Options{Dir: testDir, FS: fsys, Log: testLog(t)})
	writes0, syncs0 := fsys.WritesExcept(durableFileName), fsys.Syncs() // publishing for readers costs no fsync

	// Hold the first fsync until ten more appenders are queued behind it.
	release := make(chan struct{})
	var held atomic.Bool
	fsys.SetFault(func(op, name string) error {
		if op == "sync" && held.CompareAndSwap(false, true) {
			<-release
		}
		return nil
	})
	const queued = 10
	var wg sync.WaitGroup
	offsets := make(chan uint64, queued+1)
	for i := 0; i <= queued; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			off, err := s.Append(context.Background(), []byte(fmt.Sprint("body", i)), "t")
			if err != nil {
				t.Error(err)
			}
			offsets <- off
		}()
		if i == 0 {
			poll.Until(t, "the first appender to hold its fsync", func() bool { return held.Load() })
		}
	}
	poll.Until(t, "the other appenders to queue behind the held fsync", func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.next == queued+2
	})
	close(release)
	wg.Wait()
	close(offsets)
	seen := map[uint64]bool{}
	for off := range offsets {
		seen[off] = true
	}
	if len(seen) != queued+1 {
		t.Fatalf("offsets %v, want %d distinct", seen, queued+1)
	}
	writes, syncs := fsys.WritesExcept(durableFileName)-writes0, fsys.Syncs()-syncs0
	if writes != 2 || syncs != 2 {
		t.Fatalf("%d appends took %d writes and %d fsyncs, want 2 and 2", queued+1, writes, syncs)
	}
}

// TestPowerLoss_NoAcknowledgedRecordLost runs concurrent appenders on a disk that fails at
// random, cuts the power at a random moment, reboots, and checks every record acknowledged
// before the cut is there, at its offset, exactly once.
func TestPowerLoss_NoAcknowledgedRecordLost(t *testing.T) {
	t.Parallel()
	for seed := uint64(1); seed <= 12; seed++ {
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 99))
			fsys := spooltest.New()
			opts := Options{Dir: testDir, FS: fsys, SegmentBytes: 1 << 10, Log: testLog(t)}
			s := mustOpen(t, opts)
			faultRng := rand.New(rand.NewPCG(seed, 1)) // used under fsys.mu
			fsys.SetFault(func(op, name string) error {
				if faultRng.IntN(100) < 4 {
					return spooltest.ErrInjected
				}
				return nil
			})

			const writers, each = 16, 40
			var mu sync.Mutex
			acked := map[uint64]string{}
			crashAt := 1 + rng.IntN(writers*each/2)
			crashed := make(chan map[uint64]string, 1)
			var wg sync.WaitGroup
			for w := 0; w < writers; w++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := 0; i < each; i++ {
						body := fmt.Sprintf(`{"event_id":"%d-%d"}`, w, i)
						off, err := s.Append(context.Background(), []byte(body), "t")
						if err != nil {
							continue // answered 503: the sender retries
						}
						mu.Lock()
						acked[off] = body
						if len(acked) == crashAt {
							snapshot := make(map[uint64]string, len(acked))
							for k, v := range acked {
								snapshot[k] = v
							}
							crashed <- snapshot
						}
						mu.Unlock()
					}
				}()
			}
			var before map[uint64]string
			var after *spooltest.MemFS
			select {
			case before = <-crashed:
				after = fsys.Crash(rng) // every ack in before happened before this instant
			case <-time.After(30 * time.Second):
				t.Fatal("appenders never reached the crash point")
			}
			wg.Wait()

			opts.FS = after
			s2 := mustOpen(t, opts)
			recs := readAll(t, s2, 0)
			found := map[uint64]string{}
			for i, r := range recs {
				if i > 0 && r.Offset <= recs[i-1].Offset {
					t.Fatalf("offset %d after %d", r.Offset, recs[i-1].Offset)
				}
				found[r.Offset] = string(r.Body)
			}
			for off, body := range before {
				if found[off] != body {
					t.Fatalf("acknowledged record %d (%s) lost or changed after power loss: got %q", off, body, found[off])
				}
			}
			// Appends go on after the highest offset the disk still holds.
			off := mustAppend(t, s2, "after reboot", "t")
			if len(recs) > 0 && off <= recs[len(recs)-1].Offset {
				t.Fatalf("offset %d reused after reboot (last %d)", off, recs[len(recs)-1].Offset)
			}
		})
	}
}
