package spool

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"
)

// One writer process and one reader process.
//
// The receiver (`serve`) owns the writer lock (LOCK) and appends; a scheduled Singer run opens
// the same directory with OpenReader, which takes the reader lock (READER.LOCK) instead, never
// writes segments and never reads past what the writer has made durable. The writer publishes
// its durable position in the file DURABLE after every group commit: the active segment's
// first offset and durable length, and the durable offset. It is one pwrite of a fixed-size,
// checksummed record into the page cache, which both processes share, so it is not fsynced: it
// is written only after the records it names are fsynced, so whatever version of it a reader
// (or a reboot) sees never names a record that is not durable. A torn read fails its checksum
// and is read again.
//
// Segments before the published active one are sealed (the writer truncates a segment to its
// records and syncs it before creating the next), so a reader reads them to their end; the
// active one only to the published length, whatever zeros the file holds past it. Only the
// reader deletes (ReleaseThrough), only sealed segments; the writer notices within a second
// (forgetReleased) so its spool_max_bytes accounting follows.

const (
	durableFileName  = "DURABLE"
	readerLockName   = "READER.LOCK"
	publishedSize    = 8 + 8 + 8 + 4
	readerPoll       = 20 * time.Millisecond // how often a reader process looks for new records
	forgetPoll       = time.Second           // how often the writer looks for released segments
	publishedRetries = 5
)

// position is what the writer publishes.
type position struct {
	first   uint64 // first offset of the active segment
	size    int64  // its durable length
	durable uint64 // highest durable offset
}

// encodeTo encodes p into b, which holds publishedSize bytes, and returns b.
func (p position) encodeTo(b []byte) []byte {
	binary.LittleEndian.PutUint64(b[0:], p.first)
	binary.LittleEndian.PutUint64(b[8:], uint64(p.size))
	binary.LittleEndian.PutUint64(b[16:], p.durable)
	binary.LittleEndian.PutUint32(b[24:], crc32.Checksum(b[:24], castagnoli))
	return b
}

func decodePosition(b []byte) (position, bool) {
	if len(b) < publishedSize || crc32.Checksum(b[:24], castagnoli) != binary.LittleEndian.Uint32(b[24:]) {
		return position{}, false
	}
	p := position{
		first:   binary.LittleEndian.Uint64(b[0:]),
		size:    int64(binary.LittleEndian.Uint64(b[8:])),
		durable: binary.LittleEndian.Uint64(b[16:]),
	}
	return p, p.first > 0 && p.size >= headerSize
}

// shared is the state of the two-process protocol, on either side.
type shared struct {
	readOnly bool
	inspect  bool       // Inspect: no lock, no poller, no release
	pubMu    sync.Mutex // serialises publish: the writer after each commit, and publishLoop
	pub      File       // writer: DURABLE, rewritten in place; nil if it could not be opened
	last     position
	pubBuf   [publishedSize]byte // what publish writes; reused, so a commit allocates nothing for it
	stop     chan struct{}
	done     chan struct{}
	sync     *SyncHistogram
	rlock    io.Closer // writer that also reads (LockReading): the reader lock
}

// LockReading takes the reader lock for a writer that also emits (the tap with its server), so
// no OpenReader in another process reads and releases the same spool meanwhile. Close
// releases it.
func (s *Spool) LockReading() error {
	if s.shared == nil || s.shared.readOnly {
		return errors.New("spool: LockReading needs a spool opened with Open")
	}
	lock, err := s.fs.Lock(s.path(readerLockName))
	if errors.Is(err, ErrLocked) {
		return fmt.Errorf("%w: spool directory %s is being read by another process (one reader at a time)", ErrLocked, s.dir)
	}
	if err != nil {
		return fmt.Errorf("locking spool directory for reading: %w", err)
	}
	s.shared.rlock = lock
	return nil
}

// position returns the writer's current durable position.
func (s *Spool) position() position {
	s.mu.Lock()
	defer s.mu.Unlock()
	last := s.segments[len(s.segments)-1]
	return position{first: last.first, size: last.size, durable: s.durable}
}

// publish writes the durable position to DURABLE if it changed. The writer goroutine calls it
// after each group commit.
func (s *Spool) publish() {
	sh := s.shared
	if sh == nil || sh.readOnly {
		return
	}
	sh.pubMu.Lock()
	defer sh.pubMu.Unlock()
	if sh.pub == nil {
		return
	}
	p := s.position()
	if p == sh.last {
		return
	}
	if _, err := sh.pub.WriteAt(p.encodeTo(sh.pubBuf[:]), 0); err != nil {
		s.log.Warn().Err(err).Msg("publishing durable position for readers")
		return
	}
	sh.last = p
}

// startShared opens DURABLE and starts the goroutine that keeps it current and notices
// segments a reader process released. Open calls it once the writer runs.
func (s *Spool) startShared() {
	f, err := s.fs.OpenFile(s.path(durableFileName), os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		// Only a reader process needs it; this process works without.
		s.log.Warn().Err(err).Msg("opening " + durableFileName + ": a reader process will not see new records")
	} else {
		s.shared.pubMu.Lock()
		s.shared.pub = f
		s.shared.pubMu.Unlock()
	}
	go s.publishLoop()
}

// newShared is the writer side's shared state, made by Open.
func newShared() *shared {
	return &shared{stop: make(chan struct{}), done: make(chan struct{}), sync: &SyncHistogram{}}
}

// publishLoop forgets released segments and publishes what a failed publish of the writer
// left stale, until the writer exits. It does not wake on every durable advance: the writer
// publishes after each group commit itself, and a wake-up here per batch was one more
// goroutine switch per fsync for nothing.
func (s *Spool) publishLoop() {
	sh := s.shared
	defer close(sh.done)
	tick := time.NewTicker(forgetPoll)
	defer tick.Stop()
	for {
		s.publish()
		select {
		case <-s.writerDone:
			s.publish()
			return
		case <-tick.C:
			s.forgetReleased()
		case <-sh.stop:
			return
		}
	}
}

// forgetReleased drops from the index the oldest segments whose files a reader process deleted.
func (s *Spool) forgetReleased() {
	s.relMu.Lock()
	defer s.relMu.Unlock()
	for {
		s.mu.Lock()
		if s.closed || len(s.segments) < 2 {
			s.mu.Unlock()
			return
		}
		oldest := s.segments[0]
		s.mu.Unlock()
		if _, err := s.fs.Stat(s.path(segmentName(oldest.first))); !errors.Is(err, fs.ErrNotExist) {
			return
		}
		s.mu.Lock()
		if len(s.segments) > 1 && s.segments[0].first == oldest.first {
			s.segments = s.segments[1:]
			s.bytes -= oldest.size
		}
		s.mu.Unlock()
	}
}

// stopShared stops the writer's publisher and closes DURABLE, or stops a reader's poller.
func (s *Spool) stopShared() error {
	sh := s.shared
	if sh == nil || sh.stop == nil {
		return nil
	}
	select {
	case <-sh.stop:
		return nil // stopped before
	default:
	}
	close(sh.stop)
	<-sh.done
	if sh.rlock != nil {
		_ = sh.rlock.Close()
	}
	s.publish()
	sh.pubMu.Lock()
	defer sh.pubMu.Unlock()
	if sh.pub != nil {
		err := sh.pub.Close()
		sh.pub = nil
		return err
	}
	return nil
}

// OpenReader opens the spool in opts.Dir for reading only, beside a writer that may be running
// in another process (`serve`), or not. It takes the reader lock: a second reader fails with
// ErrLocked. Its Readers return only records the writer has made durable (as published in
// DURABLE), following new ones as they are published; Append fails with ErrClosed. Its
// ReleaseThrough deletes only sealed segments.
//
// When no writer runs, OpenReader first opens the spool as the writer for a moment, so a crash
// is recovered and the durable position is published, then lets go of the writer lock.
func OpenReader(opts Options) (*Spool, error) {
	if opts.Dir == "" {
		return nil, errors.New("spool: Options.Dir is empty")
	}
	fsys := opts.FS
	if fsys == nil {
		fsys = OSFS{}
	}
	if err := fsys.MkdirAll(opts.Dir); err != nil {
		return nil, fmt.Errorf("creating spool directory: %w", err)
	}
	lock, err := fsys.Lock(filepath.Join(opts.Dir, readerLockName))
	if errors.Is(err, ErrLocked) {
		return nil, fmt.Errorf("%w: spool directory %s is being read by another process (one reader at a time)", ErrLocked, opts.Dir)
	}
	if err != nil {
		return nil, fmt.Errorf("locking spool directory for reading: %w", err)
	}
	// No writer: recover and publish as one, briefly.
	if w, err := Open(opts); err == nil {
		if err := w.Close(); err != nil {
			_ = lock.Close()
			return nil, err
		}
	} else if !errors.Is(err, ErrLocked) {
		_ = lock.Close()
		return nil, err
	}
	s, err := newReadOnly(opts, lock, false)
	if err != nil {
		_ = lock.Close()
		return nil, err
	}
	go s.pollLoop()
	st := s.Stats()
	s.log.Info().Str("dir", s.dir).Int("segments", st.Segments).Int64("bytes", st.Bytes).
		Uint64("first_offset", st.FirstOffset).Uint64("offset", st.LastOffset).Msg("spool opened for reading")
	return s, nil
}

// Inspect returns a read-only view of the spool in opts.Dir as it is now, taking no lock and
// changing nothing, for status pages: its Stats, ID, Segments and Readers work (Readers do not
// follow new records); ReleaseThrough fails. Close it.
func Inspect(opts Options) (*Spool, error) {
	return newReadOnly(opts, nopCloser{}, true)
}

type nopCloser struct{}

func (nopCloser) Close() error { return nil }

// newReadOnly builds a read-only Spool and loads its index once.
func newReadOnly(opts Options, lock io.Closer, inspect bool) (*Spool, error) {
	fsys := opts.FS
	if fsys == nil {
		fsys = OSFS{}
	}
	s := &Spool{
		dir:          filepath.Clean(opts.Dir),
		fs:           fsys,
		log:          opts.Log.With().Str("component", "spool").Str("mode", "reader").Logger(),
		now:          time.Now,
		lock:         lock,
		wake:         make(chan struct{}, 1),
		writerDone:   make(chan struct{}),
		durableCh:    make(chan struct{}),
		closing:      true, // no Appends here
		cur:          &batch{done: make(chan struct{})},
		shared:       &shared{readOnly: true, inspect: inspect, stop: make(chan struct{}), done: make(chan struct{})},
		segmentBytes: DefaultSegmentBytes,
	}
	close(s.writerDone) // there is no writer goroutine
	if inspect {
		close(s.shared.done) // and no poller
	}
	if _, err := fsys.Stat(s.path(idFileName)); err != nil {
		return nil, fmt.Errorf("spool directory %s holds no spool: %w", s.dir, err)
	}
	var err error
	if s.id, err = s.loadID(); err != nil {
		return nil, err
	}
	if err := s.refresh(); err != nil {
		return nil, err
	}
	return s, nil
}

// readPosition reads DURABLE; ok is false when it is missing or unreadable.
func (s *Spool) readPosition() (position, bool, error) {
	f, err := s.fs.OpenFile(s.path(durableFileName), os.O_RDONLY, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return position{}, false, nil
	}
	if err != nil {
		return position{}, false, fmt.Errorf("opening %s: %w", durableFileName, err)
	}
	defer f.Close() //nolint:errcheck // read-only
	buf := make([]byte, publishedSize)
	for range publishedRetries {
		n, _ := f.ReadAt(buf, 0)
		if p, ok := decodePosition(buf[:n]); ok {
			return p, true, nil
		}
	}
	return position{}, false, nil
}

// refresh rebuilds a reader's index from the directory and DURABLE. It holds relMu, so the
// index never changes under ReleaseThrough.
func (s *Spool) refresh() error {
	s.relMu.Lock()
	defer s.relMu.Unlock()
	p, ok, err := s.readPosition()
	if err != nil || !ok {
		return err
	}
	names, err := s.fs.ReadDir(s.dir)
	if err != nil {
		return fmt.Errorf("listing spool directory: %w", err)
	}
	var firsts []uint64
	for _, name := range names {
		if first, ok := parseSegmentName(name); ok && first <= p.first {
			firsts = append(firsts, first)
		}
	}
	sort.Slice(firsts, func(i, j int) bool { return firsts[i] < firsts[j] })
	if len(firsts) == 0 || firsts[len(firsts)-1] != p.first {
		return nil // not there yet, as far as this listing knows: look again later
	}
	s.mu.Lock()
	known := make(map[uint64]int64, len(s.segments))
	for _, seg := range s.segments[:max(len(s.segments)-1, 0)] {
		known[seg.first] = seg.size // sealed when last listed: its size is final
	}
	s.mu.Unlock()
	segs := make([]segment, 0, len(firsts))
	var total int64
	for _, first := range firsts {
		size, sealed := known[first]
		switch {
		case first == p.first:
			size = p.size
		case !sealed:
			info, err := s.fs.Stat(s.path(segmentName(first)))
			if errors.Is(err, fs.ErrNotExist) {
				continue // released meanwhile
			}
			if err != nil {
				return fmt.Errorf("sizing segment: %w", err)
			}
			size = info.Size()
		}
		segs = append(segs, segment{first: first, size: size})
		total += size
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.segments, s.bytes = segs, total
	if p.durable > s.durable {
		s.durable = p.durable
		s.next = p.durable + 1
		close(s.durableCh)
		s.durableCh = make(chan struct{})
	}
	return nil
}

// pollLoop refreshes a reader's view until Close.
func (s *Spool) pollLoop() {
	sh := s.shared
	defer close(sh.done)
	tick := time.NewTicker(readerPoll)
	defer tick.Stop()
	for {
		select {
		case <-sh.stop:
			return
		case <-tick.C:
		}
		if err := s.refresh(); err != nil {
			s.log.Warn().Err(err).Msg("reading the writer's progress")
		}
	}
}

// ReadOnly reports whether s was opened with OpenReader.
func (s *Spool) ReadOnly() bool { return s.shared != nil && s.shared.readOnly }

// SegmentInfo describes one segment file.
type SegmentInfo struct {
	First    uint64    // first offset it may hold
	Size     int64     // bytes of records (and header)
	Modified time.Time // when it was last written: about when its newest record arrived
	Sealed   bool      // a later segment exists; it never changes again
}

// Segments lists the segments, oldest first, the active one last.
func (s *Spool) Segments() ([]SegmentInfo, error) {
	s.mu.Lock()
	segs := append([]segment(nil), s.segments...)
	s.mu.Unlock()
	out := make([]SegmentInfo, 0, len(segs))
	for i, seg := range segs {
		info, err := s.fs.Stat(s.path(segmentName(seg.first)))
		if errors.Is(err, fs.ErrNotExist) {
			continue // released meanwhile
		}
		if err != nil {
			return nil, fmt.Errorf("segment %s: %w", segmentName(seg.first), err)
		}
		out = append(out, SegmentInfo{First: seg.first, Size: seg.size, Modified: info.ModTime(), Sealed: i < len(segs)-1})
	}
	return out, nil
}

// SyncHistogram counts fsync latencies in fixed buckets. It is safe for concurrent use.
type SyncHistogram struct {
	mu     sync.Mutex
	counts []uint64 // per bucket of SyncBuckets, not cumulative; one more for +Inf
	sum    time.Duration
	n      uint64
}

// SyncBuckets are the upper bounds of SyncHistogram's buckets.
var SyncBuckets = []time.Duration{
	100 * time.Microsecond, 250 * time.Microsecond, 500 * time.Microsecond, time.Millisecond,
	2500 * time.Microsecond, 5 * time.Millisecond, 10 * time.Millisecond, 25 * time.Millisecond,
	50 * time.Millisecond, 100 * time.Millisecond, 250 * time.Millisecond, 500 * time.Millisecond,
	time.Second, 2500 * time.Millisecond,
}

func (h *SyncHistogram) observe(d time.Duration) {
	i := sort.Search(len(SyncBuckets), func(i int) bool { return d <= SyncBuckets[i] })
	h.mu.Lock()
	if h.counts == nil {
		h.counts = make([]uint64, len(SyncBuckets)+1)
	}
	h.counts[i]++
	h.sum += d
	h.n++
	h.mu.Unlock()
}

// Snapshot returns the cumulative count per bucket of SyncBuckets, the total count and the sum.
func (h *SyncHistogram) Snapshot() (cumulative []uint64, count uint64, sum time.Duration) {
	h.mu.Lock()
	defer h.mu.Unlock()
	cumulative = make([]uint64, len(SyncBuckets))
	var acc uint64
	for i := range SyncBuckets {
		if h.counts != nil {
			acc += h.counts[i]
		}
		cumulative[i] = acc
	}
	return cumulative, h.n, h.sum
}

// SyncLatency returns the histogram of the writer's group-commit fsyncs; nil for a reader.
func (s *Spool) SyncLatency() *SyncHistogram {
	if s.shared == nil {
		return nil
	}
	return s.shared.sync
}
