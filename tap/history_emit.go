package tap

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// The emit loop's end of the App API streams: the reader (history.go) runs
// in its own goroutine so that webhooks are acknowledged and emitted
// whatever the API does, and hands its messages, in order, to the one
// goroutine that writes stdout through a historyFeed.

// historyMsg is one Singer message of an App API stream, ready to write.
type historyMsg struct {
	kind   historyKind
	stream string
	body   json.RawMessage // schema, record or bookmark
	keys   []string        // key properties of a schema
	at     time.Time       // time_extracted of a record
}

type historyKind uint8

const (
	historySchema historyKind = iota
	historyRecord
	historyBookmark // every record the bookmark covers came before it
)

// historyFeed carries batches of messages from the reader to the emit
// loop, and wakes the emit loop when it waits for the spool.
type historyFeed struct {
	ch chan []historyMsg
	// busy is true while a pass over the streams is under way, so that a
	// run that ends by itself (caught up, idle) waits for it.
	busy atomic.Bool

	mu   sync.Mutex
	wake context.CancelFunc // ends the emit loop's current wait; nil when it does not wait
}

func newHistoryFeed() *historyFeed {
	f := &historyFeed{ch: make(chan []historyMsg, 16)}
	f.busy.Store(true) // the first pass starts at once
	return f
}

// send hands batch to the emit loop, waiting while it is behind.
func (f *historyFeed) send(ctx context.Context, batch []historyMsg) error {
	select {
	case f.ch <- batch:
	case <-ctx.Done():
		return ctx.Err()
	}
	f.poke()
	return nil
}

// setBusy marks a pass as started or finished; finishing wakes the emit
// loop, which may have been waiting for it to exit.
func (f *historyFeed) setBusy(busy bool) {
	f.busy.Store(busy)
	if !busy {
		f.poke()
	}
}

func (f *historyFeed) poke() {
	f.mu.Lock()
	if f.wake != nil {
		f.wake()
	}
	f.mu.Unlock()
}

// historyOut is what the emitter keeps of the App API streams: the feed
// it reads and the bookmarks that the records written so far cover, which
// every STATE carries. It is used by the emit loop's goroutine only.
type historyOut struct {
	feed  *historyFeed // nil when this run reads no App API stream
	stats *historyStats
	// covered holds the bookmark of each stream whose records are all
	// written: those of --state until a pass moves them on.
	covered map[string]json.RawMessage
	dirty   bool // covered changed since the last STATE
}

// changed reports whether a STATE is due for the App API bookmarks.
func (h *historyOut) changed() bool { return h != nil && h.dirty }

// bookmarks returns the bookmarks for the next STATE.
func (h *historyOut) bookmarks() map[string]json.RawMessage {
	if h == nil {
		return nil
	}
	return h.covered
}

// stated records that a STATE with bookmarks() was written.
func (h *historyOut) stated() {
	if h != nil {
		h.dirty = false
	}
}

// writeHistory writes one batch of App API messages if one is waiting;
// it never blocks. took reports whether it wrote anything.
func (e *emitter) writeHistory() (took bool, err error) {
	if e.history == nil || e.history.feed == nil {
		return false, nil
	}
	select {
	case batch := <-e.history.feed.ch:
		return true, e.writeHistoryBatch(batch)
	default:
		return false, nil
	}
}

// drainHistory writes every batch waiting; the reader must have stopped.
func (e *emitter) drainHistory() error {
	for {
		took, err := e.writeHistory()
		if err != nil || !took {
			return err
		}
	}
}

func (e *emitter) writeHistoryBatch(batch []historyMsg) error {
	h := e.history
	for _, m := range batch {
		switch m.kind {
		case historySchema:
			if err := e.w.WriteSchema(m.stream, m.body, m.keys); err != nil {
				return fmt.Errorf("writing schema: %w", err)
			}
		case historyRecord:
			if err := e.w.WriteRecord(m.stream, m.body, m.at); err != nil {
				return fmt.Errorf("writing record: %w", err)
			}
			h.stats.emitted(m.stream)
		case historyBookmark:
			if h.covered == nil {
				h.covered = map[string]json.RawMessage{}
			}
			h.covered[m.stream] = m.body
			h.dirty = true
		}
	}
	return nil
}

// historyBusy reports whether a pass over the App API streams is under
// way: a run that ends by itself waits for it.
func (e *emitter) historyBusy() bool {
	return e.history != nil && e.history.feed != nil && e.history.feed.busy.Load()
}

// historyWait returns the context the emit loop waits for the spool with:
// it ends after d, when ctx ends, or as soon as the App API reader hands
// over a batch or finishes a pass (wasBusy: what historyBusy said before).
func (e *emitter) historyWait(ctx context.Context, d time.Duration, wasBusy bool) (context.Context, context.CancelFunc) {
	waitCtx, cancel := context.WithTimeout(ctx, d)
	if e.history == nil || e.history.feed == nil {
		return waitCtx, cancel
	}
	f := e.history.feed
	f.mu.Lock()
	// Looked at under the lock send and setBusy poke with: a batch sent
	// or a pass finished before this look is seen here, one after it
	// finds wake set.
	if len(f.ch) > 0 || (wasBusy && !f.busy.Load()) {
		cancel()
	}
	f.wake = cancel
	f.mu.Unlock()
	return waitCtx, func() {
		f.mu.Lock()
		f.wake = nil
		f.mu.Unlock()
		cancel()
	}
}
