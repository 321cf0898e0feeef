package spool

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestOSFile_WriteAtDurably checks that the one-call durable write (pwritev2
// with RWF_DSYNC on Linux) puts the bytes where WriteAt would, past the end
// and over earlier bytes alike.
func TestOSFile_WriteAtDurably(t *testing.T) {
	t.Parallel()
	f, err := OSFS{}.OpenFile(filepath.Join(t.TempDir(), "seg"), os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w, ok := f.(durableWriter)
	if !ok {
		t.Fatal("osFile does not write durably in one call")
	}
	if err := w.WriteAtDurably([]byte("hello, world"), 4); err != nil {
		t.Fatal(err)
	}
	if err := w.WriteAtDurably([]byte("WORLD"), 11); err != nil {
		t.Fatal(err)
	}
	want := append(make([]byte, 4), "hello, WORLD"...)
	got := make([]byte, len(want))
	if _, err := f.ReadAt(got, 0); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("file holds %q; want %q", got, want)
	}
	if size, err := f.Size(); err != nil || size != int64(len(want)) {
		t.Fatalf("Size() = %d, %v; want %d", size, err, len(want))
	}
}

// TestZeroFill_WritesBehindOnRealFiles: on the real file system the spare is
// written back chunk by chunk (osFile is a writeBehinder) and still ends up
// as exactly size zero bytes, a partial last chunk included.
func TestZeroFill_WritesBehindOnRealFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := &Spool{fs: OSFS{}, prepStop: make(chan struct{})}
	const size = 3*zeroChunk + 4096
	f, err := s.zeroFill(filepath.Join(dir, spareName), size)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, ok := f.(writeBehinder); !ok {
		t.Fatal("osFile does not write behind")
	}
	got, err := os.ReadFile(filepath.Join(dir, spareName))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != size || !bytes.Equal(got, make([]byte, size)) {
		t.Fatalf("spare holds %d bytes (all zero: %v); want %d zeros", len(got), bytes.Count(got, []byte{0}) == len(got), size)
	}
}
