package jsonlex

import (
	"encoding/json"
	"math/big"
	"strconv"
	"strings"
	"testing"
)

func TestParseNumber_Grammar(t *testing.T) {
	t.Parallel()
	for _, lit := range []string{"0", "-0", "1", "-12", "1.0", "0.001", "1e3", "1E+3", "1e-3", "-0.5e0400", "123456789012345678901234567890"} {
		if _, ok := ParseNumber(lit); !ok {
			t.Errorf("ParseNumber(%s) refused", lit)
		}
	}
	for _, lit := range []string{"", "-", "+1", "01", "-01", ".5", "5.", "1.e3", "1e", "1e+", "0x10", "1_000", "NaN", "Inf", "1.2.3", " 1", "1 ", "--1"} {
		if _, ok := ParseNumber(lit); ok {
			t.Errorf("ParseNumber(%q) accepted", lit)
		}
	}
}

func TestNumber_Integral(t *testing.T) {
	t.Parallel()
	tests := map[string]bool{
		"0": true, "-0": true, "1": true, "-12": true, "1.0": true, "1.50": false, "1e3": true, "1E3": true,
		"1.5e1": true, "1.25e1": false, "100e-2": true, "150e-2": false, "0.0": true, "0e-5": true,
		"1e-1": false, "12345678901234567890123": true, "0.001e3": true, "0.0015e3": false, "1e+2": true,
		"1e9999999999999999999999": true, "1e-9999999999999999999999": false, "0.5e9999999999": true,
		"7e-9999999999": false, "100.100e1": true, "100.1001e2": false, "-2.5E-0": false,
	}
	for lit, want := range tests {
		n, ok := ParseNumber(lit)
		if !ok || n.Integral() != want {
			t.Errorf("ParseNumber(%s).Integral() = %v (ok %v), want %v", lit, n.Integral(), ok, want)
		}
	}
}

func TestNumber_Fits(t *testing.T) {
	t.Parallel()
	big := "1" + strings.Repeat("0", MaxIntDigits-1)
	tests := map[string]bool{
		"1": true, "1e400": true, "1e-400": true, "0e999999": true, "0e-16383": true, "0e-16384": false,
		"1e131071": true, "1e131072": false, big: true, big + "0": false, big + ".5": true,
		"1e-16383": true, "1e-16384": false, "1.5e-16382": true, "1.5e-16383": false,
		"0.5e-16382": true, "10e-16384": false, "1e1048576": false, "0e1048577": false, "1e-99999999999": false,
	}
	for lit, want := range tests {
		if got := Fits(lit); got != want {
			t.Errorf("Fits(%.30s) = %v, want %v", lit, got, want)
		}
	}
}

func TestInt64(t *testing.T) {
	t.Parallel()
	tests := map[string]any{
		"0": int64(0), "-0": int64(0), "42": int64(42), "1e3": int64(1000), "10.0": int64(10), "1200e-2": int64(12),
		"9223372036854775807": int64(9223372036854775807), "-9223372036854775808": int64(-9223372036854775808),
		"92233720368547758.07e2": int64(9223372036854775807), "0.00e99": int64(0),
		"9223372036854775808": nil, "-9223372036854775809": nil, "1.5": nil, "1e19": nil, "1e-1": nil, "01": nil, "": nil,
		"1e9999999999": nil,
	}
	for lit, want := range tests {
		got, ok := Int64(lit)
		if want == nil {
			if ok {
				t.Errorf("Int64(%s) = %d, want none", lit, got)
			}
			continue
		}
		if !ok || got != want {
			t.Errorf("Int64(%s) = %d, %v, want %d", lit, got, ok, want)
		}
	}
}

func TestSameValue(t *testing.T) {
	t.Parallel()
	same := [][2]string{{"1.50", "15e-1"}, {"0.15e1", "1.5"}, {"0", "-0.000e7"}, {"100", "1e2"}, {"-2.5e-3", "-0.0025"}}
	for _, p := range same {
		if !SameValue(p[0], p[1]) {
			t.Errorf("SameValue(%s, %s) = false", p[0], p[1])
		}
	}
	differ := [][2]string{{"1.5", "-1.5"}, {"1", "10"}, {"0.1", "0.01"}, {"12", "21"}, {"1", "x"}, {"1e9999999", "1e9999999"}}
	for _, p := range differ {
		if SameValue(p[0], p[1]) {
			t.Errorf("SameValue(%s, %s) = true", p[0], p[1])
		}
	}
}

func TestPortable(t *testing.T) {
	t.Parallel()
	for lit, want := range map[string]bool{
		"1": true, "1727803360e0": true, "1.5e300": true, "1e-300": true, "12345678901234567890123": true,
		"1e400": false, "10e310": false, "1.5e-9999999": false, "1e-401": false, strings.Repeat("9", 401): false,
		"-" + strings.Repeat("9", 310): false, "1e-400": true,
	} {
		if got := Portable(lit); got != want {
			t.Errorf("Portable(%.30s) = %v, want %v", lit, got, want)
		}
	}
}

// ratOf is the value of a literal parsed by the package, rebuilt from its
// coefficient and scale, as PostgreSQL's numeric would hold it.
func ratOf(n Number, lit string) *big.Rat {
	digits := Coefficient(n, lit)
	if digits == "" {
		digits = "0"
	}
	r, _ := new(big.Rat).SetString(digits)
	p := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(abs(n.Scale()))), nil)
	if n.Scale() < 0 {
		r.Mul(r, new(big.Rat).SetInt(p))
	} else {
		r.Quo(r, new(big.Rat).SetInt(p))
	}
	if n.Negative() {
		r.Neg(r)
	}
	return r
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// FuzzNumber compares the number grammar with encoding/json and the shape
// with big.Rat: what is a number, its value (coefficient and scale),
// whether it is an integer, its int64 value, its digits before the point,
// and SameValue. It merges the former FuzzIsInteger (tap/event) and
// FuzzNumericFromLiteral (target/pgload); the latter's corpus lives here.
func FuzzNumber(f *testing.F) {
	for _, s := range []string{"1", "1.0", "1e3", "100e-2", "-0.5", "0.001e3", "12.340e1", "0", "-1.5",
		"1234567890.123456789012345", "9223372036854775808", "1E-7", "", "1.", "-", "+1", "01", "1e400", "-0.0e-0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, lit string) {
		if len(lit) > 400 {
			return
		}
		n, ok := ParseNumber(lit)
		var v any
		isJSON := json.Unmarshal([]byte(lit), &v) == nil && strings.TrimSpace(lit) == lit
		if _, isNum := v.(float64); isJSON && !isNum {
			isJSON = false
		}
		if end, scanned := ScanNumber(lit, 0); (scanned && end == len(lit)) != ok {
			t.Fatalf("ScanNumber(%q) = %d, %v; ParseNumber %v", lit, end, scanned, ok)
		}
		if ok != isJSON {
			// encoding/json refuses a number beyond float64 with an error
			// of its own; the grammar accepted it.
			if !(ok && json.Valid([]byte(lit))) {
				t.Fatalf("ParseNumber(%q) ok = %v, encoding/json %v", lit, ok, isJSON)
			}
		}
		if !ok || n.Scale() > 2000 || n.Scale() < -2000 {
			return // big.Rat would be slow
		}
		want, _ := new(big.Rat).SetString(lit)
		if got := ratOf(n, lit); got.Cmp(want) != 0 {
			t.Fatalf("%q: coefficient %q scale %d is %s, want %s", lit, Coefficient(n, lit), n.Scale(), got, want)
		}
		if n.Integral() != want.IsInt() || n.Zero() != (want.Sign() == 0) {
			t.Fatalf("%q: integral %v zero %v, big.Rat %v %v", lit, n.Integral(), n.Zero(), want.IsInt(), want.Sign() == 0)
		}
		i, isInt := Int64(lit)
		if wantInt := want.IsInt() && want.Num().IsInt64(); isInt != wantInt || (isInt && i != want.Num().Int64()) {
			t.Fatalf("Int64(%q) = %d, %v; big.Rat %s", lit, i, isInt, want)
		}
		intPart := new(big.Int).Quo(new(big.Int).Abs(want.Num()), want.Denom())
		if wantDigits := len(intPart.String()); n.IntDigits() != wantDigits && (intPart.Sign() != 0 || n.IntDigits() != 0) {
			t.Fatalf("%q: %d digits before the point, want %d", lit, n.IntDigits(), wantDigits)
		}
		other := Coefficient(n, lit)
		if other == "" {
			other = "0"
		}
		other += "e" + strconv.Itoa(-n.Scale())
		if n.Negative() {
			other = "-" + other
		}
		if !SameValue(lit, other) || SameValue(lit, other+"1") != (want.Sign() == 0) {
			t.Fatalf("SameValue(%q, %q) wrong", lit, other)
		}
	})
}
