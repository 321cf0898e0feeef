package receiver

import (
	"sync/atomic"
	"time"
)

// logEvery thins out a log line that any client can trigger at will (an
// unknown token under a scan, a refusal while the budget is full): at most
// one line per interval, carrying how many events it stands for. The zero
// value logs the first event at once.
type logEvery struct {
	interval time.Duration
	pending  atomic.Int64 // events not yet reported
	next     atomic.Int64 // unix nanoseconds before which events are only counted
}

// event records one event and reports whether to write a line now, and for
// how many events (this one and those counted since the last line).
func (l *logEvery) event(now time.Time) (count int64, write bool) {
	l.pending.Add(1)
	t := now.UnixNano()
	next := l.next.Load()
	if t < next || !l.next.CompareAndSwap(next, t+int64(l.interval)) {
		return 0, false
	}
	return l.pending.Swap(0), true
}
