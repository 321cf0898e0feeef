package spool

import (
	"io"
	"io/fs"
	"os"

	"github.com/cio-singer/tap-customerio-webhook/tap/spool/vfs"
)

// FS is the file layer under a spool (see vfs.FS); tests substitute spooltest.MemFS.
type FS = vfs.FS

// File is an open file (see vfs.File).
type File = vfs.File

// OSFS is the real file system; it is the default FS.
type OSFS struct{}

var _ FS = OSFS{}

// MkdirAll creates dir and its parents.
func (OSFS) MkdirAll(dir string) error { return os.MkdirAll(dir, 0o750) }

// OpenFile opens a file with os.OpenFile.
func (OSFS) OpenFile(name string, flag int, perm fs.FileMode) (File, error) {
	f, err := os.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return osFile{f}, nil
}

// Stat returns the file's metadata.
func (OSFS) Stat(name string) (fs.FileInfo, error) { return os.Stat(name) }

// ReadDir lists the names in dir.
func (OSFS) ReadDir(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	names := make([]string, len(entries))
	for i, e := range entries {
		names[i] = e.Name()
	}
	return names, nil
}

// Rename renames a file atomically.
func (OSFS) Rename(oldname, newname string) error { return os.Rename(oldname, newname) }

// Remove deletes a file.
func (OSFS) Remove(name string) error { return os.Remove(name) }

// SyncDir fsyncs the directory itself, which is what makes new and removed names durable.
func (OSFS) SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	if err := d.Sync(); err != nil {
		_ = d.Close() // the sync error is the one that matters
		return err
	}
	return d.Close()
}

// Lock takes an exclusive advisory lock on name; see lockFile.
func (OSFS) Lock(name string) (io.Closer, error) { return lockFile(name) }

type osFile struct{ *os.File }

// Sync is fdatasync where the platform has it (see datasync).
func (f osFile) Sync() error { return datasync(f.File) }

// WriteAtDurably writes b at off and makes it durable as WriteAt then Sync would, in one
// system call where the kernel has one (see writeAtDurably).
func (f osFile) WriteAtDurably(b []byte, off int64) error {
	if ok, err := writeAtDurably(f.File, b, off); ok || err != nil {
		return err
	}
	if _, err := f.WriteAt(b, off); err != nil {
		return err
	}
	return f.Sync()
}

// WriteBehind starts writing [off, off+n) back and waits for the n bytes before it (see
// writeBehind). It makes nothing durable.
func (f osFile) WriteBehind(off, n int64) error { return writeBehind(f.File, off, n) }

func (f osFile) Size() (int64, error) {
	info, err := f.Stat()
	if err != nil {
		return 0, err
	}
	return info.Size(), nil
}
