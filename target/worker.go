package target

import (
	"context"
	"errors"
	"time"

	"github.com/rs/zerolog"

	"github.com/cio-singer/tap-customerio-webhook/internal/clock"
)

// job is one call for the load worker: EnsureTable when table is set,
// else Load of batch.
type job struct {
	id    int64
	table *Table
	batch *Batch
	meta  *batchMeta
}

// result answers the job of the same id.
type result struct {
	id       int64
	table    Table // the table as EnsureTable left it
	took     time.Duration
	err      error
	aside    int    // values the worker moved to _sdc_errors
	rejected int    // rows written to _sdc_rejected_records
	reread   *Table // the table, when a failed load found it changed by another process
}

// loadWorker makes the warehouse calls of a run on a goroutine of its own,
// so one batch loads while the main loop fills the next. It is the only
// user of the loader while it runs. Transient failures are retried; a
// batch the warehouse refuses on its data is split to keep what loads
// (recover.go).
type loadWorker struct {
	loader Loader
	retry  retrier
	now    func() time.Time // rejected_at of rejected records
	log    zerolog.Logger

	rejectedReady bool // RejectedTable ensured
}

func newLoadWorker(loader Loader, log zerolog.Logger, opts options) *loadWorker {
	return &loadWorker{
		loader: loader,
		retry: retrier{
			first: opts.backoffMin, max: opts.backoffMax, giveUpAfter: opts.retryFor,
			transient: loader.Retryable, clock: clock.System{}, log: log,
		},
		now: opts.now,
		log: log,
	}
}

// run answers each job of jobs on results, in order, until jobs closes;
// then it closes results. After a job fails, later jobs are answered with
// an error and not run: their batches would commit out of order behind
// the one that failed. Once ctx ends, jobs are not run either.
func (w *loadWorker) run(ctx context.Context, jobs <-chan job, results chan<- result) {
	defer close(results)
	failed := false
	for j := range jobs {
		if failed || ctx.Err() != nil {
			results <- result{id: j.id, err: errors.New("skipped after an earlier failure")}
			continue
		}
		res := w.do(ctx, j)
		failed = res.err != nil
		results <- res
	}
}

// do runs one job.
func (w *loadWorker) do(ctx context.Context, j job) result {
	start := time.Now()
	var res result
	if j.table != nil {
		res.table, res.err = w.ensure(ctx, *j.table)
	} else {
		res.err = w.loadBatch(ctx, j, &res)
	}
	res.id, res.took = j.id, time.Since(start)
	return res
}

// load runs Load of b, retrying transient failures.
func (w *loadWorker) load(ctx context.Context, b *Batch) error {
	return w.retry.do(ctx, "loading into "+b.Table, func() error { return w.loader.Load(ctx, b) })
}

// ensure runs EnsureTable of t, retrying transient failures.
func (w *loadWorker) ensure(ctx context.Context, t Table) (Table, error) {
	var actual Table
	err := w.retry.do(ctx, "ensuring table "+t.Name, func() error {
		var err error
		actual, err = w.loader.EnsureTable(ctx, t)
		return err
	})
	return actual, err
}
