package spool

import (
	"fmt"
	"os"
)

// Preallocation.
//
// An append that grows a file changes its size, so the fsync after it must also commit the
// size through the file system's journal (on ext4 that is most of the cost). The writer
// therefore appends into segment files that already have their final size and are filled
// with zeros, and makes each batch durable with fdatasync (File.Sync), which then flushes only
// the data blocks. Zeros are never a valid frame (a frame's length is at least minPayload),
// so the logical end of a segment is where its valid frames end, and recovery treats an
// all-zero region after them as free space rather than damage. Readers never look past the
// durable length kept in the index, whatever the file size.
//
// A helper goroutine zero-fills the next segment ("spare.tmp") in the background once the
// active segment is half full, and fsyncs it, so its size and blocks are durable before the
// writer uses it. Rotation writes the header into the spare, syncs it and renames it into
// place, exactly as it does for a freshly created segment. If no spare is ready when the
// writer must rotate, it does not wait: it creates a header-only segment as before (correct,
// only slower to sync), and moves on to the spare as soon as one is ready.
//
// A sealed segment is truncated to its logical length (and synced) before the next segment is
// created, so every segment but the last is exactly its records, as before; Open sizes sealed
// segments by their file size.

const (
	spareName = "spare" + tmpSuffix // removed by Open like any leftover *.tmp
	// zeroChunk is how much the helper writes per call, and how often it checks for Close.
	zeroChunk = 1 << 20
	// firstPrepareBytes is how much a segment that was not preallocated (a fresh spool's first
	// segment, or one cut after a failed write) holds before a spare is prepared to move onto.
	// It keeps idle and test spools from zero-filling a 64 MiB file they never use.
	firstPrepareBytes = 1 << 20
)

// prepared is a spare segment file being zero-filled by the helper goroutine. f, size and err
// are written by the helper before it closes done, and read by the writer after.
type prepared struct {
	done chan struct{}
	f    File
	size int64
	err  error
}

// maybePrepare starts zero-filling a spare once the active segment is far enough along. Only
// the writer goroutine (and Open, before it starts) calls it.
func (s *Spool) maybePrepare() {
	if s.noPrealloc || s.prep != nil {
		return
	}
	threshold := s.segmentBytes / 2
	if !s.preallocated {
		threshold = min(threshold, firstPrepareBytes)
	}
	if s.activeSize < threshold {
		return
	}
	p := &prepared{done: make(chan struct{})}
	s.mu.Lock()
	s.prep = p
	s.mu.Unlock()
	go func() {
		defer close(p.done)
		p.f, p.err = s.zeroFill(s.path(spareName), s.segmentBytes)
		if p.err == nil {
			p.size = s.segmentBytes
		}
	}()
}

// zeroFill creates name holding size zero bytes, written (not fallocated: writing into
// unwritten extents would need the journal again) and synced. Where the file can, each chunk
// is written back while the next is written, with at most two in flight: one fsync of a whole
// segment of dirty zeros held up the appenders' fsyncs behind it for tens of milliseconds.
func (s *Spool) zeroFill(name string, size int64) (File, error) {
	f, err := s.fs.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		return nil, fmt.Errorf("creating spare segment: %w", err)
	}
	zeros := make([]byte, min(size, zeroChunk))
	behind, _ := f.(writeBehinder)
	for off := int64(0); off < size && err == nil; off += int64(len(zeros)) {
		select {
		case <-s.prepStop:
			err = ErrClosed
		default:
			chunk := zeros[:min(int64(len(zeros)), size-off)]
			if _, err = f.WriteAt(chunk, off); err == nil && behind != nil && len(chunk) == len(zeros) {
				err = behind.WriteBehind(off, int64(len(chunk)))
			}
		}
	}
	if err == nil {
		err = f.Sync()
	}
	if err != nil {
		_ = f.Close()         // the file is being discarded
		_ = s.fs.Remove(name) // best effort: give the space back; Open removes leftovers too
		return nil, fmt.Errorf("preallocating spare segment: %w", err)
	}
	return f, nil
}

// writeBehinder is a File that can start writing a range back to the disk ahead of its Sync,
// and wait for the range before it (osFile on Linux: sync_file_range).
type writeBehinder interface {
	WriteBehind(off, n int64) error
}

// spareReady reports whether a spare is ready (or failed) without waiting.
func (s *Spool) spareReady() bool {
	if s.prep == nil {
		return false
	}
	select {
	case <-s.prep.done:
		return true
	default:
		return false
	}
}

// takeSpare returns the spare if it is ready, and forgets it either way once it is done. It
// never waits for zero-filling: appenders would wait with it.
func (s *Spool) takeSpare() (File, int64) {
	if !s.spareReady() {
		return nil, 0
	}
	p := s.prep
	s.mu.Lock()
	s.prep = nil
	s.mu.Unlock()
	if p.err != nil {
		s.log.Warn().Err(p.err).Msg("spool segment not preallocated; appends to it are slower to sync")
		return nil, 0
	}
	return p.f, p.size
}

// newSegment makes the segment starting at first, from the spare when one is ready. alloc is
// the new file's size; preallocated is true when it came zero-filled.
func (s *Spool) newSegment(first uint64) (f File, alloc int64, preallocated bool, err error) {
	spare, size := s.takeSpare()
	if spare == nil {
		f, err := s.createSegment(first)
		return f, headerSize, false, err
	}
	name := segmentName(first)
	_, err = spare.WriteAt(appendHeader(nil, first), 0)
	if err == nil {
		err = spare.Sync()
	}
	if err == nil {
		err = s.fs.Rename(s.path(spareName), s.path(name))
	}
	if err != nil {
		_ = spare.Close()                  // discarded; the next rotation prepares another
		_ = s.fs.Remove(s.path(spareName)) // best effort; Open removes leftovers
		return nil, 0, false, fmt.Errorf("creating segment %s: %w", name, err)
	}
	return spare, size, true, nil
}

// sealActive cuts the zeros after the active segment's records before it is sealed, and makes
// the new length durable before any later segment exists: Open sizes sealed segments by their
// files, and readers read them to the end.
func (s *Spool) sealActive() error {
	if s.activeAlloc <= s.activeSize {
		return nil
	}
	name := segmentName(s.lastFirst())
	if err := s.active.Truncate(s.activeSize); err != nil {
		return fmt.Errorf("sealing segment %s: %w", name, err)
	}
	if err := s.active.Sync(); err != nil {
		return fmt.Errorf("sealing segment %s: %w", name, err)
	}
	s.activeAlloc = s.activeSize
	return nil
}

// dropSpare stops the helper and removes an unused spare. The writer calls it on exit, so no
// helper outlives the directory lock.
func (s *Spool) dropSpare() {
	close(s.prepStop)
	p := s.prep
	if p == nil {
		return
	}
	<-p.done
	s.mu.Lock()
	s.prep = nil
	s.mu.Unlock()
	if p.f != nil {
		_ = p.f.Close()                    // never written to but zeros
		_ = s.fs.Remove(s.path(spareName)) // best effort; Open removes leftovers
	}
}
