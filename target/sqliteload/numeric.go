package sqliteload

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
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
func numericValue(n json.Number) (any, error) {
	s := string(n)
	d, ok := parseDecimal(s)
	if !ok {
		return nil, fmt.Errorf("%q is not a decimal number", s)
	}
	if i, ok := d.int64(); ok {
		return i, nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err == nil {
		back, ok := parseDecimal(strconv.FormatFloat(f, 'e', -1, 64))
		if ok && back == d {
			return f, nil
		}
	}
	return s, nil
}

// decimal is a canonical finite decimal: value = ±digits × 10^exp, where
// digits has no leading or trailing zeros. Zero is the empty digits with
// neg false, so two decimals are equal exactly when their values are.
type decimal struct {
	neg    bool
	digits string
	exp    int
}

// maxExponent bounds exponents so that arithmetic on them cannot overflow;
// literals beyond it are kept as TEXT anyway.
const maxExponent = 1 << 30

// parseDecimal parses a JSON-style number (optional sign, digits, optional
// fraction, optional exponent). It accepts a leading '+' and leading zeros
// too, as strconv does; it rejects everything else.
func parseDecimal(s string) (decimal, bool) {
	var d decimal
	if s != "" && (s[0] == '-' || s[0] == '+') {
		d.neg = s[0] == '-'
		s = s[1:]
	}
	mant, expPart, hasExp := strings.Cut(strings.ToLower(s), "e")
	intPart, frac, _ := strings.Cut(mant, ".")
	if intPart == "" && frac == "" || !allDigits(intPart) || !allDigits(frac) {
		return decimal{}, false
	}
	if hasExp {
		e, err := strconv.Atoi(expPart)
		if err != nil || e > maxExponent || e < -maxExponent {
			return decimal{}, false
		}
		d.exp = e
	}
	if len(frac) > maxExponent {
		return decimal{}, false
	}
	digits := strings.TrimLeft(intPart+frac, "0")
	d.exp -= len(frac)
	trimmed := strings.TrimRight(digits, "0")
	d.exp += len(digits) - len(trimmed)
	d.digits = trimmed
	if d.digits == "" {
		return decimal{}, true // zero, whatever its sign or exponent
	}
	return d, true
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// int64 returns d as an int64 when it is an integer in range.
func (d decimal) int64() (int64, bool) {
	if d.digits == "" {
		return 0, true
	}
	if d.exp < 0 || len(d.digits)+d.exp > 19 {
		return 0, false
	}
	s := d.digits + strings.Repeat("0", d.exp)
	if d.neg {
		s = "-" + s
	}
	i, err := strconv.ParseInt(s, 10, 64)
	return i, err == nil
}
