package poll

import (
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestWait_TrueAtOnceChecksOnce(t *testing.T) {
	t.Parallel()
	var calls int
	if !wait(time.Hour, func() bool { calls++; return true }) || calls != 1 {
		t.Fatalf("wait = false or %d calls, want true after 1", calls)
	}
}

func TestWait_SeesAConditionAnotherGoroutineSets(t *testing.T) {
	t.Parallel()
	var done atomic.Bool
	go func() { done.Store(true) }()
	if !wait(Timeout, done.Load) {
		t.Fatal("wait did not see the flag another goroutine set")
	}
}

func TestWait_GivesUpAtTheDeadline(t *testing.T) {
	t.Parallel()
	var calls int
	start := time.Now()
	if wait(30*time.Millisecond, func() bool { calls++; return false }) {
		t.Fatal("wait = true for a condition that never holds")
	}
	if took := time.Since(start); took < 30*time.Millisecond {
		t.Fatalf("gave up after %v, before the 30ms deadline", took)
	}
	if calls < 2 {
		t.Fatalf("checked %d times, want at least the first check and one at the deadline", calls)
	}
}

// recorder is a testing.TB that records Fatalf instead of stopping.
type recorder struct {
	testing.TB
	failed string
}

func (r *recorder) Helper() {}
func (r *recorder) Fatalf(format string, args ...any) {
	r.failed = fmt.Sprintf(format, args...)
}

func TestWithin_NamesWhatItWaitedFor(t *testing.T) {
	t.Parallel()
	r := &recorder{TB: t}
	Within(r, 5*time.Millisecond, "the spool to drain", func() bool { return false })
	if !strings.Contains(r.failed, "waiting for the spool to drain") {
		t.Fatalf("failure %q does not name what was awaited", r.failed)
	}
	r.failed = ""
	Within(r, 5*time.Millisecond, "something true", func() bool { return true })
	if r.failed != "" {
		t.Fatalf("failed %q on a condition that held", r.failed)
	}
}
