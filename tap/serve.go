package tap

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/rs/zerolog"

	"github.com/cio-singer/tap-customerio-webhook/tap/spool"
)

// Serve receives webhooks into the spool until ctx ends (SIGTERM), then
// stops accepting (503) and returns nil once every accepted webhook was
// answered. It emits nothing: a Singer run with "listen": "" does, from
// the same spool_dir, at the same time.
func Serve(ctx context.Context, o Options) error {
	cfg := o.Config
	if cfg.Spool == SpoolKafka {
		return serveKafka(ctx, o)
	}
	sp, err := openWriter(ctx, spool.Options{Dir: cfg.SpoolDir, MaxBytes: cfg.SpoolMaxBytes, Log: o.Log})
	if err != nil {
		return fmt.Errorf("opening spool: %w", err)
	}
	defer sp.Close()
	m := &figures{now: time.Now, sp: sp, emitted: func() (uint64, bool) {
		p, ok := ReadProgress(sp.Dir(), sp.ID())
		return p.Offset, ok
	}, loaded: func() (uint64, bool) {
		p, ok := ReadProgress(sp.Dir(), sp.ID())
		return p.Loaded, ok
	}}
	if o.Listener == nil && cfg.Listen == "" {
		return errors.New("serve needs listen")
	}
	rr, err := startReceiver(ctx, cfg, diskStore(sp), o, m)
	if err != nil {
		return err
	}
	if err := rr.serveUntil(ctx, o.Log); err != nil {
		return err
	}
	if err := sp.CloseWriter(); err != nil {
		return err
	}
	o.Log.Info().Uint64("offset", sp.Durable()).Msg("stopped")
	return nil
}

// serveUntil serves until ctx ends, then shuts the receiver down: nil, or
// why the server stopped on its own.
func (r *runningReceiver) serveUntil(ctx context.Context, log zerolog.Logger) error {
	select {
	case <-ctx.Done():
	case err := <-r.errs():
		r.shutdown(log)
		if err == nil {
			err = errors.New("stopped")
		}
		return fmt.Errorf("http server: %w", err)
	}
	r.shutdown(log)
	return nil
}

// openWriter opens the spool as its writer. A scheduled load that finds
// no writer running holds the writer lock for a moment (to recover the
// spool after a crash); a receiver starting just then waits for it.
func openWriter(ctx context.Context, opts spool.Options) (*spool.Spool, error) {
	deadline := time.Now().Add(30 * time.Second)
	for {
		sp, err := spool.Open(opts)
		if !errors.Is(err, spool.ErrLocked) || time.Now().After(deadline) {
			return sp, err
		}
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(100 * time.Millisecond):
		}
	}
}
