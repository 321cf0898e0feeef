package target

import (
	"context"
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
	// Rows hold values of the Go types listed at ColumnType, one per column.
	// When Keys is not empty the rows are already unique per key (the core
	// kept the last one received), in arrival order.
	Rows [][]any
}

// Loader writes batches into one warehouse. It is used from one goroutine.
type Loader interface {
	// EnsureTable creates the schema and table if missing, adds columns the
	// table lacks and widens columns whose type differs (see Widen). It
	// never drops or narrows a column. It returns the table as it exists
	// afterwards, so the core converts values to the types really there.
	EnsureTable(ctx context.Context, t Table) (Table, error)
	// Load commits b in one transaction: with keys, insert-or-update each
	// row on the key; without, append. Either every row lands or none does,
	// and loading the same batch twice leaves the same rows.
	Load(ctx context.Context, b *Batch) error
	// Retryable reports whether an error from EnsureTable or Load is
	// transient (connection lost, server restarting), so the same call may
	// succeed later. Unknown errors are permanent.
	Retryable(err error) bool
	Close() error
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
