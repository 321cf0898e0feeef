package tap

import (
	"time"

	"github.com/cio-singer/tap-customerio-webhook/tap/spool"
)

// release deletes, at start, the spool segments the target has committed
// (through committed, from --state) and retention no longer keeps.
func release(sp *spool.Spool, committed uint64, cfg Config, now time.Time) error {
	off := committed
	if cfg.SpoolRetention > 0 {
		infos, err := sp.Segments()
		if err != nil {
			return err
		}
		segs := make([]sealedSegment, len(infos))
		for i, in := range infos {
			segs[i] = sealedSegment{First: in.First, Size: in.Size, Newest: in.Modified}
		}
		off = retainedRelease(segs, committed, now, cfg.SpoolRetention, cfg.SpoolRetentionBytes)
	}
	return sp.ReleaseThrough(off)
}

// sealedSegment describes one spool segment for the retention decision.
type sealedSegment struct {
	First  uint64    // first offset it may hold
	Size   int64     // bytes
	Newest time.Time // when its last record was written (the file's mtime)
}

// retainedRelease returns the offset to release through at start, given
// the segments (oldest first, the active one last) and the offset a target
// committed (--state). Without retention that is the committed offset
// itself. With spool_retention, a segment wholly at or below it is
// deleted only once its newest record is older than keep, or while the
// emitted segments kept add up to more than keepBytes (when > 0); oldest
// first, so what is kept is always the most recent stretch of the spool.
func retainedRelease(segs []sealedSegment, committed uint64, now time.Time, keep time.Duration, keepBytes int64) uint64 {
	if keep <= 0 {
		return committed
	}
	// Segment i holds offsets below segs[i+1].First: it is emitted when that is <= committed+1.
	n := 0
	var kept int64
	for n+1 < len(segs) && segs[n+1].First-1 <= committed {
		kept += segs[n].Size
		n++
	}
	var release uint64
	for i := range n {
		expired := now.Sub(segs[i].Newest) > keep
		over := keepBytes > 0 && kept > keepBytes
		if !expired && !over {
			break
		}
		kept -= segs[i].Size
		release = segs[i+1].First - 1
	}
	return release
}
