package spool

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// recoverTail opens the last segment for appending after a clean stop or a crash. A torn or
// damaged tail (partial frame, bad checksum, zeros) is cut so appends continue after the last
// good record. If valid-looking frames follow the damage, the cut bytes are first kept in a
// *.corrupt file beside the segment and an error is logged: they may be acknowledged records.
func (s *Spool) recoverTail(first uint64) error {
	name := segmentName(first)
	f, err := s.fs.OpenFile(s.path(name), os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("opening last segment: %w", err)
	}
	size, err := f.Size()
	if err != nil {
		_ = f.Close()
		return fmt.Errorf("sizing segment %s: %w", name, err)
	}
	sr := newSegReader(f, first)
	if err := sr.readHeader(size); err != nil {
		_ = f.Close() // about to be moved aside
		var cerr *CorruptError
		if !errors.As(err, &cerr) {
			return err
		}
		return s.quarantineSegment(first, cerr)
	}
	last := first - 1
	var damage *CorruptError
	for {
		fr, ok, err := sr.next(size)
		if errors.As(err, &damage) {
			break
		}
		if err != nil {
			_ = f.Close()
			return err
		}
		if !ok {
			break
		}
		last = fr.off
	}
	next := max(first, last+1)
	alloc := size
	if damage != nil {
		// Zeros after the last frame are a preallocated segment's free space, not damage.
		free, err := zeroFrom(f, damage.Pos, size)
		if err != nil {
			_ = f.Close()
			return fmt.Errorf("reading tail of segment %s: %w", name, err)
		}
		if free {
			damage = nil
		}
	}
	if damage != nil {
		salvagedMax, err := s.cutTail(f, damage, size, last)
		if err != nil {
			_ = f.Close()
			return err
		}
		next = max(next, salvagedMax+1)
		alloc = damage.Pos
	}
	// Records a killed process wrote but never fsynced are durable only from here on.
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return fmt.Errorf("syncing segment %s: %w", name, err)
	}
	s.mu.Lock()
	s.segments = append(s.segments, segment{first: first, size: sr.pos})
	s.bytes += sr.pos
	s.next = next
	s.durable = next - 1
	s.mu.Unlock()
	s.active = f
	s.activeSize = sr.pos
	s.activeAlloc = alloc
	s.preallocated = alloc > sr.pos
	return nil
}

// zeroFrom reports whether bytes [pos, size) of f are all zero.
func zeroFrom(f File, pos, size int64) (bool, error) {
	buf := make([]byte, min(size-pos, readChunk))
	for pos < size {
		n := min(int64(len(buf)), size-pos)
		if _, err := f.ReadAt(buf[:n], pos); err != nil {
			return false, err
		}
		if !allZero(buf[:n]) {
			return false, nil
		}
		pos += n
	}
	return true, nil
}

// cutTail truncates f at the damaged frame. It returns the highest offset among valid frames
// found after the damage (or last), so offsets are never handed out twice.
func (s *Spool) cutTail(f File, damage *CorruptError, size int64, last uint64) (uint64, error) {
	tail := make([]byte, size-damage.Pos)
	if _, err := f.ReadAt(tail, damage.Pos); err != nil {
		return 0, fmt.Errorf("reading damaged tail of %s: %w", damage.File, err)
	}
	// Trailing zeros are free space of a preallocated segment: nothing to salvage or keep.
	tail = tail[:len(tail)-trailingZeros(tail)]
	frames, maxOff := salvageFrames(tail, last)
	if frames > 0 {
		kept, err := s.keepCorrupt(fmt.Sprintf("%s.%d", damage.File, damage.Pos), tail)
		if err != nil {
			return 0, err
		}
		s.log.Error().Str("segment", damage.File).Int64("pos", damage.Pos).Str("reason", damage.Reason).
			Int("bytes", len(tail)).Int("frames", frames).Uint64("max_offset", maxOff).Str("kept_in", kept).
			Msg("spool segment damaged before valid records; cut bytes kept for inspection")
	} else {
		s.log.Warn().Str("segment", damage.File).Int64("pos", damage.Pos).Str("reason", damage.Reason).
			Int("bytes", len(tail)).Msg("cut torn spool tail")
	}
	if err := f.Truncate(damage.Pos); err != nil {
		return 0, fmt.Errorf("truncating segment %s: %w", damage.File, err)
	}
	return maxOff, nil
}

// quarantineSegment moves aside a last segment whose header is damaged and starts a fresh one
// past every offset it might hold.
func (s *Spool) quarantineSegment(first uint64, damage *CorruptError) error {
	name := s.path(damage.File)
	data, err := s.readAll(name)
	if err != nil {
		return err
	}
	frames, maxOff := salvageFrames(data, first-1)
	if allZero(data) {
		// A header that never reached the disk: nothing was written in it.
		if err := s.fs.Remove(name); err != nil {
			return fmt.Errorf("removing empty segment %s: %w", damage.File, err)
		}
		s.log.Warn().Str("segment", damage.File).Int("bytes", len(data)).Msg("removed empty spool segment")
	} else {
		kept, err := s.uniqueName(damage.File)
		if err != nil {
			return err
		}
		if err := s.fs.Rename(name, s.path(kept)); err != nil {
			return fmt.Errorf("moving damaged segment aside: %w", err)
		}
		s.log.Error().Str("segment", damage.File).Str("reason", damage.Reason).Int("bytes", len(data)).
			Int("frames", frames).Uint64("max_offset", maxOff).Str("kept_in", kept).
			Msg("spool segment header damaged; segment kept for inspection")
	}
	if err := s.fs.SyncDir(s.dir); err != nil {
		return fmt.Errorf("syncing spool directory: %w", err)
	}
	return s.startSegment(max(first, maxOff+1))
}

// keepCorrupt writes data durably to a new <base>.corrupt file and returns its name.
func (s *Spool) keepCorrupt(base string, data []byte) (string, error) {
	kept, err := s.uniqueName(base)
	if err != nil {
		return "", err
	}
	f, err := s.fs.OpenFile(s.path(kept), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		return "", fmt.Errorf("keeping damaged spool bytes: %w", err)
	}
	_, err = f.WriteAt(data, 0)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = s.fs.SyncDir(s.dir)
	}
	if err != nil {
		return "", fmt.Errorf("keeping damaged spool bytes in %s: %w", kept, err)
	}
	return kept, nil
}

// uniqueName returns base+".corrupt", or base+".N.corrupt" when that exists already.
func (s *Spool) uniqueName(base string) (string, error) {
	for n := 0; n < 1000; n++ {
		name := base + corruptSuffix
		if n > 0 {
			name = fmt.Sprintf("%s.%d%s", base, n, corruptSuffix)
		}
		_, err := s.fs.Stat(s.path(name))
		if errors.Is(err, fs.ErrNotExist) {
			return name, nil
		}
		if err != nil {
			return "", fmt.Errorf("naming corrupt file: %w", err)
		}
	}
	return "", fmt.Errorf("naming corrupt file: too many %s*%s files", base, corruptSuffix)
}

func (s *Spool) readAll(name string) ([]byte, error) {
	f, err := s.fs.OpenFile(name, os.O_RDONLY, 0)
	if err != nil {
		return nil, fmt.Errorf("opening damaged segment: %w", err)
	}
	defer f.Close() //nolint:errcheck // read-only
	size, err := f.Size()
	if err != nil {
		return nil, fmt.Errorf("sizing damaged segment: %w", err)
	}
	data := make([]byte, size)
	if _, err := f.ReadAt(data, 0); err != nil && size > 0 {
		return nil, fmt.Errorf("reading damaged segment: %w", err)
	}
	return data, nil
}

// salvageWindow bounds how far past the last good offset a salvaged frame's offset may lie.
// Real frames after damage are close to it; the bound lets the scan skip almost every byte
// position without computing a checksum.
const salvageWindow = 1 << 32

// salvageFrames scans b byte by byte for frames that pass every check and carry an offset in
// (after, after+salvageWindow], and returns how many it found and the highest offset among
// them (or after).
func salvageFrames(b []byte, after uint64) (frames int, maxOff uint64) {
	maxOff = after
	for i := 0; len(b)-i >= frameHeaderSize+minPayload; {
		n, reason := payloadLen(b[i:])
		end := i + frameHeaderSize + n
		if reason == "" && end <= len(b) {
			if off := binary.LittleEndian.Uint64(b[i+frameHeaderSize:]); off > after && off-after <= salvageWindow {
				if fr, reason := decodeFrame(b[i:end], after); reason == "" {
					frames++
					maxOff = max(maxOff, fr.off)
					i = end
					continue
				}
			}
		}
		i++
	}
	return frames, maxOff
}

// trailingZeros counts the zero bytes at the end of b.
func trailingZeros(b []byte) int {
	n := 0
	for n < len(b) && b[len(b)-1-n] == 0 {
		n++
	}
	return n
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
