package receiver

import "sync/atomic"

// smallBody is the largest body that may use the whole in-flight budget.
// Customer.io events are a few KiB; bodies above this may not take the last
// quarter of the budget, so that senders announcing large bodies (honest or
// not, slow or not) cannot starve the normal events.
const smallBody = 64 << 10

// budget bounds the memory that request bodies in flight may hold together
// (Config.MaxInflightBytes). A request reserves what it will hold before it
// reads it and releases the reservation when its handler is done. It is safe
// for concurrent use.
type budget struct {
	limit      int64 // what all bodies may hold together
	largeLimit int64 // the total a reservation of more than smallBody may bring it to
	used       atomic.Int64
}

func newBudget(limit, maxBody int64) *budget {
	large := limit - limit/4
	// One body of the largest allowed size must always be able to fit.
	large = min(limit, max(large, maxBody))
	return &budget{limit: limit, largeLimit: large}
}

// ceiling is the total the budget may reach when a request's reservation
// grows to size.
func (b *budget) ceiling(size int64) int64 {
	if size > smallBody {
		return b.largeLimit
	}
	return b.limit
}

// fits reports whether a request reserving size could be admitted now,
// without reserving anything. The answer may be stale by the time the
// request reserves; [budget.reserve] has the last word.
func (b *budget) fits(size int64) bool {
	return b.used.Load()+size <= b.ceiling(size)
}

// reserve adds n to what is held for a request whose reservation then totals
// size, unless that would exceed the budget. It reports whether it did.
func (b *budget) reserve(n, size int64) bool {
	ceiling := b.ceiling(size)
	for {
		used := b.used.Load()
		if used+n > ceiling {
			return false
		}
		if b.used.CompareAndSwap(used, used+n) {
			return true
		}
	}
}

func (b *budget) release(n int64) {
	b.used.Add(-n)
}
