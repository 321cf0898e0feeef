package tap

import (
	"time"

	"github.com/cio-singer/tap-customerio-webhook/tap/spool"
)

// spoolInfo is what status shows of a spool directory.
type spoolInfo struct {
	id    string
	stats spool.Stats
	sp    *spool.Spool
}

// oldestAfter returns the receive time of the first record after off, or
// the zero time.
func (i spoolInfo) oldestAfter(off uint64) time.Time {
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

// inspectSpool looks at a spool directory without locking or changing
// it: it works beside a running receiver and load, and with neither.
// Close info.sp.
func inspectSpool(dir string) (spoolInfo, error) {
	sp, err := spool.Inspect(spool.Options{Dir: dir})
	if err != nil {
		return spoolInfo{}, err
	}
	return spoolInfo{id: sp.ID(), stats: sp.Stats(), sp: sp}, nil
}
