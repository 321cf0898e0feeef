// Package spooltest is test support for code built on tap/spool: MemFS, an
// in-memory spool.FS that loses what a power cut loses and injects I/O
// faults (failed writes and fsyncs, short writes, ENOSPC).
//
// It imports only tap/spool/vfs (where spool.FS and spool.File are defined),
// so spool's own tests use it too.
package spooltest

import (
	"errors"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"syscall"
	"time"

	"github.com/cio-singer/tap-customerio-webhook/tap/spool/vfs"
)

// MemFS is an in-memory FS that behaves like a disk losing power: writes and truncations
// reach "the platter" only on Sync, and creations, renames and removals only on SyncDir.
// Crash returns what a reboot would find. Faults are injected per operation through SetFault.
type MemFS struct {
	mu      sync.Mutex
	names   map[string]*inode // the namespace as the running process sees it
	durable map[string]*inode // the namespace as of the last SyncDir
	locks   map[string]bool

	// fault (SetFault), when set, is asked before each operation ("write", "sync", "syncdir", "create",
	// "rename", "remove", "truncate") on a file base name; a non-nil error fails it. A failed
	// write first writes half of its bytes, as a disk filling up mid-write does.
	fault    func(op, name string) error
	capacity int64          // total bytes the disk holds; 0 = unlimited. Past it writes fail with ENOSPC.
	syncs    int            // successful file Syncs, for group-commit assertions
	writes   map[string]int // successful WriteAt calls, by the base name the file was opened by
}

type inode struct {
	data   []byte // what reads see (the page cache)
	synced []byte // what survives power loss
}

// New returns an empty MemFS with unlimited capacity and no faults.
func New() *MemFS {
	return &MemFS{names: map[string]*inode{}, durable: map[string]*inode{}, locks: map[string]bool{}, writes: map[string]int{}}
}

func (m *MemFS) check(op, name string) error {
	if m.fault == nil {
		return nil
	}
	return m.fault(op, filepath.Base(name))
}

// SetFault sets (nil: clears) the function asked before each operation
// ("write", "sync", "syncdir", "create", "rename", "remove", "truncate") with
// the file's base name; a non-nil error fails the operation. A failed write
// first writes half of its bytes: a short write.
func (m *MemFS) SetFault(f func(op, name string) error) {
	m.mu.Lock()
	m.fault = f
	m.mu.Unlock()
}

func (m *MemFS) used() int64 {
	var n int64
	for _, ino := range m.names {
		n += int64(len(ino.data))
	}
	return n
}

// Crash returns the file system a reboot would find: each file keeps its synced bytes; unsynced
// overwrites survive sector by sector at random and unsynced appends as a random prefix, as
// torn writes would leave them.
func (m *MemFS) Crash(rng *rand.Rand) *MemFS {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.CrashLocked(rng)
}

// CrashLocked is Crash for a fault function (see SetFault), which runs with the MemFS locked:
// it sees the disk as it is in the middle of an operation.
func (m *MemFS) CrashLocked(rng *rand.Rand) *MemFS {
	after := New()
	copies := map[*inode]*inode{}
	for name, ino := range m.durable {
		c, ok := copies[ino]
		if !ok {
			data := survivor(ino, rng)
			c = &inode{data: data, synced: append([]byte(nil), data...)}
			copies[ino] = c
		}
		after.names[name] = c
		after.durable[name] = c
	}
	return after
}

// sectorSize is the unit a disk writes atomically.
const sectorSize = 512

// survivor returns what a power cut leaves of a file: its synced bytes, with each sector of
// unsynced overwrites inside them either kept or lost at random (the kernel writes dirty pages
// back in any order, before any Sync), and a random prefix of the bytes appended past them.
// An unsynced truncation is lost. Sync (fsync or fdatasync: both make the data and the size
// durable) is the only thing that guarantees bytes survive.
func survivor(ino *inode, rng *rand.Rand) []byte {
	data := append([]byte(nil), ino.synced...)
	common := min(len(ino.data), len(ino.synced))
	for i := 0; i < common; i += sectorSize {
		j := min(i+sectorSize, common)
		if string(ino.data[i:j]) != string(ino.synced[i:j]) && rng.IntN(2) == 0 {
			copy(data[i:j], ino.data[i:j])
		}
	}
	if len(ino.data) > len(ino.synced) {
		extra := ino.data[len(ino.synced):]
		data = append(data, extra[:rng.IntN(len(extra)+1)]...)
	}
	return data
}

// File returns a copy of a file's current content, or nil.
func (m *MemFS) File(name string) []byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	if ino, ok := m.names[name]; ok {
		return append([]byte(nil), ino.data...)
	}
	return nil
}

// Put replaces a file's content durably, as damage found on disk would be.
func (m *MemFS) Put(name string, data []byte) {
	m.mu.Lock()
	defer m.mu.Unlock()
	ino := &inode{data: append([]byte(nil), data...), synced: append([]byte(nil), data...)}
	m.names[name] = ino
	m.durable[name] = ino
}

func (m *MemFS) MkdirAll(string) error { return nil }

func (m *MemFS) OpenFile(name string, flag int, _ fs.FileMode) (vfs.File, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	ino, ok := m.names[name]
	switch {
	case ok && flag&os.O_CREATE != 0 && flag&os.O_EXCL != 0:
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrExist}
	case !ok && flag&os.O_CREATE == 0:
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	case !ok:
		if err := m.check("create", name); err != nil {
			return nil, &fs.PathError{Op: "open", Path: name, Err: err}
		}
		ino = &inode{}
		m.names[name] = ino
	}
	if flag&os.O_TRUNC != 0 {
		ino.data = ino.data[:0]
	}
	return &file{fs: m, ino: ino, name: name, readOnly: flag&(os.O_RDWR|os.O_WRONLY) == 0}, nil
}

func (m *MemFS) Stat(name string) (fs.FileInfo, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	ino, ok := m.names[name]
	if !ok {
		return nil, &fs.PathError{Op: "stat", Path: name, Err: fs.ErrNotExist}
	}
	return info{name: filepath.Base(name), size: int64(len(ino.data))}, nil
}

func (m *MemFS) ReadDir(dir string) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var names []string
	for name := range m.names {
		if filepath.Dir(name) == dir {
			names = append(names, filepath.Base(name))
		}
	}
	sort.Strings(names)
	return names, nil
}

func (m *MemFS) Rename(oldname, newname string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	ino, ok := m.names[oldname]
	if !ok {
		return &fs.PathError{Op: "rename", Path: oldname, Err: fs.ErrNotExist}
	}
	if err := m.check("rename", newname); err != nil {
		return err
	}
	delete(m.names, oldname)
	m.names[newname] = ino
	return nil
}

func (m *MemFS) Remove(name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.names[name]; !ok {
		return &fs.PathError{Op: "remove", Path: name, Err: fs.ErrNotExist}
	}
	if err := m.check("remove", name); err != nil {
		return err
	}
	delete(m.names, name)
	return nil
}

func (m *MemFS) SyncDir(dir string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.check("syncdir", dir); err != nil {
		return err
	}
	m.durable = make(map[string]*inode, len(m.names))
	for name, ino := range m.names {
		m.durable[name] = ino
	}
	return nil
}

func (m *MemFS) Lock(name string) (io.Closer, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.locks[name] {
		return nil, vfs.ErrLocked
	}
	m.locks[name] = true
	return lock{m: m, name: name}, nil
}

type lock struct {
	m    *MemFS
	name string
}

func (l lock) Close() error {
	l.m.mu.Lock()
	defer l.m.mu.Unlock()
	delete(l.m.locks, l.name)
	return nil
}

type file struct {
	fs       *MemFS
	ino      *inode
	name     string
	readOnly bool
}

// currentName is the file's name now: a rename moves the inode, not the open file.
// The caller holds f.fs.mu.
func (f *file) currentName() string {
	for name, ino := range f.fs.names {
		if ino == f.ino {
			return name
		}
	}
	return f.name // removed: keep the name it was opened by
}

func (f *file) ReadAt(p []byte, off int64) (int, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if off >= int64(len(f.ino.data)) {
		return 0, io.EOF
	}
	n := copy(p, f.ino.data[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (f *file) WriteAt(p []byte, off int64) (int, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if f.readOnly {
		return 0, &fs.PathError{Op: "write", Path: f.name, Err: syscall.EBADF}
	}
	n, err := len(p), f.fs.check("write", f.currentName())
	if err != nil {
		n = len(p) / 2
	}
	if f.fs.capacity > 0 {
		if room := f.fs.capacity - f.fs.used() + max(int64(len(f.ino.data))-off, 0); int64(n) > room {
			n, err = int(max(room, 0)), syscall.ENOSPC
		}
	}
	if end := off + int64(n); end > int64(len(f.ino.data)) {
		f.ino.data = append(f.ino.data, make([]byte, end-int64(len(f.ino.data)))...)
	}
	copy(f.ino.data[off:], p[:n])
	if err != nil {
		return n, &fs.PathError{Op: "write", Path: f.name, Err: err}
	}
	f.fs.writes[filepath.Base(f.name)]++
	return n, nil
}

func (f *file) Size() (int64, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	return int64(len(f.ino.data)), nil
}

func (f *file) Truncate(size int64) error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.fs.check("truncate", f.currentName()); err != nil {
		return err
	}
	if size <= int64(len(f.ino.data)) {
		f.ino.data = f.ino.data[:size]
	} else {
		f.ino.data = append(f.ino.data, make([]byte, size-int64(len(f.ino.data)))...)
	}
	return nil
}

func (f *file) Sync() error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.fs.check("sync", f.currentName()); err != nil {
		return &fs.PathError{Op: "sync", Path: f.name, Err: err}
	}
	f.ino.synced = append(f.ino.synced[:0], f.ino.data...)
	f.fs.syncs++
	return nil
}

func (f *file) Close() error { return nil }

type info struct {
	name string
	size int64
}

func (i info) Name() string       { return i.name }
func (i info) Size() int64        { return i.size }
func (i info) Mode() fs.FileMode  { return 0o640 }
func (i info) ModTime() time.Time { return time.Time{} }
func (i info) IsDir() bool        { return false }
func (i info) Sys() any           { return nil }

// ErrInjected is a convenient error for fault functions to return.
var ErrInjected = errors.New("injected I/O error")

var _ vfs.FS = (*MemFS)(nil)

// SetCapacity sets the bytes the disk holds (0: unlimited); writes past it
// fail with ENOSPC after writing what fits.
func (m *MemFS) SetCapacity(n int64) {
	m.mu.Lock()
	m.capacity = n
	m.mu.Unlock()
}

// Syncs returns the number of successful file fsyncs.
func (m *MemFS) Syncs() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.syncs
}

// Used returns the bytes the files hold now.
func (m *MemFS) Used() int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.used()
}

// WritesExcept returns the number of successful WriteAt calls, except those to files opened
// by the base name except.
func (m *MemFS) WritesExcept(except string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for name, w := range m.writes {
		if name != except {
			n += w
		}
	}
	return n
}
