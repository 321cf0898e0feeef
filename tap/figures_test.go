package tap

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cio-singer/tap-customerio-webhook/tap/spool"
)

// appendRecords appends n records of bodyBytes each, from several goroutines so
// that group commits keep the setup short, and returns the durable offset.
func appendRecords(tb testing.TB, sp *spool.Spool, n, bodyBytes int) uint64 {
	tb.Helper()
	body := make([]byte, bodyBytes)
	for i := range body {
		body[i] = 'a' + byte(i%26)
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 1)
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(n) {
				if _, err := sp.Append(context.Background(), body, "t0"); err != nil {
					select {
					case errs <- err:
					default:
					}
					return
				}
			}
		}()
	}
	wg.Wait()
	select {
	case err := <-errs:
		tb.Fatal(err)
	default:
	}
	return sp.Durable()
}

// BenchmarkFiguresSnapshot is one /metrics scrape of a tap with a backlog
// in a 20 MB segment: "still" scrapes while nothing is emitted, "advancing"
// while the emitter moves 50 records between scrapes.
func BenchmarkFiguresSnapshot(b *testing.B) {
	sp, err := spool.Open(spool.Options{Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer sp.Close()
	const records, from = 20000, 10000
	last := appendRecords(b, sp, records, 1000)
	for _, step := range []uint64{0, 50} {
		name := "still"
		if step > 0 {
			name = "advancing"
		}
		b.Run(name, func(b *testing.B) {
			var emitted atomic.Uint64
			newFigures := func() *figures {
				emitted.Store(from)
				m := &figures{now: time.Now, sp: sp, emitted: func() (uint64, bool) { return emitted.Load(), true }}
				m.snapshot() // the first scrape of a process reads from the segment's start
				return m
			}
			m := newFigures()
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if emitted.Add(step) >= last {
					b.StopTimer()
					m = newFigures()
					b.StartTimer()
				}
				if s := m.snapshot(); s.Spool.Emitted.OldestAge <= 0 {
					b.Fatalf("no backlog age at offset %d", emitted.Load())
				}
			}
		})
	}
}

// readCountingFS counts the reads of segment files opened for reading.
type readCountingFS struct {
	spool.OSFS
	reads *atomic.Int64
}

func (f readCountingFS) OpenFile(name string, flag int, perm fs.FileMode) (spool.File, error) {
	file, err := f.OSFS.OpenFile(name, flag, perm)
	if err != nil || flag != os.O_RDONLY {
		return file, err
	}
	return readCountingFile{file, f.reads}, nil
}

type readCountingFile struct {
	spool.File
	reads *atomic.Int64
}

func (f readCountingFile) ReadAt(p []byte, off int64) (int, error) {
	f.reads.Add(1)
	return f.File.ReadAt(p, off)
}

// TestFiguresOldestAge: the backlog and unloaded ages follow their offsets
// through a spool of many small segments: as the emitted offset advances,
// steps back (a run from an older state), passes released segments and
// catches up (age 0), and as records arrive after that. A scrape whose
// offsets did not move reads nothing, even after its readers went idle.
func TestFiguresOldestAge(t *testing.T) {
	t.Parallel()
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var appended atomic.Int64
	var reads atomic.Int64
	sp, err := spool.Open(spool.Options{
		Dir: t.TempDir(), SegmentBytes: 512, FS: readCountingFS{reads: &reads},
		// Record n is received at base + n seconds.
		Now: func() time.Time { return base.Add(time.Duration(appended.Add(1)) * time.Second) },
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	appendN := func(n int) {
		t.Helper()
		for i := range n {
			if _, err := sp.Append(context.Background(), []byte(sentEvent(fmt.Sprint("o", i))), "tok"); err != nil {
				t.Fatal(err)
			}
		}
	}
	appendN(30)
	if n := sp.Stats().Segments; n < 5 {
		t.Fatalf("%d segments; want many", n)
	}

	now := base.Add(1000 * time.Second)
	var emitted, loaded atomic.Uint64
	m := &figures{now: func() time.Time { return now }, sp: sp,
		emitted: func() (uint64, bool) { return emitted.Load(), true },
		loaded:  func() (uint64, bool) { return loaded.Load(), true }}
	// ageAfter is the age of the record after off, received at base + off+1 s.
	ageAfter := func(off uint64) float64 { return 1000 - float64(off+1) }
	check := func(step string, wantEmitted, wantLoaded float64) {
		t.Helper()
		s := m.spool()
		if got := s.Emitted.OldestAge; got != wantEmitted {
			t.Errorf("%s: backlog age %v; want %v", step, got, wantEmitted)
		}
		if got := s.Loaded.OldestAge; got != wantLoaded {
			t.Errorf("%s: unloaded age %v; want %v", step, got, wantLoaded)
		}
	}
	checkNoReads := func(step string) {
		t.Helper()
		before := reads.Load()
		check(step, ageAfter(emitted.Load()), ageAfter(loaded.Load()))
		if n := reads.Load() - before; n != 0 {
			t.Errorf("%s: the scrape read segments %d times; want none, the offsets did not move", step, n)
		}
	}

	check("first scrape", ageAfter(0), ageAfter(0))
	checkNoReads("same offsets")
	for _, off := range []uint64{1, 2, 7, 8, 21} {
		emitted.Store(off)
		check(fmt.Sprint("emitted ", off), ageAfter(off), ageAfter(0))
		checkNoReads(fmt.Sprint("emitted ", off, " again"))
	}
	emitted.Store(4) // a run from an older state
	check("emitted back to 4", ageAfter(4), ageAfter(0))

	loaded.Store(12)
	if err := sp.ReleaseThrough(12); err != nil {
		t.Fatal(err)
	}
	if first := sp.Stats().FirstOffset; first <= 4 {
		t.Fatalf("first offset %d after release; want segments released", first)
	}
	check("loaded 12, released", ageAfter(4), ageAfter(12))
	for _, off := range []uint64{13, 25, 29} {
		emitted.Store(off)
		check(fmt.Sprint("emitted ", off, " past released segments"), ageAfter(off), ageAfter(12))
	}

	m.closeCursors() // what an idle minute does
	checkNoReads("after idle")
	loaded.Store(20)
	check("loaded 20 after idle", ageAfter(29), ageAfter(20))

	emitted.Store(30)
	loaded.Store(30)
	check("caught up", 0, 0)
	appendN(2)
	check("two more records", ageAfter(30), ageAfter(30))
	emitted.Store(32)
	check("caught up again", 0, ageAfter(30))
}

// TestOldestCursorNothingPast: a cursor asked past the last durable record
// finds nothing, forgets what it had found before, and finds the record
// once it is written.
func TestOldestCursorNothingPast(t *testing.T) {
	t.Parallel()
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var appended atomic.Int64
	sp, err := spool.Open(spool.Options{Dir: t.TempDir(), SegmentBytes: 512,
		Now: func() time.Time { return base.Add(time.Duration(appended.Add(1)) * time.Second) }})
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	receivedAt := func(off uint64) time.Time { return base.Add(time.Duration(off) * time.Second) }
	for range 5 {
		if _, err := sp.Append(context.Background(), []byte(sentEvent("c")), "tok"); err != nil {
			t.Fatal(err)
		}
	}
	var c oldestCursor
	defer c.close()
	want := func(off uint64, wantAt time.Time, wantOK bool) {
		t.Helper()
		if at, ok := c.oldestAfter(sp, off); ok != wantOK || !at.Equal(wantAt) {
			t.Fatalf("after %d: %v, %v; want %v, %v", off, at, ok, wantAt, wantOK)
		}
	}
	want(2, receivedAt(3), true)
	want(5, time.Time{}, false) // reads 4 and 5, finds nothing after
	want(4, receivedAt(5), true)
	want(5, time.Time{}, false)
	if _, err := sp.Append(context.Background(), []byte(sentEvent("c")), "tok"); err != nil {
		t.Fatal(err)
	}
	want(5, receivedAt(6), true)
	want(5, receivedAt(6), true)
}

// TestOldestCursorFarJumpReopens: an offset far past the cursor is found
// with a fresh reader, which reads no more than a first lookup there does,
// not by reading every record in between.
func TestOldestCursorFarJumpReopens(t *testing.T) {
	t.Parallel()
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var appended atomic.Int64
	var reads atomic.Int64
	sp, err := spool.Open(spool.Options{Dir: t.TempDir(), SegmentBytes: 512, FS: readCountingFS{reads: &reads},
		Now: func() time.Time { return base.Add(time.Duration(appended.Add(1)) * time.Second) }})
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	for i := range 40 {
		if _, err := sp.Append(context.Background(), []byte(sentEvent(fmt.Sprint("j", i))), "tok"); err != nil {
			t.Fatal(err)
		}
	}
	lookup := func(c *oldestCursor, off uint64) int64 {
		t.Helper()
		before := reads.Load()
		if at, ok := c.oldestAfter(sp, off); !ok || !at.Equal(base.Add(time.Duration(off+1)*time.Second)) {
			t.Fatalf("after %d: %v, %v", off, at, ok)
		}
		return reads.Load() - before
	}
	fresh := &oldestCursor{}
	defer fresh.close()
	firstLookup := lookup(fresh, 35)

	c := &oldestCursor{maxForward: 3}
	defer c.close()
	lookup(c, 1)
	lookup(c, 3) // near: read forward
	if n := lookup(c, 35); n > firstLookup {
		t.Fatalf("the jump from 3 to 35 read %d times; a fresh reader reads %d", n, firstLookup)
	}
}
