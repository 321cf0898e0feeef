package pgload_test

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/cio-singer/tap-customerio-webhook/target/targettest"
)

// TestIntegrationHostileRecords feeds the records that once stopped
// target-postgres for good through the real binary, at flattening levels 0
// and 1, twice (a replay from an older state): it must exit 0 with the
// final state, keep every value findable (in its column, _sdc_errors or
// _sdc_rejected_records), and the replay must not add rejected rows.
func TestIntegrationHostileRecords(t *testing.T) {
	t.Parallel()
	pg.Require(t)
	bin := buildTarget(t)
	cases := targettest.Cases()
	input := targettest.Input(cases)
	for _, level := range []int{0, 1} {
		t.Run(fmt.Sprintf("flattening_max_level=%d", level), func(t *testing.T) {
			t.Parallel()
			dsn := pg.NewDatabase(t)
			config := writeConfig(t, dsn, fmt.Sprintf(`,"flattening_max_level":%d,"batch_size_rows":7`, level))
			var rejected []string
			for run := range 2 {
				r := startTarget(t, bin, config, bytes.NewReader(input))
				if code := r.wait(t); code != 0 {
					t.Fatalf("run %d: exit %d\n%s", run, code, r.stderr.String())
				}
				got := states(t, r.stdout.String())
				if len(got) == 0 || got[len(got)-1] != targettest.FinalState {
					t.Fatalf("run %d: states %v, want the last to be %s", run, got, targettest.FinalState)
				}
				docs := rowsAsJSON(t, dsn)
				if missing := targettest.Missing(cases, docs); len(missing) > 0 {
					t.Fatalf("run %d: values not findable:\n%s", run, strings.Join(missing, "\n"))
				}
				now := queryStrings(t, dsn, `SELECT stream || ' ' || record_key FROM cio._sdc_rejected_records ORDER BY 1`)
				if run == 1 && fmt.Sprint(now) != fmt.Sprint(rejected) {
					t.Fatalf("replay changed the rejected records: %v, then %v", rejected, now)
				}
				rejected = now
			}
			if len(rejected) < 2 {
				t.Fatalf("rejected records %v: want at least the record without key and the one with an unindexable key", rejected)
			}
		})
	}
}

// rowsAsJSON returns every row of every table in schema cio as JSON.
func rowsAsJSON(t *testing.T, dsn string) [][]byte {
	t.Helper()
	tables := queryStrings(t, dsn, `SELECT quote_ident(table_name) FROM information_schema.tables WHERE table_schema = 'cio'`)
	var docs [][]byte
	for _, tbl := range tables {
		for _, row := range queryStrings(t, dsn, `SELECT row_to_json(t)::text FROM cio.`+tbl+` t`) {
			docs = append(docs, []byte(row))
		}
	}
	return docs
}
