package target

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
)

// stateGate holds STATE values until every record received before them is
// committed, so an orchestrator that resumes from the last state written
// never skips a record that did not load. Records are numbered in input
// order from 0; a state received after record n-1 has position n and may
// be written once the lowest uncommitted record number is at least n. The
// gate does not track records itself: its owner tells it the lowest
// uncommitted number whenever that may have risen.
type stateGate struct {
	out         io.Writer
	pending     []pendingState // in input order
	latest      []byte         // the last state received, compact
	lastWritten []byte
	written     int
}

type pendingState struct {
	pos   int64
	value []byte
}

// add queues value, received when pos records had been read. Values that
// are null, absent or {} are never written: an empty state would make an
// orchestrator start over.
func (g *stateGate) add(pos int64, value json.RawMessage) error {
	var buf bytes.Buffer
	if err := json.Compact(&buf, value); err != nil {
		return fmt.Errorf("compacting state: %w", err)
	}
	v := buf.Bytes()
	if string(v) == "null" || string(v) == "{}" || len(v) == 0 {
		return nil
	}
	g.latest = v
	g.pending = append(g.pending, pendingState{pos: pos, value: v})
	return nil
}

// release writes the newest pending state whose records are all committed,
// given the lowest uncommitted record number, and forgets older ones.
func (g *stateGate) release(lowestUncommitted int64) error {
	n := 0
	for n < len(g.pending) && g.pending[n].pos <= lowestUncommitted {
		n++
	}
	if n == 0 {
		return nil
	}
	v := g.pending[n-1].value
	g.pending = append(g.pending[:0], g.pending[n:]...)
	return g.write(v)
}

// finish is release at the end of input, once all read records are
// committed. It then writes the newest state received, unless that was the
// last one written.
func (g *stateGate) finish(read int64) error {
	if err := g.release(read); err != nil {
		return err
	}
	if g.latest != nil {
		return g.write(g.latest)
	}
	return nil
}

// write sends one state line to out, skipping a repeat of the last one.
func (g *stateGate) write(v []byte) error {
	if bytes.Equal(v, g.lastWritten) {
		return nil
	}
	line := make([]byte, 0, len(v)+1)
	line = append(append(line, v...), '\n')
	if _, err := g.out.Write(line); err != nil {
		return fmt.Errorf("writing state: %w", err)
	}
	g.lastWritten = v
	g.written++
	return nil
}
