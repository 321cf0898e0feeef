package target

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/cio-singer/tap-customerio-webhook/internal/lockedbuf"
	"github.com/cio-singer/tap-customerio-webhook/internal/singer"
)

const dataSchema = `{"type":"SCHEMA","stream":"Data-Events","key_properties":["event_id"],"schema":{"type":"object","properties":{` +
	`"event_id":{"type":"string"},"n":{"type":["null","integer"]},"s":{"type":["null","string"]},` +
	`"at":{"type":["null","string"],"format":"date-time"},"x":{"type":["null","number"]},"ok":{"type":"boolean"},` +
	`"data":{"type":["null","object"]},"list":{"type":"array"},"any":{},"multi":{"type":["string","integer"]}}}}`

func TestRun_ConvertsValuesExactly(t *testing.T) {
	l := newMemLoader()
	cfg := testConfig()
	cfg.AddMetadataColumns = false
	rec := `{"type":"RECORD","stream":"Data-Events","record":{"event_id":"e1","n":9007199254740993,"s":"a\nb\tc\"d\\e\u0001f\u0000g","at":"2026-01-03T00:00:00+05:00",` +
		`"x":1.10,"ok":false,"data":{ "k" : [1, 2],"z":"\u0000"},"list":[],"any":"str","multi":7}}`
	out, err := runInput(t, cfg, l, lines(dataSchema, rec,
		`{"type":"RECORD","stream":"Data-Events","record":{"event_id":"e2","s":"","n":null,"extra":1}}`))
	if err != nil {
		t.Fatal(err)
	}
	if out != "" {
		t.Fatalf("stdout %q without any STATE", out)
	}
	rows := l.rows("data_events")
	if len(rows) != 2 {
		t.Fatalf("%d rows, want 2", len(rows))
	}
	want := map[string]any{
		"event_id": "e1",
		"n":        int64(9007199254740993),
		"s":        "a\nb\tc\"d\\e\x01f\uFFFDg",
		"at":       time.Date(2026, 1, 2, 19, 0, 0, 0, time.UTC),
		"x":        json.Number("1.10"),
		"ok":       false,
		"data":     json.RawMessage(`{"k":[1,2],"z":"\ufffd"}`),
		"list":     json.RawMessage(`[]`),
		"any":      json.RawMessage(`"str"`),
		"multi":    json.RawMessage(`7`),
		ColErrors:  nil,
	}
	if !reflect.DeepEqual(rows[0], want) {
		t.Fatalf("row:\n%#v\nwant:\n%#v", rows[0], want)
	}
	if got := rows[1]["s"]; got != "" {
		t.Fatalf(`"" became %#v, want ""`, got)
	}
	if got := rows[1]["n"]; got != nil {
		t.Fatalf("null became %#v", got)
	}
	if _, ok := rows[1]["extra"]; ok {
		t.Fatal("property the schema lacks was loaded")
	}
}

func TestRun_TypeMap(t *testing.T) {
	l := newMemLoader()
	cfg := testConfig()
	if _, err := runInput(t, cfg, l, lines(dataSchema)); err != nil {
		t.Fatal(err)
	}
	want := []Column{
		{"event_id", TypeText}, {"n", TypeBigint}, {"s", TypeText}, {"at", TypeTimestamp}, {"x", TypeNumeric},
		{"ok", TypeBoolean}, {"data", TypeJSON}, {"list", TypeJSON}, {"any", TypeJSON}, {"multi", TypeJSON},
		{"_sdc_extracted_at", TypeTimestamp}, {"_sdc_received_at", TypeTimestamp}, {"_sdc_batched_at", TypeTimestamp},
		{"_sdc_sequence", TypeBigint}, {"_sdc_table_version", TypeBigint}, {ColErrors, TypeJSON},
	}
	mt := l.tables["data_events"]
	if mt == nil || !reflect.DeepEqual(mt.cols, want) {
		t.Fatalf("columns %v, want %v", mt, want)
	}
	if !reflect.DeepEqual(mt.keys, []string{"event_id"}) {
		t.Fatalf("keys %v", mt.keys)
	}
}

func TestColumnType_AnyOf(t *testing.T) {
	tests := []struct {
		schema string
		want   ColumnType
	}{
		{`{"anyOf":[{"type":"string","format":"date-time"},{"type":"null"}]}`, TypeTimestamp},
		{`{"anyOf":[{"type":"integer"},{"type":"string"}]}`, TypeJSON},
		{`{"oneOf":[{"type":"integer"}]}`, TypeBigint},
		{`{"type":"null"}`, TypeJSON},
		{`{"type":"date"}`, TypeJSON},
		{`{"type":7}`, TypeJSON},
	}
	for _, tc := range tests {
		var ps propSchema
		if err := json.Unmarshal([]byte(tc.schema), &ps); err != nil {
			t.Fatal(err)
		}
		if got, _ := columnType(ps); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.schema, got, tc.want)
		}
	}
}

func TestSanitizeName(t *testing.T) {
	for in, want := range map[string]string{"Data-Events": "data_events", "a.b c": "a_b_c", "ÉTÉ": "__t__", "ok_1": "ok_1"} {
		if got := SanitizeName(in); got != want {
			t.Errorf("SanitizeName(%q) = %q, want %q", in, got, want)
		}
	}
}

const simpleSchema = `{"type":"SCHEMA","stream":"%s","key_properties":["id"],"schema":{"properties":{"id":{"type":"integer"},"v":{"type":["null","string"]}}}}`

func rec(stream string, id int, v string) string {
	return fmt.Sprintf(`{"type":"RECORD","stream":%q,"record":{"id":%d,"v":%q}}`, stream, id, v)
}

func state(n int) string { return fmt.Sprintf(`{"type":"STATE","value":{"pos":%d}}`, n) }

func TestRun_StateWaitsForEveryStream(t *testing.T) {
	l := newMemLoader()
	var out lockedbuf.Buffer
	var seenAtLoad []string
	l.onLoad = func(b *Batch) { seenAtLoad = append(seenAtLoad, b.Table+":"+out.String()) }
	cfg := testConfig()
	cfg.BatchSizeRows = 2
	input := lines(fmt.Sprintf(simpleSchema, "a"), fmt.Sprintf(simpleSchema, "b"),
		rec("a", 1, "x"), rec("b", 1, "y"), state(1), rec("a", 2, "x"), state(2))
	err := run(t.Context(), cfg, l, strings.NewReader(input), &out, zerologT(t), testOptions())
	if err != nil {
		t.Fatal(err)
	}
	// a's batch (a1, a2) loads first while b1 is still buffered: no state
	// may be out then. b loads at the end of input.
	want := []string{"a:", "b:"}
	if !reflect.DeepEqual(seenAtLoad, want) {
		t.Fatalf("stdout at each load %q, want %q", seenAtLoad, want)
	}
	if got := out.String(); got != `{"pos":2}`+"\n" {
		t.Fatalf("stdout %q", got)
	}
}

func TestRun_StateAfterCommitAndLastState(t *testing.T) {
	tests := []struct {
		name  string
		input string
		want  string
	}{
		{"each state after its batch", lines(fmt.Sprintf(simpleSchema, "s"), rec("s", 1, ""), state(1), rec("s", 2, ""), state(2),
			rec("s", 3, ""), state(3), rec("s", 4, ""), rec("s", 5, ""), state(5)),
			`{"pos":1}` + "\n" + `{"pos":2}` + "\n" + `{"pos":3}` + "\n" + `{"pos":5}` + "\n"},
		{"last state with no rows after it", lines(fmt.Sprintf(simpleSchema, "s"), rec("s", 1, ""), state(1), rec("s", 2, ""), state(2)),
			`{"pos":1}` + "\n" + `{"pos":2}` + "\n"},
		{"schema and state only", lines(fmt.Sprintf(simpleSchema, "s"), state(9)), `{"pos":9}` + "\n"},
		{"identical states once", lines(state(1), state(1), `{"type":"STATE","value":{ "pos" : 1 }}`), `{"pos":1}` + "\n"},
		{"empty states never", lines(`{"type":"STATE","value":{}}`, `{"type":"STATE","value":null}`, `{"type":"STATE"}`), ""},
		{"no input", "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig()
			cfg.BatchSizeRows = 2
			l := newMemLoader()
			var out lockedbuf.Buffer
			committed := map[int64]bool{} // ids loaded before each state line
			l.onLoad = func(b *Batch) {
				// Every state out now must cover only rows already committed.
				checkStatesCovered(t, out.String(), committed)
				for _, r := range b.Rows {
					committed[r[0].(int64)] = true
				}
			}
			err := run(t.Context(), cfg, l, strings.NewReader(tc.input), &out, zerologT(t), testOptions())
			if err != nil {
				t.Fatal(err)
			}
			got := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
			want := strings.Split(strings.TrimSuffix(tc.want, "\n"), "\n")
			// Loads run concurrently with reading, so a state may be
			// superseded before its batch commits; the last one must be out.
			if got[len(got)-1] != want[len(want)-1] || !isSubsequence(got, want) {
				t.Fatalf("stdout %q, want the last line of (or all of) %q", out.String(), tc.want)
			}
		})
	}
}

func TestRun_DuplicateKeysLastWins(t *testing.T) {
	l := newMemLoader()
	_, err := runInput(t, testConfig(), l, lines(fmt.Sprintf(simpleSchema, "s"),
		rec("s", 1, "first"), rec("s", 2, "only"), rec("s", 1, "second"), rec("s", 3, "third")))
	if err != nil {
		t.Fatal(err)
	}
	if len(l.loads) != 1 {
		t.Fatalf("%d loads", len(l.loads))
	}
	var got []string
	for _, r := range l.loads[0].Rows {
		got = append(got, fmt.Sprint(r[0], "=", r[1]))
	}
	want := []string{"2=only", "1=second", "3=third"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("batch rows %v, want %v", got, want)
	}
}

func TestRun_NoKeysAppends(t *testing.T) {
	l := newMemLoader()
	cfg := testConfig()
	cfg.PrimaryKeyRequired = false
	schema := `{"type":"SCHEMA","stream":"s","key_properties":[],"schema":{"properties":{"id":{"type":"integer"}}}}`
	if _, err := runInput(t, cfg, l, lines(schema, rec("s", 1, ""), rec("s", 1, ""))); err != nil {
		t.Fatal(err)
	}
	if n := len(l.rows("s")); n != 2 {
		t.Fatalf("%d rows, want 2 appended", n)
	}
}

func TestRun_SchemaChangeFlushesThenWidens(t *testing.T) {
	l := newMemLoader()
	v1 := `{"type":"SCHEMA","stream":"s","key_properties":["id"],"schema":{"properties":{"id":{"type":"integer"},"score":{"type":"integer"}}}}`
	v2 := `{"type":"SCHEMA","stream":"s","key_properties":["id"],"schema":{"properties":{"id":{"type":"integer"},"score":{"type":"string"},"more":{"type":"boolean"}}}}`
	cfg := testConfig()
	cfg.AddMetadataColumns = false
	_, err := runInput(t, cfg, l, lines(v1,
		`{"type":"RECORD","stream":"s","record":{"id":1,"score":5}}`,
		v1, // identical: nothing happens
		v2,
		`{"type":"RECORD","stream":"s","record":{"id":2,"score":"high","more":true}}`,
		`{"type":"RECORD","stream":"s","record":{"id":3,"score":7}}`))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := l.callLog(), "ensure s; load s 1; ensure s; load s 2"; got != want {
		t.Fatalf("calls %q, want %q", got, want)
	}
	rows := l.rows("s")
	if rows[0]["score"] != int64(5) || rows[1]["score"] != "high" || rows[2]["score"] != "7" || rows[1]["more"] != true {
		t.Fatalf("rows %v", rows)
	}
	if got := l.tables["s"].cols[1]; got != (Column{"score", TypeText}) {
		t.Fatalf("score column %v, want widened to text", got)
	}
}

func TestRun_Flattening(t *testing.T) {
	schema := `{"type":"SCHEMA","stream":"s","key_properties":["id"],"schema":{"properties":{"id":{"type":"string"},` +
		`"data":{"type":["null","object"],"properties":{"customer_id":{"type":"string"},"campaign_id":{"type":"integer"},` +
		`"identifiers":{"type":"object","properties":{"email":{"type":"string"},"deep":{"type":"object","properties":{"x":{"type":"integer"}}}}},` +
		`"recipients":{"type":"array"},"free":{"type":"object"}}}}}}`
	record := `{"type":"RECORD","stream":"s","record":{"id":"a","data":{"customer_id":"c","campaign_id":3,"identifiers":{"email":"e","deep":{"x":1}},"recipients":[{"d":1}],"free":{"q":1},"undeclared":2}}}`
	nullData := `{"type":"RECORD","stream":"s","record":{"id":"b","data":null}}`
	tests := []struct {
		level int
		want  map[string]any
	}{
		{0, map[string]any{"id": "a", "data": json.RawMessage(`{"customer_id":"c","campaign_id":3,"identifiers":{"email":"e","deep":{"x":1}},"recipients":[{"d":1}],"free":{"q":1},"undeclared":2}`)}},
		{1, map[string]any{"id": "a", "data__customer_id": "c", "data__campaign_id": int64(3), "data__identifiers": json.RawMessage(`{"email":"e","deep":{"x":1}}`),
			"data__recipients": json.RawMessage(`[{"d":1}]`), "data__free": json.RawMessage(`{"q":1}`)}},
		{2, map[string]any{"id": "a", "data__customer_id": "c", "data__campaign_id": int64(3), "data__identifiers__email": "e",
			"data__identifiers__deep": json.RawMessage(`{"x":1}`), "data__recipients": json.RawMessage(`[{"d":1}]`), "data__free": json.RawMessage(`{"q":1}`)}},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("level=%d", tc.level), func(t *testing.T) {
			l := newMemLoader()
			cfg := testConfig()
			cfg.AddMetadataColumns = false
			cfg.FlatteningMaxLevel = tc.level
			if _, err := runInput(t, cfg, l, lines(schema, record, nullData)); err != nil {
				t.Fatal(err)
			}
			rows := l.rows("s")
			tc.want[ColErrors] = nil
			if !reflect.DeepEqual(rows[0], tc.want) {
				t.Fatalf("row\n%v\nwant\n%v", rows[0], tc.want)
			}
			for k, v := range rows[1] {
				if k != "id" && v != nil {
					t.Fatalf("null parent gave %s = %v", k, v)
				}
			}
		})
	}
}

func TestRun_MetadataColumns(t *testing.T) {
	l := newMemLoader()
	cfg := testConfig()
	cfg.BatchSizeRows = 2
	_, err := runInput(t, cfg, l, lines(fmt.Sprintf(simpleSchema, "s"),
		`{"type":"RECORD","stream":"s","record":{"id":1},"time_extracted":"2026-01-01T00:00:00.5+01:00","version":42}`,
		`{"type":"RECORD","stream":"s","record":{"id":2}}`,
		`{"type":"RECORD","stream":"s","record":{"id":3}}`))
	if err != nil {
		t.Fatal(err)
	}
	rows := l.rows("s")
	if len(rows) != 3 {
		t.Fatalf("%d rows", len(rows))
	}
	if got, want := rows[0]["_sdc_extracted_at"], time.Date(2025, 12, 31, 23, 0, 0, 5e8, time.UTC); got != want {
		t.Fatalf("_sdc_extracted_at %v, want %v", got, want)
	}
	if rows[1]["_sdc_extracted_at"] != nil || rows[1]["_sdc_table_version"] != nil {
		t.Fatalf("absent time_extracted/version: %v", rows[1])
	}
	if rows[0]["_sdc_table_version"] != int64(42) {
		t.Fatalf("_sdc_table_version %v", rows[0]["_sdc_table_version"])
	}
	for i, r := range rows {
		if r["_sdc_received_at"] != testNow || r["_sdc_batched_at"] != testNow {
			t.Fatalf("row %d: received/batched %v %v", i, r["_sdc_received_at"], r["_sdc_batched_at"])
		}
		if want := int64(1_000_000 + i); r["_sdc_sequence"] != want {
			t.Fatalf("row %d: _sdc_sequence %v, want %d", i, r["_sdc_sequence"], want)
		}
	}
}

func TestRun_SequenceIncreasesAcrossRuns(t *testing.T) {
	first, second := defaultOptions(), defaultOptions()
	l := newMemLoader()
	in := lines(fmt.Sprintf(simpleSchema, "s"), rec("s", 1, ""), rec("s", 2, ""))
	for _, o := range []options{first, second} {
		if err := run(t.Context(), testConfig(), l, strings.NewReader(in), &lockedbuf.Buffer{}, zerologT(t), o); err != nil {
			t.Fatal(err)
		}
	}
	var seqs []int64
	for _, b := range l.loads {
		for _, r := range b.Rows {
			seqs = append(seqs, r[5].(int64))
		}
	}
	for i := 1; i < len(seqs); i++ {
		if seqs[i] <= seqs[i-1] {
			t.Fatalf("_sdc_sequence not increasing: %v", seqs)
		}
	}
}

func TestRun_InputErrorsNameTheLine(t *testing.T) {
	s := fmt.Sprintf(simpleSchema, "s")
	tests := []struct {
		name  string
		cfg   func(*Config)
		input string
		line  int
		want  string
	}{
		{"record before schema", nil, lines(s, rec("t", 1, "")), 2, `stream "t" before its SCHEMA`},
		{"schema without properties", nil, lines(`{"type":"SCHEMA","stream":"s","schema":{"type":"object"},"key_properties":["id"]}`), 1, "no properties"},
		{"missing key_properties", nil, lines(`{"type":"SCHEMA","stream":"s","schema":{"properties":{}}}`), 1, "no key_properties"},
		{"empty key_properties", nil, lines(`{"type":"SCHEMA","stream":"s","schema":{"properties":{}},"key_properties":[]}`), 1, "empty key_properties"},
		{"key not a property", nil, lines(`{"type":"SCHEMA","stream":"s","schema":{"properties":{}},"key_properties":["id"]}`), 1, `key property "id"`},
		{"text into bigint", nil, lines(s, `{"type":"RECORD","stream":"s","record":{"id":"abc"}}`), 2, `field "id": a string where an integer`},
		{"fraction into bigint", nil, lines(s, `{"type":"RECORD","stream":"s","record":{"id":1.5}}`), 2, `field "id"`},
		{"object into boolean", nil, lines(dataSchema, `{"type":"RECORD","stream":"Data-Events","record":{"event_id":"e","ok":{}}}`), 2, `field "ok"`},
		{"malformed json", nil, lines(s, `{"type":"RECORD",`), 2, "decoding message"},
		{"invalid record", func(c *Config) { c.ValidateRecords = true }, lines(s, rec("s", 1, ""), `{"type":"RECORD","stream":"s","record":{"id":2,"v":3}}`), 3, "does not match its schema"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig()
			if tc.cfg != nil {
				tc.cfg(&cfg)
			}
			out, err := runInput(t, cfg, newMemLoader(), tc.input)
			var le *singer.LineError
			if !errors.As(err, &le) || le.Line != tc.line {
				t.Fatalf("err = %v, want a LineError for line %d", err, tc.line)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %q does not say %q", err, tc.want)
			}
			if out != "" {
				t.Fatalf("stdout %q after a failure", out)
			}
		})
	}
}

func TestRun_IgnoresActivateVersionAndUnknownTypes(t *testing.T) {
	l := newMemLoader()
	out, err := runInput(t, testConfig(), l, lines(fmt.Sprintf(simpleSchema, "s"),
		`{"type":"ACTIVATE_VERSION","stream":"s","version":1}`, `{"type":"BATCH","stream":"s"}`, `{"type":"batch"}`,
		`{"type":"record","stream":"s","record":{"id":1}}`, state(1)))
	if err != nil {
		t.Fatal(err)
	}
	if len(l.rows("s")) != 1 || out != `{"pos":1}`+"\n" {
		t.Fatalf("rows %v, stdout %q", l.rows("s"), out)
	}
}

func TestRun_PermanentLoadFailureWritesNoState(t *testing.T) {
	l := newMemLoader()
	l.failOn = func(n int, _ *Batch) error {
		if n == 2 {
			return errors.New("relation is gone")
		}
		return nil
	}
	cfg := testConfig()
	cfg.BatchSizeRows = 1
	out, err := runInput(t, cfg, l, lines(fmt.Sprintf(simpleSchema, "s"), rec("s", 1, ""), state(1), rec("s", 2, ""), state(2), rec("s", 3, ""), state(3)))
	if err == nil || !strings.Contains(err.Error(), "relation is gone") {
		t.Fatalf("err = %v", err)
	}
	if strings.Contains(out, `"pos":2`) || strings.Contains(out, `"pos":3`) {
		t.Fatalf("state covering a failed batch written: %q", out)
	}
	if l.nLoads != 2 {
		t.Fatalf("a permanent failure was retried: %d loads", l.nLoads)
	}
}

func TestRun_TransientLoadFailureRetried(t *testing.T) {
	l := newMemLoader()
	l.failOn = func(n int, _ *Batch) error {
		if n <= 3 {
			return fmt.Errorf("copying: %w", errTransient)
		}
		return nil
	}
	out, err := runInput(t, testConfig(), l, lines(fmt.Sprintf(simpleSchema, "s"), rec("s", 1, ""), state(1)))
	if err != nil {
		t.Fatal(err)
	}
	if l.nLoads != 4 || len(l.rows("s")) != 1 || out != `{"pos":1}`+"\n" {
		t.Fatalf("loads %d rows %d stdout %q", l.nLoads, len(l.rows("s")), out)
	}
}

func TestRun_TransientFailureGivesUp(t *testing.T) {
	l := newMemLoader()
	l.failOn = func(int, *Batch) error { return errTransient }
	o := testOptions()
	o.retryFor = 20 * time.Millisecond
	err := run(t.Context(), testConfig(), l, strings.NewReader(lines(fmt.Sprintf(simpleSchema, "s"), rec("s", 1, ""), state(1))), &lockedbuf.Buffer{}, zerologT(t), o)
	if !errors.Is(err, errTransient) || !strings.Contains(err.Error(), "giving up") {
		t.Fatalf("err = %v", err)
	}
}

func TestRun_BatchSizeBytes(t *testing.T) {
	l := newMemLoader()
	cfg := testConfig()
	cfg.BatchSizeBytes = 300
	var in []string
	in = append(in, fmt.Sprintf(simpleSchema, "a"), fmt.Sprintf(simpleSchema, "b"))
	for i := range 20 {
		in = append(in, rec([]string{"a", "b"}[i%2], i, strings.Repeat("x", 50)))
	}
	if _, err := runInput(t, cfg, l, lines(in...)); err != nil {
		t.Fatal(err)
	}
	if len(l.loads) < 5 {
		t.Fatalf("only %d loads for 20 rows of ~110 bytes with a 300-byte bound", len(l.loads))
	}
	total := 0
	for _, b := range l.loads {
		total += len(b.Rows)
		if len(b.Rows) > 3 {
			t.Fatalf("batch of %d rows exceeds the byte bound", len(b.Rows))
		}
	}
	if total != 20 {
		t.Fatalf("%d rows loaded, want 20", total)
	}
}

func TestRun_HugeLine(t *testing.T) {
	l := newMemLoader()
	big := strings.Repeat("ü\n", 4<<20) // 12 MiB of JSON text
	recLine := `{"type":"RECORD","stream":"s","record":{"id":1,"v":` + mustJSON(t, big) + `}}`
	if _, err := runInput(t, testConfig(), l, lines(fmt.Sprintf(simpleSchema, "s"), recLine)); err != nil {
		t.Fatal(err)
	}
	if got := l.rows("s")[0]["v"]; got != big {
		t.Fatalf("huge value not loaded intact (len %d)", len(fmt.Sprint(got)))
	}
}

func TestRun_MeltanoTestStream(t *testing.T) {
	l := newMemLoader()
	input := lines(
		`{"type": "SCHEMA", "stream": "meltano_test_stream", "schema": {"type": "object", "properties": {"id": {"type": "integer"}, "name": {"type": "string"}, "created_at": {"type": "string", "format": "date-time"}}}, "key_properties": ["id"]}`,
		`{"type": "RECORD", "stream": "meltano_test_stream", "record": {"id": 1, "name": "test", "created_at": "2023-01-01T00:00:00Z"}}`,
		`{"type": "STATE", "value": {"bookmarks": {"meltano_test_stream": {"last_record": 1}}}}`,
		`{"type": "ACTIVATE_VERSION", "stream": "meltano_test_stream", "version": 1}`)
	out, err := runInput(t, testConfig(), l, input)
	if err != nil {
		t.Fatal(err)
	}
	if out != `{"bookmarks":{"meltano_test_stream":{"last_record":1}}}`+"\n" {
		t.Fatalf("stdout %q", out)
	}
	r := l.rows("meltano_test_stream")
	if len(r) != 1 || r[0]["id"] != int64(1) || r[0]["created_at"] != time.Date(2023, 1, 1, 0, 0, 0, 0, time.UTC) {
		t.Fatalf("rows %v", r)
	}
}

func TestParseBigint(t *testing.T) {
	for in, want := range map[string]int64{"1.0": 1, "1e3": 1000, "-0": 0, "9223372036854775807": math.MaxInt64, "-9223372036854775808": math.MinInt64, "12E+1": 120} {
		got, err := parseBigint([]byte(in))
		if err != nil || got != want {
			t.Errorf("parseBigint(%s) = %v, %v; want %d", in, got, err, want)
		}
	}
}

// checkStatesCovered fails when a {"pos":n} state is out before every
// record with id <= n was committed.
func checkStatesCovered(t *testing.T, out string, committed map[int64]bool) {
	for _, line := range strings.Fields(out) {
		var st struct{ Pos int64 }
		if err := json.Unmarshal([]byte(line), &st); err != nil {
			t.Errorf("stdout line %q: %v", line, err)
		}
		for id := int64(1); id <= st.Pos; id++ {
			if !committed[id] {
				t.Errorf("state %s written before record %d committed", line, id)
			}
		}
	}
}

func isSubsequence(sub, of []string) bool {
	i := 0
	for _, s := range of {
		if i < len(sub) && sub[i] == s {
			i++
		}
	}
	return i == len(sub)
}
