package target

import (
	"strings"
	"testing"
)

// TestMain_ConfigFileRefusals: a key set twice, text after the object and
// out-of-range values stop the target with exit 2 and a message naming the
// key, before anything is loaded.
func TestMain_ConfigFileRefusals(t *testing.T) {
	tests := []struct {
		name, config, want string
	}{
		{"key set twice", `{"database":"x","batch_size_rows":10,"batch_size_rows":20}`, "batch_size_rows: set more than once in the config file"},
		{"plugin key set twice", `{"database":"x","database":"y"}`, "database: set more than once in the config file"},
		{"second object", `{"database":"x"} {"database":"y"}`, "config: trailing data after the JSON object at byte 17"},
		{"trailing text", `{"database":"x"} x`, "config: trailing data after the JSON object at byte 17"},
		{"not an object", `"x"`, "config: not a JSON object: the file holds a JSON string"},
		{"age beyond any duration", `{"database":"x","max_batch_age":1e300}`, "max_batch_age: 1e300 is not a positive duration"},
		{"zero age", `{"database":"x","max_batch_age":0}`, "max_batch_age: 0 is not a positive duration"},
		{"zero batch bytes", `{"database":"x","batch_size_bytes":0}`, "batch_size_bytes: 0 is not a positive integer"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := runMain(t, memPlugin(newMemLoader(), nil), nil, tc.config, "")
			if res.code != 2 || !strings.Contains(res.stderr, tc.want) || res.stdout != "" {
				t.Fatalf("exit %d, stdout %q, stderr %s; want exit 2 and %q", res.code, res.stdout, res.stderr, tc.want)
			}
		})
	}
}

// TestParseConfigFile_Accepts: an empty file, null, and null values are
// no settings; unknown keys pass through to be warned about.
func TestParseConfigFile_Accepts(t *testing.T) {
	for in, want := range map[string]string{
		"":     "",
		" \n":  "",
		"null": "",
		`{"batch_size_rows":null,"database":"x"}`: "database",
		`{"frobnicate":1}`:                        "frobnicate",
	} {
		raw, err := parseConfigFile([]byte(in))
		if err != nil {
			t.Fatalf("%q: %v", in, err)
		}
		var keys []string
		for k := range raw {
			keys = append(keys, k)
		}
		if strings.Join(keys, ",") != want {
			t.Errorf("%q: keys %v, want %q", in, keys, want)
		}
		if _, err := parseCommon(raw); err != nil {
			t.Errorf("%q: %v", in, err)
		}
	}
}

// TestMain_UnknownKeyStillAWarning: orchestrators pass extra keys; a
// target warns and loads.
func TestMain_UnknownKeyStillAWarning(t *testing.T) {
	res := runMain(t, memPlugin(newMemLoader(), nil), nil, `{"database":"x","frobnicate":1}`, "")
	if res.code != 0 || !strings.Contains(res.stderr, "ignoring unknown config key") || !strings.Contains(res.stderr, "frobnicate") {
		t.Fatalf("exit %d, stderr %s", res.code, res.stderr)
	}
}
