package sqliteload

import (
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/cio-singer/tap-customerio-webhook/internal/jsonlex"
)

// numericValue chooses how a decimal literal is stored so that reading it
// back gives the same number. SQLite has no decimal type: an INTEGER holds
// int64 exactly and a REAL holds float64, so
//
//   - a literal whose value is an integer in int64 range becomes INTEGER
//     ("42", "1e3", "10.0");
//   - a literal whose value is what the shortest float64 formatting prints
//     becomes REAL ("0.1", "1.5", "-2.5e-3"): it reads back as that number;
//   - anything else (more digits than float64 keeps, or out of its range)
//     stays the literal as TEXT, so no digit is lost. Such values sort after
//     numbers and take part in arithmetic only approximately.
//
// The number's value is kept, not its spelling: "1.50" is stored as 1.5.
// A literal that is not a JSON number, or beyond PostgreSQL's numeric
// (jsonlex.Fits: the core sets those aside for both warehouses and never
// sends one), is an error.
func numericValue(n json.Number) (any, error) {
	s := string(n)
	if i, ok := jsonlex.Int64(s); ok && jsonlex.Fits(s) {
		return i, nil
	}
	d, ok := jsonlex.ParseNumber(s)
	if !ok {
		return nil, fmt.Errorf("%q is not a decimal number", s)
	}
	if !d.Fits() {
		return nil, fmt.Errorf("%.40q is beyond the numeric range", s)
	}
	f, err := strconv.ParseFloat(s, 64)
	if err == nil && jsonlex.SameValue(s, strconv.FormatFloat(f, 'e', -1, 64)) {
		return f, nil
	}
	return s, nil
}
