package sqliteload

import (
	"encoding/json"
	"math"
	"strconv"
	"testing"

	"github.com/cio-singer/tap-customerio-webhook/internal/jsonlex"
)

func TestNumericValue(t *testing.T) {
	tests := []struct {
		in   string
		want any
	}{
		{"0", int64(0)},
		{"-0", int64(0)},
		{"42", int64(42)},
		{"-17", int64(-17)},
		{"1e3", int64(1000)},
		{"10.0", int64(10)},
		{"9223372036854775807", int64(math.MaxInt64)},
		{"-9223372036854775808", int64(math.MinInt64)},
		{"0.1", 0.1},
		{"1.50", 1.5},
		{"-2.5e-3", -0.0025},
		{"1e300", 1e300},
		{"9223372036854775808", "9223372036854775808"}, // a float64, but not its shortest spelling
		{"9223372036854775809", "9223372036854775809"},
		{"3.14159265358979323846", "3.14159265358979323846"},
		{"12345678901234567890.5", "12345678901234567890.5"},
		{"1e400", "1e400"},
		{"1e-400", "1e-400"},
	}
	for _, tc := range tests {
		got, err := numericValue(json.Number(tc.in))
		if err != nil {
			t.Fatalf("numericValue(%s): %v", tc.in, err)
		}
		if got != tc.want {
			t.Errorf("numericValue(%s) = %#v, want %#v", tc.in, got, tc.want)
		}
	}
	for _, bad := range []string{"", "-", "abc", "1e", "0x10", "1_000", "NaN", "Inf", "1.2.3", "1e99999999999", "+1", "01", ".5", "1e200000"} {
		if _, err := numericValue(json.Number(bad)); err == nil {
			t.Errorf("numericValue(%q) gave no error", bad)
		}
	}
}

// FuzzNumericValue checks that whatever storage numericValue picks, the
// number read back is the number given. The grammar and the bounds are
// jsonlex's (fuzzed there by FuzzNumber); this checks the choice.
func FuzzNumericValue(f *testing.F) {
	for _, s := range []string{"0", "-0.0", "1e3", "0.1", "123456789012345678901234567890", "-1.5e-7",
		"9223372036854775807", "9223372036854775808", "1e400", "00012.3400", ".5", "5.", "+1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if len(s) > 400 {
			return
		}
		want, ok := jsonlex.ParseNumber(s)
		got, err := numericValue(json.Number(s))
		if !ok || !want.Fits() {
			if err == nil {
				t.Fatalf("unloadable %q stored as %#v", s, got)
			}
			return
		}
		if err != nil {
			t.Fatalf("numericValue(%q): %v", s, err)
		}
		var back string
		switch v := got.(type) {
		case int64:
			back = strconv.FormatInt(v, 10)
		case float64:
			back = strconv.FormatFloat(v, 'e', -1, 64)
		case string:
			back = v
			if v != s {
				t.Fatalf("text %q stored as %q", s, v)
			}
		default:
			t.Fatalf("numericValue(%q) gave %T", s, got)
		}
		if !jsonlex.SameValue(s, back) {
			t.Fatalf("%q stored as %#v reads back as %q", s, got, back)
		}
	})
}
