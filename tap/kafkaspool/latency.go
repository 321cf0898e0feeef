package kafkaspool

import (
	"sort"
	"sync/atomic"
	"time"
)

// LatencyBuckets are the upper bounds of LatencyHistogram's buckets, up to
// past the default produce timeout.
var LatencyBuckets = []time.Duration{
	time.Millisecond, 2500 * time.Microsecond, 5 * time.Millisecond, 10 * time.Millisecond,
	25 * time.Millisecond, 50 * time.Millisecond, 100 * time.Millisecond, 250 * time.Millisecond,
	500 * time.Millisecond, time.Second, 2500 * time.Millisecond, 5 * time.Second,
}

// LatencyHistogram counts produce latencies in LatencyBuckets. The zero
// value is ready. Concurrent Appends update it without a lock; a snapshot
// taken meanwhile may be off by the observations in flight.
type LatencyHistogram struct {
	perBucket [13]atomic.Uint64 // not cumulative; the last is +Inf
	sumNanos  atomic.Int64
	n         atomic.Uint64
}

func (h *LatencyHistogram) observe(d time.Duration) {
	h.perBucket[sort.Search(len(LatencyBuckets), func(i int) bool { return d <= LatencyBuckets[i] })].Add(1)
	h.sumNanos.Add(int64(d))
	h.n.Add(1)
}

// Snapshot returns the cumulative count per bucket of LatencyBuckets (the
// Prometheus shape), the total count and the sum.
func (h *LatencyHistogram) Snapshot() (cumulative []uint64, count uint64, sum time.Duration) {
	count, sum = h.n.Load(), time.Duration(h.sumNanos.Load())
	cumulative = make([]uint64, len(LatencyBuckets))
	var running uint64
	for i := range cumulative {
		running += h.perBucket[i].Load()
		cumulative[i] = running
	}
	return cumulative, count, sum
}
