//go:build linux

package spool

import (
	"errors"
	"io"
	"os"
	"runtime"
	"syscall"

	"golang.org/x/sys/unix"
)

// datasync is fdatasync(2): it makes the file's data durable, and its size and block map
// when they changed (what a later read needs), but not timestamps. When an append overwrites
// blocks a preallocated segment already holds, the size is unchanged and the file system
// can skip its journal commit, which is most of what an fsync costs on ext4.
func datasync(f *os.File) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		for {
			serr = syscall.Fdatasync(int(fd))
			if !errors.Is(serr, syscall.EINTR) {
				return
			}
		}
	}); err != nil {
		return err
	}
	if serr != nil {
		return &os.PathError{Op: "fdatasync", Path: f.Name(), Err: serr}
	}
	return nil
}

// writeAtDurably is pwritev2(2) with RWF_DSYNC: the write and the fdatasync of what it wrote
// in one system call, so a batch costs the writer one blocking call (and one hand-off of its
// Go processor) instead of two. It reports handled=false, having written nothing, where the
// kernel lacks the call (before Linux 4.7); the caller then writes and syncs separately.
func writeAtDurably(f *os.File, b []byte, off int64) (handled bool, err error) {
	// Fd rather than SyscallConn: a closure passed to Control would cost allocations on every
	// batch. The writer owns f and closes it only after this returns.
	fd := int(f.Fd())
	defer runtime.KeepAlive(f)
	for first := true; len(b) > 0; first = false {
		n, err := unix.Pwritev2(fd, [][]byte{b}, off, unix.RWF_DSYNC)
		switch {
		case errors.Is(err, syscall.EINTR):
			continue
		case errors.Is(err, syscall.ENOSYS) || errors.Is(err, syscall.EOPNOTSUPP):
			if first { // nothing written: the caller falls back
				return false, nil
			}
			return true, &os.PathError{Op: "pwritev2", Path: f.Name(), Err: err}
		case err != nil:
			return true, &os.PathError{Op: "pwritev2", Path: f.Name(), Err: err}
		case n == 0:
			return true, &os.PathError{Op: "pwritev2", Path: f.Name(), Err: io.ErrShortWrite}
		}
		// Each call made its own bytes durable; a short one is followed by the rest.
		b, off = b[n:], off+int64(n)
	}
	return true, nil
}

// writeBehind starts writing [off, off+n) of f back to the disk and waits until the chunk
// before it, of the same length, is written: sync_file_range(2), which makes nothing durable
// (no metadata, no device cache flush) but keeps at most two chunks of dirty pages queued.
// The spare's zero-fill calls it after each chunk, so that its single fdatasync at the end
// does not send a whole segment of zeros to the disk at once, in front of the fsyncs that
// appenders are waiting for.
func writeBehind(f *os.File, off, n int64) error {
	fd := int(f.Fd())
	defer runtime.KeepAlive(f)
	if err := unix.SyncFileRange(fd, off, n, unix.SYNC_FILE_RANGE_WRITE); err != nil {
		return &os.PathError{Op: "sync_file_range", Path: f.Name(), Err: err}
	}
	if off < n {
		return nil
	}
	const wait = unix.SYNC_FILE_RANGE_WAIT_BEFORE | unix.SYNC_FILE_RANGE_WRITE | unix.SYNC_FILE_RANGE_WAIT_AFTER
	if err := unix.SyncFileRange(fd, off-n, n, wait); err != nil {
		return &os.PathError{Op: "sync_file_range", Path: f.Name(), Err: err}
	}
	return nil
}
