package target

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"github.com/cio-singer/tap-customerio-webhook/internal/lockedbuf"
)

func hash8(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:4])
}

func TestColumnName(t *testing.T) {
	long := strings.Repeat("a", 64)
	cyrillic := strings.Repeat("слово ", 20)
	keys := []string{"event_id"}
	tests := []struct {
		name string
		path []string
		want string
	}{
		{"plain lower", []string{"metric"}, "metric"},
		{"plain camel case", []string{"createdAt"}, "createdat"},
		{"the key itself", []string{"event_id"}, "event_id"},
		{"case twin of the key", []string{"Event_ID"}, "event_id_" + hash8("Event_ID")},
		{"63 bytes stay", []string{long[:63]}, long[:63]},
		{"64 bytes hash", []string{long}, long[:54] + "_" + hash8(long)},
		{"cyrillic", []string{cyrillic}, SanitizeName(cyrillic)[:54] + "_" + hash8(cyrillic)},
		{"metadata name", []string{"_sdc_sequence"}, "_sdc_sequence_" + hash8("_sdc_sequence")},
		{"metadata prefix upper", []string{"_SDC_x"}, "_sdc_x_" + hash8("_SDC_x")},
		{"empty", []string{""}, "_" + hash8("")},
		{"PostgreSQL system column", []string{"ctid"}, "ctid_" + hash8("ctid")},
		{"PostgreSQL system column upper", []string{"XMIN"}, "xmin_" + hash8("XMIN")},
		{"SQLite rowid alias", []string{"_rowid_"}, "_rowid__" + hash8("_rowid_")},
		{"SQLite oid", []string{"oid"}, "oid_" + hash8("oid")},
		{"flattened system name is not one", []string{"data", "ctid"}, "data__ctid"},
		{"punctuation", []string{"a.b c"}, "a_b_c_" + hash8("a.b c")},
		{"flattened", []string{"data", "action_id"}, "data__action_id"},
		{"flattened camel", []string{"data", "actionId"}, "data__actionid"},
		{"flattened empty child", []string{"data", ""}, "data___" + hash8("data__")},
		{"flattened key name", []string{"data", "event_id"}, "data__event_id"},
		{"flattened long", []string{"data", long}, ("data__" + long)[:54] + "_" + hash8("data__"+long)},
		{"flattened non-ASCII", []string{"data", "ключ"}, "data__" + strings.Repeat("_", 8) + "_" + hash8("data__ключ")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := ColumnName(tc.path, keys)
			if got != tc.want {
				t.Fatalf("ColumnName(%q) = %q, want %q", tc.path, got, tc.want)
			}
			if len(got) > MaxNameBytes || got == "" {
				t.Fatalf("column %q: %d bytes", got, len(got))
			}
		})
	}
}

func TestTableName(t *testing.T) {
	for in, want := range map[string]string{
		"data":                  "data",
		"Data-Events":           "data_events",
		"":                      "_" + hash8(""),
		"_sdc_rejected_records": "_sdc_rejected_records_" + hash8("_sdc_rejected_records"),
		strings.Repeat("t", 70): strings.Repeat("t", 54) + "_" + hash8(strings.Repeat("t", 70)),
	} {
		if got := TableName(in); got != want {
			t.Errorf("TableName(%q) = %q, want %q", in, got, want)
		}
	}
}

// hostileNames are property names a sender can put in a body.
var hostileNames = []string{
	"event_id", "Event_ID", "EVENT_ID", "metric", "Metric", "METRIC", "_sdc_sequence", "_sdc_errors", "_SDC_BATCHED_AT", "",
	strings.Repeat("x", 63), strings.Repeat("x", 64), strings.Repeat("X", 64), strings.Repeat("слово ", 20), "a.b", "a b", "a_b",
	"select", "\"quoted\"", "data__x", "ключ", "Ключ", "emoji 😀", "tab\there", "x_" + hash8("x"),
}

// schemaOf returns a SCHEMA message of stream s with properties names (in
// that order), each typed types[i%len(types)], and a "data" object with the
// same names inside.
func schemaOf(stream string, names []string, types []string) string {
	var props []string
	for i, n := range names {
		props = append(props, fmt.Sprintf(`%s:{"type":%s}`, mustMarshal(n), types[i%len(types)]))
	}
	inner := strings.Join(props, ",")
	props = append(props, `"data":{"type":["null","object"],"properties":{`+inner+`}}`)
	return fmt.Sprintf(`{"type":"SCHEMA","stream":%q,"key_properties":["event_id"],"schema":{"type":"object","properties":{%s}}}`, stream, strings.Join(props, ","))
}

func mustMarshal(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// columnsOf maps every property path of a layout to its column and type.
func columnsOf(l *layout) map[string]Column {
	out := map[string]Column{}
	var walk func(map[string]*field)
	walk = func(fields map[string]*field) {
		for _, f := range fields {
			switch {
			case f.col == colFlattened:
				walk(f.children)
			case f.col >= 0:
				out[f.path] = l.table.Columns[f.col]
			default:
				out[f.path] = Column{}
			}
		}
	}
	walk(l.fields)
	return out
}

func TestLayout_OrderIndependent(t *testing.T) {
	types := []string{`["null","string"]`, `["null","integer"]`, `"number"`, `["null","string","number","integer","boolean","object","array"]`, `"boolean"`}
	for _, level := range []int{0, 1} {
		t.Run(fmt.Sprintf("level=%d", level), func(t *testing.T) {
			var want map[string]Column
			rng := rand.New(rand.NewPCG(1, uint64(level)))
			for i := range 30 {
				names := append([]string(nil), hostileNames...)
				rng.Shuffle(len(names), func(a, b int) { names[a], names[b] = names[b], names[a] })
				// the type follows the name, not the position
				typed := make([]string, len(names))
				for j, n := range names {
					typed[j] = types[len(n)%len(types)]
				}
				var props []string
				for j, n := range names {
					props = append(props, fmt.Sprintf(`%s:{"type":%s}`, mustMarshal(n), typed[j]))
				}
				inner := strings.Join(props, ",")
				schema := fmt.Sprintf(`{"properties":{%s,"data":{"type":"object","properties":{%s}}}}`, inner, inner)
				l, err := newLayout("s", json.RawMessage(schema), []string{"event_id"}, level, true)
				if err != nil {
					t.Fatal(err)
				}
				got := columnsOf(l)
				if i == 0 {
					want = got
					seen := map[string]bool{}
					for _, c := range l.table.Columns {
						if len(c.Name) > MaxNameBytes || seen[c.Name] {
							t.Fatalf("column %q too long or twice", c.Name)
						}
						seen[c.Name] = true
					}
					continue
				}
				if !reflect.DeepEqual(got, want) {
					t.Fatalf("order %d gives other columns:\n%v\nwant\n%v", i, got, want)
				}
			}
			if c := want["Event_ID"]; c.Name == "event_id" {
				t.Fatal("Event_ID took the key column")
			}
			if want["Metric"] != want["metric"] || want["Metric"].Name != "metric" {
				t.Fatalf("case twins: %v %v", want["Metric"], want["metric"])
			}
		})
	}
}

// TestRun_ColumnsDoNotDependOnArrival grows a table the way the tap does
// (a new SCHEMA per new field) in two different orders: every property gets
// the same column both times.
func TestRun_ColumnsDoNotDependOnArrival(t *testing.T) {
	build := func(seed uint64) map[string]string {
		names := append([]string(nil), hostileNames...)
		rand.New(rand.NewPCG(seed, 7)).Shuffle(len(names), func(a, b int) { names[a], names[b] = names[b], names[a] })
		var in []string
		for i := range names {
			// event_id first: it is the key
			grown := append([]string{"event_id"}, names[:i+1]...)
			in = append(in, schemaOf("s", grown, []string{`["null","string"]`}))
			in = append(in, fmt.Sprintf(`{"type":"RECORD","stream":"s","record":{"event_id":"e%d",%s:"v%d"}}`, i, mustMarshal(names[i]), i))
		}
		l := newMemLoader()
		cfg := testConfig()
		cfg.FlatteningMaxLevel = 1
		if _, err := runInput(t, cfg, l, lines(in...)); err != nil {
			t.Fatal(err)
		}
		// where each value landed: column name (or _sdc_errors)
		where := map[string]string{}
		for _, row := range l.rows("s") {
			for col, v := range row {
				if s, ok := v.(string); ok && strings.HasPrefix(s, "v") {
					where[s] = col
				}
			}
		}
		got := map[string]string{}
		for i, n := range names {
			got[n] = where[fmt.Sprintf("v%d", i)]
		}
		return got
	}
	a, b := build(1), build(2)
	if !reflect.DeepEqual(a, b) {
		t.Fatalf("columns differ by arrival order:\n%v\n%v", a, b)
	}
}

// TestRun_LogsRenamedProperties: a property whose name cannot be a column
// as it is gets one log line naming its column, once per stream; plain
// names (even upper case) are not "renamed".
func TestRun_LogsRenamedProperties(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", 70)
	schema := `{"type":"SCHEMA","stream":"s","key_properties":["id"],"schema":{"properties":{"id":{"type":"string"},"Plain":{"type":"string"},"a.b":{"type":"string"},"` + long + `":{"type":"string"}}}}`
	input := lines(schema, `{"type":"RECORD","stream":"s","record":{"id":"1","Plain":"p","a.b":"v","`+long+`":"w"}}`, schema,
		`{"type":"RECORD","stream":"s","record":{"id":"2"}}`)
	var log lockedbuf.Buffer
	if _, err := runWithLog(t, testConfig(), newMemLoader(), input, &log); err != nil {
		t.Fatal(err)
	}
	got := log.String()
	for _, want := range []string{`"column":"a_b_` + hash8("a.b") + `"`, `"column":"` + long[:54] + "_" + hash8(long) + `"`} {
		if n := strings.Count(got, want); n != 1 {
			t.Errorf("log names %s %d times; want once:\n%s", want, n, got)
		}
	}
	if n := strings.Count(got, `property renamed`); n != 2 {
		t.Errorf("%d rename lines; want 2 (a.b and the long name, once each):\n%s", n, got)
	}
	if strings.Contains(got, `"column":"plain","message":"property renamed`) {
		t.Errorf("a plain name was logged as renamed:\n%s", got)
	}
}
