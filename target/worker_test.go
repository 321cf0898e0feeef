package target

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/cio-singer/tap-customerio-webhook/internal/clock"
)

// workerTable is a table of id (key), v and the columns the worker reads.
var workerTable = Table{
	Name: "t",
	Columns: []Column{
		{Name: "id", Type: TypeBigint}, {Name: "v", Type: TypeText},
		{Name: colSequence, Type: TypeBigint}, {Name: ColErrors, Type: TypeJSON},
	},
	Keys: []string{"id"},
}

// newTestWorker returns a worker over l whose retries wait on a fake clock.
func newTestWorker(t *testing.T, l *memLoader) (*loadWorker, *clock.Fake) {
	t.Helper()
	w := newLoadWorker(l, zerolog.New(zerolog.NewTestWriter(t)), testOptions())
	c := clock.NewFake(testNow)
	w.retry.clock = c
	if _, err := l.EnsureTable(t.Context(), workerTable); err != nil {
		t.Fatal(err)
	}
	return w, c
}

// loadJob is a Load job of n rows with ids 1..n, v "v<id>" and sequence
// 100+id.
func loadJob(id int64, n int) job {
	b := &Batch{Table: workerTable.Name, Keys: workerTable.Keys}
	for _, c := range workerTable.Columns {
		b.Columns = append(b.Columns, c.Name)
		b.Types = append(b.Types, c.Type)
	}
	for i := int64(1); i <= int64(n); i++ {
		b.Rows = append(b.Rows, []any{i, fmt.Sprintf("v%d", i), 100 + i, nil})
	}
	meta := &batchMeta{stream: "s", table: workerTable, paths: []string{"id", "v", "", ""}, errCol: 3, seqCol: 2}
	return job{id: id, batch: b, meta: meta}
}

// refuse makes l fail every load of table t holding a row whose v is one
// of values, with err.
func refuse(l *memLoader, err error, values ...string) {
	l.failOn = func(_ int, b *Batch) error {
		if b.Table != workerTable.Name {
			return nil
		}
		for _, r := range b.Rows {
			for _, v := range values {
				if r[1] == v {
					return err
				}
			}
		}
		return nil
	}
}

func TestLoadWorker_SplitsABatchRefusedOnItsData(t *testing.T) {
	t.Run("error names a column: the value moves to _sdc_errors", func(t *testing.T) {
		l := newMemLoader()
		w, _ := newTestWorker(t, l)
		refuse(l, &dataError{column: "v"}, "v6")
		res := w.do(t.Context(), loadJob(1, 8))
		if res.err != nil || res.aside != 1 || res.rejected != 0 {
			t.Fatalf("result %+v, want 1 value set aside", res)
		}
		rows := l.rows("t")
		if len(rows) != 8 {
			t.Fatalf("%d rows loaded, want 8", len(rows))
		}
		for _, r := range rows {
			if r["id"] == int64(6) {
				if r["v"] != nil || !strings.Contains(string(r[ColErrors].(json.RawMessage)), `"v6"`) {
					t.Fatalf("refused row %v", r)
				}
			}
		}
		// The log holds calls that succeeded: the table read again after
		// the refusal, rows 1-4, row 5 alone, row 6 with its value moved,
		// rows 7-8.
		if want := "ensure t; ensure t; load t 4; load t 1; load t 1; load t 2"; l.callLog() != want {
			t.Fatalf("calls %q, want %q", l.callLog(), want)
		}
	})
	t.Run("error names no column: the record is rejected", func(t *testing.T) {
		l := newMemLoader()
		w, _ := newTestWorker(t, l)
		refuse(l, &dataError{}, "v2", "v7")
		res := w.do(t.Context(), loadJob(1, 8))
		if res.err != nil || res.aside != 0 || res.rejected != 2 {
			t.Fatalf("result %+v, want 2 rejected", res)
		}
		if n := len(l.rows("t")); n != 6 {
			t.Fatalf("%d rows loaded, want 6", n)
		}
		rejected := l.rows(RejectedTable)
		if len(rejected) != 2 {
			t.Fatalf("rejected %v", rejected)
		}
		for _, r := range rejected {
			if r["stream"] != "s" || r["rejected_at"] != testNow || (r[colSequence] != int64(102) && r[colSequence] != int64(107)) {
				t.Fatalf("rejected row %v", r)
			}
		}
	})
	t.Run("an error not about data stops", func(t *testing.T) {
		l := newMemLoader()
		w, _ := newTestWorker(t, l)
		denied := errors.New("permission denied")
		refuse(l, denied, "v3")
		if res := w.do(t.Context(), loadJob(1, 4)); !errors.Is(res.err, denied) {
			t.Fatalf("error %v, want %v", res.err, denied)
		}
		if n := len(l.rows("t")); n != 0 {
			t.Fatalf("%d rows loaded without a split", n)
		}
	})
}

func TestLoadWorker_RetriesTransientFailures(t *testing.T) {
	l := newMemLoader()
	w, clk := newTestWorker(t, l)
	l.failOn = func(n int, _ *Batch) error {
		if n <= 3 {
			return fmt.Errorf("load %d: %w", n, errTransient)
		}
		return nil
	}
	if res := w.do(t.Context(), loadJob(1, 2)); res.err != nil {
		t.Fatal(res.err)
	}
	if len(l.rows("t")) != 2 {
		t.Fatalf("rows %v", l.rows("t"))
	}
	o := testOptions()
	if want := fmt.Sprint([]time.Duration{o.backoffMin, 2 * o.backoffMin, min(4*o.backoffMin, o.backoffMax)}); fmt.Sprint(clk.Waits()) != want {
		t.Fatalf("waits %v, want %s", clk.Waits(), want)
	}
}

func TestLoadWorker_RunSkipsJobsAfterAFailure(t *testing.T) {
	l := newMemLoader()
	w, _ := newTestWorker(t, l)
	denied := errors.New("permission denied")
	refuse(l, denied, "v1")
	jobs := make(chan job, 3)
	results := make(chan result, 3)
	table := workerTable
	jobs <- job{id: 1, table: &table}
	jobs <- loadJob(2, 1)
	jobs <- loadJob(3, 1)
	close(jobs)
	w.run(context.Background(), jobs, results)
	var got []result
	for res := range results {
		got = append(got, res)
	}
	if len(got) != 3 || got[0].err != nil || got[0].table.Name != "t" || !errors.Is(got[1].err, denied) {
		t.Fatalf("results %+v", got)
	}
	if got[2].id != 3 || got[2].err == nil || !strings.Contains(got[2].err.Error(), "skipped") {
		t.Fatalf("job after a failure: %+v", got[2])
	}
	if l.nLoads != 1 {
		t.Fatalf("%d loads, want 1: nothing loads after a failure", l.nLoads)
	}
}
