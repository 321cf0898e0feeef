package receiver

import (
	"context"
	"testing"
	"time"
)

func TestAppendDeadlines_Bounds(t *testing.T) {
	t.Parallel()
	const timeout = 3 * time.Second
	d := newAppendDeadlines(timeout)
	start := time.Now()
	first := d.context(start)
	for _, after := range []time.Duration{0, time.Millisecond, d.slack - time.Nanosecond, d.slack, d.slack + time.Millisecond, time.Second} {
		now := start.Add(after)
		ctx := d.context(now)
		deadline, ok := ctx.Deadline()
		if !ok {
			t.Fatalf("+%v: context has no deadline", after)
		}
		if left := deadline.Sub(now); left > timeout || left < timeout-d.slack {
			t.Fatalf("+%v: deadline %v after the request; want within [%v, %v]", after, left, timeout-d.slack, timeout)
		}
		if shared := ctx == first; shared != (after < d.slack) {
			t.Fatalf("+%v: shares the first context = %v; want %v", after, shared, after < d.slack)
		}
	}
}

func TestAppendDeadlines_Expire(t *testing.T) {
	d := newAppendDeadlines(20 * time.Millisecond)
	ctx := d.context(time.Now())
	select {
	case <-ctx.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("shared append context never ended")
	}
	if err := ctx.Err(); err != context.DeadlineExceeded {
		t.Fatalf("Err() = %v; want DeadlineExceeded", err)
	}
	// Not next.Err(): on a stalled machine a fresh 20 ms context can end
	// before it is looked at. What matters is that it is a new one, ending
	// a full timeout (less the slack) after the request.
	now := time.Now()
	next := d.context(now)
	if next == ctx {
		t.Fatal("a request after the deadline got the ended context")
	}
	if deadline, _ := next.Deadline(); deadline.Sub(now) < d.timeout-d.slack {
		t.Fatalf("a request after the deadline got a context ending %v after it; want at least %v", deadline.Sub(now), d.timeout-d.slack)
	}
}

// BenchmarkAppendContext compares the context of one Append: "own" is a
// context.WithTimeout per request (before), "shared" the appendDeadlines
// one (after).
func BenchmarkAppendContext(b *testing.B) {
	b.Run("own", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				ctx, cancel := context.WithTimeout(context.Background(), DefaultAppendTimeout)
				_ = ctx.Done() // what a waiting Append selects on; made lazily
				cancel()
			}
		})
	})
	b.Run("shared", func(b *testing.B) {
		d := newAppendDeadlines(DefaultAppendTimeout)
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				_ = d.context(time.Now()).Done()
			}
		})
	})
}
