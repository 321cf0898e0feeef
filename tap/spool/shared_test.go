package spool

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/cio-singer/tap-customerio-webhook/internal/poll"
)

func mustOpenReader(t testing.TB, opts Options) *Spool {
	t.Helper()
	s, err := OpenReader(opts)
	if err != nil {
		t.Fatalf("OpenReader: %v", err)
	}
	return s
}

// TestWriterAndReaderRuns: a writer appends from several goroutines while
// scheduled reader runs, each on its own OpenReader with its own lock,
// resume from the previous run's last offset, release what it covers and
// read until caught up. Across runs every appended record is read exactly
// once, in order, never before the writer made it durable, and released
// segments leave the writer's accounting too.
func TestWriterAndReaderRuns(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	w := mustOpen(t, Options{Dir: dir, SegmentBytes: 2 << 10, Log: testLog(t)})

	const appenders, perAppender = 4, 150
	var mu sync.Mutex
	appended := map[uint64]string{}
	var wg sync.WaitGroup
	for a := range appenders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perAppender {
				body := fmt.Sprintf(`{"event_id":"%d-%d","pad":"%040d"}`, a, i, i)
				off, err := w.Append(context.Background(), []byte(body), "tok")
				if err != nil {
					t.Errorf("Append: %v", err)
					return
				}
				mu.Lock()
				appended[off] = body
				mu.Unlock()
			}
		}()
	}
	writerDone := make(chan struct{})
	go func() { wg.Wait(); close(writerDone) }()

	var state uint64
	read := map[uint64]string{}
	runs := 0
	for finished := false; !finished; runs++ {
		select {
		case <-writerDone:
			finished = true // one more run after the writer is done catches up
		default:
		}
		r := mustOpenReader(t, Options{Dir: dir, Log: testLog(t)})
		if err := r.ReleaseThrough(state); err != nil {
			t.Fatalf("run %d: ReleaseThrough(%d): %v", runs, state, err)
		}
		rd, err := r.NewReader(state)
		if err != nil {
			t.Fatal(err)
		}
		for {
			rec, ok, err := rd.TryNext()
			if err != nil {
				t.Fatalf("run %d: %v", runs, err)
			}
			if !ok {
				break
			}
			if d := w.Durable(); rec.Offset > d {
				t.Fatalf("run %d read offset %d while the writer's durable offset is %d", runs, rec.Offset, d)
			}
			if rec.Offset <= state {
				t.Fatalf("run %d read offset %d again (state %d)", runs, rec.Offset, state)
			}
			if _, dup := read[rec.Offset]; dup {
				t.Fatalf("offset %d read twice", rec.Offset)
			}
			read[rec.Offset] = string(rec.Body)
			state = rec.Offset
		}
		rd.Close()
		if err := r.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if len(appended) != appenders*perAppender {
		t.Fatalf("appended %d records; want %d", len(appended), appenders*perAppender)
	}
	// The last run started after the writer finished, but may have looked
	// before the last publish: finish with runs until caught up.
	poll.Until(t, "reader runs to catch up with the writer", func() bool {
		if state >= w.Durable() {
			return true
		}
		r := mustOpenReader(t, Options{Dir: dir, Log: testLog(t)})
		for _, rec := range readAll(t, r, state) {
			read[rec.Offset] = string(rec.Body)
			state = rec.Offset
		}
		r.Close()
		return state >= w.Durable()
	})
	for off, body := range appended {
		if got, ok := read[off]; !ok || got != body {
			t.Fatalf("offset %d: read %q (present %v); want %q", off, got, ok, body)
		}
	}
	if len(read) != len(appended) {
		t.Fatalf("read %d records; appended %d", len(read), len(appended))
	}
	t.Logf("%d reader runs over %d segments", runs, len(appended)*60/(2<<10))

	// A last run releases everything but the active segment; the writer
	// notices and its size accounting follows.
	r := mustOpenReader(t, Options{Dir: dir, Log: testLog(t)})
	if err := r.ReleaseThrough(state); err != nil {
		t.Fatal(err)
	}
	r.Close()
	if n := len(segmentFiles(t, dir)); n != 1 {
		t.Fatalf("%d segment files after releasing everything; want the active one", n)
	}
	poll.Until(t, "the writer to forget the released segments", func() bool { return w.Stats().Segments == 1 })
	assertStatsMatchDisk(t, w, dir)
	if _, err := w.Append(context.Background(), []byte(`{"after":"release"}`), "tok"); err != nil {
		t.Fatalf("Append after release: %v", err)
	}
}

// TestReaderFollowsWriter: a reader's Next wakes up for records the writer
// appends after the reader opened.
func TestReaderFollowsWriter(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	w := mustOpen(t, Options{Dir: dir, Log: testLog(t)})
	r := mustOpenReader(t, Options{Dir: dir, Log: testLog(t)})
	defer r.Close()
	rd, _ := r.NewReader(0)
	defer rd.Close()
	for i := range 3 {
		off := mustAppend(t, w, "body"+strconv.Itoa(i), "tok")
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		rec, err := rd.Next(ctx)
		cancel()
		if err != nil || rec.Offset != off || string(rec.Body) != "body"+strconv.Itoa(i) {
			t.Fatalf("Next = %+v, %v; want offset %d", rec, err, off)
		}
	}
	if _, err := r.Append(context.Background(), []byte("x"), "tok"); !errors.Is(err, ErrClosed) {
		t.Fatalf("Append on a reader = %v; want ErrClosed", err)
	}
}

// TestOpenReader_Locks: one reader at a time, beside one writer.
func TestOpenReader_Locks(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	r := mustOpenReader(t, Options{Dir: dir, Log: testLog(t)})
	if _, err := OpenReader(Options{Dir: dir}); !errors.Is(err, ErrLocked) {
		t.Fatalf("second OpenReader = %v; want ErrLocked", err)
	}
	w := mustOpen(t, Options{Dir: dir, Log: testLog(t)})
	if _, err := Open(Options{Dir: dir}); !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open = %v; want ErrLocked", err)
	}
	mustAppend(t, w, "x", "tok")
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	r2 := mustOpenReader(t, Options{Dir: dir, Log: testLog(t)})
	defer r2.Close()
	if got := readAll(t, r2, 0); len(got) != 1 {
		t.Fatalf("reader after writer appended: %d records; want 1", len(got))
	}
}

// TestLockReading: a writer that also reads keeps readers in other
// processes out until it closes.
func TestLockReading(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	w := mustOpen(t, Options{Dir: dir, Log: testLog(t)})
	if err := w.LockReading(); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenReader(Options{Dir: dir}); !errors.Is(err, ErrLocked) {
		t.Fatalf("OpenReader beside a reading writer = %v; want ErrLocked", err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	r := mustOpenReader(t, Options{Dir: dir, Log: testLog(t)})
	r.Close()
}

// TestOpenReader_NoWriterRecovers: with no writer running and nothing
// published (a spool from before DURABLE existed), OpenReader recovers the
// spool as a writer for a moment and then reads all of it.
func TestOpenReader_NoWriterRecovers(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	w := mustOpen(t, Options{Dir: dir, Log: testLog(t)})
	for i := range 5 {
		mustAppend(t, w, "b"+strconv.Itoa(i), "tok")
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, durableFileName)); err != nil {
		t.Fatal(err)
	}
	r := mustOpenReader(t, Options{Dir: dir, Log: testLog(t)})
	defer r.Close()
	if got := readAll(t, r, 2); len(got) != 3 || got[0].Offset != 3 {
		t.Fatalf("read %d records from offset 2; want 3..5", len(got))
	}
	if _, err := Open(Options{Dir: dir, Log: testLog(t)}); err != nil {
		t.Fatalf("a writer could not start beside the reader: %v", err)
	}
}

// TestPublishedPosition: DURABLE round-trips and a torn or zeroed copy is
// not believed.
func TestPublishedPosition(t *testing.T) {
	t.Parallel()
	p := position{first: 11, size: 4096, durable: 42}
	b := p.encodeTo(make([]byte, publishedSize))
	if got, ok := decodePosition(b); !ok || got != p {
		t.Fatalf("decode(encode(%+v)) = %+v, %v", p, got, ok)
	}
	b[5] ^= 1
	if _, ok := decodePosition(b); ok {
		t.Fatal("a damaged position was believed")
	}
	if _, ok := decodePosition(make([]byte, publishedSize)); ok {
		t.Fatal("zeros were believed")
	}
}

// TestInspect: a lock-free view beside a writer and a reader; it cannot
// release.
func TestInspect(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if _, err := Inspect(Options{Dir: dir}); err == nil {
		t.Fatal("Inspect of an empty directory succeeded")
	}
	w := mustOpen(t, Options{Dir: dir, Log: testLog(t)})
	r := mustOpenReader(t, Options{Dir: dir, Log: testLog(t)})
	defer r.Close()
	mustAppend(t, w, "one", "tok")
	mustAppend(t, w, "two", "tok")
	poll.Until(t, "Inspect to see both records", func() bool {
		in, err := Inspect(Options{Dir: dir})
		if err != nil {
			t.Fatal(err)
		}
		defer in.Close()
		return in.Stats().LastOffset == 2 && in.ID() == w.ID()
	})
	in, _ := Inspect(Options{Dir: dir})
	defer in.Close()
	if got := readAll(t, in, 0); len(got) != 2 {
		t.Fatalf("Inspect reads %d records; want 2", len(got))
	}
	if err := in.ReleaseThrough(2); err == nil {
		t.Fatal("ReleaseThrough on an Inspect view succeeded")
	}
}

// TestSyncLatency: every group commit's fsync is counted.
func TestSyncLatency(t *testing.T) {
	t.Parallel()
	w := mustOpen(t, Options{Dir: t.TempDir(), Log: testLog(t)})
	for range 3 {
		mustAppend(t, w, "x", "tok")
	}
	cum, n, sum := w.SyncLatency().Snapshot()
	if n < 3 || sum <= 0 || len(cum) != len(SyncBuckets) || cum[len(cum)-1] > n {
		t.Fatalf("Snapshot = %v, %d, %v; want at least 3 syncs", cum, n, sum)
	}
	for i := 1; i < len(cum); i++ {
		if cum[i] < cum[i-1] {
			t.Fatalf("buckets not cumulative: %v", cum)
		}
	}
}

// TestSegments lists sealed segments and the active one.
func TestSegments(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	w := mustOpen(t, Options{Dir: dir, SegmentBytes: 256, Log: testLog(t)})
	for i := range 20 {
		mustAppend(t, w, fmt.Sprintf("%064d", i), "tok")
	}
	segs, err := w.Segments()
	if err != nil {
		t.Fatal(err)
	}
	if len(segs) < 3 || segs[len(segs)-1].Sealed || !segs[0].Sealed || segs[0].Modified.IsZero() || segs[0].Size <= headerSize {
		t.Fatalf("Segments() = %+v", segs)
	}
}
