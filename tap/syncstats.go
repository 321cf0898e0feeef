package tap

import (
	"github.com/cio-singer/tap-customerio-webhook/tap/spool"
)

// spoolSyncHistogram returns the spool writer's fsync latency histogram;
// ok is false in a process that does not write the spool.
func spoolSyncHistogram(sp *spool.Spool) (histogram, bool) {
	h := sp.SyncLatency()
	if h == nil {
		return histogram{}, false
	}
	cum, count, sum := h.Snapshot()
	out := histogram{counts: cum, count: count, sum: sum.Seconds()}
	for _, b := range spool.SyncBuckets {
		out.bounds = append(out.bounds, b.Seconds())
	}
	return out, true
}
