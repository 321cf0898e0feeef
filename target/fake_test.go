package target

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/cio-singer/tap-customerio-webhook/internal/lockedbuf"
)

// memLoader is an in-memory Loader: tables of rows keyed like a warehouse
// would key them, and a log of every call.
type memLoader struct {
	mu     sync.Mutex
	tables map[string]*memTable
	calls  []string                    // "ensure t" / "load t n"
	loads  []*Batch                    // every batch loaded, in order
	failOn func(n int, b *Batch) error // n counts Load calls from 1; nil: succeed
	// onLoad runs at the start of every Load; tests use it to look at
	// stdout at that moment or to block.
	onLoad     func(b *Batch)
	nLoads     int
	closed     bool
	transErr   error // errors Retryable reports as transient
	maxColumns int   // per table; 0: MaxColumnsSQLite
}

type memTable struct {
	cols  []Column
	keys  []string
	rows  []map[string]any
	index map[string]int
}

var errTransient = errors.New("connection reset (transient)")

func newMemLoader() *memLoader {
	return &memLoader{tables: map[string]*memTable{}, transErr: errTransient}
}

func (m *memLoader) EnsureTable(_ context.Context, t Table) (Table, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls = append(m.calls, "ensure "+t.Name)
	mt := m.tables[t.Name]
	if mt == nil {
		mt = &memTable{keys: t.Keys, index: map[string]int{}}
		m.tables[t.Name] = mt
	}
	has := map[string]bool{}
	for i := range mt.cols {
		has[mt.cols[i].Name] = true
		for _, c := range t.Columns {
			if mt.cols[i].Name == c.Name {
				mt.cols[i].Type = Widen(mt.cols[i].Type, c.Type)
			}
		}
	}
	limit := m.maxColumns
	if limit == 0 {
		limit = MaxColumnsSQLite
	}
	add, _ := ColumnsToAdd(t, func(n string) bool { return has[n] }, len(mt.cols), limit)
	mt.cols = append(mt.cols, add...)
	return Table{Name: t.Name, Columns: append([]Column(nil), mt.cols...), Keys: mt.keys}, nil
}

func (m *memLoader) Load(_ context.Context, b *Batch) error {
	m.mu.Lock()
	m.nLoads++
	n := m.nLoads
	onLoad, failOn := m.onLoad, m.failOn
	m.mu.Unlock()
	if onLoad != nil {
		onLoad(b)
	}
	if failOn != nil {
		if err := failOn(n, b); err != nil {
			return err
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls = append(m.calls, fmt.Sprintf("load %s %d", b.Table, len(b.Rows)))
	m.loads = append(m.loads, b)
	mt := m.tables[b.Table]
	if mt == nil {
		return fmt.Errorf("table %s does not exist", b.Table)
	}
	if b.Types != nil {
		have := map[string]ColumnType{}
		for _, c := range mt.cols {
			have[c.Name] = c.Type
		}
		if err := CheckTypes(b, have); err != nil {
			return err
		}
	}
	for _, r := range b.Rows {
		row := map[string]any{}
		for i, c := range b.Columns {
			if err := mt.check(c, r[i]); err != nil {
				return err
			}
			row[c] = r[i]
		}
		if len(b.Keys) == 0 {
			mt.rows = append(mt.rows, row)
			continue
		}
		var k []string
		for _, kc := range b.Keys {
			k = append(k, fmt.Sprint(row[kc]))
		}
		key := strings.Join(k, "\x00")
		if i, ok := mt.index[key]; ok {
			mt.rows[i] = row
		} else {
			mt.index[key] = len(mt.rows)
			mt.rows = append(mt.rows, row)
		}
	}
	return nil
}

// check refuses a value whose Go type is not the one of its column's type,
// as a real driver would fail to encode it.
func (mt *memTable) check(col string, v any) error {
	if v == nil {
		return nil
	}
	for _, c := range mt.cols {
		if c.Name != col {
			continue
		}
		var ok bool
		switch c.Type {
		case TypeText:
			_, ok = v.(string)
		case TypeBigint:
			_, ok = v.(int64)
		case TypeNumeric:
			_, ok = v.(json.Number)
		case TypeBoolean:
			_, ok = v.(bool)
		case TypeTimestamp:
			_, ok = v.(time.Time)
		case TypeJSON:
			_, ok = v.(json.RawMessage)
		}
		if !ok {
			return fmt.Errorf("cannot encode %T into column %s of type %d", v, col, c.Type)
		}
		return nil
	}
	return fmt.Errorf("column %s does not exist", col)
}

func (m *memLoader) Retryable(err error) bool { return errors.Is(err, m.transErr) }

// dataError is a failure of the rows, naming a column or not.
type dataError struct{ column string }

func (e *dataError) Error() string { return "value refused in column " + e.column }

func (m *memLoader) DataError(err error) (string, bool) {
	var de *dataError
	if errors.As(err, &de) {
		return de.column, true
	}
	return "", false
}

func (m *memLoader) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	return nil
}

func (m *memLoader) rows(table string) []map[string]any {
	m.mu.Lock()
	defer m.mu.Unlock()
	if mt := m.tables[table]; mt != nil {
		return mt.rows
	}
	return nil
}

func (m *memLoader) callLog() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return strings.Join(m.calls, "; ")
}

var testNow = time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)

func testOptions() options {
	o := defaultOptions()
	o.now = func() time.Time { return testNow }
	o.backoffMin, o.backoffMax, o.retryFor = time.Millisecond, 4*time.Millisecond, 5*time.Second
	o.seqBase = 1_000_000
	return o
}

func testConfig() Config {
	c := DefaultConfig()
	c.MaxBatchAge = time.Hour // tests flush by size and at end unless they test age
	return c
}

// runInput runs the core over input and returns its stdout.
func runInput(t *testing.T, cfg Config, l *memLoader, input string) (string, error) {
	t.Helper()
	var out lockedbuf.Buffer
	log := zerolog.New(zerolog.NewTestWriter(t))
	err := run(context.Background(), cfg, l, strings.NewReader(input), &out, log, testOptions())
	return out.String(), err
}

// runWithLog is runInput with the log going to log as well.
func runWithLog(t *testing.T, cfg Config, l *memLoader, input string, log *lockedbuf.Buffer) (string, error) {
	t.Helper()
	var out lockedbuf.Buffer
	lg := zerolog.New(zerolog.MultiLevelWriter(zerolog.NewTestWriter(t), log))
	err := run(context.Background(), cfg, l, strings.NewReader(input), &out, lg, testOptions())
	return out.String(), err
}

// lines joins Singer messages into input.
func lines(msgs ...string) string { return strings.Join(msgs, "\n") + "\n" }

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func zerologT(t *testing.T) zerolog.Logger { return zerolog.New(zerolog.NewTestWriter(t)) }
