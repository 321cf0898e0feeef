package spool

import (
	"errors"
	"fmt"

	"github.com/cio-singer/tap-customerio-webhook/tap/spool/vfs"
)

// Sentinel errors. Callers classify with errors.Is; the receiver answers 503 to all of them.
var (
	// ErrClosed is returned by Append after CloseWriter, and by Reader.Next once the writer is
	// closed and every durable record has been read.
	ErrClosed = errors.New("spool: closed")
	// ErrFull is returned by Append when storing the record would take the spool's files past
	// Options.MaxBytes. Releasing segments (ReleaseThrough) makes room again.
	ErrFull = errors.New("spool: full")
	// ErrLocked is returned by Open when another process (or another Open in this process)
	// holds the directory. It is vfs.ErrLocked, which FS.Lock implementations return.
	ErrLocked = vfs.ErrLocked
	// ErrCorrupt is wrapped by every error about damaged spool contents; the concrete error is
	// a *CorruptError naming the file and byte position.
	ErrCorrupt = errors.New("spool: corrupt")
)

// CorruptError reports damaged bytes in a spool file. It matches ErrCorrupt under errors.Is.
type CorruptError struct {
	File   string // base name of the segment (or other spool file)
	Pos    int64  // byte position of the damaged frame or header
	Reason string // what was wrong, e.g. "checksum mismatch"
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("spool: corrupt %s at byte %d: %s", e.File, e.Pos, e.Reason)
}

// Unwrap lets errors.Is(err, ErrCorrupt) match.
func (e *CorruptError) Unwrap() error { return ErrCorrupt }
