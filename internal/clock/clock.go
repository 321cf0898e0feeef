// Package clock is the time that code which waits reads and waits on: the
// target's retries of warehouse calls and the App API client's rate limit
// and retry waits. Production code runs on System; tests run on a Fake,
// which moves only when asked, so they assert waits exactly and take no
// real time.
package clock

import (
	"context"
	"sync"
	"time"
)

// Clock is a source of time that can be waited on.
type Clock interface {
	Now() time.Time
	// Sleep waits d, or returns ctx.Err() as soon as ctx ends.
	Sleep(ctx context.Context, d time.Duration) error
}

// System is the wall clock.
type System struct{}

// Now returns time.Now().
func (System) Now() time.Time { return time.Now() }

// Sleep waits d or until ctx ends.
func (System) Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Fake is a virtual clock for tests: Sleep returns at once, having moved
// the time on, and records the wait. It is safe for concurrent use.
type Fake struct {
	// OnSleep, when set, runs in each Sleep after the time moved on and
	// before Sleep returns; a test uses it to end the context of the
	// wait. Set it before the clock is used.
	OnSleep func()

	mu    sync.Mutex
	now   time.Time
	waits []time.Duration
}

// NewFake returns a fake clock showing t.
func NewFake(t time.Time) *Fake { return &Fake{now: t} }

// Now returns the virtual time.
func (c *Fake) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Sleep moves the time on by d and records the wait, unless ctx had
// already ended. It returns ctx.Err() as it is when the wait ends.
func (c *Fake) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	c.waits = append(c.waits, d)
	c.mu.Unlock()
	c.Advance(d)
	if c.OnSleep != nil {
		c.OnSleep()
	}
	return ctx.Err()
}

// Advance moves the time on by d (not back).
func (c *Fake) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if d > 0 {
		c.now = c.now.Add(d)
	}
}

// Waits returns the durations Sleep was asked to wait, in order.
func (c *Fake) Waits() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.waits...)
}

// Slept returns the sum of every wait so far.
func (c *Fake) Slept() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	var sum time.Duration
	for _, d := range c.waits {
		sum += max(d, 0)
	}
	return sum
}
