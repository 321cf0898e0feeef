package target

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/cio-singer/tap-customerio-webhook/internal/jsonlex"
)

// RejectedTable keeps, in every target schema, the records the warehouse
// refused as rows even after their refused values moved to _sdc_errors.
// Its key is (stream, record_key), so a replay updates the same row.
const RejectedTable = "_sdc_rejected_records"

var rejectedTable = Table{
	Name: RejectedTable,
	Columns: []Column{
		{Name: "stream", Type: TypeText},
		{Name: "record_key", Type: TypeText},
		{Name: "record", Type: TypeText},
		{Name: "error", Type: TypeText},
		{Name: "rejected_at", Type: TypeTimestamp},
		{Name: colSequence, Type: TypeBigint},
	},
	Keys: []string{"stream", "record_key"},
}

// maxRecordKeyBytes bounds record_key: a longer key is stored as its
// SHA-256, so the primary key stays within PostgreSQL's index row limit.
const maxRecordKeyBytes = 1000

// batchMeta is what the loader goroutine needs to recover a batch that
// failed on its data.
type batchMeta struct {
	stream  string
	table   Table    // the table the rows were made for, to ensure again
	paths   []string // property path per column, for _sdc_errors
	errCol  int      // _sdc_errors
	seqCol  int      // _sdc_sequence; -1 without metadata
	rejects [][]any  // rows of RejectedTable found by the core
}

// rejectedRow returns a row of RejectedTable. key holds the values of the
// key columns; without keys the key is the SHA-256 of the record.
func rejectedRow(stream string, key []any, record []byte, reason string, now time.Time, seq any) []any {
	var k []byte
	if len(key) > 0 {
		k = append(k, '[')
		for i, v := range key {
			if i > 0 {
				k = append(k, ',')
			}
			j, _ := jsonlex.Clean(valueJSON(v), true)
			k = append(k, j...)
		}
		k = append(k, ']')
	}
	if len(k) == 0 || len(k) > maxRecordKeyBytes {
		src := k
		if len(src) == 0 {
			src = record
		}
		sum := sha256.Sum256(src)
		k = []byte(`{"sha256":"` + hex.EncodeToString(sum[:]) + `"}`)
	}
	return []any{toValidString(stream), string(k), toValidString(string(record)), toValidString(reason), now.UTC(), seq}
}

// toValidString makes s loadable as text: NUL and invalid UTF-8 become
// U+FFFD.
func toValidString(s string) string {
	b := appendJSONString(nil, s)
	var out string
	_ = json.Unmarshal(b, &out)
	return out
}

// loadBatch loads j.batch. A batch that fails permanently is first checked
// against the table as it now is (another process may have widened or
// added columns); a batch that still fails on its data is split in halves
// until the rows that fail are alone; such a row loads with the value the
// error names moved to _sdc_errors, or else goes to RejectedTable. What
// loads is committed; only an error that is not about data stops.
func (w *loadWorker) loadBatch(ctx context.Context, j job, res *result) error {
	b := j.batch
	if len(b.Rows) > 0 {
		if err := w.load(ctx, b); err != nil {
			if err = w.recoverBatch(ctx, j, res, err); err != nil {
				return err
			}
		}
	}
	return w.reject(ctx, j.meta.rejects, res)
}

func (w *loadWorker) recoverBatch(ctx context.Context, j job, res *result, err error) error {
	// Another process may have changed the table: read it again (under
	// the loader's lock), convert the values to its types, load again.
	for attempt := 0; attempt < 3; attempt++ {
		if w.loader.Retryable(err) || ctx.Err() != nil {
			return err // transient, and retrying gave up
		}
		actual, ensureErr := w.ensure(ctx, j.meta.table)
		if ensureErr != nil {
			return fmt.Errorf("%w (then ensuring the table: %w)", err, ensureErr)
		}
		if !recast(j.batch, actual) && !errors.Is(err, ErrTableChanged) {
			break
		}
		res.reread = &actual
		w.log.Warn().Str("table", j.batch.Table).Msg("table changed by another process; loading again with its column types")
		if err = w.load(ctx, j.batch); err == nil {
			return nil
		}
	}
	if _, ok := w.loader.DataError(err); !ok {
		return err
	}
	w.log.Warn().Str("table", j.batch.Table).Int("rows", len(j.batch.Rows)).Msg("batch refused on its data; splitting it to find the rows")
	return w.split(ctx, j, j.batch.Rows, err, res)
}

// split loads rows, known to fail with err as a whole, in two halves,
// recursively, down to single rows.
func (w *loadWorker) split(ctx context.Context, j job, rows [][]any, err error, res *result) error {
	if len(rows) == 1 {
		return w.isolate(ctx, j, rows[0], err, res)
	}
	mid := len(rows) / 2
	for _, part := range [][][]any{rows[:mid], rows[mid:]} {
		sub := *j.batch
		sub.Rows = part
		err := w.load(ctx, &sub)
		if err == nil {
			continue
		}
		if _, ok := w.loader.DataError(err); !ok {
			return err
		}
		if err := w.split(ctx, j, part, err, res); err != nil {
			return err
		}
	}
	return nil
}

// isolate loads a row that fails alone with err: while the error names a
// column whose value may move, the value moves to _sdc_errors and the row
// loads again; otherwise the row goes to RejectedTable.
func (w *loadWorker) isolate(ctx context.Context, j job, row []any, err error, res *result) error {
	b, m := j.batch, j.meta
	moved := map[int]bool{}
	for {
		col, _ := w.loader.DataError(err)
		i := columnIndex(b.Columns, col)
		if i < 0 || moved[i] || IsReservedColumn(col, b.Keys) || row[i] == nil {
			break
		}
		moved[i] = true
		errs, _ := row[m.errCol].(json.RawMessage)
		row[m.errCol] = addError(errs, m.paths[i], valueJSON(row[i]), err.Error())
		row[i] = nil
		res.aside++
		one := *b
		one.Rows = [][]any{row}
		if err = w.load(ctx, &one); err == nil {
			return nil
		}
		if _, ok := w.loader.DataError(err); !ok {
			return err
		}
	}
	var key []any
	for _, k := range b.Keys {
		key = append(key, row[columnIndex(b.Columns, k)])
	}
	var seq any
	if m.seqCol >= 0 {
		seq = row[m.seqCol]
	}
	return w.reject(ctx, [][]any{rejectedRow(m.stream, key, rowJSON(b.Columns, row), err.Error(), w.now(), seq)}, res)
}

// reject writes rows to RejectedTable, creating it the first time.
func (w *loadWorker) reject(ctx context.Context, rows [][]any, res *result) error {
	if len(rows) == 0 {
		return nil
	}
	if !w.rejectedReady {
		if _, err := w.ensure(ctx, rejectedTable); err != nil {
			return err
		}
		w.rejectedReady = true
	}
	// Rows of one batch are unique per key; the last one wins.
	last := map[string]int{}
	var unique [][]any
	for _, row := range rows {
		k := row[0].(string) + "\x00" + row[1].(string)
		if i, ok := last[k]; ok {
			unique[i] = row
			continue
		}
		last[k] = len(unique)
		unique = append(unique, row)
	}
	names := make([]string, len(rejectedTable.Columns))
	for i, c := range rejectedTable.Columns {
		names[i] = c.Name
	}
	b := &Batch{Table: RejectedTable, Columns: names, Keys: rejectedTable.Keys, Rows: unique}
	if err := w.load(ctx, b); err != nil {
		return fmt.Errorf("keeping %d rejected records in %s: %w", len(unique), RejectedTable, err)
	}
	res.rejected += len(rows)
	return nil
}

func columnIndex(cols []string, name string) int {
	if name == "" {
		return -1
	}
	for i, c := range cols {
		if c == name {
			return i
		}
	}
	return -1
}

// rowJSON returns a row as a JSON object of its non-null columns.
func rowJSON(cols []string, row []any) []byte {
	b := []byte{'{'}
	for i, v := range row {
		if v == nil {
			continue
		}
		if len(b) > 1 {
			b = append(b, ',')
		}
		b = appendJSONString(b, cols[i])
		b = append(b, ':')
		j, _ := jsonlex.Clean(valueJSON(v), true)
		b = append(b, j...)
	}
	return append(b, '}')
}

// recast converts the values of b to the column types of actual where
// they differ from the types they were made for (another process widened
// them), and reports whether anything changed.
func recast(b *Batch, actual Table) bool {
	byName := make(map[string]ColumnType, len(actual.Columns))
	for _, c := range actual.Columns {
		byName[c.Name] = c.Type
	}
	changed := false
	for i, name := range b.Columns {
		to, ok := byName[name]
		if !ok || i >= len(b.Types) || to == b.Types[i] {
			continue
		}
		changed = true
		for _, row := range b.Rows {
			row[i] = recastValue(row[i], to)
		}
		b.Types[i] = to
	}
	return changed
}

// recastValue converts a value of one logical type to a wider one, as
// the loaders' own widening converts stored values.
func recastValue(v any, to ColumnType) any {
	if v == nil {
		return nil
	}
	switch to {
	case TypeNumeric:
		if n, ok := v.(int64); ok {
			return json.Number(strconv.FormatInt(n, 10))
		}
	case TypeJSON:
		j, _ := jsonlex.Clean(valueJSON(v), true)
		return json.RawMessage(j)
	case TypeText:
		switch v := v.(type) {
		case string:
			return v
		case time.Time:
			return v.UTC().Format(time.RFC3339Nano)
		default:
			return string(valueJSON(v))
		}
	}
	return v
}
