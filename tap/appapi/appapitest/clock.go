package appapitest

import (
	"context"
	"sync"
	"time"
)

// Clock is a virtual clock for appapi.Options.Clock and [Options.Clock]:
// Sleep returns at once, having moved the time on, so a test of rate limits
// and Retry-After waits runs in no real time and can assert the spacing of
// requests exactly. It is safe for concurrent use.
type Clock struct {
	mu  sync.Mutex
	now time.Time
	// slept is the sum of every Sleep: what the client waited.
	slept time.Duration
}

// NewClock returns a clock showing t.
func NewClock(t time.Time) *Clock { return &Clock{now: t} }

// Now returns the virtual time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Sleep moves the time on by d, unless ctx has ended.
func (c *Clock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.Advance(d)
	c.mu.Lock()
	c.slept += max(d, 0)
	c.mu.Unlock()
	return nil
}

// Advance moves the time on by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if d > 0 {
		c.now = c.now.Add(d)
	}
}

// Slept returns the sum of every Sleep so far.
func (c *Clock) Slept() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.slept
}
