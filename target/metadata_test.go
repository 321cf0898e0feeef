package target

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cio-singer/tap-customerio-webhook/internal/lockedbuf"
)

// metaValues are distinct values for each metadata column, by name.
func metaValues() (extracted, received, batched time.Time, seq int64, version int64, byName map[string]any) {
	extracted = time.Date(2026, 1, 1, 0, 0, 1, 0, time.UTC)
	received = time.Date(2026, 1, 1, 0, 0, 2, 0, time.UTC)
	batched = time.Date(2026, 1, 1, 0, 0, 3, 0, time.UTC)
	seq, version = 4, 5
	byName = map[string]any{
		colExtractedAt: extracted, colReceivedAt: received, colBatchedAt: batched,
		colSequence: seq, colTableVersion: version,
	}
	return
}

// checkStamped stamps a row of cols and checks each metadata value landed
// in the column of its name.
func checkStamped(t *testing.T, cols []Column, m metaCols) {
	t.Helper()
	extracted, received, batched, seq, version, want := metaValues()
	row := make([]any, len(cols))
	m.stampRecord(row, extracted, received, seq, &version)
	m.stampBatch([][]any{row}, batched)
	for i, c := range cols {
		if row[i] != want[c.Name] {
			t.Fatalf("column %s holds %v, want %v (columns %v)", c.Name, row[i], want[c.Name], cols)
		}
	}
}

// TestMetaCols_AnyOrder: the metadata values go to the columns of their
// names whatever the order of metadataColumns, so reordering that list
// cannot write a value into the wrong column.
func TestMetaCols_AnyOrder(t *testing.T) {
	var permute func(done, rest []Column)
	n := 0
	permute = func(done, rest []Column) {
		if len(rest) == 0 {
			cols := append(append([]Column{{Name: "id", Type: TypeBigint}}, done...), Column{Name: ColErrors, Type: TypeJSON})
			checkStamped(t, cols, findMetaCols(cols))
			n++
			return
		}
		for i := range rest {
			others := append(slices.Clone(rest[:i]), rest[i+1:]...)
			permute(append(slices.Clone(done), rest[i]), others)
		}
	}
	permute(nil, metadataColumns)
	if n != 120 {
		t.Fatalf("%d orders tried, want 5! = 120", n)
	}
}

// TestMetaCols_EveryColumnHasASlot: a column added to metadataColumns
// without a place in metaCols would silently stay empty.
func TestMetaCols_EveryColumnHasASlot(t *testing.T) {
	var m metaCols
	seen := map[*int]string{}
	for _, c := range metadataColumns {
		p := m.slot(c.Name)
		if p == nil {
			t.Fatalf("metadata column %s has no field in metaCols", c.Name)
		}
		if other, dup := seen[p]; dup {
			t.Fatalf("metadata columns %s and %s share a field", other, c.Name)
		}
		seen[p] = c.Name
	}
	if none := findMetaCols([]Column{{Name: "id"}}); none.present() {
		t.Fatalf("a table without metadata columns has some: %+v", none)
	}
}

// TestLayout_MetadataColumnsByName stamps a row of a real layout, before
// and after the loader left a column out, and checks every value by its
// column's name.
func TestLayout_MetadataColumnsByName(t *testing.T) {
	schema := []byte(`{"properties":{"id":{"type":"integer"},"a":{"type":"string"},"b":{"type":"string"}}}`)
	l, err := newLayout("s", schema, []string{"id"}, 0, true)
	if err != nil {
		t.Fatal(err)
	}
	checkStamped(t, l.table.Columns, l.meta)
	// The table hit its column limit: column a is missing, every later
	// column moves one to the left.
	got := Table{Name: l.table.Name, Keys: l.table.Keys}
	for _, c := range l.table.Columns {
		if c.Name != "a" {
			got.Columns = append(got.Columns, c)
		}
	}
	if _, err := l.bind(got); err != nil {
		t.Fatal(err)
	}
	checkStamped(t, l.table.Columns, l.meta)
	if l.table.Columns[l.errCol].Name != ColErrors {
		t.Fatalf("errCol %d is %s", l.errCol, l.table.Columns[l.errCol].Name)
	}
}

// TestRun_MetadataTimesByName runs with a clock that ticks on every
// reading, so _sdc_received_at and _sdc_batched_at differ: swapping them
// would show.
func TestRun_MetadataTimesByName(t *testing.T) {
	l := newMemLoader()
	cfg := testConfig()
	cfg.BatchSizeRows = 2
	opts := testOptions()
	tick := testNow
	opts.now = func() time.Time { tick = tick.Add(time.Second); return tick }
	var out lockedbuf.Buffer
	input := lines(fmt.Sprintf(simpleSchema, "s"), rec("s", 1, "a"), rec("s", 2, "b"), rec("s", 3, "c"))
	if err := run(t.Context(), cfg, l, strings.NewReader(input), &out, zerologT(t), opts); err != nil {
		t.Fatal(err)
	}
	rows := l.rows("s")
	if len(rows) != 3 {
		t.Fatalf("%d rows", len(rows))
	}
	var batched time.Time
	for i, r := range rows {
		received, ok1 := r[colReceivedAt].(time.Time)
		b, ok2 := r[colBatchedAt].(time.Time)
		if !ok1 || !ok2 || !b.After(received) {
			t.Fatalf("row %d: received %v, batched %v: a row is batched after it is received", i, r[colReceivedAt], r[colBatchedAt])
		}
		if i == 1 && !b.Equal(batched) {
			t.Fatalf("rows 0 and 1 of one batch have batched_at %v and %v", batched, b)
		}
		batched = b
	}
	if !rows[2][colBatchedAt].(time.Time).After(rows[1][colBatchedAt].(time.Time)) {
		t.Fatal("the second batch is not batched after the first")
	}
}
