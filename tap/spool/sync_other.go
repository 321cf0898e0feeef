//go:build !linux

package spool

import "os"

// datasync falls back to a full fsync where fdatasync is not available: it promises at
// least as much.
func datasync(f *os.File) error { return f.Sync() }
