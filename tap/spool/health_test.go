package spool

import (
	"context"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/cio-singer/tap-customerio-webhook/tap/spool/spooltest"
)

func TestWritable_FailedWriteUntilOneSucceeds(t *testing.T) {
	t.Parallel()
	fsys := spooltest.New()
	s := mustOpen(t, Options{Dir: testDir, FS: fsys, Log: testLog(t)})
	if err := s.Writable(); err != nil {
		t.Fatalf("fresh spool: %v", err)
	}
	fsys.SetFault(failOp("sync", segmentSuffix))
	if _, err := s.Append(context.Background(), []byte("lost"), "t"); err == nil {
		t.Fatal("Append succeeded with failing fsyncs")
	}
	if err := s.Writable(); !errors.Is(err, spooltest.ErrInjected) {
		t.Fatalf("after a failed fsync: %v, want the fsync's error", err)
	}
	fsys.SetFault(nil)
	if err := s.Writable(); !errors.Is(err, spooltest.ErrInjected) {
		t.Fatalf("nothing written since the failure: %v, want it still reported", err)
	}
	mustAppend(t, s, "after", "t")
	if err := s.Writable(); err != nil {
		t.Fatalf("after a successful append: %v", err)
	}

	// Without a later attempt, the failure is reported for WriteErrorHold only.
	fsys.SetFault(failOp("write", segmentSuffix))
	if _, err := s.Append(context.Background(), []byte("lost"), "t"); err == nil {
		t.Fatal("Append succeeded with failing writes")
	}
	if err := s.Writable(); err == nil {
		t.Fatal("failed write not reported")
	}
	s.mu.Lock()
	s.health.failedAt = s.health.failedAt.Add(-WriteErrorHold)
	s.mu.Unlock()
	if err := s.Writable(); err != nil {
		t.Fatalf("after WriteErrorHold: %v, want nil so a webhook may try the disk again", err)
	}
}

func TestWritable_Full(t *testing.T) {
	t.Parallel()
	s := mustOpen(t, Options{Dir: t.TempDir(), SegmentBytes: 300, MaxBytes: 1000, Log: testLog(t), noPrealloc: true})
	big := strings.Repeat("b", 500)
	mustAppend(t, s, big, "t")
	if err := s.Writable(); err != nil {
		t.Fatalf("with room for small records: %v", err)
	}
	if _, err := s.Append(context.Background(), []byte(big), "t"); !errors.Is(err, ErrFull) {
		t.Fatalf("second large record: %v, want ErrFull", err)
	}
	if err := s.Writable(); !errors.Is(err, ErrFull) {
		t.Fatalf("after a refused record that still does not fit: %v, want ErrFull", err)
	}
	mustAppend(t, s, "small", "t") // a write succeeds: the spool works for what fits
	if err := s.Writable(); err != nil {
		t.Fatalf("after a successful append: %v", err)
	}
	for {
		_, err := s.Append(context.Background(), []byte("filler"), "t")
		if errors.Is(err, ErrFull) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Writable(); !errors.Is(err, ErrFull) {
		t.Fatalf("full for the smallest record: %v, want ErrFull", err)
	}
	if err := s.ReleaseThrough(s.Durable()); err != nil {
		t.Fatal(err)
	}
	if err := s.Writable(); err != nil {
		t.Fatalf("after releasing sealed segments: %v, want nil without a write", err)
	}
	if err := s.CloseWriter(); err != nil {
		t.Fatal(err)
	}
	if err := s.Writable(); !errors.Is(err, ErrClosed) {
		t.Fatalf("after CloseWriter: %v, want ErrClosed", err)
	}
}

func TestWritable_Reader(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	mustOpen(t, Options{Dir: dir, Log: testLog(t)})
	r := mustOpenReader(t, Options{Dir: dir, Log: testLog(t)})
	defer r.Close()
	if err := r.Writable(); !errors.Is(err, ErrClosed) {
		t.Fatalf("reader: %v, want ErrClosed", err)
	}
}

// TestMinMaxBytes: with MaxBytes = MinMaxBytes, a spool filled with records of up to maxBody
// bytes (and the longest token id) accepts again every time what it holds is released; with
// MaxBytes below a segment, a full spool stays full however much is released.
func TestMinMaxBytes(t *testing.T) {
	t.Parallel()
	const segmentBytes, maxBody = 2000, 300
	token := strings.Repeat("t", maxTokenIDBytes)
	for _, prealloc := range []bool{false, true} {
		s := mustOpen(t, Options{Dir: t.TempDir(), SegmentBytes: segmentBytes, MaxBytes: MinMaxBytes(segmentBytes, maxBody),
			Log: testLog(t), noPrealloc: !prealloc})
		rng := rand.New(rand.NewPCG(1, 2))
		fulls := 0
		for i := 0; i < 400; i++ {
			body := []byte(strings.Repeat("x", 1+rng.IntN(maxBody)))
			_, err := s.Append(context.Background(), body, token)
			if !errors.Is(err, ErrFull) {
				if err != nil {
					t.Fatal(err)
				}
				continue
			}
			fulls++
			if err := s.ReleaseThrough(s.Durable()); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Append(context.Background(), body, token); err != nil {
				t.Fatalf("prealloc %v, record %d: after releasing everything emitted: %v", prealloc, i, err)
			}
		}
		if fulls < 5 {
			t.Fatalf("prealloc %v: the spool filled %d times; the test did not reach its point", prealloc, fulls)
		}
	}

	s := mustOpen(t, Options{Dir: t.TempDir(), SegmentBytes: segmentBytes, MaxBytes: segmentBytes / 2, Log: testLog(t), noPrealloc: true})
	for {
		_, err := s.Append(context.Background(), []byte("x"), token)
		if errors.Is(err, ErrFull) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := s.ReleaseThrough(s.Durable()); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(context.Background(), []byte("x"), token); !errors.Is(err, ErrFull) {
		t.Fatalf("MaxBytes below a segment, after release: %v; the bound MinMaxBytes guards against is gone?", err)
	}
}
