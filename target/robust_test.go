package target

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/cio-singer/tap-customerio-webhook/internal/lockedbuf"
)

// errorsOf decodes a row's _sdc_errors.
func errorsOf(t *testing.T, row map[string]any) map[string]struct {
	Value json.RawMessage
	Error string
} {
	t.Helper()
	var out map[string]struct {
		Value json.RawMessage
		Error string
	}
	raw, _ := row[ColErrors].(json.RawMessage)
	if raw == nil {
		return nil
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("_sdc_errors %s: %v", raw, err)
	}
	return out
}

func TestRun_CaseTwins(t *testing.T) {
	schema := `{"type":"SCHEMA","stream":"s","key_properties":["event_id"],"schema":{"properties":{"event_id":{"type":"string"},` +
		`"Metric":{"type":["null","string"]},"metric":{"type":["null","integer"]},"Event_ID":{"type":["null","string"]}}}}`
	l := newMemLoader()
	cfg := testConfig()
	cfg.AddMetadataColumns = false
	_, err := runInput(t, cfg, l, lines(schema,
		`{"type":"RECORD","stream":"s","record":{"event_id":"both","Metric":"upper","metric":7,"Event_ID":"other"}}`,
		`{"type":"RECORD","stream":"s","record":{"event_id":"upper-first","metric":null,"Metric":"u"}}`,
		`{"type":"RECORD","stream":"s","record":{"event_id":"only-upper","Metric":"alone"}}`,
		`{"type":"RECORD","stream":"s","record":{"Metric":"x","metric":8,"event_id":"lower-last"}}`))
	if err != nil {
		t.Fatal(err)
	}
	cols := l.tables["s"].cols
	if cols[1] != (Column{"metric", TypeText}) {
		t.Fatalf("shared column %v, want metric widened to text", cols[1])
	}
	rows := l.rows("s")
	byID := map[string]map[string]any{}
	for _, r := range rows {
		byID[r["event_id"].(string)] = r
	}
	if r := byID["both"]; r["metric"] != "7" || r["event_id_"+hash8("Event_ID")] != "other" {
		t.Fatalf("row both: %v", r)
	}
	if e := errorsOf(t, byID["both"]); string(e["Metric"].Value) != `"upper"` || !strings.Contains(e["Metric"].Error, "case twin") {
		t.Fatalf("row both: _sdc_errors %v", e)
	}
	if r := byID["upper-first"]; r["metric"] != nil || string(errorsOf(t, r)["Metric"].Value) != `"u"` {
		t.Fatalf("row upper-first: %v", r)
	}
	if r := byID["only-upper"]; r["metric"] != "alone" || r[ColErrors] != nil {
		t.Fatalf("row only-upper: %v", r)
	}
	if r := byID["lower-last"]; r["metric"] != "8" || string(errorsOf(t, r)["Metric"].Value) != `"x"` {
		t.Fatalf("row lower-last: %v %s", r, r[ColErrors])
	}
}

func TestRun_ColumnLimit(t *testing.T) {
	var names []string
	for i := range 100 {
		names = append(names, fmt.Sprintf("f%03d", i))
	}
	l := newMemLoader()
	l.maxColumns = 50
	var log lockedbuf.Buffer
	rec := `{"event_id":"e"`
	for _, n := range names {
		rec += fmt.Sprintf(`,%q:%q`, n, "v"+n)
	}
	rec += "}"
	input := lines(schemaOf("s", append([]string{"event_id"}, names...), []string{`["null","string"]`}),
		`{"type":"RECORD","stream":"s","record":`+rec+`}`, state(1))
	out, err := runWithLog(t, testConfig(), l, input, &log)
	if err != nil {
		t.Fatal(err)
	}
	if out != `{"pos":1}`+"\n" {
		t.Fatalf("stdout %q", out)
	}
	if n := len(l.tables["s"].cols); n != 50-ReservedColumns+7 { // + key, metadata and _sdc_errors
		t.Fatalf("%d columns with a limit of 50", n)
	}
	row := l.rows("s")[0]
	errs := errorsOf(t, row)
	for _, n := range names {
		v, inColumn := row[n]
		e, aside := errs[n]
		switch {
		case inColumn && v == "v"+n && !aside:
		case !inColumn && aside && string(e.Value) == `"v`+n+`"` && e.Error == "no column: table at the column limit":
		default:
			t.Fatalf("property %s: column %v, _sdc_errors %v", n, v, e)
		}
	}
	if len(errs) != 100-(50-ReservedColumns) {
		t.Fatalf("%d properties set aside", len(errs))
	}
	if c := strings.Count(log.String(), "table at its column limit"); c != 1 {
		t.Fatalf("column limit logged %d times:\n%s", c, log.String())
	}
}

func TestRun_WidensBigintToNumeric(t *testing.T) {
	schema := `{"type":"SCHEMA","stream":"s","key_properties":["id"],"schema":{"properties":{"id":{"type":"integer"},"n":{"type":["null","integer"]}}}}`
	for _, tc := range []struct{ value, want string }{
		{"9223372036854775808", "9223372036854775808"},
		{"-99999999999999999999999", "-99999999999999999999999"},
		{"1e30", "1e30"},
	} {
		t.Run(tc.value, func(t *testing.T) {
			l := newMemLoader()
			cfg := testConfig()
			cfg.AddMetadataColumns = false
			_, err := runInput(t, cfg, l, lines(schema,
				`{"type":"RECORD","stream":"s","record":{"id":1,"n":5}}`,
				`{"type":"RECORD","stream":"s","record":{"id":2,"n":`+tc.value+`}}`,
				`{"type":"RECORD","stream":"s","record":{"id":3,"n":1.0}}`))
			if err != nil {
				t.Fatal(err)
			}
			if got, want := l.callLog(), "ensure s; load s 1; ensure s; load s 2"; got != want {
				t.Fatalf("calls %q, want %q", got, want)
			}
			if c := l.tables["s"].cols[1]; c.Type != TypeNumeric {
				t.Fatalf("column %v not widened", c)
			}
			rows := l.rows("s")
			if rows[0]["n"] != int64(5) || rows[1]["n"] != json.Number(tc.want) || rows[2]["n"] != json.Number("1.0") {
				t.Fatalf("rows %v", rows)
			}
		})
	}
}

func TestRun_ValuesSetAside(t *testing.T) {
	l := newMemLoader()
	cfg := testConfig()
	cfg.AddMetadataColumns = false
	huge := "1e999999"
	_, err := runInput(t, cfg, l, lines(dataSchema,
		`{"type":"RECORD","stream":"Data-Events","record":{"event_id":"e1","at":"not-a-date","x":`+huge+`,"n":`+huge+`,"data":{"k":[`+huge+`]},`+
			`"s":"Sale \ud83d ends","list":["\udc00","\ud83d\ude00","\u0000"],"any":"ok"}}`,
		`{"type":"RECORD","stream":"Data-Events","record":{"event_id":"e2","at":"10000-01-01T00:00:00Z"}}`))
	if err != nil {
		t.Fatal(err)
	}
	rows := l.rows("data_events")
	r := rows[0]
	if r["at"] != nil || r["x"] != nil || r["n"] != nil || r["data"] != nil || string(r["any"].(json.RawMessage)) != `"ok"` {
		t.Fatalf("row %v", r)
	}
	if r["s"] != "Sale \uFFFD ends" || string(r["list"].(json.RawMessage)) != `["\ufffd","\ud83d\ude00","\ufffd"]` {
		t.Fatalf("surrogates: s %q list %s", r["s"], r["list"])
	}
	errs := errorsOf(t, r)
	want := map[string]string{"at": `"not-a-date"`, "x": `"1e999999"`, "n": `"1e999999"`, "data": `{"k":["1e999999"]}`}
	if len(errs) != len(want) {
		t.Fatalf("_sdc_errors %s", r[ColErrors])
	}
	for k, v := range want {
		if string(errs[k].Value) != v || errs[k].Error == "" {
			t.Fatalf("_sdc_errors[%s] = %+v, want value %s", k, errs[k], v)
		}
	}
	if e := errorsOf(t, rows[1]); string(e["at"].Value) != `"10000-01-01T00:00:00Z"` {
		t.Fatalf("year 10000: %v", rows[1])
	}
}

func TestRun_RecordWithoutKeyIsRejected(t *testing.T) {
	l := newMemLoader()
	out, err := runInput(t, testConfig(), l, lines(fmt.Sprintf(simpleSchema, "s"),
		`{"type":"RECORD","stream":"s","record":{"v":"no key \u0000"}}`, rec("s", 1, "x"), `{"type":"RECORD","stream":"s","record":{"id":1e999999,"v":"huge key"}}`, state(1)))
	if err != nil {
		t.Fatal(err)
	}
	if out != `{"pos":1}`+"\n" || len(l.rows("s")) != 1 {
		t.Fatalf("stdout %q rows %v", out, l.rows("s"))
	}
	rej := l.rows(RejectedTable)
	if len(rej) != 2 {
		t.Fatalf("rejected %v", rej)
	}
	if rej[0]["stream"] != "s" || rej[0]["record"] != `{"v":"no key \ufffd"}` || !strings.Contains(rej[0]["error"].(string), "missing or null") ||
		!strings.HasPrefix(rej[0]["record_key"].(string), `{"sha256":"`) || rej[0]["_sdc_sequence"] != int64(1_000_000) {
		t.Fatalf("rejected row %v", rej[0])
	}
	if !strings.Contains(rej[1]["record"].(string), "1e999999") {
		t.Fatalf("rejected row %v", rej[1])
	}
}

// TestRun_SplitIsolatesFailingRows: the loader refuses every batch holding
// a "bad" row; the target splits until those rows are alone, commits the
// rest, keeps the bad ones (value moved or record rejected), and writes no
// state before everything before it committed.
func TestRun_SplitIsolatesFailingRows(t *testing.T) {
	tests := []struct {
		name   string
		column string // the column the error names; "" for none
	}{
		{"error names a column", "v"},
		{"error names no column", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := newMemLoader()
			var out lockedbuf.Buffer
			bad := map[int64]bool{3: true, 17: true, 18: true, 40: true}
			l.failOn = func(_ int, b *Batch) error {
				if b.Table != "s" {
					return nil
				}
				for _, r := range b.Rows {
					if bad[r[0].(int64)] && r[1] != nil {
						return &dataError{column: tc.column}
					}
				}
				return nil
			}
			l.onLoad = func(b *Batch) {
				// every state out must cover only rows committed or kept
				committed := map[int64]bool{}
				for _, r := range l.rows("s") {
					committed[r["id"].(int64)] = true
				}
				for _, r := range l.rows(RejectedTable) {
					var rec struct{ ID int64 }
					_ = json.Unmarshal([]byte(r["record"].(string)), &rec)
					committed[rec.ID] = true
				}
				checkStatesCovered(t, out.String(), committed)
			}
			cfg := testConfig()
			cfg.BatchSizeRows = 16
			var in []string
			in = append(in, fmt.Sprintf(simpleSchema, "s"))
			for i := int64(1); i <= 50; i++ {
				in = append(in, rec("s", int(i), fmt.Sprintf("v%d", i)))
				if i%5 == 0 {
					in = append(in, state(int(i)))
				}
			}
			err := run(t.Context(), cfg, l, strings.NewReader(lines(in...)), &out, zerologT(t), testOptions())
			if err != nil {
				t.Fatal(err)
			}
			if got := out.String(); !strings.HasSuffix(got, `{"pos":50}`+"\n") {
				t.Fatalf("stdout %q", got)
			}
			rows := l.rows("s")
			rejected := l.rows(RejectedTable)
			byID := map[int64]map[string]any{}
			for _, r := range rows {
				byID[r["id"].(int64)] = r
			}
			for i := int64(1); i <= 50; i++ {
				r, ok := byID[i]
				switch {
				case !bad[i]:
					if !ok || r["v"] != fmt.Sprintf("v%d", i) {
						t.Fatalf("good row %d: %v", i, r)
					}
				case tc.column != "":
					if !ok || r["v"] != nil || string(errorsOf(t, r)["v"].Value) != fmt.Sprintf(`"v%d"`, i) {
						t.Fatalf("bad row %d: %v", i, r)
					}
				default:
					if ok {
						t.Fatalf("bad row %d loaded: %v", i, r)
					}
				}
			}
			if tc.column == "" {
				if len(rejected) != len(bad) {
					t.Fatalf("%d rejected rows, want %d: %v", len(rejected), len(bad), rejected)
				}
				for _, r := range rejected {
					var rec map[string]any
					if err := json.Unmarshal([]byte(r["record"].(string)), &rec); err != nil || !bad[int64(rec["id"].(float64))] {
						t.Fatalf("rejected %v", r)
					}
					if r["record_key"] != fmt.Sprintf("[%v]", rec["id"]) {
						t.Fatalf("record_key %v", r["record_key"])
					}
				}
			} else if len(rejected) != 0 {
				t.Fatalf("rejected %v", rejected)
			}
		})
	}
}

// TestRun_ConcurrentWidening: another process widens a column between
// EnsureTable and Load; the load fails on the old value types, the target
// reads the table again, converts the batch and loads it.
func TestRun_ConcurrentWidening(t *testing.T) {
	l := newMemLoader()
	widened := false
	l.onLoad = func(b *Batch) {
		if !widened {
			widened = true
			l.mu.Lock()
			l.tables["s"].cols[1].Type = TypeJSON // v: text -> jsonb by "another process"
			l.mu.Unlock()
		}
	}
	cfg := testConfig()
	cfg.BatchSizeRows = 2
	_, err := runInput(t, cfg, l, lines(fmt.Sprintf(simpleSchema, "s"), rec("s", 1, "a"), rec("s", 2, "b"), rec("s", 3, "c")))
	if err != nil {
		t.Fatal(err)
	}
	var got []any
	for _, r := range l.rows("s") {
		got = append(got, r["v"])
	}
	want := []any{json.RawMessage(`"a"`), json.RawMessage(`"b"`), json.RawMessage(`"c"`)}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("v %v, want %v", got, want)
	}
}

// TestRun_DuplicateNamesLastCounts: a record with a name twice counts its
// last value, as JSON decoders do, even when an earlier one would not match
// the schema.
func TestRun_DuplicateNamesLastCounts(t *testing.T) {
	l := newMemLoader()
	cfg := testConfig()
	cfg.FlatteningMaxLevel = 1
	schema := `{"type":"SCHEMA","stream":"s","key_properties":["id"],"schema":{"properties":{"id":{"type":"integer"},"n":{"type":"integer"},` +
		`"o":{"type":"object","properties":{"a":{"type":"integer"}}}}}}`
	_, err := runInput(t, cfg, l, lines(schema, `{"type":"RECORD","stream":"s","record":{"id":1,"n":"x","n":2,"o":"str","o":{"a":"y","a":3}}}`))
	if err != nil {
		t.Fatal(err)
	}
	if r := l.rows("s")[0]; r["n"] != int64(2) || r["o__a"] != int64(3) {
		t.Fatalf("row %v", r)
	}
	_, err = runInput(t, cfg, newMemLoader(), lines(schema, `{"type":"RECORD","stream":"s","record":{"id":1,"n":2,"n":"x"}}`))
	if err == nil || !strings.Contains(err.Error(), `field "n"`) {
		t.Fatalf("last value not matching the schema: err %v", err)
	}
}
