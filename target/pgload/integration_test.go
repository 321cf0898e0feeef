package pgload_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/rs/zerolog"

	"github.com/cio-singer/tap-customerio-webhook/internal/pgtest"
	"github.com/cio-singer/tap-customerio-webhook/target"
	"github.com/cio-singer/tap-customerio-webhook/target/pgload"
)

var pg *pgtest.Server

func TestMain(m *testing.M) {
	code := pgtest.Run(m, &pg)
	if builtTarget.dir != "" {
		_ = os.RemoveAll(builtTarget.dir)
	}
	os.Exit(code)
}

// open returns a loader on a fresh database and a plain connection to it
// for checking what landed.
func open(t *testing.T) (*pgload.Loader, *pgx.Conn) {
	t.Helper()
	dsn := pg.NewDatabase(t)
	ctx := t.Context()
	l, err := pgload.Open(ctx, pgload.Config{DSN: dsn, Schema: "cio"}, zerolog.New(zerolog.NewTestWriter(t)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return l, conn
}

var dataTable = target.Table{
	Name: "data",
	Keys: []string{"event_id"},
	Columns: []target.Column{
		{Name: "event_id", Type: target.TypeText},
		{Name: "metric", Type: target.TypeText},
		{Name: "timestamp", Type: target.TypeBigint},
		{Name: "data", Type: target.TypeJSON},
	},
}

func ensure(t *testing.T, l *pgload.Loader, tbl target.Table) target.Table {
	t.Helper()
	got, err := l.EnsureTable(t.Context(), tbl)
	if err != nil {
		t.Fatalf("EnsureTable(%s): %v", tbl.Name, err)
	}
	return got
}

func load(t *testing.T, l *pgload.Loader, b *target.Batch) {
	t.Helper()
	if err := l.Load(t.Context(), b); err != nil {
		t.Fatalf("Load(%s, %d rows): %v", b.Table, len(b.Rows), err)
	}
}

// columnTypes returns "name type" of each column of cio.<table> in order.
func columnTypes(t *testing.T, conn *pgx.Conn, table string) []string {
	t.Helper()
	rows, err := conn.Query(t.Context(), `SELECT column_name || ' ' || data_type FROM information_schema.columns
		WHERE table_schema = 'cio' AND table_name = $1 ORDER BY ordinal_position`, table)
	if err != nil {
		t.Fatal(err)
	}
	got, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func equalStrings(a, b []string) bool { return fmt.Sprint(a) == fmt.Sprint(b) }

func TestIntegrationEnsureTableCreates(t *testing.T) {
	t.Parallel()
	l, conn := open(t)
	tbl := dataTable
	tbl.Columns = append(append([]target.Column{}, tbl.Columns...),
		target.Column{Name: "score", Type: target.TypeNumeric},
		target.Column{Name: "is_test", Type: target.TypeBoolean},
		target.Column{Name: "received_at", Type: target.TypeTimestamp})
	got := ensure(t, l, tbl)
	if fmt.Sprint(got) != fmt.Sprint(tbl) {
		t.Fatalf("EnsureTable returned %v, want %v", got, tbl)
	}
	want := []string{"event_id text", "metric text", "timestamp bigint", "data jsonb", "score numeric",
		"is_test boolean", "received_at timestamp with time zone"}
	if types := columnTypes(t, conn, "data"); !equalStrings(types, want) {
		t.Fatalf("columns %v, want %v", types, want)
	}
	var pk string
	if err := conn.QueryRow(t.Context(), `SELECT a.attname FROM pg_index i JOIN pg_attribute a
		ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey) WHERE i.indrelid = 'cio.data'::regclass AND i.indisprimary`).Scan(&pk); err != nil {
		t.Fatal(err)
	}
	if pk != "event_id" {
		t.Fatalf("primary key %q, want event_id", pk)
	}
	// A second call changes nothing and reports the same table.
	if again := ensure(t, l, tbl); fmt.Sprint(again) != fmt.Sprint(tbl) {
		t.Fatalf("second EnsureTable returned %v", again)
	}
}

func TestIntegrationEnsureTableAddsColumnKeepingRows(t *testing.T) {
	t.Parallel()
	l, conn := open(t)
	ensure(t, l, dataTable)
	load(t, l, &target.Batch{Table: "data", Keys: []string{"event_id"}, Columns: []string{"event_id", "metric"},
		Rows: [][]any{{"e1", "sent"}}})
	tbl := dataTable
	tbl.Columns = append(append([]target.Column{}, tbl.Columns...), target.Column{Name: "delivery_id", Type: target.TypeText})
	got := ensure(t, l, tbl)
	if len(got.Columns) != 5 || got.Columns[4].Name != "delivery_id" {
		t.Fatalf("EnsureTable returned %v", got)
	}
	var metric string
	var delivery *string
	if err := conn.QueryRow(t.Context(), `SELECT metric, delivery_id FROM cio.data WHERE event_id = 'e1'`).Scan(&metric, &delivery); err != nil {
		t.Fatal(err)
	}
	if metric != "sent" || delivery != nil {
		t.Fatalf("row after ADD COLUMN: metric %q, delivery_id %v", metric, delivery)
	}
}

func TestIntegrationEnsureTableWidens(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name          string
		from, to      target.ColumnType
		value         any    // loaded before widening, as type from
		wantType      string // information_schema data_type after
		wantTextAfter string // the old value, read back as text
	}{
		{"bigint to numeric", target.TypeBigint, target.TypeNumeric, int64(math.MaxInt64), "numeric", "9223372036854775807"},
		{"bigint to text", target.TypeBigint, target.TypeText, int64(-42), "text", "-42"},
		{"text to jsonb", target.TypeText, target.TypeJSON, "a \"quoted\"\nline", "jsonb", `"a \"quoted\"\nline"`},
		{"numeric to jsonb", target.TypeNumeric, target.TypeJSON, json.Number("1.50"), "jsonb", "1.50"},
		{"timestamp to text", target.TypeTimestamp, target.TypeText, time.Date(2026, 1, 2, 19, 0, 0, 0, time.UTC), "text", "2026-01-02T19:00:00+00:00"},
		{"boolean to text", target.TypeBoolean, target.TypeText, true, "text", "true"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			l, conn := open(t)
			tbl := target.Table{Name: "w", Keys: []string{"id"}, Columns: []target.Column{
				{Name: "id", Type: target.TypeBigint}, {Name: "v", Type: tc.from}}}
			ensure(t, l, tbl)
			load(t, l, &target.Batch{Table: "w", Keys: []string{"id"}, Columns: []string{"id", "v"}, Rows: [][]any{{int64(1), tc.value}}})
			tbl.Columns[1].Type = tc.to
			got := ensure(t, l, tbl)
			wantWidened := target.Widen(tc.from, tc.to)
			if got.Columns[1].Type != wantWidened {
				t.Fatalf("EnsureTable reports %v as type %d, want %d", got.Columns[1], got.Columns[1].Type, wantWidened)
			}
			if types := columnTypes(t, conn, "w"); types[1] != "v "+tc.wantType {
				t.Fatalf("column after widening: %q, want type %s", types[1], tc.wantType)
			}
			var text string
			if err := conn.QueryRow(t.Context(), `SELECT v::text FROM cio.w WHERE id = 1`).Scan(&text); err != nil {
				t.Fatal(err)
			}
			if text != tc.wantTextAfter {
				t.Fatalf("old value after widening reads %q, want %q", text, tc.wantTextAfter)
			}
			// Asking for the narrower type again never narrows the column.
			tbl.Columns[1].Type = tc.from
			if again := ensure(t, l, tbl); again.Columns[1].Type != wantWidened {
				t.Fatalf("narrower request changed the column to %d", again.Columns[1].Type)
			}
		})
	}
}

func TestIntegrationEnsureTableKeyMismatchIsPermanent(t *testing.T) {
	t.Parallel()
	l, _ := open(t)
	ensure(t, l, dataTable)
	other := dataTable
	other.Keys = []string{"metric"}
	_, err := l.EnsureTable(t.Context(), other)
	if err == nil {
		t.Fatal("EnsureTable with different keys succeeded")
	}
	if l.Retryable(err) {
		t.Fatalf("key mismatch classed retryable: %v", err)
	}
}

type row struct {
	id, metric, ts string
}

func rows(t *testing.T, conn *pgx.Conn) []row {
	t.Helper()
	r, err := conn.Query(t.Context(), `SELECT event_id, coalesce(metric, '<null>'), coalesce("timestamp"::text, '<null>') FROM cio.data ORDER BY event_id`)
	if err != nil {
		t.Fatal(err)
	}
	got, err := pgx.CollectRows(r, func(r pgx.CollectableRow) (row, error) {
		var x row
		return x, r.Scan(&x.id, &x.metric, &x.ts)
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func TestIntegrationLoadUpserts(t *testing.T) {
	t.Parallel()
	l, conn := open(t)
	ensure(t, l, dataTable)
	cols := []string{"event_id", "metric", "timestamp"}
	first := &target.Batch{Table: "data", Keys: []string{"event_id"}, Columns: cols,
		Rows: [][]any{{"e1", "sent", int64(1)}, {"e2", "opened", nil}}}
	load(t, l, first)
	want := fmt.Sprint(rows(t, conn))
	load(t, l, first) // a replay changes nothing
	if got := fmt.Sprint(rows(t, conn)); got != want {
		t.Fatalf("after replay %s, want %s", got, want)
	}
	load(t, l, &target.Batch{Table: "data", Keys: []string{"event_id"}, Columns: cols,
		Rows: [][]any{{"e2", "clicked", int64(7)}, {"e3", "", nil}}})
	got := rows(t, conn)
	if len(got) != 3 || got[1].metric != "clicked" || got[1].ts != "7" || got[0].metric != "sent" {
		t.Fatalf("after update: %+v", got)
	}
	if got[2].metric != "" {
		t.Fatalf(`"" stored as %q, want the empty string (not NULL)`, got[2].metric)
	}
}

func TestIntegrationLoadOnlyKeyColumns(t *testing.T) {
	t.Parallel()
	l, conn := open(t)
	ensure(t, l, target.Table{Name: "k", Keys: []string{"a"}, Columns: []target.Column{{Name: "a", Type: target.TypeText}}})
	b := &target.Batch{Table: "k", Keys: []string{"a"}, Columns: []string{"a"}, Rows: [][]any{{"x"}, {"y"}}}
	load(t, l, b)
	load(t, l, b)
	var n int
	if err := conn.QueryRow(t.Context(), `SELECT count(*) FROM cio.k`).Scan(&n); err != nil || n != 2 {
		t.Fatalf("count %d, %v; want 2", n, err)
	}
}

func TestIntegrationLoadAppendsWithoutKeys(t *testing.T) {
	t.Parallel()
	l, conn := open(t)
	ensure(t, l, target.Table{Name: "log", Columns: []target.Column{{Name: "msg", Type: target.TypeText}}})
	b := &target.Batch{Table: "log", Columns: []string{"msg"}, Rows: [][]any{{"a"}, {"a"}, {nil}}}
	load(t, l, b)
	load(t, l, b)
	var n, nulls int
	if err := conn.QueryRow(t.Context(), `SELECT count(*), count(*) FILTER (WHERE msg IS NULL) FROM cio.log`).Scan(&n, &nulls); err != nil {
		t.Fatal(err)
	}
	if n != 6 || nulls != 2 {
		t.Fatalf("rows %d (nulls %d), want 6 (2)", n, nulls)
	}
}

func TestIntegrationLoadIsAtomic(t *testing.T) {
	t.Parallel()
	l, conn := open(t)
	ensure(t, l, dataTable)
	err := l.Load(t.Context(), &target.Batch{Table: "data", Keys: []string{"event_id"}, Columns: []string{"event_id", "metric"},
		Rows: [][]any{{"ok", "sent"}, {nil, "a NULL key fails the batch"}}})
	if err == nil {
		t.Fatal("a batch with a NULL key loaded")
	}
	if l.Retryable(err) {
		t.Fatalf("a NULL key is classed retryable: %v", err)
	}
	if got := rows(t, conn); len(got) != 0 {
		t.Fatalf("a failed batch left rows: %v", got)
	}
}
