package spool

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
)

// memFS is an in-memory FS that behaves like a disk losing power: writes and truncations
// reach "the platter" only on Sync, and creations, renames and removals only on SyncDir.
// crash returns what a reboot would find. Faults are injected per operation through fault.
type memFS struct {
	mu      sync.Mutex
	names   map[string]*memInode // the namespace as the running process sees it
	durable map[string]*memInode // the namespace as of the last SyncDir
	locks   map[string]bool

	// fault, when set, is asked before each operation ("write", "sync", "syncdir", "create",
	// "rename", "remove", "truncate") on a file base name; a non-nil error fails it. A failed
	// write first writes half of its bytes, as a disk filling up mid-write does.
	fault    func(op, name string) error
	capacity int64 // total bytes the disk holds; 0 = unlimited. Past it writes fail with ENOSPC.
	syncs    int   // successful file Syncs, for group-commit assertions
	writes   int   // successful WriteAt calls, but to DURABLE
}

type memInode struct {
	data   []byte // what reads see (the page cache)
	synced []byte // what survives power loss
}

func newMemFS() *memFS {
	return &memFS{names: map[string]*memInode{}, durable: map[string]*memInode{}, locks: map[string]bool{}}
}

func (m *memFS) check(op, name string) error {
	if m.fault == nil {
		return nil
	}
	return m.fault(op, filepath.Base(name))
}

func (m *memFS) setFault(f func(op, name string) error) {
	m.mu.Lock()
	m.fault = f
	m.mu.Unlock()
}

func (m *memFS) used() int64 {
	var n int64
	for _, ino := range m.names {
		n += int64(len(ino.data))
	}
	return n
}

// crash returns the file system a reboot would find: each file as survivor leaves it.
func (m *memFS) crash(rng *rand.Rand) *memFS {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.crashLocked(rng)
}

// crashLocked is crash for a caller holding m.mu, such as a fault function: it sees the disk
// as it is in the middle of an operation.
func (m *memFS) crashLocked(rng *rand.Rand) *memFS {
	after := newMemFS()
	copies := map[*memInode]*memInode{}
	for name, ino := range m.durable {
		c, ok := copies[ino]
		if !ok {
			data := survivor(ino, rng)
			c = &memInode{data: data, synced: append([]byte(nil), data...)}
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
func survivor(ino *memInode, rng *rand.Rand) []byte {
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

// file returns a copy of a file's current content, or nil.
func (m *memFS) file(name string) []byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	if ino, ok := m.names[name]; ok {
		return append([]byte(nil), ino.data...)
	}
	return nil
}

// put replaces a file's content durably, as damage found on disk would be.
func (m *memFS) put(name string, data []byte) {
	m.mu.Lock()
	defer m.mu.Unlock()
	ino := &memInode{data: append([]byte(nil), data...), synced: append([]byte(nil), data...)}
	m.names[name] = ino
	m.durable[name] = ino
}

func (m *memFS) MkdirAll(string) error { return nil }

func (m *memFS) OpenFile(name string, flag int, _ fs.FileMode) (File, error) {
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
		ino = &memInode{}
		m.names[name] = ino
	}
	if flag&os.O_TRUNC != 0 {
		ino.data = ino.data[:0]
	}
	return &memFile{fs: m, ino: ino, name: name, readOnly: flag&(os.O_RDWR|os.O_WRONLY) == 0}, nil
}

func (m *memFS) Stat(name string) (fs.FileInfo, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	ino, ok := m.names[name]
	if !ok {
		return nil, &fs.PathError{Op: "stat", Path: name, Err: fs.ErrNotExist}
	}
	return memInfo{name: filepath.Base(name), size: int64(len(ino.data))}, nil
}

func (m *memFS) ReadDir(dir string) ([]string, error) {
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

func (m *memFS) Rename(oldname, newname string) error {
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

func (m *memFS) Remove(name string) error {
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

func (m *memFS) SyncDir(dir string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.check("syncdir", dir); err != nil {
		return err
	}
	m.durable = make(map[string]*memInode, len(m.names))
	for name, ino := range m.names {
		m.durable[name] = ino
	}
	return nil
}

func (m *memFS) Lock(name string) (io.Closer, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.locks[name] {
		return nil, ErrLocked
	}
	m.locks[name] = true
	return memLock{m: m, name: name}, nil
}

type memLock struct {
	m    *memFS
	name string
}

func (l memLock) Close() error {
	l.m.mu.Lock()
	defer l.m.mu.Unlock()
	delete(l.m.locks, l.name)
	return nil
}

type memFile struct {
	fs       *memFS
	ino      *memInode
	name     string
	readOnly bool
}

// currentName is the file's name now: a rename moves the inode, not the open file.
// The caller holds f.fs.mu.
func (f *memFile) currentName() string {
	for name, ino := range f.fs.names {
		if ino == f.ino {
			return name
		}
	}
	return f.name // removed: keep the name it was opened by
}

func (f *memFile) ReadAt(p []byte, off int64) (int, error) {
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

func (f *memFile) WriteAt(p []byte, off int64) (int, error) {
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
	if filepath.Base(f.name) != durableFileName { // publishing for readers costs no fsync
		f.fs.writes++
	}
	return n, nil
}

func (f *memFile) Size() (int64, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	return int64(len(f.ino.data)), nil
}

func (f *memFile) Truncate(size int64) error {
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

func (f *memFile) Sync() error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.fs.check("sync", f.currentName()); err != nil {
		return &fs.PathError{Op: "sync", Path: f.name, Err: err}
	}
	f.ino.synced = append(f.ino.synced[:0], f.ino.data...)
	f.fs.syncs++
	return nil
}

func (f *memFile) Close() error { return nil }

type memInfo struct {
	name string
	size int64
}

func (i memInfo) Name() string       { return i.name }
func (i memInfo) Size() int64        { return i.size }
func (i memInfo) Mode() fs.FileMode  { return 0o640 }
func (i memInfo) ModTime() time.Time { return time.Time{} }
func (i memInfo) IsDir() bool        { return false }
func (i memInfo) Sys() any           { return nil }

var errInjected = errors.New("injected I/O error")
