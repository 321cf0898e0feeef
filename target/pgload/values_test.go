package pgload

import (
	"encoding/json"
	"math/big"
	"strings"
	"testing"
	"unicode/utf8"
)

func ratOf(intPart *big.Int, exp int32) *big.Rat {
	r := new(big.Rat).SetInt(intPart)
	p := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(abs(exp))), nil)
	if exp >= 0 {
		return r.Mul(r, new(big.Rat).SetInt(p))
	}
	return r.Quo(r, new(big.Rat).SetInt(p))
}

func abs(x int32) int64 {
	if x < 0 {
		return -int64(x)
	}
	return int64(x)
}

func TestNumericFromLiteral(t *testing.T) {
	tests := []struct {
		in      string
		wantInt string
		wantExp int32
	}{
		{"0", "0", 0},
		{"-12", "-12", 0},
		{"9223372036854775807", "9223372036854775807", 0},
		{"1234567890.123456789012345", "1234567890123456789012345", -15},
		{"1.5e10", "15", 9},
		{"-2.50E-3", "-250", -5},
		{"7e+2", "7", 2},
		{"123456789012345678901234567890", "123456789012345678901234567890", 0},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			n, err := numericFromLiteral(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if !n.Valid || n.Int.String() != tc.wantInt || n.Exp != tc.wantExp {
				t.Fatalf("got %s e%d (valid %v), want %s e%d", n.Int, n.Exp, n.Valid, tc.wantInt, tc.wantExp)
			}
		})
	}
	for _, bad := range []string{"", "abc", "1.", "1e", "1e99999999999", "+1", "--1", "1.2.3", "0x10"} {
		if _, err := numericFromLiteral(bad); err == nil {
			t.Errorf("numericFromLiteral(%q): want an error", bad)
		}
	}
}

func FuzzNumericFromLiteral(f *testing.F) {
	for _, s := range []string{"0", "-1.5", "1e3", "1234567890.123456789012345", "9223372036854775808", "1E-7", "", "1.", "-"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if len(s) > 200 {
			return
		}
		n, err := numericFromLiteral(s)
		var isJSONNumber bool
		var v any
		// The core hands over json.Number literals, which never carry whitespace.
		if strings.TrimSpace(s) == s && json.Unmarshal([]byte(s), &v) == nil {
			_, isJSONNumber = v.(float64)
		}
		if err != nil {
			if isJSONNumber && !strings.ContainsAny(s, "eE") {
				t.Fatalf("valid JSON number %q rejected: %v", s, err)
			}
			return
		}
		if !isJSONNumber {
			return // we accept some non-JSON forms (leading zeros); the core only sends JSON numbers
		}
		if n.Exp > 1000 || n.Exp < -1000 {
			return // exact but too slow to check with big.Rat
		}
		want, ok := new(big.Rat).SetString(s)
		if !ok {
			t.Fatalf("big.Rat cannot parse %q", s)
		}
		if got := ratOf(n.Int, n.Exp); got.Cmp(want) != 0 {
			t.Fatalf("%q parsed as %s, want %s", s, got, want)
		}
	})
}

func TestReplaceJSONNul(t *testing.T) {
	tests := []struct{ in, want string }{
		{`{"a":"x"}`, `{"a":"x"}`},
		{`{"a":"x\u0000y"}`, `{"a":"x\ufffdy"}`},
		{`{"a":"\\u0000"}`, `{"a":"\\u0000"}`},         // an escaped backslash, then text
		{`{"a":"\\\u0000"}`, `{"a":"\\\ufffd"}`},       // escaped backslash, then a NUL escape
		{`["\u0000","\u0000"]`, `["\ufffd","\ufffd"]`}, // every one
	}
	for _, tc := range tests {
		if got := string(replaceJSONNul(json.RawMessage(tc.in))); got != tc.want {
			t.Errorf("replaceJSONNul(%s) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

func FuzzReplaceJSONNul(f *testing.F) {
	for _, s := range []string{`{"a":"x\u0000y"}`, `"\\u0000"`, `"\\\u0000"`, `{}`, `[1,"\u0000",{"\u0000":null}]`, `\`, ``} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := replaceJSONNul(json.RawMessage(s))
		var before, after any
		if json.Unmarshal([]byte(s), &before) != nil {
			return
		}
		if err := json.Unmarshal(out, &after); err != nil {
			t.Fatalf("valid %q became invalid %q: %v", s, out, err)
		}
		if containsNul(after) {
			t.Fatalf("NUL survived in %q", out)
		}
		b, _ := json.Marshal(after)
		// Only NULs change: replacing them in the decoded input gives the output.
		want, _ := json.Marshal(replaceNul(before))
		if string(want) != string(b) && utf8.ValidString(s) {
			t.Fatalf("%q -> %q: decoded %s, want %s", s, out, b, want)
		}
	})
}

func TestConvertValueReplacesNulInText(t *testing.T) {
	got, err := convertValue("a\x00b")
	if err != nil || got != "a\uFFFDb" {
		t.Fatalf("got %q, %v", got, err)
	}
	same, _ := convertValue("plain")
	if same != "plain" {
		t.Fatalf("got %q", same)
	}
}

func containsNul(v any) bool {
	switch v := v.(type) {
	case string:
		return strings.IndexByte(v, 0) >= 0
	case []any:
		for _, e := range v {
			if containsNul(e) {
				return true
			}
		}
	case map[string]any:
		for k, e := range v {
			if strings.IndexByte(k, 0) >= 0 || containsNul(e) {
				return true
			}
		}
	}
	return false
}

func replaceNul(v any) any {
	switch v := v.(type) {
	case string:
		return strings.ReplaceAll(v, "\x00", "\uFFFD")
	case []any:
		for i, e := range v {
			v[i] = replaceNul(e)
		}
	case map[string]any:
		m := make(map[string]any, len(v))
		for k, e := range v {
			m[strings.ReplaceAll(k, "\x00", "\uFFFD")] = replaceNul(e)
		}
		return m
	}
	return v
}
