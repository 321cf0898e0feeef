//go:build linux

package spool

import (
	"errors"
	"os"
	"syscall"
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
