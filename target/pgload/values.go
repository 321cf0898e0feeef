package pgload

import (
	"encoding/json"
	"fmt"
	"math/big"

	"github.com/jackc/pgx/v5/pgtype"

	"github.com/cio-singer/tap-customerio-webhook/internal/jsonlex"
	"github.com/cio-singer/tap-customerio-webhook/target"
)

// rowSource feeds a batch to CopyFrom, converting the few values pgx would
// not encode as we need: json.Number becomes an exact pgtype.Numeric (pgx
// has no binary numeric encoding for strings), and text or JSON holding
// what PostgreSQL cannot store (NUL; in JSON also lone surrogate escapes
// and invalid UTF-8) gets U+FFFD, by jsonlex's rules. The core does this
// already; this only keeps one stray value from failing a whole batch.
type rowSource struct {
	rows    [][]any
	columns []string
	next    int
	vals    []any
}

func newRowSource(rows [][]any, columns []string) *rowSource {
	return &rowSource{rows: rows, columns: columns, vals: make([]any, len(columns))}
}

func (r *rowSource) Next() bool {
	r.next++
	return r.next <= len(r.rows)
}

// Values returns the converted current row; the slice is reused by the next
// call, which CopyFrom allows (it encodes a row before asking for the next).
func (r *rowSource) Values() ([]any, error) {
	row := r.rows[r.next-1]
	if len(row) != len(r.vals) {
		return nil, fmt.Errorf("row %d has %d values for %d columns", r.next, len(row), len(r.vals))
	}
	for i, v := range row {
		cv, err := convertValue(v)
		if err != nil {
			return nil, fmt.Errorf("row %d: %w", r.next, &target.ValueError{Column: r.columns[i], Err: err})
		}
		r.vals[i] = cv
	}
	return r.vals, nil
}

func (r *rowSource) Err() error { return nil }

func convertValue(v any) (any, error) {
	switch v := v.(type) {
	case json.Number:
		return numericFromLiteral(string(v))
	case string:
		return jsonlex.ReplaceNUL(v), nil
	case json.RawMessage:
		clean, _ := jsonlex.Clean(v, false)
		return json.RawMessage(clean), nil
	default:
		return v, nil
	}
}

// numericFromLiteral parses a JSON number literal exactly: its digits as
// written go into a big.Int and its scale into the exponent, never through
// float64, so 1.50 keeps its scale. A literal beyond PostgreSQL's numeric
// (jsonlex.Fits) is refused before any big.Int work; the core never sends
// one.
func numericFromLiteral(s string) (pgtype.Numeric, error) {
	n, ok := jsonlex.ParseNumber(s)
	if !ok {
		return pgtype.Numeric{}, fmt.Errorf("numeric %q: not a JSON number literal", s)
	}
	if !n.Fits() {
		return pgtype.Numeric{}, fmt.Errorf("numeric %.40q: beyond PostgreSQL's numeric range", s)
	}
	digits := jsonlex.Coefficient(n, s)
	if n.Negative() {
		digits = "-" + digits
	}
	i, ok := new(big.Int).SetString(digits, 10)
	if !ok { // zero: no digits
		i = new(big.Int)
	}
	exp := -n.Scale()
	if n.Zero() {
		// Zero has no weight: a positive exponent (0e5) would only make pgx
		// encode a weight beyond numeric's; the scale of 0.00 stays.
		exp = min(exp, 0)
	}
	return pgtype.Numeric{Int: i, Exp: int32(exp), Valid: true}, nil //nolint:gosec // Fits bounds the scale to ±2^20
}
