package pgload_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/cio-singer/tap-customerio-webhook/target"
)

// TestIntegrationValuesRoundTripExactly loads every value kind that other
// targets get wrong and reads it back byte for byte.
func TestIntegrationValuesRoundTripExactly(t *testing.T) {
	t.Parallel()
	l, conn := open(t)
	ensure(t, l, target.Table{Name: "x", Keys: []string{"id"}, Columns: []target.Column{
		{Name: "id", Type: target.TypeBigint}, {Name: "s", Type: target.TypeText}, {Name: "n", Type: target.TypeBigint},
		{Name: "d", Type: target.TypeNumeric}, {Name: "at", Type: target.TypeTimestamp}, {Name: "j", Type: target.TypeJSON},
	}})
	parse := func(s string) time.Time {
		ts, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		return ts.UTC()
	}
	tests := []struct {
		name  string
		col   string
		value any
		want  string // the column read back as text (timestamps in UTC)
	}{
		{"control characters and escapes", "s", "a\nb\tc\rd\"e'f\\g\b\f\x01\x1f\x7f", "a\nb\tc\rd\"e'f\\g\b\f\x01\x1f\x7f"},
		{"emoji and accents", "s", "café ☃ 😀 𝄞", "café ☃ 😀 𝄞"},
		{"empty string is not NULL", "s", "", ""},
		{"COPY null marker as text", "s", `\N`, `\N`},
		{"the word null", "s", "null", "null"},
		{"NUL becomes U+FFFD", "s", "a\x00b", "a\uFFFDb"},
		{"NULL", "s", nil, "<NULL>"},
		{"2^53+1", "n", int64(9007199254740993), "9007199254740993"},
		{"max int64", "n", int64(9223372036854775807), "9223372036854775807"},
		{"min int64", "n", int64(-9223372036854775808), "-9223372036854775808"},
		{"long decimal", "d", json.Number("1234567890.123456789012345"), "1234567890.123456789012345"},
		{"decimal exponent", "d", json.Number("-2.50E-3"), "-0.00250"},
		{"integer beyond int64", "d", json.Number("123456789012345678901234567890"), "123456789012345678901234567890"},
		{"offset keeps its instant", "at", parse("2026-01-03T00:00:00+05:00"), "2026-01-02 19:00:00+00"},
		{"microseconds", "at", parse("2026-01-03T00:00:00.123456-07:30"), "2026-01-03 07:30:00.123456+00"},
		{"nested jsonb", "j", json.RawMessage(`{"a":{"b":[1,2.50,{"c":"x\ny\u00e9"}]},"big":123456789012345678901234567890,"t":true,"z":null}`),
			`{"a": {"b": [1, 2.50, {"c": "x\nyé"}]}, "t": true, "z": null, "big": 123456789012345678901234567890}`},
		{"jsonb NUL escape replaced", "j", json.RawMessage(`["\u0000"]`), `["` + "\uFFFD" + `"]`},
	}
	b := &target.Batch{Table: "x", Keys: []string{"id"}, Columns: []string{"id", "s", "n", "d", "at", "j"}}
	for i, tc := range tests {
		r := []any{int64(i), nil, nil, nil, nil, nil}
		r[map[string]int{"s": 1, "n": 2, "d": 3, "at": 4, "j": 5}[tc.col]] = tc.value
		b.Rows = append(b.Rows, r)
	}
	load(t, l, b)
	if _, err := conn.Exec(t.Context(), "SET TIME ZONE 'UTC'"); err != nil {
		t.Fatal(err)
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got *string
			// The column name comes from the test table above, never from input.
			if err := conn.QueryRow(t.Context(), `SELECT `+tc.col+`::text FROM cio.x WHERE id = $1`, i).Scan(&got); err != nil {
				t.Fatal(err)
			}
			s := "<NULL>"
			if got != nil {
				s = *got
			}
			if s != tc.want {
				t.Fatalf("read back %q, want %q", s, tc.want)
			}
		})
	}
}
