package spool

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

const (
	// DefaultSegmentBytes is the segment size past which the writer starts a new segment.
	DefaultSegmentBytes = 64 << 20

	lockFileName = "LOCK"
	idFileName   = "SPOOL_ID"
	// maxRetainedBuffer caps the batch buffer kept between batches, so one burst of large
	// bodies does not pin its memory for the life of the process.
	maxRetainedBuffer = 4 << 20
)

// Options configure Open. Zero values take the defaults.
type Options struct {
	Dir          string           // spool_dir; created if missing
	SegmentBytes int64            // rotate to a new segment file past this size (default 64 MiB)
	MaxBytes     int64            // 0 = unlimited; else Append returns ErrFull when the spool's files would exceed it
	Log          zerolog.Logger   // the zero Logger writes nothing
	Now          func() time.Time // receive-time clock (default time.Now)
	FS           FS               // file layer (default: the real OS); tests inject faults through it

	noPrealloc bool // tests: never prepare spare segments, so segment boundaries are fixed
}

// Record is one spooled webhook.
type Record struct {
	Offset     uint64    // 1-based sequence number, strictly increasing, never reused within a spool
	ReceivedAt time.Time // UTC, when Append was called
	TokenID    string    // short, non-secret id of the webhook token (<= 255 bytes)
	Body       []byte    // the raw body, exactly as received; the caller owns it
}

// Stats describe the spool for metrics and status pages.
type Stats struct {
	Segments    int    // segment files, including the one being written
	Bytes       int64  // bytes in segment files (quarantined *.corrupt files are not counted)
	FirstOffset uint64 // the lowest offset the oldest segment may hold
	LastOffset  uint64 // Durable(); no records are held when LastOffset < FirstOffset
}

// segment is the in-memory index entry of one segment file: a few words per 64 MiB on disk.
type segment struct {
	first uint64 // first offset it may hold; its file name
	size  int64  // durable length in bytes; final once a later segment exists
}

// Spool is a durable, append-only log of webhook bodies in one directory. Its methods are
// safe for concurrent use.
type Spool struct {
	dir          string
	id           string
	fs           FS
	log          zerolog.Logger
	now          func() time.Time
	segmentBytes int64
	maxBytes     int64
	lock         io.Closer

	wake       chan struct{} // nudges the writer; capacity 1
	writerDone chan struct{} // closed when the writer goroutine has exited
	relMu      sync.Mutex    // serialises ReleaseThrough and Close

	shared *shared // the two-process protocol: publishing (writer) or polling (reader); see shared.go

	mu           sync.Mutex
	closing      bool          // CloseWriter was called: Appends are refused
	writerClosed bool          // the writer exited after answering every accepted Append
	closed       bool          // Close was called: files are released
	next         uint64        // offset for the next Append
	cur          *batch        // records waiting for the writer
	inflight     int64         // bytes the writer is writing right now
	bytes        int64         // durable bytes in segment files
	segments     []segment     // oldest first; the last one is being written
	durable      uint64        // highest fsynced offset
	durableCh    chan struct{} // closed and replaced whenever durable advances
	health       writeHealth   // what Writable reports

	prep       *prepared     // spare segment being zero-filled; set by the writer under mu
	prepStop   chan struct{} // closed when the writer exits: the helper stops zero-filling
	noPrealloc bool

	// Owned by the writer goroutine (and by Open before it starts).
	active         File
	activeSize     int64 // durable length of the active segment: where its valid frames end
	activeAlloc    int64 // size of the active segment's file, >= activeSize; zeros past it
	preallocated   bool  // the active segment was created zero-filled to segmentBytes
	dirty          bool  // active may hold bytes past activeSize from a failed write
	dirSyncPending bool  // the active segment's directory entry is not yet known durable
	spare          []byte
}

// Open opens (creating if needed) the spool in opts.Dir, takes its lock, recovers a torn tail
// left by a crash and starts the writer. Close it to release the directory.
func Open(opts Options) (*Spool, error) {
	if opts.Dir == "" {
		return nil, errors.New("spool: Options.Dir is empty")
	}
	s := &Spool{
		dir:          filepath.Clean(opts.Dir),
		fs:           opts.FS,
		log:          opts.Log.With().Str("component", "spool").Logger(),
		now:          opts.Now,
		segmentBytes: opts.SegmentBytes,
		maxBytes:     opts.MaxBytes,
		wake:         make(chan struct{}, 1),
		writerDone:   make(chan struct{}),
		durableCh:    make(chan struct{}),
		prepStop:     make(chan struct{}),
		noPrealloc:   opts.noPrealloc,
		cur:          &batch{done: make(chan struct{})},
		shared:       newShared(),
	}
	if s.fs == nil {
		s.fs = OSFS{}
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.segmentBytes <= 0 {
		s.segmentBytes = DefaultSegmentBytes
	}
	if err := s.makeDir(); err != nil {
		return nil, err
	}
	lock, err := s.fs.Lock(s.path(lockFileName))
	if errors.Is(err, ErrLocked) {
		return nil, fmt.Errorf("%w: spool directory %s is in use by another process (or another Open in this one)", ErrLocked, s.dir)
	}
	if err != nil {
		return nil, fmt.Errorf("locking spool directory: %w", err)
	}
	s.lock = lock
	if err := s.load(); err != nil {
		if s.active != nil {
			_ = s.active.Close() // read-only use so far; the load error is the news
		}
		_ = lock.Close()
		return nil, err
	}
	s.maybePrepare()
	go s.run()
	s.startShared()
	st := s.Stats()
	s.log.Info().Str("dir", s.dir).Int("segments", st.Segments).Int64("bytes", st.Bytes).
		Uint64("first_offset", st.FirstOffset).Uint64("offset", st.LastOffset).Msg("spool opened")
	return s, nil
}

// makeDir creates the spool directory and makes its name durable: fsyncing files inside a
// new directory does not persist the directory's own entry in its parent.
func (s *Spool) makeDir() error {
	var missing []string
	for d := s.dir; ; d = filepath.Dir(d) {
		if _, err := s.fs.Stat(d); err == nil || !errors.Is(err, fs.ErrNotExist) {
			break
		}
		missing = append(missing, d)
		if filepath.Dir(d) == d {
			break
		}
	}
	if err := s.fs.MkdirAll(s.dir); err != nil {
		return fmt.Errorf("creating spool directory: %w", err)
	}
	for _, d := range missing {
		if err := s.fs.SyncDir(filepath.Dir(d)); err != nil {
			return fmt.Errorf("syncing parent of new spool directory: %w", err)
		}
	}
	return nil
}

// load reads the spool's identity and segment list and recovers the last segment.
func (s *Spool) load() error {
	id, err := s.loadID()
	if err != nil {
		return err
	}
	s.id = id
	names, err := s.fs.ReadDir(s.dir)
	if err != nil {
		return fmt.Errorf("listing spool directory: %w", err)
	}
	var firsts []uint64
	for _, name := range names {
		if first, ok := parseSegmentName(name); ok {
			firsts = append(firsts, first)
			continue
		}
		if filepath.Ext(name) == tmpSuffix {
			// A segment or id that never got renamed into place: it holds nothing acknowledged.
			if err := s.fs.Remove(s.path(name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("removing leftover %s: %w", name, err)
			}
		}
	}
	sort.Slice(firsts, func(i, j int) bool { return firsts[i] < firsts[j] })
	if len(firsts) == 0 {
		return s.startSegment(1)
	}
	for _, first := range firsts[:len(firsts)-1] {
		info, err := s.fs.Stat(s.path(segmentName(first)))
		if err != nil {
			return fmt.Errorf("sizing segment: %w", err)
		}
		s.segments = append(s.segments, segment{first: first, size: info.Size()})
		s.bytes += info.Size()
	}
	return s.recoverTail(firsts[len(firsts)-1])
}

// loadID reads the spool id, creating it with a fresh directory.
func (s *Spool) loadID() (string, error) {
	name := s.path(idFileName)
	f, err := s.fs.OpenFile(name, os.O_RDONLY, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return s.createID()
	}
	if err != nil {
		return "", fmt.Errorf("opening spool id: %w", err)
	}
	defer f.Close() //nolint:errcheck // read-only
	buf := make([]byte, 64)
	n, err := f.ReadAt(buf, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("reading spool id: %w", err)
	}
	id := string(buf[:n])
	if len(id) != 33 || id[32] != '\n' {
		return "", &CorruptError{File: idFileName, Pos: 0, Reason: "not a spool id"}
	}
	if _, err := hex.DecodeString(id[:32]); err != nil {
		return "", &CorruptError{File: idFileName, Pos: 0, Reason: "not a spool id"}
	}
	return id[:32], nil
}

// createID writes a random id through a temporary file, so a crash never leaves half an id.
func (s *Spool) createID() (string, error) {
	var raw [16]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", fmt.Errorf("generating spool id: %w", err)
	}
	id := hex.EncodeToString(raw[:])
	name := s.path(idFileName)
	if err := s.writeFileDurably(name, []byte(id+"\n")); err != nil {
		return "", fmt.Errorf("writing spool id: %w", err)
	}
	return id, nil
}

// writeFileDurably writes name through name.tmp, fsyncs it, renames it and fsyncs the
// directory.
func (s *Spool) writeFileDurably(name string, data []byte) error {
	tmp := name + tmpSuffix
	f, err := s.fs.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		return err
	}
	_, err = f.WriteAt(data, 0)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = s.fs.Rename(tmp, name)
	}
	if err != nil {
		_ = s.fs.Remove(tmp) // best effort; Open removes leftovers too
		return err
	}
	return s.fs.SyncDir(s.dir)
}

func (s *Spool) path(name string) string { return filepath.Join(s.dir, name) }

// ID is a random identifier created with the spool directory and kept in a file in it, so a
// state (bookmark offset) from another or a wiped spool can be told apart.
func (s *Spool) ID() string { return s.id }

// Dir is the spool directory.
func (s *Spool) Dir() string { return s.dir }

// Durable is the highest offset known to be fsynced (0 when nothing was ever appended).
func (s *Spool) Durable() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.durable
}

// Stats returns a snapshot of the spool's size and offsets.
func (s *Spool) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := Stats{Segments: len(s.segments), Bytes: s.bytes, LastOffset: s.durable}
	if len(s.segments) > 0 {
		st.FirstOffset = s.segments[0].first
	}
	return st
}

// ReleaseThrough deletes every segment whose records are all <= off, oldest first, never the
// segment being written. The tap calls it at start with the offset from --state, whose records
// the target has committed. Readers keep reading a segment they already have open.
func (s *Spool) ReleaseThrough(off uint64) error {
	if s.shared != nil && s.shared.inspect {
		return errors.New("spool: ReleaseThrough on an Inspect view")
	}
	s.relMu.Lock()
	defer s.relMu.Unlock()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	// Segment i holds offsets below segments[i+1].first, so it is done when that is <= off+1.
	var victims []segment
	for i := 0; i+1 < len(s.segments) && s.segments[i+1].first-1 <= off; i++ {
		victims = append(victims, s.segments[i])
	}
	s.mu.Unlock()
	if len(victims) == 0 {
		return nil
	}
	removed := 0
	var err error
	for _, v := range victims {
		if rerr := s.fs.Remove(s.path(segmentName(v.first))); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
			err = fmt.Errorf("removing segment %s: %w", segmentName(v.first), rerr)
			break
		}
		removed++
	}
	if removed > 0 {
		// Only ReleaseThrough shortens the list, and the writer only appends, so the victims
		// are still its first entries.
		s.mu.Lock()
		for _, v := range victims[:removed] {
			s.bytes -= v.size
		}
		s.segments = s.segments[removed:]
		s.mu.Unlock()
		if serr := s.fs.SyncDir(s.dir); serr != nil && err == nil {
			err = fmt.Errorf("syncing spool directory after release: %w", serr)
		}
		s.log.Info().Int("segments", removed).Uint64("offset", off).Msg("released spool segments")
	}
	return err
}

// CloseWriter stops accepting records: new Appends get ErrClosed. It returns once every
// Append already accepted has been answered. Readers then drain what is durable and get
// ErrClosed. Calling it again is harmless.
func (s *Spool) CloseWriter() error {
	s.mu.Lock()
	s.closing = true
	s.mu.Unlock()
	s.wakeWriter()
	<-s.writerDone
	return nil
}

// Close calls CloseWriter, then closes the spool's files and releases its directory lock.
// Readers should be closed by their owners; they can still read what they have open.
func (s *Spool) Close() error {
	if err := s.CloseWriter(); err != nil {
		return err
	}
	shErr := s.stopShared() // before relMu: a reader's poller takes it
	s.relMu.Lock()
	defer s.relMu.Unlock()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	var errs []error
	if shErr != nil {
		errs = append(errs, fmt.Errorf("closing %s: %w", durableFileName, shErr))
	}
	if s.active != nil { // nil for OpenReader and Inspect
		if err := s.active.Close(); err != nil {
			errs = append(errs, fmt.Errorf("closing active segment: %w", err))
		}
	}
	if err := s.lock.Close(); err != nil {
		errs = append(errs, fmt.Errorf("releasing spool lock: %w", err))
	}
	s.log.Info().Uint64("offset", s.Durable()).Msg("spool closed")
	return errors.Join(errs...)
}
