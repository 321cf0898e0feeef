package jsonlex

import (
	"math"
	"strconv"
)

// The bounds on numbers; the package comment says why each is what it is.
const (
	// MaxIntDigits is the most digits before the point PostgreSQL's
	// numeric holds (a 16-bit weight of base-10000 digits).
	MaxIntDigits = 131072
	// MaxScale is the most digits after the point PostgreSQL's numeric
	// holds (a 14-bit display scale).
	MaxScale = 16383
	// MaxExponent bounds the exponent as written: beyond it a number does
	// not fit, and its exponent is clamped to one past the bound.
	MaxExponent = 1 << 20
	// MaxPortableLen and MaxPortableExponent are the tap's bound on a
	// literal's length and written exponent (see Portable).
	MaxPortableLen      = 400
	MaxPortableExponent = 400
)

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// ScanNumber returns the index after the number literal that starts at
// b[i], and whether it follows JSON's grammar,
// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?, up to there. What
// follows the literal is the caller's to check.
func ScanNumber[T text](b T, i int) (end int, ok bool) {
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		i, _ = digits(b, i)
	default:
		return i, false
	}
	if i < len(b) && b[i] == '.' {
		if i, ok = digits(b, i+1); !ok {
			return i, false
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		return digits(b, i)
	}
	return i, true
}

// digits returns the index after the digits at b[i:], and whether there
// is at least one.
func digits[T text](b T, i int) (int, bool) {
	start := i
	for i < len(b) && isDigit(b[i]) {
		i++
	}
	return i, i > start
}

// Number is the shape of a JSON number literal: its sign, where its digits
// are, where the point is, and its exponent. It holds no digits; functions
// that need them take the literal again.
type Number struct {
	neg              bool
	intStart, intEnd int // the digits before the point: lit[intStart:intEnd]
	frac             int // digits after the point: lit[intEnd+1 : intEnd+1+frac]
	lead             int // leading zeros of all the digits written
	sig              int // digits from the first non-zero one to the last written; 0 for zero
	trail            int // trailing zeros of the digits written (when not zero)
	exp              int // the exponent written, clamped to ±(MaxExponent+1)
}

// ParseNumber reads a JSON number literal. ok is false when lit is not
// exactly one (a leading '+', leading zeros, ".5" and "5." are not).
func ParseNumber[T text](lit T) (n Number, ok bool) {
	end, ok := ScanNumber(lit, 0)
	if !ok || end != len(lit) || end == 0 {
		return Number{}, false
	}
	i := 0
	if lit[0] == '-' {
		n.neg = true
		i++
	}
	n.intStart = i
	for i < len(lit) && isDigit(lit[i]) {
		i++
	}
	n.intEnd = i
	if i < len(lit) && lit[i] == '.' {
		for i++; i < len(lit) && isDigit(lit[i]); i++ {
			n.frac++
		}
	}
	if i < len(lit) { // the exponent
		i++
		neg := lit[i] == '-'
		if lit[i] == '+' || lit[i] == '-' {
			i++
		}
		e := 0
		for ; i < len(lit); i++ {
			if e <= MaxExponent {
				e = e*10 + int(lit[i]-'0')
			}
		}
		e = min(e, MaxExponent+1)
		if neg {
			e = -e
		}
		n.exp = e
	}
	count := n.digitCount()
	first, last := -1, -1 // positions of the first and last non-zero digit
	for k := range count {
		if digitAt(n, lit, k) != '0' {
			if first < 0 {
				first = k
			}
			last = k
		}
	}
	n.lead = count
	if first >= 0 {
		n.lead = first
		n.sig = count - first
		n.trail = count - 1 - last
	}
	return n, true
}

func (n Number) digitCount() int { return n.intEnd - n.intStart + n.frac }

// digitAt returns the k-th digit of lit written, counting those before and
// after the point as one sequence.
func digitAt[T text](n Number, lit T, k int) byte {
	if k < n.intEnd-n.intStart {
		return lit[n.intStart+k]
	}
	return lit[n.intEnd+1+k-(n.intEnd-n.intStart)]
}

// Negative reports whether the literal has a minus sign (-0 has one).
func (n Number) Negative() bool { return n.neg }

// Zero reports whether the value is zero.
func (n Number) Zero() bool { return n.sig == 0 }

// InRange reports whether the written exponent is within ±MaxExponent.
func (n Number) InRange() bool { return n.exp >= -MaxExponent && n.exp <= MaxExponent }

// Scale is the number of digits after the point as written, the exponent
// applied: 2 for 1.50, -3 for 1e3. It is PostgreSQL numeric's display
// scale when positive.
func (n Number) Scale() int { return n.frac - n.exp }

// IntDigits is the number of digits before the point of the value (0 for
// 0.5 and for zero).
func (n Number) IntDigits() int {
	if n.Zero() {
		return 0
	}
	return max(0, n.sig-n.frac+n.exp)
}

// Integral reports whether the value has no fractional part (1.0, 1e3 and
// 100e-2 are integers, as to JSON Schema).
func (n Number) Integral() bool {
	return n.Zero() || n.frac-n.trail-n.exp <= 0
}

// Fits reports whether PostgreSQL's numeric, and so jsonb, holds the value
// as written: its scale and its digits before the point within MaxScale
// and MaxIntDigits. SQLite holds every such number (as INTEGER, REAL or
// the literal as TEXT).
func (n Number) Fits() bool {
	return n.InRange() && n.Scale() <= MaxScale && n.IntDigits() <= MaxIntDigits
}

// Fits reports whether the number literal lit is valid and fits (see
// [Number.Fits]). Short literals without an exponent take a fast path:
// they always fit.
func Fits[T text](lit T) bool {
	if len(lit) <= 64 {
		plain := true
		for i := 0; i < len(lit); i++ {
			if lit[i] == 'e' || lit[i] == 'E' {
				plain = false
				break
			}
		}
		if plain {
			return true
		}
	}
	n, ok := ParseNumber(lit)
	return ok && n.Fits()
}

// Int64 returns the value of the number literal lit when it is an integer
// (however written: 12, 1.2e1, 120e-1) within int64, exactly.
func Int64[T text](lit T) (int64, bool) {
	if len(lit) > 0 && len(lit) <= 18 { // the common case: a plain integer
		v, neg, i := int64(0), lit[0] == '-', 0
		if neg {
			i = 1
		}
		if i < len(lit) && (lit[i] != '0' || len(lit) == i+1) {
			for ; i < len(lit) && isDigit(lit[i]); i++ {
				v = v*10 + int64(lit[i]-'0')
			}
			if i == len(lit) {
				if neg {
					return -v, true
				}
				return v, true
			}
		}
	}
	n, ok := ParseNumber(lit)
	if !ok || !n.InRange() || !n.Integral() {
		return 0, false
	}
	if n.Zero() {
		return 0, true
	}
	digits := n.IntDigits()
	if digits > 19 {
		return 0, false
	}
	var u uint64 // < 10^19 < 2^64
	for k := range digits {
		d := byte('0')
		if k < n.sig {
			d = digitAt(n, lit, n.lead+k)
		}
		u = u*10 + uint64(d-'0')
	}
	switch {
	case !n.neg && u <= math.MaxInt64:
		return int64(u), true
	case n.neg && u <= 1<<63:
		return int64(-u), true //nolint:gosec // u <= 2^63: -u wraps to exactly -2^63 at most
	}
	return 0, false
}

// SameValue reports whether the number literals a and b have the same
// value (1.50, 15e-1 and 0.15e1 do). Literals beyond MaxExponent are
// never the same as anything.
func SameValue[T text](a, b T) bool {
	na, ok := ParseNumber(a)
	if !ok || !na.InRange() {
		return false
	}
	nb, ok := ParseNumber(b)
	if !ok || !nb.InRange() {
		return false
	}
	if na.Zero() || nb.Zero() {
		return na.Zero() && nb.Zero()
	}
	la, lb := na.sig-na.trail, nb.sig-nb.trail // significant digits
	if na.neg != nb.neg || la != lb || na.exp-na.frac+na.trail != nb.exp-nb.frac+nb.trail {
		return false
	}
	for k := range la {
		if digitAt(na, a, na.lead+k) != digitAt(nb, b, nb.lead+k) {
			return false
		}
	}
	return true
}

// Coefficient returns the digits of n's literal lit as written, without
// the sign and leading zeros ("" for zero), so that n's value is
// ±Coefficient × 10^-Scale: what PostgreSQL's numeric keeps, trailing
// zeros included (1.50 has scale 2).
func Coefficient[T text](n Number, lit T) string {
	b := make([]byte, 0, n.sig)
	for k := n.lead; k < n.digitCount(); k++ {
		b = append(b, digitAt(n, lit, k))
	}
	return string(b)
}

// Portable reports whether the number literal lit is within the tap's
// bounds: at most MaxPortableLen long, an exponent within
// ±MaxPortableExponent, and a magnitude float64 holds (beyond ±1.8e308 a
// float64 reader overflows; smaller magnitudes only lose precision).
func Portable[T text](lit T) bool {
	if len(lit) > MaxPortableLen {
		return false
	}
	hasExp := false
	for i := 0; i < len(lit); i++ {
		if lit[i] == 'e' || lit[i] == 'E' {
			hasExp = true
			break
		}
	}
	if !hasExp && len(lit) <= 20 {
		return true // an ordinary integer: the common case stays cheap
	}
	if hasExp {
		n, ok := ParseNumber(lit)
		if !ok || n.exp > MaxPortableExponent || n.exp < -MaxPortableExponent {
			return false
		}
	}
	_, err := strconv.ParseFloat(string(lit), 64)
	return err == nil // ErrRange: beyond ±1.8e308
}
