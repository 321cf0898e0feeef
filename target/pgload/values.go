package pgload

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/big"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgtype"

	"github.com/cio-singer/tap-customerio-webhook/target"
)

// rowSource feeds a batch to CopyFrom, converting the few values pgx would
// not encode as we need: json.Number becomes an exact pgtype.Numeric (pgx
// has no binary numeric encoding for strings), and text or JSON holding
// NUL, which PostgreSQL cannot store, gets U+FFFD. The core replaces NUL
// already; this only keeps one stray byte from failing a whole batch.
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
		if strings.IndexByte(v, 0) >= 0 {
			return strings.ReplaceAll(v, "\x00", "\uFFFD"), nil
		}
		return v, nil
	case json.RawMessage:
		return replaceJSONNul(v), nil
	default:
		return v, nil
	}
}

const maxNumericExp = 1 << 18

// numericFromLiteral parses a JSON number literal exactly: digits and
// exponent go into a big.Int and a base-10 exponent, never through float64.
func numericFromLiteral(s string) (pgtype.Numeric, error) {
	mant, exp := s, int64(0)
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		e, err := strconv.ParseInt(strings.TrimPrefix(s[i+1:], "+"), 10, 32)
		if err != nil {
			return pgtype.Numeric{}, fmt.Errorf("numeric %q: bad exponent", s)
		}
		mant, exp = s[:i], e
	}
	digits := mant
	if i := strings.IndexByte(mant, '.'); i >= 0 {
		frac := mant[i+1:]
		digits = mant[:i] + frac
		exp -= int64(len(frac))
		if len(frac) == 0 {
			return pgtype.Numeric{}, fmt.Errorf("numeric %q: no digits after the point", s)
		}
	}
	// PostgreSQL's numeric holds at most 131072 digits before the point and
	// 16383 after; anything far beyond is refused here, before big.Int work.
	if exp < -maxNumericExp || exp > maxNumericExp {
		return pgtype.Numeric{}, fmt.Errorf("numeric %q: exponent out of range", s)
	}
	n, ok := new(big.Int).SetString(digits, 10)
	if !ok || strings.HasPrefix(digits, "+") {
		return pgtype.Numeric{}, fmt.Errorf("numeric %q: not a number literal", s)
	}
	return pgtype.Numeric{Int: n, Exp: int32(exp), Valid: true}, nil
}

// replaceJSONNul rewrites the JSON escape \u0000 (which jsonb rejects) to
// \ufffd. An escape is a backslash preceded by an even number of
// backslashes, so a literal `\\u0000` (backslash, then text) is kept.
func replaceJSONNul(raw json.RawMessage) json.RawMessage {
	const esc = `\u0000`
	if !bytes.Contains(raw, []byte(esc)) {
		return raw
	}
	out := make([]byte, 0, len(raw))
	for i := 0; i < len(raw); {
		if raw[i] != '\\' {
			out = append(out, raw[i])
			i++
			continue
		}
		if bytes.HasPrefix(raw[i:], []byte(esc)) {
			out = append(out, `\ufffd`...)
			i += len(esc)
			continue
		}
		// Any other escape: copy the backslash and the escaped byte together
		// so an escaped backslash cannot start a false \u0000 match.
		end := min(i+2, len(raw))
		out = append(out, raw[i:end]...)
		i = end
	}
	return out
}
