package tap

import (
	"github.com/cio-singer/tap-customerio-webhook/tap/metrics"
	"github.com/cio-singer/tap-customerio-webhook/tap/spool"
)

// spoolSyncHistogram returns the spool writer's fsync latency histogram;
// ok is false in a process that does not write the spool.
func spoolSyncHistogram(sp *spool.Spool) (metrics.Histogram, bool) {
	h := sp.SyncLatency()
	if h == nil {
		return metrics.Histogram{}, false
	}
	cum, count, sum := h.Snapshot()
	out := metrics.Histogram{Counts: cum, Count: count, Sum: sum.Seconds()}
	for _, b := range spool.SyncBuckets {
		out.Bounds = append(out.Bounds, b.Seconds())
	}
	return out, true
}
