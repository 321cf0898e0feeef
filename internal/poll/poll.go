// Package poll lets a test wait for a condition that another goroutine or
// process makes true: it checks the condition again and again under a
// deadline, so a test never sleeps a guessed amount of time to synchronise.
package poll

import (
	"testing"
	"time"
)

// Timeout is how long Until waits: long enough for a loaded 2-core CI
// machine, short enough that a hung test fails well before go test's own
// timeout.
const Timeout = 20 * time.Second

// Interval bounds: the first checks come quickly (most conditions hold
// within milliseconds), later ones back off so a long wait costs little CPU.
const (
	firstInterval = time.Millisecond
	maxInterval   = 50 * time.Millisecond
)

// Until fails t, naming what it waited for, unless cond returns true within
// Timeout.
func Until(t testing.TB, what string, cond func() bool) {
	t.Helper()
	Within(t, Timeout, what, cond)
}

// Within fails t, naming what it waited for, unless cond returns true within
// timeout. cond runs on the calling goroutine, so it may call t.Fatal.
func Within(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	if !wait(timeout, cond) {
		t.Fatalf("timed out after %v waiting for %s", timeout, what)
	}
}

// wait reports whether cond returned true before timeout passed; cond is
// always checked at least once, and once more at the deadline.
func wait(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	interval := firstInterval
	for !cond() {
		left := time.Until(deadline)
		if left <= 0 {
			return false
		}
		time.Sleep(min(interval, left)) // the pause between checks; cond decides
		interval = min(2*interval, maxInterval)
	}
	return true
}
