//go:build !linux

package spool

import "os"

// datasync falls back to a full fsync where fdatasync is not available: it promises at
// least as much.
func datasync(f *os.File) error { return f.Sync() }

// writeAtDurably has no single-call form here: the caller writes and syncs separately.
func writeAtDurably(*os.File, []byte, int64) (handled bool, err error) { return false, nil }

// writeBehind has no equivalent here: the spare's final sync writes all of it.
func writeBehind(*os.File, int64, int64) error { return nil }
