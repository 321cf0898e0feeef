package target

import (
	"context"
	"fmt"
	"time"

	"github.com/rs/zerolog"

	"github.com/cio-singer/tap-customerio-webhook/internal/clock"
)

// retrier calls a warehouse operation again while it fails transiently:
// the loader's connection may drop or the server restart mid-run, and
// failing the whole run for that would make the orchestrator replay
// everything since the last state. Waits start at first and double up to
// max; after giveUpAfter the last error is returned.
type retrier struct {
	first, max  time.Duration
	giveUpAfter time.Duration
	transient   func(error) bool // Loader.Retryable
	clock       clock.Clock      // clock.System; tests give a clock.Fake
	log         zerolog.Logger
}

// do calls fn until it succeeds, fails permanently, ctx ends, or the next
// wait would end past giveUpAfter; what names the call in log lines.
func (r *retrier) do(ctx context.Context, what string, fn func() error) error {
	deadline := r.clock.Now().Add(r.giveUpAfter)
	delay := r.first
	for attempt := 1; ; attempt++ {
		err := fn()
		if err == nil || !r.transient(err) || ctx.Err() != nil {
			return err
		}
		if r.clock.Now().Add(delay).After(deadline) {
			return fmt.Errorf("giving up after %d attempts: %w", attempt, err)
		}
		r.log.Warn().Err(err).Str("call", what).Int("attempt", attempt).Dur("retry_in", delay).Msg("transient loader failure; retrying")
		if r.clock.Sleep(ctx, delay) != nil {
			return err
		}
		delay = min(delay*2, r.max)
	}
}
