package target

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/cio-singer/tap-customerio-webhook/internal/singer"
)

// drain receives every item of msgs until it closes, failing after a
// deadline.
func drain(t *testing.T, msgs <-chan item) []item {
	t.Helper()
	var got []item
	deadline := time.After(10 * time.Second)
	for {
		select {
		case it, ok := <-msgs:
			if !ok {
				return got
			}
			got = append(got, it)
		case <-deadline:
			t.Fatalf("reader did not close its channel; got %d items", len(got))
		}
	}
}

func TestReadAhead_MessagesWithLineNumbers(t *testing.T) {
	input := lines(fmt.Sprintf(simpleSchema, "s"), "", rec("s", 1, "a"), "   ", state(1))
	msgs, stop := readAhead(strings.NewReader(input), 1)
	defer stop()
	got := drain(t, msgs)
	if len(got) != 4 {
		t.Fatalf("%d items, want 3 messages and io.EOF: %+v", len(got), got)
	}
	want := []struct {
		typ  string
		line int
	}{{singer.TypeSchema, 1}, {singer.TypeRecord, 3}, {singer.TypeState, 5}}
	for i, w := range want {
		if got[i].err != nil || got[i].msg.Type != w.typ || got[i].msg.Line != w.line {
			t.Fatalf("item %d: %s on line %d (err %v), want %s on line %d", i, got[i].msg.Type, got[i].msg.Line, got[i].err, w.typ, w.line)
		}
	}
	if !errors.Is(got[3].err, io.EOF) {
		t.Fatalf("last item %v, want io.EOF", got[3].err)
	}
}

func TestReadAhead_StopsAtABadLine(t *testing.T) {
	input := lines(fmt.Sprintf(simpleSchema, "s"), `{"type":"RECORD","stream":`, rec("s", 1, "a"))
	msgs, stop := readAhead(strings.NewReader(input), 8)
	defer stop()
	got := drain(t, msgs)
	if len(got) != 2 {
		t.Fatalf("%d items, want the schema and the error, then nothing: %+v", len(got), got)
	}
	var le *singer.LineError
	if !errors.As(got[1].err, &le) || le.Line != 2 {
		t.Fatalf("error %v, want a LineError for line 2", got[1].err)
	}
}

// blockingReader yields its lines, then blocks until closed.
type blockingReader struct {
	r       io.Reader
	release chan struct{}
}

func (b *blockingReader) Read(p []byte) (int, error) {
	if n, err := b.r.Read(p); n > 0 || !errors.Is(err, io.EOF) {
		return n, err
	}
	<-b.release
	return 0, io.EOF
}

func TestReadAhead_StopEndsTheGoroutine(t *testing.T) {
	// More messages than the queue holds: the goroutine blocks on a full
	// queue until stop.
	input := lines(fmt.Sprintf(simpleSchema, "s"), rec("s", 1, "a"), rec("s", 2, "b"), rec("s", 3, "c"))
	in := &blockingReader{r: strings.NewReader(input), release: make(chan struct{})}
	defer close(in.release)
	msgs, stop := readAhead(in, 1)
	if it := <-msgs; it.msg.Type != singer.TypeSchema {
		t.Fatalf("first item %+v", it)
	}
	stop()
	stop() // stopping twice is harmless
	if got := drain(t, msgs); len(got) > 1 {
		t.Fatalf("%d items after stop, want at most the one already queued", len(got))
	}
}
