package tap

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/cio-singer/tap-customerio-webhook/internal/singer"
	"github.com/cio-singer/tap-customerio-webhook/tap/spool"
)

// fakeClock is the STATE timer's clock in tests: it moves only when told.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func TestStateTimer(t *testing.T) {
	t.Parallel()
	clock := &fakeClock{t: receivedAt}
	timer := newStateTimer(clock.now, time.Second)
	if !timer.dueAfterRecord() {
		t.Fatal("the first record is not covered at once")
	}
	timer.stated()
	clock.advance(999 * time.Millisecond)
	if timer.dueAfterRecord() {
		t.Fatal("a STATE is due before state_interval passed")
	}
	if now, wait := timer.whenCaughtUp(false); now || wait != forever {
		t.Fatalf("nothing pending: write %v, wait %v; want no STATE, wait for a record", now, wait)
	}
	if now, wait := timer.whenCaughtUp(true); now || wait != time.Millisecond {
		t.Fatalf("pending 1ms early: write %v, wait %v; want a wait of 1ms", now, wait)
	}
	clock.advance(time.Millisecond)
	if !timer.dueAfterRecord() {
		t.Fatal("no STATE due once state_interval passed")
	}
	if now, wait := timer.whenCaughtUp(true); !now || wait != forever {
		t.Fatalf("pending and due: write %v, wait %v; want a STATE now", now, wait)
	}

	timer.active()
	clock.advance(4 * time.Second)
	if idle, left := timer.untilIdle(5 * time.Second); idle || left != time.Second {
		t.Fatalf("4s after activity with exit_after_idle 5s: idle %v, left %v", idle, left)
	}
	clock.advance(time.Second)
	if idle, _ := timer.untilIdle(5 * time.Second); !idle {
		t.Fatal("not idle after exit_after_idle")
	}
}

// TestEmitterWritesStateByTheClock: a STATE follows the first record at
// once, then a record only once state_interval has passed on the
// emitter's clock; the end of a run writes one only for what changed,
// unless always.
func TestEmitterWritesStateByTheClock(t *testing.T) {
	t.Parallel()
	clock := &fakeClock{t: receivedAt}
	var out bytes.Buffer
	e, err := newEmitter(singer.NewWriter(&out), mustDefault(t), "spool-test", 0, time.Second, clock.now, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	emitAt := func(off uint64, after time.Duration) {
		t.Helper()
		clock.advance(after)
		if err := e.emit(spool.Record{Offset: off, ReceivedAt: receivedAt, Body: []byte(sentEvent(fmt.Sprint("c", off)))}); err != nil {
			t.Fatal(err)
		}
	}
	emitAt(1, 0)
	emitAt(2, 500*time.Millisecond)
	emitAt(3, 499*time.Millisecond)
	if got := stateOffsets(t, &out); got != "1" || !e.statePending() {
		t.Fatalf("STATEs after 3 records within state_interval: %q (pending %v); want one after the first", got, e.statePending())
	}
	emitAt(4, time.Millisecond)
	if got := stateOffsets(t, &out); got != "1,4" || e.statePending() {
		t.Fatalf("STATEs once state_interval passed: %q; want 1,4", got)
	}
	if err := e.finalState(false); err != nil {
		t.Fatal(err)
	}
	if got := stateOffsets(t, &out); got != "1,4" {
		t.Fatalf("a final STATE without change: %q", got)
	}
	if err := e.finalState(true); err != nil {
		t.Fatal(err)
	}
	if got := stateOffsets(t, &out); got != "1,4,4" {
		t.Fatalf("an always final STATE: %q; want 1,4,4", got)
	}
}

// TestEmitLoopStateWhenCaughtUpAndIdleExit: the emit loop, on a clock that
// moves only while it waits, covers the records it caught up on with a
// STATE once state_interval allows and exits exit_after_idle after the
// last record, neither earlier nor much later.
func TestEmitLoopStateWhenCaughtUpAndIdleExit(t *testing.T) {
	t.Parallel()
	clock := &fakeClock{t: receivedAt}
	var out bytes.Buffer
	e, err := newEmitter(singer.NewWriter(&out), mustDefault(t), "spool-test", 0, 3*time.Second, clock.now, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	var statedAt []time.Duration // on the clock, since the start
	e.onState = func(uint64) { statedAt = append(statedAt, clock.now().Sub(receivedAt)) }
	src := &clockedSource{clock: clock}
	for i := uint64(1); i <= 3; i++ {
		src.recs = append(src.recs, spool.Record{Offset: i, ReceivedAt: receivedAt, Body: []byte(sentEvent(fmt.Sprint("l", i)))})
	}
	if err := emitLoop(context.Background(), e, src, 10*time.Second, false, nil, zerolog.Nop()); err != nil {
		t.Fatal(err)
	}
	// The source's waits end a little late on the clock (rounded up).
	const late = 50 * time.Millisecond
	if got := stateOffsets(t, &out); got != "1,3" || len(statedAt) != 2 || statedAt[0] != 0 ||
		statedAt[1] < 3*time.Second || statedAt[1] > 3*time.Second+late {
		t.Fatalf("STATEs %q at %v; want one after the first record at once, and one covering all three once state_interval (3s) allowed", got, statedAt)
	}
	if took := clock.now().Sub(receivedAt); took < 10*time.Second || took > 10*time.Second+late {
		t.Fatalf("the loop exited %v after the last record; want exit_after_idle (10s)", took)
	}
}

// clockedSource hands out its records at once, then, asked to wait, moves
// the clock to the end of the wait and reports it over.
type clockedSource struct {
	clock *fakeClock
	recs  []spool.Record
}

func (s *clockedSource) TryNext() (spool.Record, bool, error) {
	if len(s.recs) == 0 {
		return spool.Record{}, false, nil
	}
	rec := s.recs[0]
	s.recs = s.recs[1:]
	return rec, true, nil
}

func (s *clockedSource) Next(ctx context.Context) (spool.Record, error) {
	deadline, ok := ctx.Deadline()
	if !ok {
		return spool.Record{}, errors.New("the emit loop waits without a deadline")
	}
	// Rounded up, so that what the loop waited for is due.
	s.clock.advance(time.Until(deadline).Round(time.Millisecond) + time.Millisecond)
	return spool.Record{}, context.DeadlineExceeded
}

func (s *clockedSource) caughtUp() bool { return len(s.recs) == 0 }

// stateOffsets lists the spool offset of every STATE in out, comma-separated.
func stateOffsets(t *testing.T, out *bytes.Buffer) string {
	t.Helper()
	var offs []string
	for _, m := range messages(t, out) {
		if m.Type == "STATE" {
			b, err := ParseState(m.Value)
			if err != nil {
				t.Fatal(err)
			}
			offs = append(offs, strconv.FormatUint(b.SpoolOffset, 10))
		}
	}
	return strings.Join(offs, ",")
}
