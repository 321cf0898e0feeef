//go:build !unix

package spool

import (
	"errors"
	"io"
)

// lockFile is not implemented where flock is missing: running two processes on one spool
// would silently interleave segments, so refuse rather than guess.
func lockFile(name string) (io.Closer, error) {
	return nil, errors.New("spool: directory locking is not supported on this platform")
}
