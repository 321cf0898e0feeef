// Package vfs holds the file-layer interfaces under tap/spool (FS and File) and the ErrLocked
// sentinel their Lock returns. It imports nothing of spool's, so spool's test support
// (tap/spool/spooltest) can implement them without an import cycle; package spool re-exports
// them as spool.FS, spool.File and spool.ErrLocked.
package vfs

import (
	"errors"
	"io"
	"io/fs"
)

// ErrLocked is returned by Open when another process (or another Open in this process)
// holds the directory.
var ErrLocked = errors.New("spool: locked")

// FS is the file layer under a spool. It exists so tests can inject what disks do: lost
// unsynced writes, failing fsyncs, short writes, ENOSPC. Names are full paths.
type FS interface {
	MkdirAll(dir string) error
	OpenFile(name string, flag int, perm fs.FileMode) (File, error)
	Stat(name string) (fs.FileInfo, error)
	// ReadDir returns the names of the entries in dir, in any order.
	ReadDir(dir string) ([]string, error)
	Rename(oldname, newname string) error
	Remove(name string) error
	// SyncDir makes creations, renames and removals in dir durable.
	SyncDir(dir string) error
	// Lock takes an exclusive lock named by the file name, failing at once with an error
	// wrapping ErrLocked when someone else holds it. Closing the result releases it.
	Lock(name string) (io.Closer, error)
}

// File is an open file. Spool writes with WriteAt at explicit positions, so no file
// position is shared between the writer and readers.
type File interface {
	io.ReaderAt
	io.WriterAt
	Size() (int64, error)
	Truncate(size int64) error
	// Sync makes the file's data durable, together with its size when that changed: what
	// fdatasync(2) promises. Timestamps need not be flushed. Overwriting bytes inside the
	// file's size and then calling Sync must not need a file system journal commit, which is
	// why spool preallocates segments.
	Sync() error
	Close() error
}
