package appapi

import (
	"context"
	"sync"
	"time"

	"github.com/cio-singer/tap-customerio-webhook/internal/clock"
)

// limiter is a token bucket: it holds at most burst tokens, gains one every
// interval, and a request takes one. It is safe for concurrent use.
type limiter struct {
	clock    clock.Clock
	interval time.Duration
	burst    float64

	mu     sync.Mutex
	tokens float64
	last   time.Time
}

func newLimiter(c clock.Clock, perSecond float64, burst int) *limiter {
	if burst < 1 {
		burst = 1
	}
	return &limiter{
		clock:    c,
		interval: time.Duration(float64(time.Second) / perSecond),
		burst:    float64(burst),
		tokens:   float64(burst),
		last:     c.Now(),
	}
}

// wait takes a token, waiting until one is there or ctx ends.
func (l *limiter) wait(ctx context.Context) error {
	for {
		d := l.reserve()
		if d <= 0 {
			return nil
		}
		if err := l.clock.Sleep(ctx, d); err != nil {
			return err
		}
	}
}

// reserve takes a token and returns 0, or returns how long until one is
// there.
func (l *limiter) reserve() time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.clock.Now()
	if now.After(l.last) {
		l.tokens += float64(now.Sub(l.last)) / float64(l.interval)
		if l.tokens > l.burst {
			l.tokens = l.burst
		}
		l.last = now
	}
	if l.tokens >= 1 {
		l.tokens--
		return 0
	}
	d := time.Duration((1 - l.tokens) * float64(l.interval))
	if d <= 0 {
		d = time.Nanosecond // rounding: never report a token that is not there
	}
	return d
}
