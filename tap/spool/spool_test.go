package spool

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// testDir is where MemFS-backed spools live; nothing is created on disk for them.
const testDir = "/spool"

func testLog(t testing.TB) zerolog.Logger { return zerolog.New(zerolog.NewTestWriter(t)) }

// fixedClock returns a clock that advances one millisecond per call, so receive times are
// distinct and checkable.
func fixedClock() func() time.Time {
	var mu sync.Mutex
	at := time.Date(2025, 11, 25, 10, 0, 0, 123456789, time.FixedZone("CET", 3600))
	return func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		at = at.Add(time.Millisecond)
		return at
	}
}

func mustOpen(t testing.TB, opts Options) *Spool {
	t.Helper()
	s, err := Open(opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func mustAppend(t testing.TB, s *Spool, body, token string) uint64 {
	t.Helper()
	off, err := s.Append(context.Background(), []byte(body), token)
	if err != nil {
		t.Fatalf("Append(%q): %v", body, err)
	}
	return off
}

// readAll returns every durable record after `after`, failing the test on any error.
func readAll(t testing.TB, s *Spool, after uint64) []Record {
	t.Helper()
	recs, err := tryReadAll(s, after)
	if err != nil {
		t.Fatalf("reading spool: %v", err)
	}
	return recs
}

func tryReadAll(s *Spool, after uint64) ([]Record, error) {
	r, err := s.NewReader(after)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	var recs []Record
	for {
		rec, ok, err := r.TryNext()
		if err != nil {
			return recs, err
		}
		if !ok {
			return recs, nil
		}
		recs = append(recs, rec)
	}
}

func bodies(recs []Record) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = string(r.Body)
	}
	return out
}

func TestAppendRead_RoundTrip(t *testing.T) {
	t.Parallel()
	big := bytes.Repeat([]byte(`{"event_id":"01J","x":"`), 10_000) // > readChunk
	tests := []struct {
		name  string
		body  []byte
		token string
	}{
		{"empty body", []byte{}, "tok1"},
		{"one byte", []byte("{"), "tok1"},
		{"json object", []byte(`{"event_id":"01HZ","metric":"sent","data":{"recipient":"a@b.c"}}`), "tok2"},
		{"binary with zeros", []byte{0, 0, 0, 0, 1, 2, 0, 255}, ""},
		{"longest token id", []byte("t"), strings.Repeat("k", 255)},
		{"larger than a read chunk", big, "tok1"},
	}
	clock := fixedClock()
	var times []time.Time
	s := mustOpen(t, Options{Dir: t.TempDir(), Log: testLog(t), Now: func() time.Time {
		at := clock()
		times = append(times, at) // Appends are serial here
		return at
	}})
	for i, tc := range tests {
		if got := mustAppend(t, s, string(tc.body), tc.token); got != uint64(i+1) {
			t.Fatalf("%s: offset %d, want %d", tc.name, got, i+1)
		}
	}
	if got := s.Durable(); got != uint64(len(tests)) {
		t.Fatalf("Durable = %d, want %d", got, len(tests))
	}
	recs := readAll(t, s, 0)
	if len(recs) != len(tests) {
		t.Fatalf("read %d records, want %d", len(recs), len(tests))
	}
	for i, tc := range tests {
		rec := recs[i]
		if rec.Offset != uint64(i+1) || !bytes.Equal(rec.Body, tc.body) || rec.TokenID != tc.token {
			t.Errorf("%s: got offset %d token %q body %d bytes, want %d %q %d bytes",
				tc.name, rec.Offset, rec.TokenID, len(rec.Body), i+1, tc.token, len(tc.body))
		}
		if !rec.ReceivedAt.Equal(times[i]) || rec.ReceivedAt.Location() != time.UTC {
			t.Errorf("%s: ReceivedAt %v, want %v in UTC", tc.name, rec.ReceivedAt, times[i])
		}
	}
	// A reader starting after an offset skips exactly the records up to it.
	if got := readAll(t, s, 3); len(got) != len(tests)-3 || got[0].Offset != 4 {
		t.Fatalf("reader after 3 starts at %v", got)
	}
}

func TestAppend_CopiesBody(t *testing.T) {
	t.Parallel()
	s := mustOpen(t, Options{Dir: t.TempDir(), Log: testLog(t)})
	body := []byte("original")
	if _, err := s.Append(context.Background(), body, "t"); err != nil {
		t.Fatal(err)
	}
	copy(body, "XXXXXXXX") // fasthttp reuses the request buffer once the handler returns
	if got := bodies(readAll(t, s, 0)); got[0] != "original" {
		t.Fatalf("body = %q, want the bytes as appended", got[0])
	}
}

func TestAppend_RejectsBadInput(t *testing.T) {
	t.Parallel()
	s := mustOpen(t, Options{Dir: t.TempDir(), Log: testLog(t)})
	if _, err := s.Append(context.Background(), []byte("x"), strings.Repeat("k", 256)); err == nil {
		t.Fatal("Append with a 256-byte token id: want error")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Append(ctx, []byte("x"), "t"); !errors.Is(err, context.Canceled) {
		t.Fatalf("Append with a cancelled context: %v, want context.Canceled", err)
	}
	if got := s.Durable(); got != 0 {
		t.Fatalf("Durable = %d after rejected appends, want 0", got)
	}
}

func TestReopen_ContinuesOffsets(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s, err := Open(Options{Dir: dir, Log: testLog(t)})
	if err != nil {
		t.Fatal(err)
	}
	id := s.ID()
	for _, b := range []string{"a", "b", "c"} {
		mustAppend(t, s, b, "t")
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	s = mustOpen(t, Options{Dir: dir, Log: testLog(t)})
	if s.ID() != id || len(id) != 32 {
		t.Fatalf("ID after reopen = %q, want %q (32 hex digits)", s.ID(), id)
	}
	if got := s.Durable(); got != 3 {
		t.Fatalf("Durable after reopen = %d, want 3", got)
	}
	if got := mustAppend(t, s, "d", "t"); got != 4 {
		t.Fatalf("first offset after reopen = %d, want 4", got)
	}
	if got := strings.Join(bodies(readAll(t, s, 0)), ""); got != "abcd" {
		t.Fatalf("bodies = %q, want abcd", got)
	}
	other := mustOpen(t, Options{Dir: t.TempDir(), Log: testLog(t)})
	if other.ID() == id {
		t.Fatal("two spool directories share an ID")
	}
}

func TestOpen_Locked(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := mustOpen(t, Options{Dir: dir, Log: testLog(t)})
	_, err := Open(Options{Dir: dir, Log: testLog(t)})
	if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), dir) {
		t.Fatalf("second Open: %v, want ErrLocked naming %s", err, dir)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	mustOpen(t, Options{Dir: dir, Log: testLog(t)}) // the lock is released by Close
}

func TestCloseWriter(t *testing.T) {
	t.Parallel()
	s := mustOpen(t, Options{Dir: t.TempDir(), Log: testLog(t)})
	mustAppend(t, s, "a", "t")
	r, err := s.NewReader(0)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := s.CloseWriter(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(context.Background(), []byte("b"), "t"); !errors.Is(err, ErrClosed) {
		t.Fatalf("Append after CloseWriter: %v, want ErrClosed", err)
	}
	ctx := context.Background()
	if rec, err := r.Next(ctx); err != nil || string(rec.Body) != "a" {
		t.Fatalf("Next = %q, %v; want the durable record first", rec.Body, err)
	}
	if _, err := r.Next(ctx); !errors.Is(err, ErrClosed) {
		t.Fatalf("Next after draining: %v, want ErrClosed", err)
	}
	if err := s.CloseWriter(); err != nil {
		t.Fatalf("second CloseWriter: %v", err)
	}
}

func TestReaderNext_WaitsForAppend(t *testing.T) {
	t.Parallel()
	s := mustOpen(t, Options{Dir: t.TempDir(), Log: testLog(t)})
	r, err := s.NewReader(0)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := r.Next(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Next on an empty spool with a cancelled context: %v", err)
	}

	got := make(chan Record, 1)
	errs := make(chan error, 1)
	go func() {
		rec, err := r.Next(context.Background())
		if err != nil {
			errs <- err
			return
		}
		got <- rec
	}()
	mustAppend(t, s, "late", "t")
	select {
	case rec := <-got:
		if string(rec.Body) != "late" || rec.Offset != 1 {
			t.Fatalf("Next = %d %q, want 1 late", rec.Offset, rec.Body)
		}
	case err := <-errs:
		t.Fatal(err)
	case <-time.After(10 * time.Second):
		t.Fatal("Next did not return after an Append")
	}
}

func TestRotationAndReleaseThrough(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	// Each record is 8+17+1+5 = 31 bytes; segments rotate once past 100 bytes.
	s := mustOpen(t, Options{Dir: dir, SegmentBytes: 100, Log: testLog(t)})
	const n = 20
	for i := 1; i <= n; i++ {
		mustAppend(t, s, fmt.Sprintf("r%04d", i), "t")
	}
	segs := segmentFiles(t, dir)
	if len(segs) < 5 {
		t.Fatalf("%d segments for %d records of 31 bytes with SegmentBytes 100, want rotation", len(segs), n)
	}
	assertStatsMatchDisk(t, s, dir)

	tests := []struct {
		name string
		off  uint64
	}{
		{"nothing released before the first segment ends", 1},
		{"whole segments through offset 7", 7},
		{"idempotent", 7},
		{"everything but the active segment", n},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := s.ReleaseThrough(tc.off); err != nil {
				t.Fatal(err)
			}
			st := s.Stats()
			recs := readAll(t, s, 0)
			if len(recs) == 0 {
				t.Fatal("ReleaseThrough removed the active segment's records")
			}
			// Every record after off survives; released records are all <= off.
			if recs[0].Offset > tc.off+1 {
				t.Fatalf("oldest remaining record %d, but records after %d must survive", recs[0].Offset, tc.off)
			}
			if recs[len(recs)-1].Offset != n {
				t.Fatalf("newest record %d, want %d", recs[len(recs)-1].Offset, n)
			}
			if st.FirstOffset != recs[0].Offset || st.FirstOffset > tc.off+1 {
				t.Fatalf("Stats.FirstOffset = %d, oldest record %d, off %d", st.FirstOffset, recs[0].Offset, tc.off)
			}
			assertStatsMatchDisk(t, s, dir)
		})
	}
	if got := s.Stats().Segments; got != 1 {
		t.Fatalf("%d segments after releasing everything, want the active one", got)
	}
	if got := mustAppend(t, s, "after", "t"); got != n+1 {
		t.Fatalf("offset after release = %d, want %d", got, n+1)
	}
	s.Close()
	s = mustOpen(t, Options{Dir: dir, SegmentBytes: 100, Log: testLog(t)})
	if got := mustAppend(t, s, "reopened", "t"); got != n+2 {
		t.Fatalf("offset after release and reopen = %d, want %d", got, n+2)
	}
}

func segmentFiles(t testing.TB, dir string) []string {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(dir, "*"+segmentSuffix))
	if err != nil {
		t.Fatal(err)
	}
	return names
}

// assertStatsMatchDisk checks Stats against the files: sealed segments are exactly their
// records; the active one (the last) holds its records and then only preallocated zeros.
func assertStatsMatchDisk(t testing.TB, s *Spool, dir string) {
	t.Helper()
	var total int64
	segs := segmentFiles(t, dir) // sorted: the active segment is last
	for i, name := range segs {
		data, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		size := int64(len(data))
		if i == len(segs)-1 {
			s.mu.Lock()
			size = s.segments[len(s.segments)-1].size
			s.mu.Unlock()
			if int64(len(data)) < size || !allZero(data[size:]) {
				t.Fatalf("active segment is %d bytes for %d bytes of records, not followed by zeros only", len(data), size)
			}
		}
		total += size
	}
	if st := s.Stats(); st.Bytes != total || st.Segments != len(segs) {
		t.Fatalf("Stats = %+v; disk has %d segments of %d bytes of records", st, len(segs), total)
	}
}

func TestMaxBytes_FullThenRecovers(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	const max = 400
	s := mustOpen(t, Options{Dir: dir, SegmentBytes: 100, MaxBytes: max, Log: testLog(t)})
	var last uint64
	for i := 0; ; i++ {
		off, err := s.Append(context.Background(), []byte(fmt.Sprintf("r%04d", i)), "t")
		if errors.Is(err, ErrFull) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if i > 100 {
			t.Fatal("MaxBytes never reported ErrFull")
		}
		last = off
	}
	if st := s.Stats(); st.Bytes > max {
		t.Fatalf("spool holds %d bytes, MaxBytes %d", st.Bytes, max)
	}
	assertStatsMatchDisk(t, s, dir)
	if _, err := s.Append(context.Background(), []byte("r"), "t"); !errors.Is(err, ErrFull) {
		t.Fatalf("Append while full: %v, want ErrFull", err)
	}
	if err := s.ReleaseThrough(last); err != nil {
		t.Fatal(err)
	}
	off, err := s.Append(context.Background(), []byte("after release"), "t")
	if err != nil {
		t.Fatalf("Append after ReleaseThrough: %v", err)
	}
	if off <= last {
		t.Fatalf("offset %d after release, want > %d", off, last)
	}
}

func TestConcurrentAppend(t *testing.T) {
	t.Parallel()
	const writers, each = 64, 40
	s := mustOpen(t, Options{Dir: t.TempDir(), SegmentBytes: 16 << 10, Log: testLog(t)})
	r, err := s.NewReader(0)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()

	type ack struct {
		off  uint64
		body string
	}
	acks := make(chan ack, writers*each)
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				body := fmt.Sprintf(`{"event_id":"w%d-%d"}`, w, i)
				off, err := s.Append(context.Background(), []byte(body), fmt.Sprintf("tok%d", w%3))
				if err != nil {
					t.Errorf("Append: %v", err)
					return
				}
				acks <- ack{off, body}
			}
		}()
	}

	// Read concurrently with the writers, as the emitter does.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var read []Record
	for len(read) < writers*each {
		rec, err := r.Next(ctx)
		if err != nil {
			t.Fatalf("Next after %d records: %v", len(read), err)
		}
		read = append(read, rec)
	}
	wg.Wait()
	close(acks)

	want := map[uint64]string{}
	for a := range acks {
		if prev, dup := want[a.off]; dup {
			t.Fatalf("offset %d acknowledged twice (%s, %s)", a.off, prev, a.body)
		}
		want[a.off] = a.body
	}
	for i, rec := range read {
		if i > 0 && rec.Offset <= read[i-1].Offset {
			t.Fatalf("record %d has offset %d after %d", i, rec.Offset, read[i-1].Offset)
		}
		if body, ok := want[rec.Offset]; !ok || body != string(rec.Body) {
			t.Fatalf("offset %d read %q, acknowledged %q (%v)", rec.Offset, rec.Body, body, ok)
		}
		delete(want, rec.Offset)
	}
	if len(want) != 0 {
		t.Fatalf("%d acknowledged records never read", len(want))
	}
	if _, ok, err := r.TryNext(); ok || err != nil {
		t.Fatalf("TryNext after everything was read: ok=%v err=%v", ok, err)
	}
}

func TestOpen_CreatesNestedDirectory(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "a", "b", "spool")
	s := mustOpen(t, Options{Dir: dir, Log: testLog(t)})
	mustAppend(t, s, "x", "t")
	if _, err := os.Stat(filepath.Join(dir, segmentName(1))); err != nil {
		t.Fatalf("segment not in the new directory: %v", err)
	}
}
