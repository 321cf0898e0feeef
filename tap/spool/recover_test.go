package spool

import (
	"bytes"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cio-singer/tap-customerio-webhook/tap/spool/spooltest"
	"github.com/rs/zerolog"
)

var firstSegment = filepath.Join(testDir, segmentName(1))

// spoolWith appends bodies to a fresh MemFS spool, closes it and returns the file system. It
// prepares no spare segments, so the segment boundaries the callers compute hold.
func spoolWith(t testing.TB, segmentBytes int64, bodies ...string) *spooltest.MemFS {
	t.Helper()
	fsys := spooltest.New()
	s, err := Open(Options{Dir: testDir, FS: fsys, SegmentBytes: segmentBytes, Log: testLog(t), noPrealloc: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range bodies {
		mustAppend(t, s, b, "tok")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return fsys
}

// copyFS returns a durable copy of fsys (everything in it was synced) with name replaced by
// data.
func copyFS(fsys *spooltest.MemFS, name string, data []byte) *spooltest.MemFS {
	c := fsys.Crash(rand.New(rand.NewPCG(1, 2)))
	c.Put(name, data)
	return c
}

func corruptFiles(fsys *spooltest.MemFS) []string {
	names, _ := fsys.ReadDir(testDir)
	var out []string
	for _, n := range names {
		if strings.HasSuffix(n, corruptSuffix) {
			out = append(out, n)
		}
	}
	return out
}

func TestRecover_TornTailAtEveryByte(t *testing.T) {
	t.Parallel()
	records := []string{`{"event_id":"1"}`, `{"event_id":"2"}`, `{"event_id":"3","metric":"sent"}`}
	base := spoolWith(t, 0, records...)
	full := base.File(firstSegment)
	lastStart := len(full) - int(frameSize(len("tok"), len(records[2])))

	tails := []struct {
		name string
		tail []byte // written after the cut, as a crash may leave preallocated or stale blocks
	}{
		{"truncated", nil},
		{"zero filled", make([]byte, 100)},
		{"garbage filled", bytes.Repeat([]byte{0xAB}, 100)},
	}
	for _, tc := range tails {
		t.Run(tc.name, func(t *testing.T) {
			for cut := lastStart; cut < len(full); cut++ {
				damaged := append(append([]byte(nil), full[:cut]...), tc.tail...)
				fsys := copyFS(base, firstSegment, damaged)
				s, err := Open(Options{Dir: testDir, FS: fsys, Log: zerolog.Nop()})
				if err != nil {
					t.Fatalf("cut at %d: Open: %v", cut, err)
				}
				got := bodies(readAll(t, s, 0))
				if len(got) != 2 || got[0] != records[0] || got[1] != records[1] {
					t.Fatalf("cut at %d: read %q, want the first two records", cut, got)
				}
				if d := s.Durable(); d != 2 {
					t.Fatalf("cut at %d: Durable = %d, want 2", cut, d)
				}
				if off := mustAppend(t, s, "next", "tok"); off != 3 {
					t.Fatalf("cut at %d: next offset %d, want 3 (the torn record was never acknowledged)", cut, off)
				}
				if got := bodies(readAll(t, s, 0)); len(got) != 3 || got[2] != "next" {
					t.Fatalf("cut at %d: after append read %q", cut, got)
				}
				if c := corruptFiles(fsys); len(c) != 0 {
					t.Fatalf("cut at %d: torn tail kept as %v; only valid-looking frames are kept", cut, c)
				}
				if err := s.Close(); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

// logLines decodes zerolog JSON lines.
func logLines(t testing.TB, buf *bytes.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal(line, &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

func TestRecover_DamageBeforeValidFramesIsKept(t *testing.T) {
	t.Parallel()
	records := []string{"one", "two", "three", "four", "five"}
	base := spoolWith(t, 0, records...)
	full := base.File(firstSegment)
	size := int(frameSize(len("tok"), len("one")))
	third := headerSize + 2*size // "one" and "two" are both 3 bytes
	damaged := append([]byte(nil), full...)
	damaged[third+frameHeaderSize+minPayload+len("tok")] ^= 0x01 // a bit of "three"'s body

	fsys := copyFS(base, firstSegment, damaged)
	var logs bytes.Buffer
	s := mustOpen(t, Options{Dir: testDir, FS: fsys, Log: zerolog.New(&logs)})

	if got := bodies(readAll(t, s, 0)); strings.Join(got, ",") != "one,two" {
		t.Fatalf("read %q, want the records before the damage", got)
	}
	kept := corruptFiles(fsys)
	if len(kept) != 1 {
		t.Fatalf("corrupt files %v, want one", kept)
	}
	if got := fsys.File(filepath.Join(testDir, kept[0])); !bytes.Equal(got, damaged[third:]) {
		t.Fatalf("kept %d bytes, want the %d cut bytes", len(got), len(damaged)-third)
	}
	var logged bool
	for _, l := range logLines(t, &logs) {
		if l["level"] == "error" && l["segment"] == segmentName(1) && l["pos"] == float64(third) && l["frames"] == float64(2) {
			logged = true
		}
		for _, r := range records {
			if strings.Contains(l["message"].(string), r) {
				t.Fatalf("log line leaks a body: %v", l)
			}
		}
	}
	if !logged {
		t.Fatalf("no error log naming the segment, position and frames kept:\n%s", logs.String())
	}
	// "four" and "five" (offsets 4 and 5) may have been acknowledged and emitted: never reuse.
	if off := mustAppend(t, s, "six", "tok"); off != 6 {
		t.Fatalf("offset after quarantine = %d, want 6", off)
	}
}

func TestRecover_DamagedLastHeader(t *testing.T) {
	t.Parallel()
	base := spoolWith(t, 0, "a", "b", "c")
	full := base.File(firstSegment)
	tests := []struct {
		name     string
		data     []byte
		wantKept int
		wantNext uint64
	}{
		{"magic damaged", append([]byte("XX"), full[2:]...), 1, 4},
		{"empty file", nil, 0, 1},
		{"zeros", make([]byte, 10), 0, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fsys := copyFS(base, firstSegment, tc.data)
			s := mustOpen(t, Options{Dir: testDir, FS: fsys, Log: testLog(t)})
			if got := len(corruptFiles(fsys)); got != tc.wantKept {
				t.Fatalf("%d corrupt files, want %d", got, tc.wantKept)
			}
			if off := mustAppend(t, s, "x", "tok"); off != tc.wantNext {
				t.Fatalf("next offset %d, want %d", off, tc.wantNext)
			}
			if got := bodies(readAll(t, s, 0)); len(got) != 1 || got[0] != "x" {
				t.Fatalf("read %q, want only the new record", got)
			}
		})
	}
}

func TestReader_ReportsCorruptionInTheMiddle(t *testing.T) {
	t.Parallel()
	// 3-byte bodies: frames of 31 bytes, so with SegmentBytes 100 the first segment holds
	// offsets 1..3 and is sealed.
	base := spoolWith(t, 100, "aaa", "bbb", "ccc", "ddd", "eee", "fff", "ggg")
	full := base.File(firstSegment)
	second := int64(headerSize + frameSize(3, 3))
	tests := []struct {
		name    string
		pos     int64 // byte to flip
		wantPos int64 // position the error names
		wantN   int   // records read before the error
	}{
		{"header magic", 0, 0, 0},
		{"length of the second frame", second, second, 1},
		{"checksum of the second frame", second + 5, second, 1},
		{"offset of the second frame", second + frameHeaderSize, second, 1},
		{"body of the second frame", second + frameHeaderSize + minPayload + 3, second, 1},
		{"end of the segment", int64(len(full) - 1), second + int64(frameSize(3, 3)), 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			damaged := append([]byte(nil), full...)
			damaged[tc.pos] ^= 0x10
			fsys := copyFS(base, firstSegment, damaged)
			s := mustOpen(t, Options{Dir: testDir, FS: fsys, SegmentBytes: 100, Log: testLog(t)})
			r, err := s.NewReader(0)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			n := 0
			for {
				_, ok, err := r.TryNext()
				if err != nil {
					var cerr *CorruptError
					if !errors.Is(err, ErrCorrupt) || !errors.As(err, &cerr) {
						t.Fatalf("error %v, want a *CorruptError wrapping ErrCorrupt", err)
					}
					if cerr.File != segmentName(1) || cerr.Pos != tc.wantPos || n != tc.wantN {
						t.Fatalf("error %v after %d records; want segment %s byte %d after %d",
							err, n, segmentName(1), tc.wantPos, tc.wantN)
					}
					if !strings.Contains(err.Error(), segmentName(1)) {
						t.Fatalf("error text %q does not name the segment", err)
					}
					if _, _, again := r.TryNext(); !errors.Is(again, ErrCorrupt) {
						t.Fatalf("next call after corruption: %v, want the same error", again)
					}
					return
				}
				if !ok {
					t.Fatalf("read %d records and no error: damage was skipped silently", n)
				}
				n++
			}
		})
	}
}

// A tail crafted so that a quarter of the byte positions announce a 32 KiB frame with a
// plausible offset is the scanner's worst case; it must stay fast.
func TestSalvageFrames_WorstCaseIsBounded(t *testing.T) {
	t.Parallel()
	tail := bytes.Repeat([]byte{0, 0x80, 0, 0}, 16<<10) // 64 KiB
	start := time.Now()
	frames, maxOff := salvageFrames(tail, 0)
	if frames != 0 || maxOff != 0 {
		t.Fatalf("found %d frames up to %d in a crafted tail with no valid checksum", frames, maxOff)
	}
	t.Logf("scanned %d bytes in %v", len(tail), time.Since(start))
}
