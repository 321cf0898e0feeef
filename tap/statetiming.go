package tap

import (
	"encoding/json"
	"fmt"
	"time"
)

// stateTimer is the one owner of when the emitter writes a STATE, on one
// clock (time.Now outside tests):
//   - after a record, once state_interval has passed since the last STATE
//     (the first record at once);
//   - once the emit loop has caught up (nothing ready to emit), as soon as
//     state_interval allows, when anything was written since the last
//     STATE;
//   - at the end of a run (emitter.finalState).
//
// It also times exit_after_idle on the same clock, so the emit loop's idle
// exit and its STATE waits agree on what time it is.
type stateTimer struct {
	now      func() time.Time
	interval time.Duration

	lastState    time.Time // when the last STATE was written; zero before the first
	lastActivity time.Time // when something was last emitted, or the loop started
}

// forever is how long the emit loop waits when no STATE and no idle exit
// is ahead: until a record arrives.
const forever = time.Hour

func newStateTimer(now func() time.Time, interval time.Duration) *stateTimer {
	return &stateTimer{now: now, interval: interval, lastActivity: now()}
}

// dueAfterRecord reports whether a record just written is to be covered by
// a STATE at once.
func (t *stateTimer) dueAfterRecord() bool { return t.now().Sub(t.lastState) >= t.interval }

// whenCaughtUp says, once nothing is ready to emit, whether to write a
// STATE now (records written since the last one, pending, and
// state_interval has passed) or else how long to wait for the next one.
func (t *stateTimer) whenCaughtUp(pending bool) (writeNow bool, wait time.Duration) {
	if !pending {
		return false, forever
	}
	if left := t.lastState.Add(t.interval).Sub(t.now()); left > 0 {
		return false, left
	}
	return true, forever
}

// stated records that a STATE was written (or found unneeded) now.
func (t *stateTimer) stated() { t.lastState = t.now() }

// active records that something was emitted now: exit_after_idle counts
// from the last time.
func (t *stateTimer) active() { t.lastActivity = t.now() }

// untilIdle says whether a run with exit_after_idle idle (> 0) has been
// idle that long, or else how long it has left.
func (t *stateTimer) untilIdle(idle time.Duration) (idleNow bool, left time.Duration) {
	left = t.lastActivity.Add(idle).Sub(t.now())
	return left <= 0, left
}

// writeState writes a STATE covering every record handled so far, after
// them, and flushes. It writes nothing when nothing changed since the last.
func (e *emitter) writeState() error {
	e.timer.stated()
	if e.wroteState && e.stated == e.emitted && !e.history.changed() {
		return e.w.Flush()
	}
	var webhook map[string]json.RawMessage
	if e.webhookBookmark != nil {
		webhook = e.webhookBookmark()
	} else {
		webhook = spoolBookmarks(Bookmark{SpoolOffset: e.emitted, SpoolID: e.spoolID})
	}
	if err := e.w.WriteState(encodeState(webhook, e.history.bookmarks())); err != nil {
		return fmt.Errorf("writing state: %w", err)
	}
	e.stated, e.wroteState = e.emitted, true
	e.history.stated()
	if e.onState != nil {
		e.onState(e.emitted)
	}
	return nil
}

// finalState writes the STATE that ends a run: with always, one even when
// nothing changed since the last (the Kafka loader's names every owned
// partition); else only when something did, or none was written yet.
func (e *emitter) finalState(always bool) error {
	if always {
		e.wroteState = false
	}
	return e.writeState()
}

// statePending reports whether records were handled since the last STATE.
func (e *emitter) statePending() bool { return e.emitted != e.stated || e.history.changed() }
