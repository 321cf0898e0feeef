package target

import (
	"context"
	"errors"
	"fmt"
)

// ColumnType is the logical type of a warehouse column. The core derives it
// from a stream's JSON Schema; each loader maps it to its own SQL type.
type ColumnType int

// The logical column types. The Go value a loader receives for each type is
// fixed, so loaders never re-parse JSON:
//
//	TypeText      string
//	TypeBigint    int64
//	TypeNumeric   json.Number (the exact decimal literal as sent)
//	TypeBoolean   bool
//	TypeTimestamp time.Time (UTC)
//	TypeJSON      json.RawMessage (compact, valid JSON)
//
// A nil value is SQL NULL.
const (
	TypeText ColumnType = iota + 1
	TypeBigint
	TypeNumeric
	TypeBoolean
	TypeTimestamp
	TypeJSON
)

// The Go values of the types above are loadable as they are: strings are
// valid UTF-8 without NUL, JSON holds no \u0000 or lone surrogate escape,
// and numbers (json.Number, and inside JSON) fit PostgreSQL's numeric. The
// core sets aside, in _sdc_errors, what it cannot make so.

// Column is one column of a table.
type Column struct {
	Name string
	Type ColumnType
}

// Table describes a table the core wants to exist. Names are already
// sanitised (lower case, [a-z0-9_]); loaders still quote them through their
// driver's identifier sanitiser.
type Table struct {
	Name    string
	Columns []Column
	// Keys are the primary-key column names, a subset of Columns. Empty
	// means the stream has no key and rows are appended.
	Keys []string
}

// Batch is a set of rows for one table, committed atomically by Load.
type Batch struct {
	Table   string
	Columns []string // column names, in the order of each row's values
	Keys    []string // as in Table.Keys
	// Types are the column types the values were converted to, one per
	// column. Load returns ErrTableChanged when the table's types differ
	// (another process widened a column since): the core then reads the
	// table again and converts the values.
	Types []ColumnType
	// Rows hold values of the Go types listed at ColumnType, one per column.
	// When Keys is not empty the rows are already unique per key (the core
	// kept the last one received), in arrival order.
	Rows [][]any
}

// ErrTableChanged is returned (wrapped) by Load when the table's columns
// are no longer those of Batch.Types.
var ErrTableChanged = errors.New("target: table changed since the batch was made")

// CheckTypes returns ErrTableChanged when a column of b is missing from
// have or has another type there.
func CheckTypes(b *Batch, have map[string]ColumnType) error {
	for i, c := range b.Columns {
		if i >= len(b.Types) {
			return nil
		}
		if t, ok := have[c]; !ok || t != b.Types[i] {
			return fmt.Errorf("column %s of %s: %w", c, b.Table, ErrTableChanged)
		}
	}
	return nil
}

// Loader writes batches into one warehouse. It is used from one goroutine.
type Loader interface {
	// EnsureTable creates the schema and table if missing, adds columns the
	// table lacks (as many as ColumnsToAdd lets in) and widens columns
	// whose type differs (see Widen). It never drops or narrows a column.
	// It returns the table as it exists afterwards, so the core converts
	// values to the types really there and sets aside the properties whose
	// columns did not fit. Two processes may call it for the same table at
	// once.
	EnsureTable(ctx context.Context, t Table) (Table, error)
	// Load commits b in one transaction: with keys, insert-or-update each
	// row on the key; without, append. Either every row lands or none does,
	// and loading the same batch twice leaves the same rows.
	Load(ctx context.Context, b *Batch) error
	// Retryable reports whether an error from EnsureTable or Load is
	// transient (connection lost, server restarting), so the same call may
	// succeed later. Unknown errors are permanent.
	Retryable(err error) bool
	// DataError reports whether a permanent error from Load was caused by
	// the rows (a value or row the warehouse refuses), so that loading a
	// part of them may succeed, and the column the error names, if any.
	// Errors of the connection, the schema or privileges are not data
	// errors: splitting the batch would not help.
	DataError(err error) (column string, ok bool)
	Close() error
}

// ValueError is a value a loader cannot write into its column. Loaders
// return it (wrapped) from Load and report it from DataError with its
// column, so the core moves the value to _sdc_errors.
type ValueError struct {
	Column string
	Err    error
}

func (e *ValueError) Error() string { return "column " + e.Column + ": " + e.Err.Error() }

// Unwrap returns the reason.
func (e *ValueError) Unwrap() error { return e.Err }

// ReservedColumns is how many column slots ColumnsToAdd keeps free for key
// and metadata columns when a table nears its warehouse's limit.
const ReservedColumns = 16

// Column limits per table of the warehouses.
const (
	MaxColumnsPostgres = 1600
	MaxColumnsSQLite   = 2000
)

// ColumnsToAdd returns the columns of want that the table lacks (has
// reports the columns it has), in want's order. used is how many column
// slots the table already uses (PostgreSQL counts dropped columns too) and
// maxColumns the warehouse's limit. Key and metadata columns are always
// added; other columns only while the table stays below
// maxColumns-ReservedColumns. left is how many were left out: the core
// keeps their properties' values in _sdc_errors.
func ColumnsToAdd(want Table, has func(name string) bool, used, maxColumns int) (add []Column, left int) {
	room := maxColumns - ReservedColumns - used
	for _, c := range want.Columns {
		if has(c.Name) {
			continue
		}
		switch {
		case IsReservedColumn(c.Name, want.Keys):
			add = append(add, c)
		case room > 0:
			add = append(add, c)
			room--
		default:
			left++
		}
	}
	return add, left
}

// IsReservedColumn reports whether name is a key or metadata column, which
// a table always gets and whose values the core never sets aside.
func IsReservedColumn(name string, keys []string) bool {
	switch name {
	case colExtractedAt, colReceivedAt, colBatchedAt, colSequence, colTableVersion, ColErrors:
		return true
	}
	for _, k := range keys {
		if k == name {
			return true
		}
	}
	return false
}

// Widen returns the narrowest type that can hold values of both a and b
// without loss: equal types stay; bigint and numeric give numeric; anything
// with JSON gives JSON; any other mix gives text.
func Widen(a, b ColumnType) ColumnType {
	switch {
	case a == b:
		return a
	case (a == TypeBigint && b == TypeNumeric) || (a == TypeNumeric && b == TypeBigint):
		return TypeNumeric
	case a == TypeJSON || b == TypeJSON:
		return TypeJSON
	default:
		return TypeText
	}
}
