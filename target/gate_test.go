package target

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"
)

func TestStateGate_HoldsUntilCommitted(t *testing.T) {
	var out bytes.Buffer
	g := stateGate{out: &out}
	// Records 0..9 read; a state after record 4 (position 5), another after
	// record 9 (position 10).
	for _, s := range []struct {
		pos   int64
		value string
	}{{5, `{"n": 5}`}, {10, `{"n":10}`}} {
		if err := g.add(s.pos, json.RawMessage(s.value)); err != nil {
			t.Fatal(err)
		}
	}
	steps := []struct {
		lowest int64 // lowest uncommitted record
		want   string
	}{
		{0, ""},               // nothing committed
		{4, ""},               // record 4 is not
		{5, `{"n":5}` + "\n"}, // records 0..4 are: the first state, compacted
		{7, `{"n":5}` + "\n"}, // nothing new to write
		{10, `{"n":5}` + "\n" + `{"n":10}` + "\n"},
	}
	for _, s := range steps {
		if err := g.release(s.lowest); err != nil {
			t.Fatal(err)
		}
		if out.String() != s.want {
			t.Fatalf("lowest uncommitted %d: wrote %q, want %q", s.lowest, out.String(), s.want)
		}
	}
}

func TestStateGate_WritesOnlyTheNewestReleased(t *testing.T) {
	var out bytes.Buffer
	g := stateGate{out: &out}
	for i, v := range []string{`{"n":1}`, `{"n":2}`, `{"n":3}`} {
		if err := g.add(int64(i+1), json.RawMessage(v)); err != nil {
			t.Fatal(err)
		}
	}
	if err := g.release(2); err != nil {
		t.Fatal(err)
	}
	if err := g.release(3); err != nil {
		t.Fatal(err)
	}
	if want := `{"n":2}` + "\n" + `{"n":3}` + "\n"; out.String() != want || g.written != 2 {
		t.Fatalf("wrote %q (%d), want %q: states passed over are not written", out.String(), g.written, want)
	}
}

func TestStateGate_SkipsEmptyAndRepeatedStates(t *testing.T) {
	var out bytes.Buffer
	g := stateGate{out: &out}
	for _, v := range []string{`{"a":1}`, `null`, `{ }`, `{"a": 1}`} {
		if err := g.add(0, json.RawMessage(v)); err != nil {
			t.Fatal(err)
		}
		if err := g.release(0); err != nil {
			t.Fatal(err)
		}
	}
	if out.String() != `{"a":1}`+"\n" {
		t.Fatalf("wrote %q: empty states would make an orchestrator start over, repeats are noise", out.String())
	}
	if err := g.add(0, json.RawMessage(`{"a":`)); err == nil {
		t.Fatal("a malformed state was accepted")
	}
}

func TestStateGate_FinishWritesTheLatest(t *testing.T) {
	var out bytes.Buffer
	g := stateGate{out: &out}
	if err := g.finish(0); err != nil || out.Len() != 0 {
		t.Fatalf("finish without states wrote %q (%v)", out.String(), err)
	}
	if err := g.add(3, json.RawMessage(`{"last":true}`)); err != nil {
		t.Fatal(err)
	}
	if err := g.finish(3); err != nil {
		t.Fatal(err)
	}
	if out.String() != `{"last":true}`+"\n" {
		t.Fatalf("wrote %q", out.String())
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("stdout closed") }

func TestStateGate_WriteErrorIsReturned(t *testing.T) {
	g := stateGate{out: failingWriter{}}
	if err := g.add(0, json.RawMessage(`{"a":1}`)); err != nil {
		t.Fatal(err)
	}
	if err := g.release(0); err == nil {
		t.Fatal("a failed write of a state was not reported")
	}
}
