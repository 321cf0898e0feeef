package appapitest

import (
	"time"

	"github.com/cio-singer/tap-customerio-webhook/internal/clock"
)

// Clock is clock.Fake, under the name the tap's tests use: give the same
// one to appapi.Options.Clock and [Options.Clock].
type Clock = clock.Fake

// NewClock returns a fake clock showing t.
func NewClock(t time.Time) *Clock { return clock.NewFake(t) }
