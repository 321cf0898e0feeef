package target

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/rs/zerolog"

	"github.com/cio-singer/tap-customerio-webhook/internal/singer"
)

// options are the knobs tests turn; production uses defaultOptions.
type options struct {
	now        func() time.Time // metadata timestamps
	backoffMin time.Duration    // first retry delay, doubling
	backoffMax time.Duration    // cap of a retry delay
	retryFor   time.Duration    // give up retrying a call after this long
	seqBase    int64            // _sdc_sequence of the first record; 0: now().UnixNano()
	queue      int              // messages parsed ahead of the main loop
}

func defaultOptions() options {
	return options{
		now:        time.Now,
		backoffMin: 250 * time.Millisecond,
		backoffMax: 30 * time.Second,
		retryFor:   10 * time.Minute,
		queue:      256,
	}
}

// run loads the Singer messages of in until its end. Pipeline: a goroutine
// reads and parses lines (readAhead); the calling goroutine converts
// records into rows, batches them and gates states (runner); a load worker
// goroutine runs EnsureTable and Load, so one batch loads while the next
// fills. States go to out only once everything before them is committed.
func run(ctx context.Context, cfg Config, loader Loader, in io.Reader, out io.Writer, log zerolog.Logger, opts options) error {
	if opts.seqBase == 0 {
		opts.seqBase = opts.now().UnixNano()
	}
	loadCtx, cancelLoads := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelLoads()
	r := newRunner(cfg, out, log, opts)
	go newLoadWorker(loader, log, opts).run(loadCtx, r.queue.jobs, r.queue.results)

	msgs, stopReading := readAhead(in, opts.queue)
	defer stopReading()

	err := r.loop(ctx, msgs)
	switch {
	case err == nil:
		err = r.finish()
	case lineOf(err) > 0:
		// A bad line condemns itself only: what was read before it is
		// loaded and its state printed before the error ends the run, so
		// a rerun from that state (of a tap killed mid-line, say) starts
		// after it instead of loading everything again.
		r.log.Error().Err(err).Msg("stopping at a bad line: loading what was read before it")
		if ferr := r.finish(); ferr != nil {
			err = errors.Join(err, ferr)
		}
	}
	if err != nil {
		cancelLoads()
	}
	close(r.queue.jobs)
	for range r.queue.results { // wait for the load worker to stop using the loader
	}
	return err
}

// loop handles messages, load results and batch ages until the end of
// input, a failure, or ctx ending (which stops reading and drains).
func (r *runner) loop(ctx context.Context, msgs <-chan item) error {
	done := ctx.Done()
	for {
		r.armTimer()
		select {
		case it, ok := <-msgs:
			if !ok || errors.Is(it.err, io.EOF) {
				return nil
			}
			if it.err != nil {
				return it.err
			}
			if err := r.handle(it.msg); err != nil {
				return err
			}
		case res := <-r.queue.results:
			if err := r.loaded(res); err != nil {
				return err
			}
		case <-r.ages.C:
			r.ages.invalidate()
			if err := r.flushAged(); err != nil {
				return err
			}
		case <-done:
			r.log.Warn().Msg("stopping on signal: loading what was read")
			return nil
		}
	}
}

func (r *runner) handle(m singer.Message) error {
	switch m.Type {
	case singer.TypeRecord:
		return r.record(m)
	case singer.TypeSchema:
		return r.schema(m)
	case singer.TypeState:
		if m.Value == nil {
			r.log.Debug().Int("line", m.Line).Msg("ignoring state without a value")
			return nil
		}
		if err := r.gate.add(r.nextSeq, m.Value); err != nil { // after the records read so far
			return &singer.LineError{Line: m.Line, Err: err}
		}
		return r.gate.release(r.lowestUncommitted())
	case singer.TypeActivateVersion:
		r.log.Debug().Str("stream", m.Stream).Int("line", m.Line).Msg("ignoring ACTIVATE_VERSION")
		return nil
	default:
		if !r.unknownTypes[m.Type] {
			r.unknownTypes[m.Type] = true
			r.log.Warn().Str("type", m.Type).Int("line", m.Line).Msg("skipping messages of unknown type")
		}
		return nil
	}
}

// finish loads everything still buffered, waits for every load, and writes
// the latest state received, even when no records followed it.
func (r *runner) finish() error {
	for _, s := range r.order {
		if err := r.flush(s); err != nil {
			return err
		}
	}
	for len(r.queue.inflight) > 0 {
		if err := r.loaded(<-r.queue.results); err != nil {
			return err
		}
	}
	if err := r.gate.finish(r.nextSeq); err != nil {
		return err
	}
	r.summary()
	return nil
}

// summary logs rows loaded per stream and overall; rows can be fewer than
// records when a batch held several records with the same key.
func (r *runner) summary() {
	took := time.Since(r.started)
	var total int64
	for _, s := range r.order {
		total += s.loadedRows
		r.log.Info().Str("stream", s.name).Str("table", s.layout.table.Name).Int64("rows", s.loadedRows).Msg("stream done")
	}
	rate := 0.0
	if took > 0 {
		rate = float64(total) / took.Seconds()
	}
	r.log.Info().Int64("records", r.nextSeq).Int64("rows", total).Int("streams", len(r.order)).Int("states", r.gate.written).
		Dur("took", took).Float64("rows_per_s", rate).Msg("end of input: all rows loaded")
}

// lineOf returns the input line an error is about, or 0.
func lineOf(err error) int {
	var le *singer.LineError
	if errors.As(err, &le) {
		return le.Line
	}
	return 0
}

func lineErr(line int, format string, args ...any) error {
	return &singer.LineError{Line: line, Err: fmt.Errorf(format, args...)}
}
