package spool

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/cio-singer/tap-customerio-webhook/tap/spool/spooltest"
	"github.com/rs/zerolog"
)

// waitSpare waits until the spare segment the writer started preparing is ready (or failed).
func waitSpare(t testing.TB, s *Spool) {
	t.Helper()
	s.mu.Lock()
	p := s.prep
	s.mu.Unlock()
	if p == nil {
		t.Fatal("no spare segment is being prepared")
	}
	<-p.done
}

// activeSegment returns the first offset, durable length and file content of the active
// segment.
func activeSegment(t testing.TB, fsys *spooltest.MemFS, s *Spool) (uint64, int64, []byte) {
	t.Helper()
	s.mu.Lock()
	last := s.segments[len(s.segments)-1]
	s.mu.Unlock()
	return last.first, last.size, fsys.File(s.path(segmentName(last.first)))
}

// openPreallocated returns a spool whose active segment (2) was created from a zero-filled
// spare and holds "two"; segment 1 holds only the returned body, which is long enough to make
// the writer prepare a spare.
func openPreallocated(t *testing.T, fsys *spooltest.MemFS, segmentBytes int64) (*Spool, Options, string) {
	t.Helper()
	opts := Options{Dir: testDir, FS: fsys, SegmentBytes: segmentBytes, Log: testLog(t)}
	s := mustOpen(t, opts)
	one := strings.Repeat("o", int(segmentBytes/2))
	mustAppend(t, s, one, "t")
	waitSpare(t, s)
	// Segment 1 was created header-only, so the writer moves onto the spare at once.
	mustAppend(t, s, "two", "t")
	first, size, data := activeSegment(t, fsys, s)
	if first != 2 || int64(len(data)) != segmentBytes || size != headerSize+frameSize(1, 3) {
		t.Fatalf("active segment %d: %d bytes of file for %d of records; want segment 2, a %d-byte file",
			first, len(data), size, segmentBytes)
	}
	return s, opts, one
}

func TestPrealloc_AppendsOverwriteZeros(t *testing.T) {
	t.Parallel()
	fsys := spooltest.New()
	const segBytes = 4096
	s, _, one := openPreallocated(t, fsys, segBytes)
	sealed := fsys.File(s.path(segmentName(1)))
	if want := headerSize + frameSize(1, len(one)); int64(len(sealed)) != want {
		t.Fatalf("sealed segment is %d bytes, want exactly its %d bytes of records", len(sealed), want)
	}
	var want []string
	for i := 0; i < 20; i++ {
		want = append(want, fmt.Sprintf("record-%02d", i))
		mustAppend(t, s, want[i], "t")
		first, size, data := activeSegment(t, fsys, s)
		if first != 2 || len(data) != segBytes {
			t.Fatalf("after %d appends the active segment %d is %d bytes: appends must not grow a preallocated file", i+1, first, len(data))
		}
		if !allZero(data[size:]) {
			t.Fatalf("bytes after the durable end %d are not zero", size)
		}
	}
	got := bodies(readAll(t, s, 2)) // a reader stops at the durable end, never at the zeros
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("read %q, want %q", got, want)
	}
}

func TestPrealloc_ZeroTailIsFreeSpaceOnReopen(t *testing.T) {
	t.Parallel()
	for _, crash := range []bool{false, true} {
		t.Run(fmt.Sprint("crash=", crash), func(t *testing.T) {
			fsys := spooltest.New()
			s, opts, one := openPreallocated(t, fsys, 4096)
			mustAppend(t, s, "three", "t")
			after := fsys
			if crash {
				after = fsys.Crash(rand.New(rand.NewPCG(5, 5)))
			} else if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			var logs bytes.Buffer
			opts.FS, opts.Log = after, zerolog.New(&logs)
			s2 := mustOpen(t, opts)
			if got := bodies(readAll(t, s2, 0)); strings.Join(got, ",") != one+",two,three" {
				t.Fatalf("read %q after reopen", got)
			}
			for _, l := range logLines(t, &logs) {
				if l["level"] != "info" {
					t.Fatalf("reopening a preallocated segment logged %v: zeros are not damage", l)
				}
			}
			if c := corruptFiles(after); len(c) != 0 {
				t.Fatalf("zeros kept as %v", c)
			}
			if off := mustAppend(t, s2, "four", "t"); off != 4 {
				t.Fatalf("next offset %d, want 4", off)
			}
			_, size, data := activeSegment(t, after, s2)
			if len(data) != 4096 || !allZero(data[size:]) {
				t.Fatalf("active segment %d bytes (%d of records): the preallocation must be kept", len(data), size)
			}
			if got := bodies(readAll(t, s2, 0)); strings.Join(got, ",") != one+",two,three,four" {
				t.Fatalf("read %q after appending", got)
			}
		})
	}
}

// TestPrealloc_PowerLossDuringOverwrite cuts the power while a batch has overwritten zeros in
// a preallocated segment but is not yet synced, for many ways the sectors may have reached the
// disk: the acknowledged records survive, the unacknowledged one is whole or absent, and
// offsets are not reused.
func TestPrealloc_PowerLossDuringOverwrite(t *testing.T) {
	t.Parallel()
	fsys := spooltest.New()
	s, opts, one := openPreallocated(t, fsys, 64<<10)
	var acked []string
	for i := 0; i < 30; i++ { // a few sectors of durable records
		acked = append(acked, fmt.Sprintf(`{"event_id":"acked-%02d","pad":"%s"}`, i, strings.Repeat("x", 40)))
		mustAppend(t, s, acked[i], "t")
	}
	acked = append([]string{one, "two"}, acked...)

	// Power cuts taken as the batch's sync starts: written, not synced.
	images := make([]*spooltest.MemFS, 200)
	var taken atomic.Bool
	fsys.SetFault(func(op, name string) error {
		if op == "sync" && strings.HasSuffix(name, segmentSuffix) && taken.CompareAndSwap(false, true) {
			for i := range images {
				images[i] = fsys.CrashLocked(rand.New(rand.NewPCG(uint64(i), 11)))
			}
		}
		return nil
	})
	pending := strings.Repeat("p", 3000) // spans sectors
	mustAppend(t, s, pending, "t")
	if !taken.Load() {
		t.Fatal("no sync of the segment was seen")
	}

	sawPending := 0
	for i, after := range images {
		opts.FS, opts.Log = after, zerolog.Nop()
		s2, err := Open(opts)
		if err != nil {
			t.Fatalf("image %d: Open: %v", i, err)
		}
		recs, err := tryReadAll(s2, 0)
		if err != nil {
			t.Fatalf("image %d: reading: %v", i, err)
		}
		got := bodies(recs)
		if len(got) < len(acked) || strings.Join(got[:len(acked)], ",") != strings.Join(acked, ",") {
			t.Fatalf("image %d: acknowledged records lost or changed: read %d records", i, len(got))
		}
		switch extra := got[len(acked):]; {
		case len(extra) == 1 && extra[0] == pending:
			sawPending++
		case len(extra) != 0:
			t.Fatalf("image %d: read %q after the acknowledged records", i, extra)
		}
		last := recs[len(recs)-1].Offset
		off, err := s2.Append(context.Background(), []byte("after"), "t")
		if err != nil || off <= last {
			t.Fatalf("image %d: Append after reboot = %d, %v; want an offset after %d", i, off, err, last)
		}
		if err := s2.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if sawPending == 0 || sawPending == len(images) {
		t.Fatalf("the unsynced record survived in %d of %d images: the crash model tears nothing", sawPending, len(images))
	}
}

func TestPrealloc_SpareFailuresFallBack(t *testing.T) {
	t.Parallel()
	for _, op := range []string{"create", "write", "sync"} {
		t.Run(op, func(t *testing.T) {
			fsys := spooltest.New()
			fsys.SetFault(func(o, name string) error {
				if o == op && name == spareName {
					return spooltest.ErrInjected
				}
				return nil
			})
			s := mustOpen(t, Options{Dir: testDir, FS: fsys, SegmentBytes: 100, Log: testLog(t)})
			var want []string
			for i := 0; i < 12; i++ {
				want = append(want, fmt.Sprintf("r%02d", i))
				mustAppend(t, s, want[i], "t") // rotation creates header-only segments instead
			}
			if st := s.Stats(); st.Segments < 3 {
				t.Fatalf("%d segments, want rotation", st.Segments)
			}
			if got := bodies(readAll(t, s, 0)); strings.Join(got, ",") != strings.Join(want, ",") {
				t.Fatalf("read %q", got)
			}
			// The last Append may have started another spare that is failing right now: the
			// helper removes it before it reports done.
			s.mu.Lock()
			p := s.prep
			s.mu.Unlock()
			if p != nil {
				<-p.done
			}
			if fsys.File(s.path(spareName)) != nil {
				t.Fatal("a failed spare was left behind")
			}
		})
	}
}

func TestPrealloc_CloseRemovesSpare(t *testing.T) {
	t.Parallel()
	fsys := spooltest.New()
	s := mustOpen(t, Options{Dir: testDir, FS: fsys, SegmentBytes: 100, Log: testLog(t)})
	mustAppend(t, s, strings.Repeat("x", 40), "t")
	waitSpare(t, s)
	if fsys.File(s.path(spareName)) == nil {
		t.Fatal("no spare was prepared")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := fsys.Stat(filepath.Join(testDir, spareName)); err == nil {
		t.Fatal("Close left the spare segment behind")
	}
}

func TestRecover_DamageInPreallocatedTail(t *testing.T) {
	t.Parallel()
	fsys := spooltest.New()
	s, opts, one := openPreallocated(t, fsys, 4096)
	mustAppend(t, s, "three", "t")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	_, size, data := activeSegment(t, fsys, s)
	// A stray byte far inside the zeros, and a valid-looking frame after it: damage, not free
	// space. The frame may be an acknowledged record, so its bytes are kept and its offset is
	// never handed out again.
	damaged := append([]byte(nil), data...)
	damaged[size+100] = 0xAB
	copy(damaged[size+200:], appendFrame(nil, 9, s.now(), "t", []byte("stray")))
	after := copyFS(fsys, s.path(segmentName(2)), damaged)
	opts.FS = after
	s2 := mustOpen(t, opts)
	if got := bodies(readAll(t, s2, 0)); strings.Join(got, ",") != one+",two,three" {
		t.Fatalf("read %q", got)
	}
	kept := corruptFiles(after)
	if len(kept) != 1 {
		t.Fatalf("corrupt files %v, want one", kept)
	}
	if got := after.File(filepath.Join(testDir, kept[0])); len(got) != 200+int(frameSize(1, 5)) || got[100] != 0xAB {
		t.Fatalf("kept %d bytes; want the damaged bytes up to the last non-zero one", len(got))
	}
	if off := mustAppend(t, s2, "after", "t"); off != 10 {
		t.Fatalf("offset %d after recovery, want 10", off)
	}
	if _, err := tryReadAll(s2, 0); err != nil {
		t.Fatal(err)
	}
}

// behindFile records the order of a File's writes, write-behinds and syncs.
type behindFile struct {
	File
	log *[]string
}

func (f behindFile) WriteAt(b []byte, off int64) (int, error) {
	*f.log = append(*f.log, fmt.Sprintf("write %d+%d", off, len(b)))
	return f.File.WriteAt(b, off)
}

func (f behindFile) WriteBehind(off, n int64) error {
	*f.log = append(*f.log, fmt.Sprintf("behind %d+%d", off, n))
	return nil
}

func (f behindFile) Sync() error {
	*f.log = append(*f.log, "sync")
	return f.File.Sync()
}

type behindFS struct {
	*spooltest.MemFS
	log *[]string
}

func (fs behindFS) OpenFile(name string, flag int, perm fs.FileMode) (File, error) {
	f, err := fs.MemFS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return behindFile{File: f, log: fs.log}, nil
}

// TestZeroFill_WriteBehindEachFullChunkThenSync: each full chunk is written
// back right after it is written, the partial last one is left to the final
// sync, and the sync still comes last: write-behind makes nothing durable.
func TestZeroFill_WriteBehindEachFullChunkThenSync(t *testing.T) {
	t.Parallel()
	var log []string
	s := &Spool{fs: behindFS{MemFS: spooltest.New(), log: &log}, prepStop: make(chan struct{})}
	const size = 2*zeroChunk + 100
	if _, err := s.zeroFill(spareName, size); err != nil {
		t.Fatal(err)
	}
	want := []string{
		fmt.Sprintf("write 0+%d", zeroChunk), fmt.Sprintf("behind 0+%d", zeroChunk),
		fmt.Sprintf("write %d+%d", zeroChunk, zeroChunk), fmt.Sprintf("behind %d+%d", zeroChunk, zeroChunk),
		fmt.Sprintf("write %d+100", 2*zeroChunk), "sync",
	}
	if strings.Join(log, ", ") != strings.Join(want, ", ") {
		t.Fatalf("zero-fill did %v; want %v", log, want)
	}
}
