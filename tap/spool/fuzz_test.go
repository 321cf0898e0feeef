package spool

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/cio-singer/tap-customerio-webhook/tap/spool/spooltest"
	"github.com/rs/zerolog"
)

// How FuzzRecover places the fuzzed bytes.
const (
	asLastSegment   = iota // the whole last segment file
	asTail                 // appended to a valid last segment
	asSealedSegment        // an older segment, read but not recovered
	fuzzModes
)

func FuzzRecover(f *testing.F) {
	prefix := []string{"one", `{"event_id":"2"}`, "three"}
	valid := spoolWith(f, 0, prefix...).File(firstSegment)
	at := time.Unix(1700000000, 0)
	next := appendFrame(nil, 4, at, "t", []byte(`{"event_id":"4"}`))
	far := appendFrame(nil, 1000, at, "t", []byte("far"))

	f.Add(uint8(asLastSegment), []byte{})
	f.Add(uint8(asLastSegment), valid)
	f.Add(uint8(asLastSegment), valid[:headerSize+5])
	f.Add(uint8(asTail), []byte{})
	f.Add(uint8(asTail), make([]byte, 64))
	f.Add(uint8(asTail), next)
	f.Add(uint8(asTail), next[:len(next)-1])
	f.Add(uint8(asTail), append([]byte{0xff, 0, 0, 0}, far...))
	f.Add(uint8(asTail), valid[headerSize:]) // valid frames whose offsets go backwards
	f.Add(uint8(asSealedSegment), valid)
	f.Add(uint8(asSealedSegment), append(append([]byte(nil), valid...), 1, 2, 3))

	id := []byte("0123456789abcdef0123456789abcdef\n")
	f.Fuzz(func(t *testing.T, mode uint8, data []byte) {
		if len(data) > 1<<16 {
			return
		}
		mode %= fuzzModes
		fsys := spooltest.New()
		fsys.Put(filepath.Join(testDir, idFileName), id)
		switch mode {
		case asLastSegment:
			fsys.Put(firstSegment, data)
		case asTail:
			fsys.Put(firstSegment, append(append([]byte(nil), valid...), data...))
		case asSealedSegment:
			fsys.Put(firstSegment, data)
			fsys.Put(filepath.Join(testDir, segmentName(1<<20)), appendHeader(nil, 1<<20))
		}
		s, err := Open(Options{Dir: testDir, FS: fsys, Log: zerolog.Nop()})
		if err != nil {
			t.Fatalf("Open: %v", err) // recovery handles any bytes; only I/O errors may fail it
		}
		defer s.Close()

		recs, err := tryReadAll(s, 0)
		if err != nil && (mode != asSealedSegment || !errors.Is(err, ErrCorrupt)) {
			t.Fatalf("reading after recovery: %v", err)
		}
		for i, r := range recs {
			if r.Offset == 0 || r.Offset > maxOffset || (i > 0 && r.Offset <= recs[i-1].Offset) {
				t.Fatalf("record %d has offset %d", i, r.Offset)
			}
			if len(r.TokenID) > maxTokenIDBytes || r.ReceivedAt.Location() != time.UTC {
				t.Fatalf("malformed record %+v", r)
			}
		}
		if mode == asTail {
			if len(recs) < len(prefix) {
				t.Fatalf("the valid prefix did not survive: read %d records", len(recs))
			}
			for i, want := range prefix {
				if recs[i].Offset != uint64(i+1) || string(recs[i].Body) != want {
					t.Fatalf("record %d = %d %q, want %d %q", i, recs[i].Offset, recs[i].Body, i+1, want)
				}
			}
		}
		if mode == asSealedSegment {
			return // appends land after a damaged segment the reader stops at
		}
		last := s.Durable()
		off, err := s.Append(context.Background(), []byte("after recovery"), "t")
		if err != nil {
			t.Fatalf("Append after recovery: %v", err)
		}
		if off <= last || (len(recs) > 0 && off <= recs[len(recs)-1].Offset) {
			t.Fatalf("Append after recovery got offset %d, durable was %d", off, last)
		}
		again, err := tryReadAll(s, 0)
		if err != nil || len(again) != len(recs)+1 || !bytes.Equal(again[len(recs)].Body, []byte("after recovery")) {
			t.Fatalf("reading after append: %d records, %v", len(again), err)
		}
	})
}
