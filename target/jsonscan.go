package target

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
	"unicode/utf8"
)

// Records are walked with singer.EachMember over JSON the singer.Reader has
// already validated, so a record is decoded once, straight into column
// values, without building maps. The helpers here still check bounds and
// never panic on malformed input.

var errMalformed = errors.New("malformed JSON")

// decodeString returns the Go string of the JSON string raw. NUL, which
// PostgreSQL text cannot hold, becomes U+FFFD, as do invalid UTF-8 and
// lone surrogate escapes (encoding/json replaces those).
func decodeString(raw []byte) (string, error) {
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return "", errMalformed
	}
	inner := raw[1 : len(raw)-1]
	if bytes.IndexByte(inner, '\\') < 0 && utf8.Valid(inner) {
		return string(inner), nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", err
	}
	if bytes.IndexByte([]byte(s), 0) >= 0 {
		s = string(bytes.ReplaceAll([]byte(s), []byte{0}, []byte("\uFFFD")))
	}
	return s, nil
}

// cleanJSON returns raw as JSON every warehouse loads: without
// insignificant whitespace, with \u0000 escapes, lone surrogate escapes and
// invalid UTF-8 replaced by U+FFFD (PostgreSQL jsonb refuses all three).
// fits reports whether every number is within numberFits; with
// quoteNumbers, numbers that are not become JSON strings of their literal,
// so the result always loads. It returns raw itself when nothing changes.
func cleanJSON(raw []byte, quoteNumbers bool) (out []byte, fits bool) {
	rewrite, fits := needsRewrite(raw)
	if !rewrite && (fits || !quoteNumbers) {
		return raw, fits
	}
	out = make([]byte, 0, len(raw))
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			continue
		case c == '"':
			end := stringEnd(raw, i)
			if end < 0 {
				return append(out, raw[i:]...), fits
			}
			out = appendCleanString(out, raw[i:end+1])
			i = end
		case c == '-' || (c >= '0' && c <= '9'):
			end := numberEnd(raw, i)
			lit := raw[i:end]
			if quoteNumbers && !numberFits(lit) {
				out = append(out, '"')
				out = append(out, lit...)
				out = append(out, '"')
			} else {
				out = append(out, lit...)
			}
			i = end - 1
		default:
			out = append(out, c)
		}
	}
	return out, fits
}

// needsRewrite reports whether raw has insignificant whitespace, a \u
// escape (possibly NUL or a lone surrogate), or invalid UTF-8, and whether
// all its numbers fit. It is the fast path: one scan that jumps over
// strings.
func needsRewrite(raw []byte) (rewrite, fits bool) {
	fits = true
	if bytes.Contains(raw, []byte(`\u`)) || !utf8.Valid(raw) {
		rewrite = true
	}
	for i := 0; i < len(raw); i++ {
		switch c := raw[i]; {
		case c == '"':
			end := stringEnd(raw, i)
			if end < 0 {
				return rewrite, fits
			}
			i = end
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			rewrite = true
		case c == '-' || (c >= '0' && c <= '9'):
			end := numberEnd(raw, i)
			if !numberFits(raw[i:end]) {
				fits = false
			}
			i = end - 1
		}
	}
	return rewrite, fits
}

// stringEnd returns the index of the quote closing the string that starts
// at raw[i] == '"', or -1. It jumps from quote to quote with IndexByte,
// which is much faster than a byte loop on long strings.
func stringEnd(raw []byte, i int) int {
	j := i + 1
	for {
		k := bytes.IndexByte(raw[j:], '"')
		if k < 0 {
			return -1
		}
		j += k
		backslashes := 0
		for b := j - 1; b > i && raw[b] == '\\'; b-- {
			backslashes++
		}
		if backslashes%2 == 0 {
			return j
		}
		j++
	}
}

// numberEnd returns the index after the number literal starting at raw[i].
func numberEnd(raw []byte, i int) int {
	j := i + 1
	for j < len(raw) {
		c := raw[j]
		if (c >= '0' && c <= '9') || c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-' {
			j++
			continue
		}
		break
	}
	return j
}

// appendCleanString appends the JSON string s (quotes included), replacing
// \u0000, lone surrogate escapes and invalid UTF-8 with U+FFFD. Other
// escapes are kept as written.
func appendCleanString(out, s []byte) []byte {
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '\\' && i+1 < len(s):
			if s[i+1] != 'u' || i+6 > len(s) {
				out = append(out, s[i], s[i+1])
				i += 2
				continue
			}
			r, ok := hex4(s[i+2 : i+6])
			switch {
			case !ok:
				out = append(out, s[i:i+6]...)
			case r == 0:
				out = append(out, `\ufffd`...)
			case r >= 0xD800 && r <= 0xDBFF:
				if i+12 <= len(s) && s[i+6] == '\\' && s[i+7] == 'u' {
					if lo, ok := hex4(s[i+8 : i+12]); ok && lo >= 0xDC00 && lo <= 0xDFFF {
						out = append(out, s[i:i+12]...)
						i += 12
						continue
					}
				}
				out = append(out, `\ufffd`...)
			case r >= 0xDC00 && r <= 0xDFFF:
				out = append(out, `\ufffd`...)
			default:
				out = append(out, s[i:i+6]...)
			}
			i += 6
		case c < utf8.RuneSelf:
			out = append(out, c)
			i++
		default:
			r, size := utf8.DecodeRune(s[i:])
			if r == utf8.RuneError && size <= 1 {
				out = append(out, "\uFFFD"...)
				i++
				continue
			}
			out = append(out, s[i:i+size]...)
			i += size
		}
	}
	return out
}

func hex4(b []byte) (rune, bool) {
	n, err := strconv.ParseUint(string(b), 16, 32)
	return rune(n), err == nil
}

// PostgreSQL's numeric (and so jsonb) holds at most 131072 digits before
// the decimal point and 16383 after it. Numbers beyond either do not fit
// in any warehouse: SQLite would keep them as text, but both warehouses
// treat numbers alike.
const (
	maxIntDigits   = 131072
	maxScaleDigits = 16383
	maxExponent    = 1 << 20 // an exponent beyond this never fits; bounds arithmetic
)

// decimal is the shape of a number literal: its significant digits and
// where the point is, without the digits themselves.
type decimal struct {
	sig   int // digits from the first non-zero one to the last digit written
	frac  int // digits written after the point
	exp   int // the exponent written
	zero  bool
	trail int // trailing zeros of the digits written
}

// parseDecimal reads a JSON number literal.
func parseDecimal(lit []byte) (decimal, bool) {
	var d decimal
	i := 0
	if i < len(lit) && lit[i] == '-' {
		i++
	}
	digits, leading := 0, true
	lastNonZero := -1
	seenPoint := false
	for ; i < len(lit); i++ {
		c := lit[i]
		switch {
		case c >= '0' && c <= '9':
			if seenPoint {
				d.frac++
			}
			if c != '0' {
				leading = false
				lastNonZero = digits
			}
			if !leading {
				d.sig++
			}
			digits++
		case c == '.' && !seenPoint:
			seenPoint = true
		case c == 'e' || c == 'E':
			e, err := strconv.Atoi(string(lit[i+1:]))
			if err != nil || e > maxExponent || e < -maxExponent {
				if err != nil && !validExponent(lit[i+1:]) {
					return decimal{}, false
				}
				e = maxExponent + 1 // out of range either way
				if lit[i+1] == '-' {
					e = -e
				}
			}
			d.exp = e
			i = len(lit)
		default:
			return decimal{}, false
		}
	}
	if digits == 0 {
		return decimal{}, false
	}
	d.zero = lastNonZero < 0
	if !d.zero {
		d.trail = digits - 1 - lastNonZero
	}
	return d, true
}

func validExponent(b []byte) bool {
	if len(b) > 0 && (b[0] == '+' || b[0] == '-') {
		b = b[1:]
	}
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// intDigits is the number of digits before the point of the value.
func (d decimal) intDigits() int {
	if d.zero {
		return 0
	}
	return max(0, d.sig-d.frac+d.exp)
}

// integral reports whether the value has no fractional part.
func (d decimal) integral() bool {
	return d.zero || d.frac-d.trail-d.exp <= 0
}

// fits reports whether PostgreSQL's numeric holds the literal: its scale
// (digits after the point, as written) and its integer digits in range.
func (d decimal) fits() bool {
	if d.zero {
		return d.exp <= maxExponent && d.exp >= -maxExponent && d.frac-d.exp <= maxScaleDigits
	}
	return d.exp <= maxExponent && d.exp >= -maxExponent && d.frac-d.exp <= maxScaleDigits && d.intDigits() <= maxIntDigits
}

// numberFits reports whether a number literal fits every warehouse's
// numeric type. Short literals without an exponent always do.
func numberFits(lit []byte) bool {
	if len(lit) <= 64 && bytes.IndexAny(lit, "eE") < 0 {
		return true
	}
	d, ok := parseDecimal(lit)
	return ok && d.fits()
}
