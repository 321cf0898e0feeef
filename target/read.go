package target

import (
	"io"
	"sync"

	"github.com/cio-singer/tap-customerio-webhook/internal/singer"
)

// item is one message read, or the error that ended reading: io.EOF at
// the end of input, else a *singer.LineError naming the line.
type item struct {
	msg singer.Message
	err error
}

// readAhead parses the Singer lines of in on a goroutine of its own, up to
// queue messages ahead of the consumer, so that parsing overlaps the
// conversion of the previous records. Messages carry their line numbers.
// The channel yields every message in input order, then one item with the
// error that ended reading, then closes. Calling stop makes the goroutine
// return early, without reading further; stop must be called once the
// consumer stops receiving, and may be called more than once.
func readAhead(in io.Reader, queue int) (msgs <-chan item, stop func()) {
	ch := make(chan item, queue)
	done := make(chan struct{})
	go func() {
		defer close(ch)
		rd := singer.NewReader(in, 0)
		for {
			m, err := rd.Next()
			select {
			case ch <- item{msg: m, err: err}:
			case <-done:
				return
			}
			if err != nil {
				return
			}
		}
	}()
	var once sync.Once
	return ch, func() { once.Do(func() { close(done) }) }
}
