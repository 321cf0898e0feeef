package spool

import (
	"fmt"
	"time"
)

// WriteErrorHold is how long Writable keeps reporting a failed write when no later write
// has been tried. A readiness check that takes the receiver out of a load balancer also
// stops the traffic whose success would clear the error, so after this long Writable lets
// the next webhook find out whether the disk works again.
const WriteErrorHold = 30 * time.Second

// writeHealth is what the writer last learnt about storing records. Guarded by Spool.mu.
type writeHealth struct {
	failed   error     // the error of the last batch, nil once a batch succeeds
	failedAt time.Time // when it failed
	refused  int64     // frame size of the largest record refused as ErrFull since a batch succeeded
}

// batchDone records the outcome of a group commit.
func (h *writeHealth) batchDone(err error) {
	if err == nil {
		*h = writeHealth{}
		return
	}
	h.failed, h.failedAt = err, time.Now()
}

// fits reports whether a frame of size bytes fits under MaxBytes beside what is stored and
// pending, with headerSize of slack: the batch may be the one that opens a new segment.
// Called with s.mu held.
func (s *Spool) fits(size int64) bool {
	return s.maxBytes <= 0 || s.bytes+s.inflight+int64(len(s.cur.buf))+size+headerSize <= s.maxBytes
}

// Writable reports, cheaply and without touching the disk, whether Appends are expected to
// succeed now, for a readiness check: ErrClosed once the writer is closing (or the spool was
// opened for reading), ErrFull while MaxBytes leaves no room for the smallest record or for
// the largest one refused since the last successful write, and the error of the last failed
// write until a later write succeeds (or WriteErrorHold passes without one).
func (s *Spool) Writable() error {
	if s.ReadOnly() {
		return fmt.Errorf("%w: opened for reading", ErrClosed)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch h := s.health; {
	case s.closing:
		return ErrClosed
	case !s.fits(max(h.refused, frameSize(0, 0))):
		return fmt.Errorf("%w: %d of %d bytes used", ErrFull, s.bytes, s.maxBytes)
	case h.failed != nil && time.Since(h.failedAt) < WriteErrorHold:
		return fmt.Errorf("last write failed: %w", h.failed)
	}
	return nil
}

// MinMaxBytes is the smallest Options.MaxBytes with which a spool of segmentBytes segments
// (0: DefaultSegmentBytes) keeps accepting bodies of up to maxBody bytes once what was
// emitted is released. ReleaseThrough never deletes the segment being written, so that
// segment must be able to grow past segmentBytes, plus one more record and the next
// segment's header, for the writer to move on: with less, a spool that fills once refuses
// every Append for good, whatever is released.
func MinMaxBytes(segmentBytes int64, maxBody int) int64 {
	if segmentBytes <= 0 {
		segmentBytes = DefaultSegmentBytes
	}
	return segmentBytes + 2*frameSize(maxTokenIDBytes, maxBody) + 2*headerSize
}
