// Package spool is the tap's durable, append-only log of received webhooks: the HTTP receiver
// appends raw bodies, the emitter reads them back in order and writes Singer messages.
//
// Guarantees:
//
//   - Durability before acknowledgement. Append returns nil only after the record is written
//     and fsynced (and, for a new segment file, after the directory is fsynced). A failed
//     write or fsync is returned to every caller of that batch and the bytes are cut off the
//     segment, never reported as stored. Concurrent Appends share one write and one fsync
//     (group commit), so acknowledging many webhooks at once costs about one fsync. Segments
//     are preallocated (zero-filled and synced ahead of time by a helper goroutine), so a
//     batch overwrites blocks the file already has and its fdatasync flushes only data, not
//     the file system journal. Zeros after the last valid frame are free space: a segment's
//     logical length is where its valid frames end (see prealloc.go).
//   - Order. Offsets start at 1 and strictly increase in append order; they are never reused
//     within a spool directory, across restarts too. They may skip values: the records of a
//     failed batch, or records quarantined by recovery, keep theirs. Readers see records in
//     offset order and never beyond Durable.
//   - Crash recovery. Every record carries a CRC32C. Open cuts a torn or corrupt tail of the
//     last segment so appends continue after the last good record; if valid-looking records
//     follow the damage, the cut bytes are kept in a *.corrupt file and an error is logged.
//     Damage anywhere else is reported by a Reader as an error wrapping ErrCorrupt that names
//     the segment and byte position; it is never skipped silently.
//   - One writer process and one reader process per directory. Open takes an exclusive flock
//     on spool_dir/LOCK; a second Open, in this or another process, fails with ErrLocked.
//     OpenReader takes spool_dir/READER.LOCK instead (one reader at a time), never writes a
//     segment, and reads only what the writer has fsynced: the writer publishes its durable
//     position in spool_dir/DURABLE after every group commit (see shared.go). A reader's
//     ReleaseThrough deletes only sealed segments; the writer notices. The kernel drops locks
//     when the process dies, so a crash leaves no stale lock.
//   - Bounded memory. Records live in segment files (default 64 MiB each) named by their
//     first offset; the index holds a few words per segment and readers stream from files.
//     Segments wholly at or below an offset the target has committed are deleted with
//     ReleaseThrough. Stats.Bytes and MaxBytes count record bytes; on disk the active segment
//     and one prepared spare take up to SegmentBytes each whatever they hold.
//
// Usage:
//
//	s, err := spool.Open(spool.Options{Dir: cfg.SpoolDir, Log: log})
//	if err != nil { ... }                                  // ErrLocked: another tap runs here
//	defer s.Close()
//	off, err := s.Append(ctx, body, tokenID)             // receiver: 200 only when err == nil
//	r, err := s.NewReader(bookmark)                      // emitter: records after bookmark
//	rec, err := r.Next(ctx)                              // ... in order, until ErrClosed
//
//	rs, err := spool.OpenReader(spool.Options{Dir: dir}) // another process, beside the writer
package spool
