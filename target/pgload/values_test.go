package pgload

import (
	"encoding/json"
	"testing"
)

// The number grammar and the NUL rules are jsonlex's, fuzzed there
// (FuzzNumber, FuzzClean); these tests check what pgload builds from them.

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
		{"0.000", "0", -3},   // the scale of zero stays
		{"0e200000", "0", 0}, // zero has no weight to overflow
		{"1e-16383", "1", -16383},
		{"1e131071", "1", 131071},
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
	for _, bad := range []string{"", "abc", "1.", "1e", "1e99999999999", "+1", "--1", "1.2.3", "0x10", "1e-16384", "1e131072", "1e200000"} {
		if _, err := numericFromLiteral(bad); err == nil {
			t.Errorf("numericFromLiteral(%q): want an error", bad)
		}
	}
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

func TestConvertValueCleansJSON(t *testing.T) {
	for in, want := range map[string]string{
		`{"a":"x\u0000y"}`: `{"a":"x\ufffdy"}`, `{"a":"\\u0000"}`: `{"a":"\\u0000"}`, `["\ud800"]`: `["\ufffd"]`, `{"a":1}`: `{"a":1}`,
	} {
		got, err := convertValue(json.RawMessage(in))
		if err != nil || string(got.(json.RawMessage)) != want {
			t.Errorf("convertValue(%s) = %s, %v; want %s", in, got, err, want)
		}
	}
}
