package sqliteload

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/cio-singer/tap-customerio-webhook/target"
)

// timestampLayout stores instants as fixed-width RFC 3339 UTC text with six
// fractional digits, so text order is time order and = compares instants.
// Years outside 0000-9999 cannot be written this way and are an error.
const timestampLayout = "2006-01-02T15:04:05.000000Z"

// Load commits b in one transaction through one prepared statement: with
// keys an upsert on them, without keys an append. Either every row lands or
// none does.
func (l *Loader) Load(ctx context.Context, b *target.Batch) error {
	if len(b.Rows) == 0 {
		return nil
	}
	start := time.Now()
	tx, err := l.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("beginning transaction for %s: %w", b.Table, err)
	}
	defer tx.Rollback() //nolint:errcheck // a no-op once committed

	if b.Types != nil {
		// Another process may have widened a column since the batch was
		// made; the transaction holds the write lock from here on.
		cols, err := readColumns(ctx, tx, b.Table)
		if err != nil {
			return err
		}
		have := make(map[string]target.ColumnType, len(cols))
		for _, c := range cols {
			have[c.name] = c.typ
		}
		if err := target.CheckTypes(b, have); err != nil {
			return err
		}
	}
	stmt, err := tx.PrepareContext(ctx, insertSQL(b.Table, b.Columns, b.Keys))
	if err != nil {
		return fmt.Errorf("preparing insert into %s: %w", b.Table, err)
	}
	defer stmt.Close()
	args := make([]any, len(b.Columns))
	for i, row := range b.Rows {
		if len(row) != len(b.Columns) {
			return fmt.Errorf("loading %s: row %d has %d values for %d columns", b.Table, i, len(row), len(b.Columns))
		}
		for j, v := range row {
			if args[j], err = sqlValue(v); err != nil {
				return fmt.Errorf("loading %s: row %d: %w", b.Table, i, &target.ValueError{Column: b.Columns[j], Err: err})
			}
		}
		if _, err := stmt.ExecContext(ctx, args...); err != nil {
			return fmt.Errorf("inserting row %d of %d into %s: %w", i, len(b.Rows), b.Table, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("committing %d rows into %s: %w", len(b.Rows), b.Table, err)
	}
	l.log.Debug().Str("table", b.Table).Int("rows", len(b.Rows)).Dur("took", time.Since(start)).Msg("loaded batch")
	return nil
}

// insertSQL returns the statement for one row: with keys an upsert that
// replaces every non-key column (DO NOTHING when every column is a key),
// without keys a plain INSERT.
func insertSQL(table string, cols, keys []string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "INSERT INTO %s (%s) VALUES (%s)", quoteIdent(table), quoteIdents(cols),
		strings.TrimSuffix(strings.Repeat("?, ", len(cols)), ", "))
	if len(keys) == 0 {
		return b.String()
	}
	fmt.Fprintf(&b, " ON CONFLICT (%s) DO ", quoteIdents(keys))
	var set []string
	for _, c := range cols {
		if !contains(keys, c) {
			set = append(set, fmt.Sprintf("%s = excluded.%s", quoteIdent(c), quoteIdent(c)))
		}
	}
	if len(set) == 0 {
		b.WriteString("NOTHING")
		return b.String()
	}
	b.WriteString("UPDATE SET " + strings.Join(set, ", "))
	return b.String()
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// sqlValue converts a value of one of the Go types listed at
// [target.ColumnType] into what SQLite stores: text as TEXT, int64 as
// INTEGER, booleans as 0/1, instants as timestampLayout TEXT, JSON as its
// compact TEXT, and numbers as described at [numericValue].
func sqlValue(v any) (any, error) {
	switch v := v.(type) {
	case nil:
		return nil, nil
	case string:
		return v, nil
	case int64:
		return v, nil
	case bool:
		if v {
			return int64(1), nil
		}
		return int64(0), nil
	case json.Number:
		return numericValue(v)
	case time.Time:
		u := v.UTC()
		if y := u.Year(); y < 0 || y > 9999 {
			return nil, fmt.Errorf("timestamp year %d is outside 0000-9999", y)
		}
		return u.Format(timestampLayout), nil
	case json.RawMessage:
		if v == nil {
			return nil, nil
		}
		return string(v), nil
	default:
		return nil, fmt.Errorf("unsupported value type %T", v)
	}
}
