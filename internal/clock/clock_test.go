package clock

import (
	"context"
	"errors"
	"reflect"
	"sync"
	"testing"
	"time"
)

func TestSystem_SleepEndsWithTheContext(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := (System{}).Sleep(ctx, time.Hour); !errors.Is(err, context.Canceled) {
		t.Fatalf("Sleep on an ended context: %v", err)
	}
	if err := (System{}).Sleep(ctx, 0); !errors.Is(err, context.Canceled) {
		t.Fatalf("Sleep(0) on an ended context: %v", err)
	}
	start := time.Now()
	if err := (System{}).Sleep(t.Context(), time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if waited := time.Since(start); waited < time.Millisecond {
		t.Fatalf("Sleep(1ms) returned after %v", waited)
	}
}

func TestFake_SleepMovesTimeAndRecords(t *testing.T) {
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	c := NewFake(start)
	for _, d := range []time.Duration{time.Second, -time.Second, 3 * time.Second} {
		if err := c.Sleep(t.Context(), d); err != nil {
			t.Fatal(err)
		}
	}
	c.Advance(time.Minute)
	c.Advance(-time.Hour) // ignored: time does not go back
	if got, want := c.Now(), start.Add(time.Minute+4*time.Second); !got.Equal(want) {
		t.Fatalf("Now() = %v, want %v", got, want)
	}
	if got, want := c.Waits(), []time.Duration{time.Second, -time.Second, 3 * time.Second}; !reflect.DeepEqual(got, want) {
		t.Fatalf("Waits() = %v, want %v", got, want)
	}
	if got := c.Slept(); got != 4*time.Second {
		t.Fatalf("Slept() = %v, want 4s", got)
	}
}

func TestFake_SleepAndTheContext(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	c := NewFake(time.Time{})
	c.OnSleep = cancel
	if err := c.Sleep(ctx, time.Second); !errors.Is(err, context.Canceled) {
		t.Fatalf("Sleep whose context ends during the wait: %v", err)
	}
	// Ended before: no time passes, nothing is recorded.
	if err := c.Sleep(ctx, time.Second); !errors.Is(err, context.Canceled) {
		t.Fatalf("Sleep on an ended context: %v", err)
	}
	if c.Slept() != time.Second || !c.Now().Equal(time.Time{}.Add(time.Second)) {
		t.Fatalf("after the context ended: slept %v, now %v", c.Slept(), c.Now())
	}
}

func TestFake_ConcurrentUse(t *testing.T) {
	c := NewFake(time.Time{})
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				_ = c.Sleep(t.Context(), time.Millisecond)
				_ = c.Now()
			}
		})
	}
	wg.Wait()
	if c.Slept() != 800*time.Millisecond || len(c.Waits()) != 800 {
		t.Fatalf("slept %v in %d waits, want 800ms in 800", c.Slept(), len(c.Waits()))
	}
}
