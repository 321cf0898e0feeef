package reliability_test

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	_ "modernc.org/sqlite" // reading what target-sqlite loaded
)

// What the pipeline fuzzer reads back: the tap's output lines and the
// tables a target loaded.

// checkTapOutput checks every RECORD line the tap wrote (over all runs):
// it must pass checkSingerLine and parse as PostgreSQL jsonb.
func (r *fuzzRun) checkTapOutput() {
	t := r.t
	t.Helper()
	<-r.p.teeDone // the tee may still be writing what a dead target never read
	f, err := os.Open(r.p.tee.Name())
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	jb := newJSONBChecker(t)
	var bad []string
	records := 0
	rd := bufio.NewReaderSize(f, 1<<20)
	var offset int64
	torn := 0
	for n := 1; ; n++ {
		line, err := rd.ReadBytes('\n')
		if len(line) == 0 && err != nil {
			break
		}
		offset += int64(len(line))
		atEOF := !bytes.HasSuffix(line, []byte("\n")) // the tap was killed mid-line at the end
		line = bytes.TrimRight(line, "\n")
		if r.p.tgt.drop {
			bad = append(bad, r.checkDropLine(n, line)...)
		}
		var m struct{ Type string }
		if err := json.Unmarshal(line, &m); err != nil {
			if r.p.torn[offset] || atEOF {
				torn++ // cut by a kill -9
				continue
			}
			bad = append(bad, fmt.Sprintf("line %d is not JSON: %v", n, err))
			continue
		}
		if m.Type != "RECORD" {
			continue
		}
		records++
		if err := checkSingerLine(line); err != nil {
			bad = append(bad, fmt.Sprintf("RECORD line %d (%s): %v", n, r.describeLine(line), err))
		}
		jb.add(n, line)
	}
	for _, e := range jb.finish() {
		bad = append(bad, fmt.Sprintf("RECORD line %d is not valid jsonb: %s", e.line, e.err))
	}
	figure(t, "tap_record_lines", records)
	figure(t, "tap_lines_cut_by_kill", torn)
	figure(t, "tap_record_lines_unloadable", len(bad))
	for i, b := range bad {
		if i == 10 {
			t.Errorf("… and %d more unloadable lines", len(bad)-10)
			break
		}
		t.Errorf("tap output: %s", b)
	}
}

func (r *fuzzRun) describeLine(line []byte) string {
	var m struct {
		Stream string `json:"stream"`
		Record struct {
			EventID string `json:"event_id"`
		} `json:"record"`
	}
	_ = json.Unmarshal(line, &m)
	return fmt.Sprintf("stream %s, event_id %s", m.Stream, quoteTag(m.Record.EventID))
}

// jsonbChecker casts lines to jsonb in PostgreSQL, in chunks, and collects
// the lines it refuses with PostgreSQL's message.
type jsonbChecker struct {
	t     *testing.T
	conn  *pgx.Conn
	lines []string
	nums  []int
	size  int
	bad   []jsonbError
}

type jsonbError struct {
	line int
	err  string
}

func newJSONBChecker(t *testing.T) *jsonbChecker {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, pg.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close(ctx) })
	// PostgreSQL 15 has no pg_input_is_valid: catch the cast's error per line.
	_, err = conn.Exec(ctx, `CREATE FUNCTION pg_temp.bad_jsonb(lines text[]) RETURNS TABLE(i int, err text)
LANGUAGE plpgsql AS $$
BEGIN
  FOR k IN 1..coalesce(array_length(lines, 1), 0) LOOP
    BEGIN
      PERFORM lines[k]::jsonb;
    EXCEPTION WHEN others THEN
      i := k; err := SQLERRM; RETURN NEXT;
    END;
  END LOOP;
END $$`)
	if err != nil {
		t.Fatal(err)
	}
	return &jsonbChecker{t: t, conn: conn}
}

func (c *jsonbChecker) add(n int, line []byte) {
	if bytes.IndexByte(line, 0) >= 0 { // text cannot carry it; checkSingerLine reports it
		return
	}
	c.lines = append(c.lines, string(line))
	c.nums = append(c.nums, n)
	c.size += len(line)
	if c.size > 8<<20 || len(c.lines) >= 2000 {
		c.flush()
	}
}

func (c *jsonbChecker) flush() {
	if len(c.lines) == 0 {
		return
	}
	rows, err := c.conn.Query(context.Background(), `SELECT i, err FROM pg_temp.bad_jsonb($1)`, c.lines)
	if err != nil {
		c.t.Fatalf("jsonb check: %v", err)
	}
	for rows.Next() {
		var i int
		var msg string
		if err := rows.Scan(&i, &msg); err != nil {
			c.t.Fatal(err)
		}
		c.bad = append(c.bad, jsonbError{line: c.nums[i-1], err: msg})
	}
	if err := rows.Err(); err != nil {
		c.t.Fatalf("jsonb check: %v", err)
	}
	c.lines, c.nums, c.size = c.lines[:0], c.nums[:0], 0
}

func (c *jsonbChecker) finish() []jsonbError {
	c.flush()
	return c.bad
}

// readPostgresWarehouse reads data, rejected and _sdc_rejected_records of
// schema cio, each row as JSON (row_to_json); with scan, every table of
// cio, and the columns of data.
func readPostgresWarehouse(t *testing.T, dsn string, scan bool) *warehouse {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	w := newWarehouse()
	exists := func(table string) bool {
		var ok bool
		if err := conn.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, "cio."+table).Scan(&ok); err != nil {
			t.Fatal(err)
		}
		return ok
	}
	each := func(query string, fn func(row map[string]any)) {
		rows, err := conn.Query(ctx, query)
		if err != nil {
			t.Fatalf("%s: %v", query, err)
		}
		defer rows.Close()
		for rows.Next() {
			var text string
			if err := rows.Scan(&text); err != nil {
				t.Fatal(err)
			}
			doc, err := decodeDoc([]byte(text))
			if err != nil {
				t.Fatalf("row_to_json gave invalid JSON: %v", err)
			}
			fn(doc.(map[string]any))
		}
		if err := rows.Err(); err != nil {
			t.Fatalf("%s: %v", query, err)
		}
	}
	if exists("data") {
		each(`SELECT row_to_json(d)::text FROM cio.data d`, func(row map[string]any) { w.addData(row) })
	}
	if exists("rejected") {
		each(`SELECT row_to_json(r)::text FROM cio.rejected r`, w.addRejected)
	}
	if exists("_sdc_rejected_records") {
		each(`SELECT row_to_json(e)::text FROM cio._sdc_rejected_records e`, w.addErrorRecord)
	}
	if !scan {
		return w
	}
	var tables []string
	rows, err := conn.Query(ctx, `SELECT table_name FROM information_schema.tables WHERE table_schema = 'cio'`)
	if err == nil {
		tables, err = pgx.CollectRows(rows, pgx.RowTo[string])
	}
	if err != nil {
		t.Fatal(err)
	}
	for _, table := range tables {
		each(fmt.Sprintf(`SELECT row_to_json(x)::text FROM cio.%s x`, pgx.Identifier{table}.Sanitize()),
			func(row map[string]any) { w.scanSecrets("table "+table, row) })
	}
	rows, err = conn.Query(ctx, `SELECT column_name FROM information_schema.columns WHERE table_schema = 'cio' AND table_name = 'data'`)
	if err != nil {
		t.Fatal(err)
	}
	cols, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cols {
		w.dataColumns[c] = true
		w.scanSecrets("column name of data", c)
	}
	return w
}

// addData adds a row of table data.
func (w *warehouse) addData(row map[string]any) {
	id, _ := row["event_id"].(string)
	if row["_sdc_errors"] != nil {
		w.errorColumnValues++
	}
	w.dataRows++
	w.addDataRow(id, row)
}

// addErrorRecord adds a row of _sdc_rejected_records (stream, key,
// record, error): the record, as JSON or as text holding JSON.
func (w *warehouse) addErrorRecord(row map[string]any) {
	w.errorRows++
	rec := row["record"]
	if s, ok := rec.(string); ok {
		if doc, err := decodeDoc([]byte(s)); err == nil {
			rec = doc
		}
	}
	obj, _ := rec.(map[string]any)
	if row["stream"] == "rejected" {
		if obj != nil {
			w.addRejected(obj)
		}
		return
	}
	id, ok := obj["event_id"].(string)
	if !ok {
		id = keyOf(row["key"])
	}
	w.addDataRow(id, row)
}

// keyOf reads an event_id from the key column of _sdc_rejected_records,
// whichever way it is written: "id", {"event_id":"id"}, ["id"], or JSON text
// of those.
func keyOf(v any) string {
	if s, ok := v.(string); ok {
		if doc, err := decodeDoc([]byte(s)); err == nil {
			v = doc
		} else {
			return s
		}
	}
	switch k := v.(type) {
	case string:
		return k
	case map[string]any:
		s, _ := k["event_id"].(string)
		return s
	case []any:
		if len(k) > 0 {
			s, _ := k[0].(string)
			return s
		}
	}
	return ""
}

// readSQLiteWarehouse reads the same from target-sqlite's database file,
// each value by the logical type _sdc_columns records for its column.
func readSQLiteWarehouse(t *testing.T, path string, scan bool) *warehouse {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	tables := map[string]bool{}
	rows, err := db.Query(`SELECT name FROM sqlite_master WHERE type = 'table'`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		tables[n] = true
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	logical := map[string]string{} // table.column -> logical type
	if tables["_sdc_columns"] {
		rows, err := db.Query(`SELECT table_name, column_name, logical_type FROM _sdc_columns`)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var tbl, col, typ string
			if err := rows.Scan(&tbl, &col, &typ); err != nil {
				t.Fatal(err)
			}
			logical[tbl+"."+col] = typ
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
	}
	w := newWarehouse()
	each := func(table string, fn func(row map[string]any)) {
		if !tables[table] {
			return
		}
		rows, err := db.Query(`SELECT * FROM "` + table + `"`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		cols, err := rows.Columns()
		if err != nil {
			t.Fatal(err)
		}
		if table == "data" {
			for _, c := range cols {
				w.dataColumns[c] = true
			}
		}
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		for rows.Next() {
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			row := make(map[string]any, len(cols))
			for i, c := range cols {
				row[c] = sqliteValue(vals[i], logical[table+"."+c])
			}
			fn(row)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
	}
	each("data", w.addData)
	each("rejected", w.addRejected)
	each("_sdc_rejected_records", w.addErrorRecord)
	if scan {
		for table := range tables {
			each(table, func(row map[string]any) { w.scanSecrets("table "+table, row) })
		}
	}
	return w
}

// sqliteValue turns a scanned SQLite value into what decodeDoc would give,
// by the column's logical type in _sdc_columns: booleans are 0/1, JSON is
// its text.
func sqliteValue(v any, logical string) any {
	switch v := v.(type) {
	case int64:
		if logical == "boolean" {
			return v != 0
		}
		return json.Number(strconv.FormatInt(v, 10))
	case float64:
		return json.Number(strconv.FormatFloat(v, 'g', -1, 64))
	case []byte:
		return sqliteValue(string(v), logical)
	case string:
		if logical == "json" {
			if doc, err := decodeDoc([]byte(v)); err == nil {
				return doc
			}
		}
		return v
	case time.Time:
		return v.Format(time.RFC3339Nano)
	default:
		return v
	}
}
