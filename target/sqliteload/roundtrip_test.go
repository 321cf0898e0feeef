package sqliteload_test

import (
	"encoding/json"
	"math"
	"reflect"
	"testing"
	"time"

	"github.com/cio-singer/tap-customerio-webhook/target"
)

// TestLoad_RoundTrip loads values of every type and reads them back through
// a separate connection: what lands is exactly what was sent.
func TestLoad_RoundTrip(t *testing.T) {
	l, db := newDB(t)
	tbl := target.Table{Name: "rt", Keys: []string{"id"}, Columns: []target.Column{
		{Name: "id", Type: target.TypeBigint},
		{Name: "s", Type: target.TypeText},
		{Name: "i", Type: target.TypeBigint},
		{Name: "n", Type: target.TypeNumeric},
		{Name: "b", Type: target.TypeBoolean},
		{Name: "ts", Type: target.TypeTimestamp},
		{Name: "j", Type: target.TypeJSON},
	}}
	ensure(t, l, tbl)

	cases := []struct {
		s  any
		i  any
		n  any
		b  any
		ts any
		j  any
		// what a reader gets back: value and storage class
		want []string
	}{
		{"a\nb\tc\\d\"e\u0001f\r", int64(math.MaxInt64), json.Number("0"), true,
			time.Date(2024, 10, 1, 17, 22, 40, 0, time.UTC), json.RawMessage(`{"a":[1,2,{"b":null}],"c":"x\ny"}`),
			[]string{"string:a\nb\tc\\d\"e\u0001f\r", "int64:9223372036854775807", "int64:0", "int64:1",
				"string:2024-10-01T17:22:40.000000Z", `string:{"a":[1,2,{"b":null}],"c":"x\ny"}`}},
		{"", int64(math.MinInt64), json.Number("0.1"), false,
			time.Date(2024, 10, 1, 19, 22, 40, 123456000, time.FixedZone("+02:00", 2*3600)), json.RawMessage(`"just a string"`),
			[]string{"string:", "int64:-9223372036854775808", "float64:0.1", "int64:0",
				"string:2024-10-01T17:22:40.123456Z", `string:"just a string"`}},
		{nil, nil, nil, nil, nil, nil,
			[]string{"<nil>:<nil>", "<nil>:<nil>", "<nil>:<nil>", "<nil>:<nil>", "<nil>:<nil>", "<nil>:<nil>"}},
		{"Ünïcödé ✓ 日本語 🎉 \u2028", int64(0), json.Number("3.14159265358979323846264338327950288"), nil,
			time.Date(2024, 10, 1, 12, 52, 40, 999999000, time.FixedZone("-04:30", -(4*3600+1800))), json.RawMessage(`[]`),
			[]string{"string:Ünïcödé ✓ 日本語 🎉 \u2028", "int64:0", "string:3.14159265358979323846264338327950288", "<nil>:<nil>",
				"string:2024-10-01T17:22:40.999999Z", "string:[]"}},
		{"nul\x00inside", int64(-1), json.Number("-12345678901234567890"), true,
			time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC), json.RawMessage(`12345678901234567890123`),
			[]string{"string:nul\x00inside", "int64:-1", "string:-12345678901234567890", "int64:1",
				"string:1970-01-01T00:00:00.000000Z", "string:12345678901234567890123"}},
		{"null", int64(42), json.Number("1e3"), false,
			time.Date(2024, 10, 1, 17, 22, 40, 500, time.UTC), json.RawMessage(`null`),
			[]string{"string:null", "int64:42", "int64:1000", "int64:0",
				"string:2024-10-01T17:22:40.000000Z", "string:null"}},
	}
	b := &target.Batch{Table: "rt", Keys: tbl.Keys, Columns: []string{"id", "s", "i", "n", "b", "ts", "j"}}
	for k, c := range cases {
		b.Rows = append(b.Rows, []any{int64(k), c.s, c.i, c.n, c.b, c.ts, c.j})
	}
	load(t, l, b)

	rows := query(t, db, `SELECT s, i, n, b, ts, j FROM rt ORDER BY id`)
	if len(rows) != len(cases) {
		t.Fatalf("got %d rows, want %d", len(rows), len(cases))
	}
	for k, c := range cases {
		if !reflect.DeepEqual(rows[k], c.want) {
			t.Errorf("row %d:\n got %q\nwant %q", k, rows[k], c.want)
		}
	}

	// Timestamps sort and compare as instants; JSON is queryable.
	order := query(t, db, `SELECT id FROM rt WHERE ts IS NOT NULL ORDER BY ts, id`)
	wantOrder := [][]string{{"int64:4"}, {"int64:0"}, {"int64:5"}, {"int64:1"}, {"int64:3"}}
	if !reflect.DeepEqual(order, wantOrder) {
		t.Errorf("timestamp order = %v, want %v", order, wantOrder)
	}
	if got := query(t, db, `SELECT json_extract(j, '$.a[2].b'), json_extract(j, '$.c') FROM rt WHERE id = 0`); !reflect.DeepEqual(got,
		[][]string{{"<nil>:<nil>", "string:x\ny"}}) {
		t.Errorf("json_extract = %v", got)
	}
	// "" and NULL stay distinct.
	if got := query(t, db, `SELECT count(*) FROM rt WHERE s = ''`); got[0][0] != "int64:1" {
		t.Errorf("rows with s = '': %v, want 1", got)
	}
}

func TestLoad_RejectsBadValues(t *testing.T) {
	l, db := newDB(t)
	tbl := target.Table{Name: "bad", Columns: []target.Column{{Name: "v", Type: target.TypeText}}}
	ensure(t, l, tbl)
	for _, v := range []any{3.5, 7, []string{"x"}, json.Number("abc"), time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)} {
		err := l.Load(t.Context(), &target.Batch{Table: "bad", Columns: []string{"v"}, Rows: [][]any{{"ok"}, {v}}})
		if err == nil {
			t.Errorf("Load of %T %v succeeded", v, v)
		} else if l.Retryable(err) {
			t.Errorf("bad value %T reported retryable: %v", v, err)
		}
	}
	if n := count(t, db, "bad"); n != 0 {
		t.Fatalf("failed batches left %d rows", n)
	}
}

func jsonRaw(s string) json.RawMessage { return json.RawMessage(s) }
