package sqliteload_test

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/cio-singer/tap-customerio-webhook/target"
	"github.com/cio-singer/tap-customerio-webhook/target/sqliteload"
)

func openLoader(t *testing.T, path string) *sqliteload.Loader {
	t.Helper()
	l, err := sqliteload.Open(t.Context(), path, zerolog.New(zerolog.NewTestWriter(t)))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return l
}

// openReader opens a second, independent connection, as a user's sqlite3
// shell would.
func openReader(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatalf("opening reader: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func newDB(t *testing.T) (*sqliteload.Loader, *sql.DB) {
	path := filepath.Join(t.TempDir(), "test.db")
	return openLoader(t, path), openReader(t, path)
}

func ensure(t *testing.T, l *sqliteload.Loader, tbl target.Table) target.Table {
	t.Helper()
	got, err := l.EnsureTable(t.Context(), tbl)
	if err != nil {
		t.Fatalf("EnsureTable(%s): %v", tbl.Name, err)
	}
	return got
}

func load(t *testing.T, l *sqliteload.Loader, b *target.Batch) {
	t.Helper()
	if err := l.Load(t.Context(), b); err != nil {
		t.Fatalf("Load(%s): %v", b.Table, err)
	}
}

// query returns every row of q as strings in the form "typeof:value", so
// tests see the storage class as well as the value.
func query(t *testing.T, db *sql.DB, q string, args ...any) [][]string {
	t.Helper()
	rows, err := db.QueryContext(t.Context(), q, args...)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var out [][]string
	for rows.Next() {
		vals := scanAny(t, rows, len(cols))
		row := make([]string, len(vals))
		for i, v := range vals {
			row[i] = fmt.Sprintf("%T:%v", v, v)
			if b, ok := v.([]byte); ok {
				row[i] = "blob:" + string(b)
			}
		}
		out = append(out, row)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return out
}

// scanAny scans the current row into n values of the driver's own types.
func scanAny(t *testing.T, rows *sql.Rows, n int) []any {
	t.Helper()
	vals := make([]any, n)
	ptrs := make([]any, n)
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	if err := rows.Scan(ptrs...); err != nil {
		t.Fatalf("scanning: %v", err)
	}
	return vals
}

func count(t *testing.T, db *sql.DB, table string) int {
	t.Helper()
	var n int
	if err := db.QueryRowContext(t.Context(), `SELECT count(*) FROM "`+table+`"`).Scan(&n); err != nil {
		t.Fatalf("counting %s: %v", table, err)
	}
	return n
}

type columnInfo struct{ declared, logical string }

func columnInfos(t *testing.T, db *sql.DB, table string) map[string]columnInfo {
	t.Helper()
	rows, err := db.QueryContext(t.Context(), `SELECT p.name, p.type, coalesce(c.logical_type, '')
		FROM pragma_table_info(?) p LEFT JOIN _sdc_columns c ON c.table_name = ? AND c.column_name = p.name`, table, table)
	if err != nil {
		t.Fatalf("reading columns: %v", err)
	}
	defer rows.Close()
	out := map[string]columnInfo{}
	for rows.Next() {
		var name string
		var ci columnInfo
		if err := rows.Scan(&name, &ci.declared, &ci.logical); err != nil {
			t.Fatalf("reading columns: %v", err)
		}
		out[name] = ci
	}
	return out
}

var eventsTable = target.Table{
	Name: "data",
	Columns: []target.Column{
		{Name: "event_id", Type: target.TypeText},
		{Name: "metric", Type: target.TypeText},
		{Name: "timestamp", Type: target.TypeBigint},
		{Name: "score", Type: target.TypeNumeric},
		{Name: "delivered", Type: target.TypeBoolean},
		{Name: "received_at", Type: target.TypeTimestamp},
		{Name: "data", Type: target.TypeJSON},
	},
	Keys: []string{"event_id"},
}

func TestEnsureTable_Creates(t *testing.T) {
	l, db := newDB(t)
	got := ensure(t, l, eventsTable)
	if !reflect.DeepEqual(got, eventsTable) {
		t.Fatalf("EnsureTable returned %+v, want %+v", got, eventsTable)
	}
	want := map[string]columnInfo{
		"event_id":    {"TEXT", "text"},
		"metric":      {"TEXT", "text"},
		"timestamp":   {"INTEGER", "bigint"},
		"score":       {"", "numeric"},
		"delivered":   {"INTEGER", "boolean"},
		"received_at": {"TEXT", "timestamp"},
		"data":        {"TEXT", "json"},
	}
	if info := columnInfos(t, db, "data"); !reflect.DeepEqual(info, want) {
		t.Fatalf("columns = %v, want %v", info, want)
	}
	// Idempotent: a second call changes nothing and reports the same table.
	if again := ensure(t, l, eventsTable); !reflect.DeepEqual(again, eventsTable) {
		t.Fatalf("second EnsureTable returned %+v", again)
	}
	var pk string
	if err := db.QueryRow(`SELECT group_concat(name) FROM pragma_table_info('data') WHERE pk > 0`).Scan(&pk); err != nil || pk != "event_id" {
		t.Fatalf("primary key = %q (%v), want event_id", pk, err)
	}
}

func TestEnsureTable_AddsColumnsAndKeepsOldOnes(t *testing.T) {
	l, db := newDB(t)
	ensure(t, l, eventsTable)
	load(t, l, &target.Batch{Table: "data", Columns: []string{"event_id", "metric"}, Keys: []string{"event_id"},
		Rows: [][]any{{"e1", "sent"}}})

	later := target.Table{Name: "data", Keys: []string{"event_id"}, Columns: []target.Column{
		{Name: "event_id", Type: target.TypeText},
		{Name: "delivery_id", Type: target.TypeText},
		{Name: "opened_at", Type: target.TypeTimestamp},
	}}
	got := ensure(t, l, later)
	var names []string
	for _, c := range got.Columns {
		names = append(names, c.Name)
	}
	want := []string{"event_id", "metric", "timestamp", "score", "delivered", "received_at", "data", "delivery_id", "opened_at"}
	if !slices.Equal(names, want) {
		t.Fatalf("columns = %v, want %v (never dropped, new ones appended)", names, want)
	}
	if info := columnInfos(t, db, "data")["opened_at"]; info != (columnInfo{"TEXT", "timestamp"}) {
		t.Fatalf("opened_at = %+v", info)
	}
	if rows := query(t, db, `SELECT event_id, metric, delivery_id FROM data`); !reflect.DeepEqual(rows,
		[][]string{{"string:e1", "string:sent", "<nil>:<nil>"}}) {
		t.Fatalf("rows after adding columns = %v", rows)
	}
}

func TestEnsureTable_Widens(t *testing.T) {
	l, db := newDB(t)
	tbl := target.Table{Name: "w", Keys: []string{"id"}, Columns: []target.Column{
		{Name: "id", Type: target.TypeBigint},
		{Name: "code", Type: target.TypeBigint},
		{Name: "amount", Type: target.TypeBigint},
		{Name: "note", Type: target.TypeText},
		{Name: "at", Type: target.TypeTimestamp},
	}}
	ensure(t, l, tbl)
	load(t, l, &target.Batch{Table: "w", Columns: []string{"id", "code", "amount", "note", "at"}, Keys: []string{"id"},
		Rows: [][]any{{int64(1), int64(7), int64(5), "plain", time.Date(2024, 10, 1, 0, 0, 0, 0, time.UTC)}}})

	wider := target.Table{Name: "w", Keys: []string{"id"}, Columns: []target.Column{
		{Name: "id", Type: target.TypeText},        // a key widened: bigint -> text
		{Name: "code", Type: target.TypeText},      // bigint -> text: needs TEXT affinity
		{Name: "amount", Type: target.TypeNumeric}, // bigint -> numeric: needs no affinity
		{Name: "note", Type: target.TypeJSON},      // text -> json: same affinity
		{Name: "at", Type: target.TypeBigint},      // timestamp + bigint -> text
	}}
	got := ensure(t, l, wider)
	wantTypes := map[string]target.ColumnType{"id": target.TypeText, "code": target.TypeText,
		"amount": target.TypeNumeric, "note": target.TypeJSON, "at": target.TypeText}
	for _, c := range got.Columns {
		if c.Type != wantTypes[c.Name] {
			t.Errorf("column %s widened to %d, want %d", c.Name, c.Type, wantTypes[c.Name])
		}
	}
	info := columnInfos(t, db, "w")
	if info["code"] != (columnInfo{"TEXT", "text"}) || info["amount"] != (columnInfo{"", "numeric"}) ||
		info["note"] != (columnInfo{"TEXT", "json"}) || info["id"] != (columnInfo{"TEXT", "text"}) {
		t.Fatalf("columns after widening = %v", info)
	}
	load(t, l, &target.Batch{Table: "w", Columns: []string{"id", "code", "amount"}, Keys: []string{"id"},
		Rows: [][]any{{"007", "007", json.Number("12345678901234567890.5")}}})
	rows := query(t, db, `SELECT id, code, amount FROM w ORDER BY id`)
	want := [][]string{
		{"string:007", "string:007", "string:12345678901234567890.5"}, // no affinity turned these into numbers
		{"string:1", "string:7", "int64:5"},                           // old rows copied under the new affinity
	}
	if !reflect.DeepEqual(rows, want) {
		t.Fatalf("rows after widening = %v, want %v", rows, want)
	}

	// Never narrows: asking for bigint again keeps the wider types.
	got = ensure(t, l, tbl)
	for _, c := range got.Columns {
		if c.Type != wantTypes[c.Name] {
			t.Errorf("column %s narrowed to %d", c.Name, c.Type)
		}
	}
}

func TestEnsureTable_RejectsDifferentKey(t *testing.T) {
	l, _ := newDB(t)
	ensure(t, l, eventsTable)
	other := eventsTable
	other.Keys = []string{"metric"}
	if _, err := l.EnsureTable(t.Context(), other); err == nil {
		t.Fatal("EnsureTable with another primary key succeeded")
	}
	noKey := eventsTable
	noKey.Keys = nil
	if _, err := l.EnsureTable(t.Context(), noKey); err == nil {
		t.Fatal("EnsureTable without the existing primary key succeeded")
	}
	badKey := target.Table{Name: "x", Columns: []target.Column{{Name: "a", Type: target.TypeText}}, Keys: []string{"b"}}
	if _, err := l.EnsureTable(t.Context(), badKey); err == nil {
		t.Fatal("EnsureTable with a key that is not a column succeeded")
	}
}

func TestEnsureTable_QuotesIdentifiers(t *testing.T) {
	l, db := newDB(t)
	tbl := target.Table{Name: `we"ird table`, Keys: []string{`select`}, Columns: []target.Column{
		{Name: `select`, Type: target.TypeText},
		{Name: `a"b; DROP TABLE x`, Type: target.TypeBigint},
	}}
	ensure(t, l, tbl)
	load(t, l, &target.Batch{Table: tbl.Name, Columns: []string{`select`, `a"b; DROP TABLE x`}, Keys: tbl.Keys,
		Rows: [][]any{{"k", int64(1)}}})
	load(t, l, &target.Batch{Table: tbl.Name, Columns: []string{`select`, `a"b; DROP TABLE x`}, Keys: tbl.Keys,
		Rows: [][]any{{"k", int64(2)}}})
	rows := query(t, db, `SELECT "select", "a""b; DROP TABLE x" FROM "we""ird table"`)
	if !reflect.DeepEqual(rows, [][]string{{"string:k", "int64:2"}}) {
		t.Fatalf("rows = %v", rows)
	}
}

func eventBatch(ids []string, metric string) *target.Batch {
	b := &target.Batch{Table: "data", Keys: []string{"event_id"},
		Columns: []string{"event_id", "metric", "timestamp", "score", "delivered", "received_at", "data"}}
	for i, id := range ids {
		b.Rows = append(b.Rows, []any{id, metric, int64(1727712043 + i), json.Number("1.5"), i%2 == 0,
			time.Date(2024, 10, 1, 17, 22, 40, i*1000, time.UTC), json.RawMessage(`{"n":` + fmt.Sprint(i) + `}`)})
	}
	return b
}

func TestLoad_UpsertIsIdempotent(t *testing.T) {
	l, db := newDB(t)
	ensure(t, l, eventsTable)
	ids := []string{"a", "b", "c"}
	load(t, l, eventBatch(ids, "sent"))
	first := query(t, db, `SELECT * FROM data ORDER BY event_id`)
	load(t, l, eventBatch(ids, "sent"))
	if again := query(t, db, `SELECT * FROM data ORDER BY event_id`); !reflect.DeepEqual(again, first) {
		t.Fatalf("loading the same batch twice changed rows:\n%v\n%v", first, again)
	}
	if len(first) != 3 {
		t.Fatalf("got %d rows, want 3", len(first))
	}
	// A later version of a row replaces it whole; new keys are added.
	load(t, l, eventBatch([]string{"b", "d"}, "opened"))
	rows := query(t, db, `SELECT event_id, metric FROM data ORDER BY event_id`)
	want := [][]string{{"string:a", "string:sent"}, {"string:b", "string:opened"}, {"string:c", "string:sent"}, {"string:d", "string:opened"}}
	if !reflect.DeepEqual(rows, want) {
		t.Fatalf("rows = %v, want %v", rows, want)
	}
}

func TestLoad_AllColumnsKeysDoNothing(t *testing.T) {
	l, db := newDB(t)
	tbl := target.Table{Name: "pairs", Keys: []string{"a", "b"}, Columns: []target.Column{
		{Name: "a", Type: target.TypeText}, {Name: "b", Type: target.TypeBigint}}}
	ensure(t, l, tbl)
	b := &target.Batch{Table: "pairs", Columns: []string{"a", "b"}, Keys: tbl.Keys,
		Rows: [][]any{{"x", int64(1)}, {"x", int64(2)}}}
	load(t, l, b)
	load(t, l, b)
	if n := count(t, db, "pairs"); n != 2 {
		t.Fatalf("got %d rows, want 2", n)
	}
}

func TestLoad_AppendsWithoutKeys(t *testing.T) {
	l, db := newDB(t)
	tbl := target.Table{Name: "log", Columns: []target.Column{{Name: "msg", Type: target.TypeText}}}
	ensure(t, l, tbl)
	b := &target.Batch{Table: "log", Columns: []string{"msg"}, Rows: [][]any{{"one"}, {"one"}, {"two"}}}
	load(t, l, b)
	load(t, l, b)
	if n := count(t, db, "log"); n != 6 {
		t.Fatalf("got %d rows, want 6", n)
	}
}

// TestEnsureTable_WideningKeepsValues: values already in a column read the
// same after it is widened (found by the pipeline fuzzer: the text "true"
// in a column widened to JSON read back as the boolean true, "null" as
// NULL, "-0" as a number).
func TestEnsureTable_WideningKeepsValues(t *testing.T) {
	l, db := newDB(t)
	tbl := target.Table{Name: "v", Keys: []string{"id"}, Columns: []target.Column{
		{Name: "id", Type: target.TypeText},
		{Name: "s", Type: target.TypeText},
		{Name: "b", Type: target.TypeBoolean},
		{Name: "bt", Type: target.TypeBoolean},
		{Name: "n", Type: target.TypeBigint},
	}}
	ensure(t, l, tbl)
	var rows [][]any
	for i, s := range []string{"true", "-0", "null", `{"a":1}`, "plain \"q\""} {
		rows = append(rows, []any{fmt.Sprint(i), s, i%2 == 0, i%2 == 1, int64(i - 2)})
	}
	rows = append(rows, []any{"nil", nil, nil, nil, nil})
	load(t, l, &target.Batch{Table: "v", Columns: []string{"id", "s", "b", "bt", "n"}, Keys: []string{"id"}, Rows: rows})

	ensure(t, l, target.Table{Name: "v", Keys: []string{"id"}, Columns: []target.Column{
		{Name: "id", Type: target.TypeText},
		{Name: "s", Type: target.TypeJSON},
		{Name: "b", Type: target.TypeJSON},
		{Name: "bt", Type: target.TypeText},
		{Name: "n", Type: target.TypeJSON},
	}})
	got := query(t, db, `SELECT id, json_type(s), s ->> '$', json_type(b), bt, json_type(n), n FROM v ORDER BY id`)
	want := [][]string{
		{"string:0", "string:text", "string:true", "string:true", "string:false", "string:integer", "string:-2"},
		{"string:1", "string:text", "string:-0", "string:false", "string:true", "string:integer", "string:-1"},
		{"string:2", "string:text", "string:null", "string:true", "string:false", "string:integer", "string:0"},
		{"string:3", "string:text", `string:{"a":1}`, "string:false", "string:true", "string:integer", "string:1"},
		{"string:4", "string:text", `string:plain "q"`, "string:true", "string:false", "string:integer", "string:2"},
		{"string:nil", "<nil>:<nil>", "<nil>:<nil>", "<nil>:<nil>", "<nil>:<nil>", "<nil>:<nil>", "<nil>:<nil>"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("values after widening:\n got %v\nwant %v", got, want)
	}
}
