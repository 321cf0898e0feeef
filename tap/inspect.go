package tap

import (
	"time"

	"github.com/cio-singer/tap-customerio-webhook/tap/spool"
)

// SpoolInfo is what `status` shows of a spool directory.
type SpoolInfo struct {
	ID    string
	Stats spool.Stats
	sp    *spool.Spool
}

// Held is how many records the spool holds (emitted ones kept for
// retention included); an upper bound, offsets may skip.
func (i SpoolInfo) Held() uint64 { return heldRecords(i.Stats) }

// OldestAfter returns the receive time of the first record after off, or
// the zero time.
func (i SpoolInfo) OldestAfter(off uint64) time.Time {
	r, err := i.sp.NewReader(off)
	if err != nil {
		return time.Time{}
	}
	defer r.Close()
	rec, ok, err := r.TryNext()
	if err != nil || !ok {
		return time.Time{}
	}
	return rec.ReceivedAt
}

// Close releases the spool directory.
func (i SpoolInfo) Close() error { return i.sp.Close() }

// InspectSpool looks at a spool directory without locking or changing
// it: it works beside a running receiver and load, and with neither.
// Close the info.
func InspectSpool(dir string) (SpoolInfo, error) {
	sp, err := spool.Inspect(spool.Options{Dir: dir})
	if err != nil {
		return SpoolInfo{}, err
	}
	return SpoolInfo{ID: sp.ID(), Stats: sp.Stats(), sp: sp}, nil
}
