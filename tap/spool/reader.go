package spool

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sort"
	"time"
)

// readChunk is how much a reader fetches per read; records are streamed from files, so a
// reader holds at most this much plus one record, however much the spool holds.
const readChunk = 64 << 10

// segReader decodes frames from one segment file, sequentially, through a read window.
type segReader struct {
	f      File
	name   string
	first  uint64
	prev   uint64 // offset of the last frame decoded
	pos    int64  // where the next frame starts
	win    []byte // file bytes starting at winPos; never past a limit, so never stale
	winPos int64
	buf    []byte
}

func newSegReader(f File, first uint64) segReader {
	return segReader{f: f, name: segmentName(first), first: first, prev: first - 1}
}

func (sr *segReader) corrupt(reason string) error {
	return &CorruptError{File: sr.name, Pos: sr.pos, Reason: reason}
}

// readHeader checks the segment header and positions the reader after it.
func (sr *segReader) readHeader(limit int64) error {
	if limit < headerSize {
		return sr.corrupt("segment shorter than its header")
	}
	b, err := sr.peek(headerSize, limit)
	if err != nil {
		return err
	}
	if reason := checkHeader(b, sr.first); reason != "" {
		return sr.corrupt(reason)
	}
	sr.pos = headerSize
	return nil
}

// next decodes the frame at pos, which must lie wholly below limit. ok is false when pos is
// at limit. A damaged frame is a *CorruptError at its position; pos stays there.
func (sr *segReader) next(limit int64) (frame, bool, error) {
	if sr.pos >= limit {
		return frame{}, false, nil
	}
	if limit-sr.pos < frameHeaderSize {
		return frame{}, false, sr.corrupt("truncated frame header")
	}
	hdr, err := sr.peek(frameHeaderSize, limit)
	if err != nil {
		return frame{}, false, err
	}
	n, reason := payloadLen(hdr)
	if reason != "" {
		return frame{}, false, sr.corrupt(reason)
	}
	total := frameHeaderSize + n
	if int64(total) > limit-sr.pos {
		return frame{}, false, sr.corrupt("frame runs past the end of the segment")
	}
	b, err := sr.peek(total, limit)
	if err != nil {
		return frame{}, false, err
	}
	fr, reason := decodeFrame(b, sr.prev)
	if reason != "" {
		return frame{}, false, sr.corrupt(reason)
	}
	sr.prev = fr.off
	sr.pos += int64(total)
	return fr, true, nil
}

// peek returns n bytes at pos (pos+n <= limit), reading ahead up to readChunk but never past
// limit: bytes past the durable end may still be rewritten.
func (sr *segReader) peek(n int, limit int64) ([]byte, error) {
	if sr.pos >= sr.winPos && sr.pos+int64(n) <= sr.winPos+int64(len(sr.win)) {
		i := sr.pos - sr.winPos
		return sr.win[i : i+int64(n)], nil
	}
	want := int64(max(n, readChunk))
	want = min(want, limit-sr.pos)
	if int64(cap(sr.buf)) < want {
		sr.buf = make([]byte, want)
	}
	m, err := sr.f.ReadAt(sr.buf[:want], sr.pos)
	if m < n {
		if err == nil || errors.Is(err, io.EOF) {
			return nil, sr.corrupt("segment is shorter than recorded")
		}
		return nil, fmt.Errorf("reading segment %s at byte %d: %w", sr.name, sr.pos, err)
	}
	sr.win = sr.buf[:m]
	sr.winPos = sr.pos
	return sr.win[:n], nil
}

// Reader reads records in append order from a Spool, never beyond Spool.Durable. It streams
// from the segment files, so it holds one read window whatever the spool holds. A Reader is
// not safe for concurrent use; several Readers may read one Spool at once.
type Reader struct {
	s      *Spool
	after  uint64    // the last offset returned, or where reading starts
	seg    segReader // seg.f is nil when no segment is open
	limit  int64     // the open segment's final size once it is sealed, else -1
	opened bool      // a segment was opened before, so the next one follows seg.first
	token  string    // the last token id, reused while it repeats (it usually does)
	err    error     // sticky: a damaged spool does not heal by reading again
}

// NewReader returns a Reader of the records with offset > after, in append order.
func (s *Spool) NewReader(after uint64) (*Reader, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	return &Reader{s: s, after: after, limit: -1}, nil
}

// TryNext returns the next durable record if there is one now; it never blocks. ok is false
// when every durable record has been read. An error wrapping ErrCorrupt names the segment and
// byte position of damage; it is returned again by every later call.
func (r *Reader) TryNext() (rec Record, ok bool, err error) {
	if r.err != nil {
		return Record{}, false, r.err
	}
	rec, ok, err = r.tryNext()
	if err != nil {
		r.err = err
	}
	return rec, ok, err
}

// Next blocks until a record is durable, ctx ends, or the writer is closed and everything
// durable was read (then ErrClosed).
func (r *Reader) Next(ctx context.Context) (Record, error) {
	for {
		// Take the channel before looking, so a record made durable after the look wakes us.
		r.s.mu.Lock()
		changed, closed := r.s.durableCh, r.s.writerClosed
		r.s.mu.Unlock()
		rec, ok, err := r.TryNext()
		if err != nil {
			return Record{}, err
		}
		if ok {
			return rec, nil
		}
		if closed {
			return Record{}, ErrClosed
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return Record{}, ctx.Err()
		}
	}
}

// Close releases the Reader's open file. Later calls return ErrClosed.
func (r *Reader) Close() error {
	r.err = ErrClosed
	return r.closeSegment()
}

// closeSegment closes the open segment, remembering which it was so reading goes on after it.
func (r *Reader) closeSegment() error {
	if r.seg.f == nil {
		return nil
	}
	err := r.seg.f.Close()
	r.seg = segReader{first: r.seg.first}
	if err != nil {
		return fmt.Errorf("closing segment reader: %w", err)
	}
	return nil
}

func (r *Reader) tryNext() (Record, bool, error) {
	for {
		if r.seg.f == nil {
			ok, err := r.openNext()
			if err != nil || !ok {
				return Record{}, false, err
			}
		}
		limit, sealed := r.currentLimit()
		fr, ok, err := r.seg.next(limit)
		if err != nil {
			return Record{}, false, err
		}
		if ok {
			if fr.off <= r.after {
				continue
			}
			r.after = fr.off
			return r.record(fr), true, nil
		}
		if !sealed {
			return Record{}, false, nil
		}
		if err := r.closeSegment(); err != nil {
			return Record{}, false, err
		}
	}
}

func (r *Reader) record(fr frame) Record {
	if string(fr.token) != r.token {
		r.token = string(fr.token)
	}
	return Record{
		Offset:     fr.off,
		ReceivedAt: time.Unix(0, fr.at).UTC(),
		TokenID:    r.token,
		Body:       bytes.Clone(fr.body),
	}
}

// openNext opens the segment to read next: at first the one holding after+1, then the one
// following the last segment read. ok is false when there is none yet.
func (r *Reader) openNext() (bool, error) {
	for {
		first, size, sealed, ok := r.s.segmentToRead(r.opened, r.seg.first, r.after)
		if !ok {
			return false, nil
		}
		f, err := r.s.fs.OpenFile(r.s.path(segmentName(first)), os.O_RDONLY, 0)
		if errors.Is(err, fs.ErrNotExist) {
			r.opened, r.seg.first = true, first // released meanwhile: move past it
			continue
		}
		if err != nil {
			return false, fmt.Errorf("opening segment for reading: %w", err)
		}
		r.seg = newSegReader(f, first)
		r.opened = true
		r.limit = -1
		if sealed {
			r.limit = size
		}
		if err := r.seg.readHeader(max(size, headerSize)); err != nil {
			return false, err
		}
		return true, nil
	}
}

// currentLimit returns how far the open segment may be read and whether it is sealed.
func (r *Reader) currentLimit() (int64, bool) {
	if r.limit >= 0 {
		return r.limit, true
	}
	size, sealed, indexed := r.s.segmentInfo(r.seg.first)
	if !indexed {
		// Released while being read: our open file still holds it, to its end.
		var err error
		if size, err = r.seg.f.Size(); err != nil {
			size = r.seg.pos
		}
	}
	if sealed {
		r.limit = size
	}
	return size, sealed
}

// segmentToRead picks the segment a reader opens next; see Reader.openNext.
func (s *Spool) segmentToRead(opened bool, prevFirst, after uint64) (first uint64, size int64, sealed, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	segs := s.segments
	var i int
	if opened {
		i = sort.Search(len(segs), func(i int) bool { return segs[i].first > prevFirst })
	} else {
		// The last segment starting at or before after+1 holds after+1, if anything does.
		i = sort.Search(len(segs), func(i int) bool { return segs[i].first > after })
		if i > 0 {
			i--
		}
	}
	if i >= len(segs) {
		return 0, 0, false, false
	}
	return segs[i].first, segs[i].size, i < len(segs)-1, true
}

// segmentInfo returns the durable size of the segment starting at first, whether it is
// sealed, and whether it is still in the index (a released segment counts as sealed).
func (s *Spool) segmentInfo(first uint64) (size int64, sealed, indexed bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	segs := s.segments
	i := sort.Search(len(segs), func(i int) bool { return segs[i].first >= first })
	if i < len(segs) && segs[i].first == first {
		return segs[i].size, i < len(segs)-1, true
	}
	return 0, true, false
}
