package receiver

import (
	"context"
	"sync/atomic"
	"time"
)

// appendDeadlines hands out the context each Append runs under. A context
// with its own timer per webhook cost four allocations and a timer-heap
// insert and delete per request; instead, requests that arrive within the
// same slack share one context whose deadline is at most timeout after each
// of them arrived and at least timeout-slack. That is one context and
// timer per slack, whatever the request rate.
type appendDeadlines struct {
	timeout time.Duration
	slack   time.Duration
	cur     atomic.Pointer[sharedDeadline]
}

type sharedDeadline struct {
	ctx     context.Context
	cancel  context.CancelFunc // never called: the context ends at its deadline
	renewAt time.Time          // deadline - timeout + slack: later requests need a new one
}

// maxDeadlineSlack bounds how much earlier than AppendTimeout an Append may
// be given up.
const maxDeadlineSlack = 50 * time.Millisecond

func newAppendDeadlines(timeout time.Duration) *appendDeadlines {
	return &appendDeadlines{timeout: timeout, slack: min(timeout/20, maxDeadlineSlack)}
}

// context returns a context that ends between timeout-slack and timeout
// after now.
func (d *appendDeadlines) context(now time.Time) context.Context {
	if cur := d.cur.Load(); cur != nil && now.Before(cur.renewAt) {
		return cur.ctx
	}
	deadline := now.Add(d.timeout)
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	next := &sharedDeadline{ctx: ctx, cancel: cancel, renewAt: now.Add(d.slack)}
	// Concurrent renewals each make one; the last stored is used from then
	// on, and every one ends at its deadline.
	d.cur.Store(next)
	return ctx
}
