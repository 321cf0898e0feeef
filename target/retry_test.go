package target

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/cio-singer/tap-customerio-webhook/internal/clock"
)

func testRetrier(c *clock.Fake) *retrier {
	return &retrier{
		first: time.Second, max: 8 * time.Second, giveUpAfter: time.Minute,
		transient: func(err error) bool { return errors.Is(err, errTransient) },
		clock:     c, log: zerolog.Nop(),
	}
}

// failing returns a call that fails with the errors of errs in turn, then
// succeeds, and counts its calls.
func failing(errs ...error) (fn func() error, calls *int) {
	calls = new(int)
	return func() error {
		*calls++
		if *calls <= len(errs) {
			return errs[*calls-1]
		}
		return nil
	}, calls
}

func TestRetrier_CappedBackoff(t *testing.T) {
	c := clock.NewFake(time.Time{})
	fn, calls := failing(errTransient, errTransient, errTransient, errTransient, errTransient, errTransient)
	if err := testRetrier(c).do(t.Context(), "test", fn); err != nil {
		t.Fatal(err)
	}
	if *calls != 7 {
		t.Fatalf("%d calls, want 7", *calls)
	}
	want := []time.Duration{1 * time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 8 * time.Second, 8 * time.Second}
	if !reflect.DeepEqual(c.Waits(), want) {
		t.Fatalf("waits %v, want %v (doubling, capped at max)", c.Waits(), want)
	}
}

func TestRetrier_PermanentErrorIsNotRetried(t *testing.T) {
	c := clock.NewFake(time.Time{})
	permanent := errors.New("syntax error")
	fn, calls := failing(errTransient, permanent)
	if err := testRetrier(c).do(t.Context(), "test", fn); !errors.Is(err, permanent) {
		t.Fatalf("error %v, want the permanent one", err)
	}
	if *calls != 2 || len(c.Waits()) != 1 {
		t.Fatalf("%d calls, %d waits; want 2 and 1", *calls, len(c.Waits()))
	}
}

func TestRetrier_GivesUp(t *testing.T) {
	c := clock.NewFake(time.Time{})
	errs := make([]error, 100)
	for i := range errs {
		errs[i] = errTransient
	}
	fn, calls := failing(errs...)
	err := testRetrier(c).do(t.Context(), "test", fn)
	if !errors.Is(err, errTransient) {
		t.Fatalf("error %v, want the transient error wrapped", err)
	}
	// Waits 1+2+4 and six of 8s make 55s; a seventh would end past 60s.
	if want := fmt.Sprintf("giving up after %d attempts: ", *calls); *calls != 10 || err.Error()[:len(want)] != want {
		t.Fatalf("%d calls, error %q", *calls, err)
	}
	var waited time.Duration
	for _, w := range c.Waits() {
		waited += w
	}
	if waited > time.Minute {
		t.Fatalf("waited %v, more than giveUpAfter", waited)
	}
}

func TestRetrier_StopsWhenTheContextEnds(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	c := clock.NewFake(time.Time{})
	c.OnSleep = cancel
	fn, calls := failing(errTransient, errTransient)
	if err := testRetrier(c).do(ctx, "test", fn); !errors.Is(err, errTransient) {
		t.Fatalf("error %v, want the last failure", err)
	}
	if *calls != 1 {
		t.Fatalf("%d calls after the context ended during the wait, want 1", *calls)
	}
}
