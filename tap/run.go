// Package tap is tap-customerio-webhook: it receives Customer.io reporting
// webhooks, keeps each one durably in a local spool before answering 200,
// and emits them as Singer messages on stdout (stream data keyed on
// event_id, stream rejected for bodies that are not valid events).
//
// Delivery: a webhook answered 200 is in the spool (written and fsynced).
// It is emitted after the offset of the --state given at start, so a
// pipeline rerun from the last state its target printed emits every
// record that target had not committed: at least once, and exactly one
// row per event_id with an upserting target.
//
// Modes: Run with a server receives and emits in one process; Serve
// (`serve`) only receives (the spool's writer) while Run with "listen": ""
// only emits (its reader), so a scheduler can load every minute beside a
// receiver that stays up. With spool "kafka" (kafka.go) the same three
// modes run on a Kafka topic: the receiver produces to it, the emitter
// reads its partitions. The command line that picks a mode is package
// cli's; the token file is package tokenfile's; /metrics is written from
// a metrics.Snapshot that figures.go gathers.
//
// History: with app_api_key, a run also emits the App API streams
// (deliveries, campaigns, ...): a reader goroutine (history.go) hands their
// messages to the emit loop (history_emit.go), so that webhooks never wait
// for the API.
package tap

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/cio-singer/tap-customerio-webhook/catalog"
	"github.com/cio-singer/tap-customerio-webhook/internal/clock"
	"github.com/cio-singer/tap-customerio-webhook/internal/singer"
	"github.com/cio-singer/tap-customerio-webhook/tap/auth"
	"github.com/cio-singer/tap-customerio-webhook/tap/kafkaspool"
	"github.com/cio-singer/tap-customerio-webhook/tap/receiver"
	"github.com/cio-singer/tap-customerio-webhook/tap/spool"
	"github.com/cio-singer/tap-customerio-webhook/tap/tokenfile"
)

// Options are the inputs of Run.
type Options struct {
	Config    Config
	State     Bookmark                     // from --state; zero starts at the beginning of the spool
	Selection map[string]catalog.Selection // from --catalog, or catalog.Default()
	Stdout    io.Writer
	Log       zerolog.Logger
	// Listener, when set, is used instead of listening on Config.Listen
	// (tests pass a loopback listener on port 0).
	Listener net.Listener
	// OnListen, when set, is called with the server's address once it
	// accepts connections.
	OnListen func(addr net.Addr)
	// TokenPoll is how often the token file is checked for changes
	// (default 1s).
	TokenPoll time.Duration
	// AppAPIBookmarks are the App API streams' bookmarks from --state
	// (ParseAppAPIBookmarks); nil on a first run.
	AppAPIBookmarks map[string]json.RawMessage
	// KafkaPosition is bookmarks.data of --state with spool "kafka"
	// (ParseKafkaPosition); zero reads every partition from its start.
	KafkaPosition kafkaspool.Position
	// AppAPIClock, when set, paces the App API client (tests give it a
	// virtual clock so that retries take no time).
	AppAPIClock clock.Clock
}

// Run receives and emits until ctx ends (SIGTERM), exit_after_idle passes
// with nothing new, or stdout breaks. On the first two it stops accepting
// (503), emits everything spooled, writes a final STATE and returns nil.
func Run(ctx context.Context, o Options) error {
	cfg := o.Config
	if cfg.Spool == SpoolKafka {
		return runKafka(ctx, o)
	}
	// Without a server this process only reads: `serve` may be writing the
	// same spool_dir meanwhile.
	open := spool.Open
	if cfg.Listen == "" && o.Listener == nil {
		open = spool.OpenReader
	}
	sp, err := open(spool.Options{Dir: cfg.SpoolDir, MaxBytes: cfg.SpoolMaxBytes, Log: o.Log})
	if err != nil {
		return fmt.Errorf("opening spool: %w", err)
	}
	defer sp.Close()
	if !sp.ReadOnly() {
		// This process emits too: no scheduled load may read and release
		// the same spool meanwhile.
		if err := sp.LockReading(); err != nil {
			return fmt.Errorf("opening spool: %w", err)
		}
	}

	start := resumeOffset(o.State, sp, o.Log)
	if err := release(sp, start, cfg, time.Now()); err != nil {
		return fmt.Errorf("releasing emitted spool segments: %w", err)
	}
	w := singer.NewWriter(o.Stdout)
	em, err := newEmitter(w, o.Selection, sp.ID(), start, cfg.StateInterval, time.Now, o.Log.With().Str("component", "emitter").Logger())
	if err != nil {
		return err
	}
	em.keepWithheld = func(id string, body []byte) error { return keepWithheld(sp.Dir(), id, body) }
	reader, err := sp.NewReader(start)
	if err != nil {
		return fmt.Errorf("reading spool: %w", err)
	}
	defer reader.Close()

	em.onState = func(off uint64) {
		if err := writeProgress(sp.Dir(), Progress{SpoolID: sp.ID(), Offset: off, Loaded: start, Updated: time.Now().UTC()}); err != nil {
			o.Log.Debug().Err(err).Msg("publishing progress")
		}
	}
	em.onState(start) // what the target had loaded is known from the start
	m := &figures{now: time.Now, sp: sp, em: em, emitted: func() (uint64, bool) { return em.handled.Load(), true }}
	// The App API is read in its own goroutine: webhooks are answered and
	// emitted whatever it does.
	hist, err := startHistory(ctx, o, em, m)
	if err != nil {
		return err
	}
	rr, err := startReceiver(ctx, cfg, diskStore(sp), o, m)
	if err != nil {
		hist.stop()
		return err
	}
	stop := func() {
		rr.shutdown(o.Log)
		_ = sp.CloseWriter()
		hist.stop()
	}
	o.Log.Info().Uint64("offset", start).Str("spool_dir", cfg.SpoolDir).Msg("emitting spooled webhooks")

	// Without a server nothing new can arrive: stop once caught up.
	untilCaughtUp := rr == nil
	err = emitLoop(ctx, em, diskSource{reader}, cfg.ExitAfterIdle, untilCaughtUp, rr.errs(), o.Log)
	stop()
	if err != nil {
		return err // stdout broke or the spool failed: no final STATE for what was not written
	}
	// What the App API reader handed over is complete up to its last
	// bookmark: write it.
	if err := em.drainHistory(); err != nil {
		return err
	}
	// Everything acknowledged before the server stopped is durable: emit it.
	for {
		rec, ok, err := reader.TryNext()
		if err != nil {
			return fmt.Errorf("reading spool: %w", err)
		}
		if !ok {
			break
		}
		if err := em.emit(rec); err != nil {
			return err
		}
	}
	if err := em.finalState(false); err != nil {
		return err
	}
	o.Log.Info().Uint64("offset", em.emitted).Uint64("data", em.dataCount.Load()).Uint64("rejected", em.rejectedCount.Load()).Msg("stopped")
	return nil
}

// resumeOffset returns the offset to emit after. A bookmark from another
// spool (its id differs, or it is beyond what this spool ever held) is not
// trusted: emitting everything again is safe, skipping is not.
func resumeOffset(b Bookmark, sp *spool.Spool, log zerolog.Logger) uint64 {
	switch {
	case b.SpoolOffset == 0:
		return 0
	case b.SpoolID != "" && b.SpoolID != sp.ID():
		log.Warn().Str("state_spool_id", b.SpoolID).Str("spool_id", sp.ID()).Msg("state is from another spool: emitting this spool from its start")
		return 0
	case b.SpoolOffset > sp.Durable():
		log.Warn().Uint64("state_offset", b.SpoolOffset).Uint64("durable", sp.Durable()).Msg("state is ahead of the spool: emitting the spool from its start")
		return 0
	}
	return b.SpoolOffset
}

// receiverStore is where a receiver keeps what it acknowledges: the disk
// spool or the Kafka producer.
type receiverStore struct {
	appender      receiver.Appender
	ready         func() error  // for /readyz
	appendTimeout time.Duration // 0: the receiver's default
}

func diskStore(sp *spool.Spool) receiverStore {
	return receiverStore{appender: sp, ready: sp.Writable}
}

// runningReceiver is the HTTP server and the token file watcher.
type runningReceiver struct {
	srv      *receiver.Server
	serveErr chan error    // Serve's result, if it stops on its own
	done     chan struct{} // closed once Serve and the watcher have returned
	cancel   context.CancelFunc
}

// shutdown stops the server (503 to new webhooks, waits for in-flight
// ones) and the watcher, and returns once both goroutines are gone.
func (r *runningReceiver) shutdown(log zerolog.Logger) {
	if r == nil {
		return
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.srv.Shutdown(shutdownCtx); err != nil {
		log.Warn().Err(err).Msg("stopping http server")
	}
	r.cancel()
	<-r.done
}

// errs returns the channel on which a server that stopped on its own
// reports; nil (blocks for ever) without a server.
func (r *runningReceiver) errs() <-chan error {
	if r == nil {
		return nil
	}
	return r.serveErr
}

// startReceiver starts the HTTP server unless listen is "", and the
// watcher that reloads the token file. Both the one-process mode (Run) and
// serve start their receiver here.
func startReceiver(ctx context.Context, cfg Config, store receiverStore, o Options, m *figures) (*runningReceiver, error) {
	if cfg.Listen == "" && o.Listener == nil {
		return nil, nil
	}
	tokens, err := CheckTokens(cfg)
	if err != nil {
		return nil, err
	}
	tokenPtr := new(atomic.Pointer[auth.TokenSet])
	tokenPtr.Store(tokens)
	m.perToken = newTokenStats(m.now)
	srv, err := receiver.New(receiver.Config{
		MaxBodyBytes: int(cfg.MaxBodyBytes),
		Tokens:       tokenPtr,
		Verifier:     auth.NewVerifier(cfg.SigningKeys, cfg.SignatureMaxAge, time.Now),
		Appender:     countingAppender{next: store.appender, stats: m.perToken},
		Ready:        store.ready, // /readyz: 503 while the spool refuses writes
		// Zero takes the receiver's default.
		AppendTimeout: store.appendTimeout,
		Metrics:       m.writeText,
		MetricsJSON:   m.writeJSON,
		Log:           o.Log,
		// Checked in config.go to be at least max_body_bytes.
		MaxInflightBytes: int(cfg.MaxInflightBytes),
	})
	if err != nil {
		return nil, err
	}
	m.srv, m.tokens = srv, tokenPtr
	ln := o.Listener
	if ln == nil {
		if ln, err = net.Listen("tcp", cfg.Listen); err != nil {
			return nil, fmt.Errorf("listen: %w", err)
		}
	}
	poll := o.TokenPoll
	if poll <= 0 {
		poll = time.Second
	}
	watchCtx, cancel := context.WithCancel(ctx)
	r := &runningReceiver{srv: srv, serveErr: make(chan error, 1), done: make(chan struct{}), cancel: cancel}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		tokenfile.Watch(watchCtx, cfg.SpoolDir, cfg.WebhookTokens, tokenPtr, poll, o.Log.With().Str("component", "tokens").Logger())
	}()
	go func() {
		defer wg.Done()
		r.serveErr <- srv.Serve(ln)
	}()
	go func() { wg.Wait(); close(r.done) }()
	o.Log.Info().Str("addr", ln.Addr().String()).Strs("token_ids", tokens.IDs()).Bool("signatures", len(cfg.SigningKeys) > 0).Msg("listening for webhooks")
	if o.OnListen != nil {
		o.OnListen(ln.Addr())
	}
	return r, nil
}

// CheckTokens is the start-up rule for a process that runs the server:
// webhook_tokens may be empty when the token file holds a token, but some
// token must exist. Its error names the key (exit 2).
func CheckTokens(cfg Config) (*auth.TokenSet, error) {
	set, err := tokenfile.Union(cfg.SpoolDir, cfg.WebhookTokens)
	if err != nil {
		return nil, &ConfigError{Key: "webhook_tokens", Err: err}
	}
	if len(set.IDs()) == 0 {
		return nil, &ConfigError{Key: "webhook_tokens", Err: fmt.Errorf("required: configure at least one token, or create one with `%s token new --config ...`", Name)}
	}
	return set, nil
}

// recordSource is what the emit loop reads: the disk spool's reader, or
// the Kafka spool's (kafkaSource, kafka.go).
type recordSource interface {
	// TryNext returns the next record if one is ready, without waiting.
	TryNext() (spool.Record, bool, error)
	// Next waits for the next record until ctx ends.
	Next(ctx context.Context) (spool.Record, error)
	// caughtUp reports, once TryNext found nothing ready, whether a run
	// that ends by itself has emitted all it must.
	caughtUp() bool
}

// diskSource is the disk spool's reader as a recordSource: nothing ready
// means nothing durable left.
type diskSource struct{ *spool.Reader }

func (diskSource) caughtUp() bool { return true }

// emitLoop emits records as they become durable until ctx ends, the tap
// has been idle for idle (when > 0), it has caught up (untilCaughtUp), or
// an error. It returns nil but on errors.
func emitLoop(ctx context.Context, em *emitter, r recordSource, idle time.Duration, untilCaughtUp bool, serveErr <-chan error, log zerolog.Logger) error {
	em.timer.active()
	for {
		if took, err := em.writeHistory(); err != nil {
			return err
		} else if took {
			em.timer.active()
		}
		rec, ok, err := r.TryNext()
		if err != nil {
			return fmt.Errorf("reading spool: %w", err)
		}
		if ok {
			if err := em.emit(rec); err != nil {
				return err
			}
			em.timer.active()
			continue
		}
		// A run that ends by itself waits for the App API pass under way.
		historyBusy := em.historyBusy()
		if untilCaughtUp && !historyBusy && r.caughtUp() {
			return nil
		}
		// Caught up: let the target see what was written, and cover it
		// with a STATE as soon as state_interval allows.
		writeNow, wait := em.timer.whenCaughtUp(em.statePending())
		if writeNow {
			if err := em.writeState(); err != nil {
				return err
			}
		}
		if err := em.w.Flush(); err != nil {
			return fmt.Errorf("writing to stdout: %w", err)
		}
		select {
		case err := <-serveErr:
			if err != nil {
				return fmt.Errorf("http server: %w", err)
			}
			return errors.New("http server stopped")
		default:
		}
		if idle > 0 && !historyBusy {
			idleNow, left := em.timer.untilIdle(idle)
			if idleNow {
				log.Info().Dur("exit_after_idle", idle).Msg("idle: exiting")
				return nil
			}
			wait = min(wait, left)
		}
		waitCtx, cancel := em.historyWait(ctx, wait, historyBusy)
		rec, err = r.Next(waitCtx)
		cancel()
		switch {
		case err == nil:
			if err := em.emit(rec); err != nil {
				return err
			}
			em.timer.active()
		case ctx.Err() != nil:
			return nil // shutting down
		case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
			// a STATE is due, the idle check at the top of the loop, or
			// App API messages to write
		case errors.Is(err, spool.ErrClosed):
			return nil
		default:
			return fmt.Errorf("reading spool: %w", err)
		}
	}
}
