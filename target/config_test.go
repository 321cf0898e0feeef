package target

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
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
		{"age beyond any duration", `{"database":"x","max_batch_age":1e300}`, "max_batch_age: must be at most about 292 years, not 1e300 seconds"},
		{"zero age", `{"database":"x","max_batch_age":0}`, "max_batch_age: must be positive, not 0"},
		{"zero batch bytes", `{"database":"x","batch_size_bytes":0}`, "batch_size_bytes: must be at least 1, not 0"},
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

// TestLoadConfig_NullIsUnset: an empty file, null, null values and empty
// or null environment variables are no settings: the defaults apply, and
// the documented defaults are DefaultConfig's.
func TestLoadConfig_NullIsUnset(t *testing.T) {
	var nulls []string
	for _, s := range commonTable().About() {
		nulls = append(nulls, fmt.Sprintf("%q:null", s.Name))
	}
	env := map[string]string{"TARGET_MEM_BATCH_SIZE_ROWS": "null", "TARGET_MEM_MAX_BATCH_AGE": "", "TARGET_MEM_DATABASE": "x"}
	for _, file := range []string{"", " \n", "null", `{"batch_size_rows":null}`, "{" + strings.Join(nulls, ",") + "}"} {
		path := filepath.Join(t.TempDir(), "config.json")
		if err := os.WriteFile(path, []byte(file), 0o600); err != nil {
			t.Fatal(err)
		}
		lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
		cfg, own, err := loadConfig(memPlugin(newMemLoader(), nil), path, lookup, zerolog.Nop())
		if err != nil {
			t.Fatalf("%q: %v", file, err)
		}
		if cfg != DefaultConfig() || own.Database != "x" {
			t.Errorf("%q: config %+v, %+v; want the defaults %+v", file, cfg, own, DefaultConfig())
		}
	}
	want := Config{BatchSizeRows: 100000, BatchSizeBytes: 16 << 20, MaxBatchAge: time.Second, AddMetadataColumns: true,
		PrimaryKeyRequired: true, LogLevel: zerolog.InfoLevel}
	if DefaultConfig() != want {
		t.Errorf("DefaultConfig() = %+v, want %+v", DefaultConfig(), want)
	}
}

// TestMain_NullBatchSizeRows: "batch_size_rows": null in the file, as
// orchestrators write it for a setting left empty, is the default.
func TestMain_NullBatchSizeRows(t *testing.T) {
	res := runMain(t, memPlugin(newMemLoader(), nil), nil, `{"database":"x","batch_size_rows":null}`, "")
	if res.code != 0 {
		t.Fatalf("exit %d, stderr %s", res.code, res.stderr)
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
