package spool

import (
	"context"
	"fmt"
	"os"
	"time"
)

// batch is a group of records written with one write and one fsync. Appenders encode their
// frames into buf under Spool.mu; the writer takes the whole batch at once and closes done
// after setting err, so each appender learns the outcome without a channel of its own.
type batch struct {
	buf   []byte
	first uint64 // offset of the first record in buf
	last  uint64 // offset of the last record in buf
	done  chan struct{}
	err   error // valid once done is closed
}

// Append stores a copy of body durably (written and fsynced) and returns its offset. It does
// not keep body after returning, so fasthttp may reuse that memory. Concurrent Appends are
// group-committed: one goroutine writes every pending record with one write and one fsync,
// then answers each caller.
//
// It returns ctx.Err() if ctx ends first; the record may still become durable, and is then
// emitted (the sender retries, and the duplicate upserts on event_id). It returns ErrClosed
// after CloseWriter, ErrFull when MaxBytes would be exceeded, or the I/O error. A nil error
// means the record is on disk and fsynced.
func (s *Spool) Append(ctx context.Context, body []byte, tokenID string) (uint64, error) {
	if len(tokenID) > maxTokenIDBytes {
		return 0, fmt.Errorf("spool: token id of %d bytes exceeds %d", len(tokenID), maxTokenIDBytes)
	}
	if len(body) > MaxBodyBytes {
		return 0, fmt.Errorf("spool: body of %d bytes exceeds %d", len(body), MaxBodyBytes)
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	at := s.now()
	size := frameSize(len(tokenID), len(body))

	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return 0, ErrClosed
	}
	// headerSize of slack: this batch may be the one that opens a new segment.
	if !s.fits(size) {
		s.health.refused = max(s.health.refused, size)
		s.mu.Unlock()
		return 0, ErrFull
	}
	off := s.next
	s.next++
	b := s.cur
	if len(b.buf) == 0 {
		b.first = off
	}
	b.last = off
	b.buf = appendFrame(b.buf, off, at, tokenID, body)
	s.mu.Unlock()

	s.wakeWriter()
	select {
	case <-b.done:
		if b.err != nil {
			return 0, b.err
		}
		return off, nil
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

func (s *Spool) wakeWriter() {
	select {
	case s.wake <- struct{}{}:
	default: // already nudged; it will see everything pending
	}
}

// run is the writer goroutine: the only code that writes segments.
func (s *Spool) run() {
	defer close(s.writerDone)
	for range s.wake {
		if s.drain() {
			s.dropSpare()
			return
		}
	}
}

// drain commits batches until none is pending and reports whether the writer should exit.
func (s *Spool) drain() bool {
	for {
		s.mu.Lock()
		b := s.cur
		if len(b.buf) == 0 {
			exit := s.closing
			if exit {
				s.writerClosed = true
				close(s.durableCh) // wakes readers for good: nothing more will come
			}
			s.mu.Unlock()
			return exit
		}
		s.cur = &batch{buf: s.spare[:0], done: make(chan struct{})}
		s.spare = nil
		s.inflight = int64(len(b.buf))
		s.mu.Unlock()

		s.finish(b, s.commit(b))
	}
}

// commit writes b to the active segment and makes it durable.
func (s *Spool) commit(b *batch) error {
	if err := s.repairTail(); err != nil {
		return err
	}
	// Rotate when the segment is full, or early, onto a ready spare, when the active segment
	// was not preallocated (a fresh spool's first one): every sync there commits the journal.
	if s.activeSize > headerSize && (s.activeSize >= s.segmentBytes || (!s.preallocated && s.spareReady())) {
		if err := s.rotate(b.first); err != nil {
			return err
		}
	}
	s.activeAlloc = max(s.activeAlloc, s.activeSize+int64(len(b.buf)))
	syncStart := time.Now()
	err := s.writeDurably(b.buf)
	s.shared.sync.observe(time.Since(syncStart))
	if err != nil {
		// After a failed write or fsync the kernel may have dropped the pages: never trust
		// them, cut them off, and let the next batch write its records afresh. (The next
		// batch fails too if this repair does.)
		s.dirty = true
		_ = s.repairTail()
		return fmt.Errorf("segment %s: %w", segmentName(s.lastFirst()), err)
	}
	if s.dirSyncPending {
		if err := s.fs.SyncDir(s.dir); err != nil {
			s.dirty = true
			_ = s.repairTail()
			return fmt.Errorf("syncing spool directory: %w", err)
		}
		s.dirSyncPending = false
	}
	return nil
}

// durableWriter is a File that writes and syncs in one call (osFile: pwritev2 with
// RWF_DSYNC on Linux).
type durableWriter interface {
	WriteAtDurably(b []byte, off int64) error
}

// writeDurably writes buf at the end of the active segment and makes it durable: what a
// WriteAt then a Sync do, in one system call where the file can.
func (s *Spool) writeDurably(buf []byte) error {
	if f, ok := s.active.(durableWriter); ok {
		if err := f.WriteAtDurably(buf, s.activeSize); err != nil {
			return fmt.Errorf("writing durably: %w", err)
		}
		return nil
	}
	if _, err := s.active.WriteAt(buf, s.activeSize); err != nil {
		return fmt.Errorf("writing: %w", err)
	}
	if err := s.active.Sync(); err != nil {
		return fmt.Errorf("syncing: %w", err)
	}
	return nil
}

// finish publishes the outcome of b to its appenders and, on success, to readers.
func (s *Spool) finish(b *batch, err error) {
	s.mu.Lock()
	s.inflight = 0
	s.health.batchDone(err)
	if err == nil {
		n := int64(len(b.buf))
		s.activeSize += n
		s.segments[len(s.segments)-1].size = s.activeSize
		s.bytes += n
		s.durable = b.last
		close(s.durableCh)
		s.durableCh = make(chan struct{})
	}
	s.mu.Unlock()
	if err != nil {
		s.log.Debug().Err(err).Uint64("offset", b.first).Int("bytes", len(b.buf)).Msg("spool batch failed")
	}
	s.maybePrepare() // before answering, so a caller that saw the answer sees the spare started
	if err == nil {
		s.publish() // a reader process may now read b
	}
	b.err = err
	close(b.done) // appenders are done with buf: they encoded before the writer took it
	if cap(b.buf) <= maxRetainedBuffer {
		s.spare = b.buf[:0]
	}
}

// repairTail cuts bytes a failed write or fsync may have left past the durable end, so no
// half-written record stays in front of the next one.
func (s *Spool) repairTail() error {
	if !s.dirty {
		return nil
	}
	name := segmentName(s.lastFirst())
	// This gives up the segment's preallocated zeros too: a failed write may have left
	// anything there. The writer moves on to a fresh spare once one is ready.
	s.activeAlloc, s.preallocated = s.activeSize, false
	if err := s.active.Truncate(s.activeSize); err != nil {
		return fmt.Errorf("truncating segment %s after a failed write: %w", name, err)
	}
	if err := s.active.Sync(); err != nil {
		return fmt.Errorf("syncing segment %s after truncation: %w", name, err)
	}
	s.dirty = false
	return nil
}

// lastFirst is the first offset of the active segment. Only the writer changes the last
// entry, so the writer may read it without the lock.
func (s *Spool) lastFirst() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.segments[len(s.segments)-1].first
}

// rotate seals the active segment and starts a new one whose first offset is first.
func (s *Spool) rotate(first uint64) error {
	if err := s.sealActive(); err != nil {
		return err
	}
	f, alloc, preallocated, err := s.newSegment(first)
	if err != nil {
		return err
	}
	if err := s.fs.SyncDir(s.dir); err != nil {
		// The segment exists; records in it are acknowledged only once its name is durable.
		s.dirSyncPending = true
	}
	old := s.active
	s.adopt(f, first, alloc, preallocated)
	if err := old.Close(); err != nil {
		// Everything in it was fsynced; a failed close of a sealed file loses nothing.
		s.log.Warn().Err(err).Msg("closing sealed segment")
	}
	return nil
}

// createSegment writes a segment header to a temporary file, fsyncs it and renames it into
// place, so a segment file never exists without a durable header.
func (s *Spool) createSegment(first uint64) (File, error) {
	name := s.path(segmentName(first))
	tmp := name + tmpSuffix
	f, err := s.fs.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		return nil, fmt.Errorf("creating segment %s: %w", segmentName(first), err)
	}
	_, err = f.WriteAt(appendHeader(nil, first), 0)
	if err == nil {
		err = f.Sync()
	}
	if err == nil {
		err = s.fs.Rename(tmp, name)
	}
	if err != nil {
		_ = f.Close()        // the file is being discarded
		_ = s.fs.Remove(tmp) // best effort; Open removes leftovers
		return nil, fmt.Errorf("creating segment %s: %w", segmentName(first), err)
	}
	return f, nil
}

// startSegment creates and adopts a fresh segment during Open.
func (s *Spool) startSegment(first uint64) error {
	f, err := s.createSegment(first)
	if err != nil {
		return err
	}
	if err := s.fs.SyncDir(s.dir); err != nil {
		_ = f.Close()
		return fmt.Errorf("syncing spool directory: %w", err)
	}
	s.adopt(f, first, headerSize, false)
	s.next = first
	s.durable = first - 1
	return nil
}

// adopt makes f, holding only a header and alloc-headerSize bytes of zeros, the active
// segment.
func (s *Spool) adopt(f File, first uint64, alloc int64, preallocated bool) {
	s.mu.Lock()
	s.segments = append(s.segments, segment{first: first, size: headerSize})
	s.bytes += headerSize
	s.mu.Unlock()
	s.active = f
	s.activeSize = headerSize
	s.activeAlloc = alloc
	s.preallocated = preallocated
	s.dirty = false
}
