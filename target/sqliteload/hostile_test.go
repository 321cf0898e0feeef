package sqliteload_test

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	_ "modernc.org/sqlite"

	"github.com/cio-singer/tap-customerio-webhook/target/targettest"
)

// TestHostileRecords feeds the records that once stopped a target through
// the real target-sqlite binary, at flattening levels 0 and 1, twice (a
// replay from an older state): it must exit 0 with the final state, keep
// every value findable (in its column, _sdc_errors or
// _sdc_rejected_records), and the replay must not add rejected rows.
func TestHostileRecords(t *testing.T) {
	t.Parallel()
	bin := buildTarget(t)
	cases := targettest.Cases()
	input := targettest.Input(cases)
	for _, level := range []int{0, 1} {
		t.Run(fmt.Sprintf("flattening_max_level=%d", level), func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			cfg := map[string]any{"database": "h.db", "flattening_max_level": level, "batch_size_rows": 7}
			var rejected string
			for run := range 2 {
				res := runTarget(t, bin, dir, cfg, input)
				if res.code != 0 {
					t.Fatalf("run %d: exit %d\n%s", run, res.code, res.stderr)
				}
				out := strings.Split(strings.TrimSpace(res.stdout), "\n")
				if out[len(out)-1] != targettest.FinalState {
					t.Fatalf("run %d: last state %q, want %s", run, out[len(out)-1], targettest.FinalState)
				}
				db, err := sql.Open("sqlite", filepath.Join(dir, "h.db"))
				if err != nil {
					t.Fatal(err)
				}
				docs := tablesAsJSON(t, db)
				if missing := targettest.Missing(cases, docs); len(missing) > 0 {
					t.Fatalf("run %d: values not findable:\n%s", run, strings.Join(missing, "\n"))
				}
				now := fmt.Sprint(query(t, db, `SELECT stream || ' ' || record_key FROM _sdc_rejected_records ORDER BY 1`))
				db.Close()
				if run == 1 && now != rejected {
					t.Fatalf("replay changed the rejected records: %v, then %v", rejected, now)
				}
				rejected = now
			}
			if !strings.Contains(rejected, `data {"sha256":`) {
				t.Fatalf("rejected records %s: want the record without its key", rejected)
			}
		})
	}
}

// tablesAsJSON returns every row of every table but _sdc_columns as a JSON
// object: TEXT as strings, numbers as numbers.
func tablesAsJSON(t *testing.T, db *sql.DB) [][]byte {
	t.Helper()
	var tables []string
	for _, r := range query(t, db, `SELECT name FROM sqlite_master WHERE type = 'table' AND name <> '_sdc_columns'`) {
		tables = append(tables, strings.TrimPrefix(r[0], "string:"))
	}
	var docs [][]byte
	for _, tbl := range tables {
		rows, err := db.Query(`SELECT * FROM "` + strings.ReplaceAll(tbl, `"`, `""`) + `"`)
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := scanAny(t, rows, len(cols))
			obj := map[string]any{}
			for i, c := range cols {
				if b, ok := vals[i].([]byte); ok {
					vals[i] = string(b)
				}
				obj[c] = vals[i]
			}
			doc, err := json.Marshal(obj)
			if err != nil {
				t.Fatal(err)
			}
			docs = append(docs, doc)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		rows.Close()
	}
	return docs
}
