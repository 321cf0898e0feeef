package e2e

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// runBinary runs one of the built binaries in dir with no input and
// returns its exit code, stdout and stderr.
func runBinary(t *testing.T, dir string, env []string, name string, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(filepath.Join(bin, name), args...)
	cmd.Dir, cmd.Env = dir, append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0, stdout.String(), stderr.String()
	case errors.As(err, &exit):
		return exit.ExitCode(), stdout.String(), stderr.String()
	}
	t.Fatalf("%s: %v", name, err)
	return 0, "", ""
}

// TestConfigRefusals: each binary refuses a config file with a key set
// twice, text after the object or settings that contradict each other:
// exit 2, a message naming the key, nothing started (the tap creates no
// spool directory).
func TestConfigRefusals(t *testing.T) {
	t.Parallel()
	tokens := `"webhook_tokens":["` + token + `"],"spool_dir":"spool"`
	tests := []struct {
		binary string
		args   []string // before --config
		config string
		want   string
	}{
		{"tap-customerio-webhook", nil, `{` + tokens + `,"signing_keys":["k"],"signing_keys":[]}`,
			"signing_keys: set more than once in the config file"},
		{"tap-customerio-webhook", nil, `{` + tokens + `} {"signing_keys":[]}`, "config: trailing data after the JSON object"},
		{"tap-customerio-webhook", []string{"serve"}, `{` + tokens + `,"max_body_bytes":300000000,"max_inflight_bytes":300000000}`,
			"max_body_bytes: 300000000 is more than the spool stores in one record (268435456 bytes)"},
		{"tap-customerio-webhook", []string{"serve"}, `{` + tokens + `,"max_inflight_bytes":65536}`,
			"max_inflight_bytes: 65536 is less than max_body_bytes (8388608)"},
		{"tap-customerio-webhook", nil, `{` + tokens + `,"spool_max_bytes":1048576}`, "spool_max_bytes: 1048576 is less than 83886688"},
		{"target-postgres", nil, `{"dbname":"a","batch_size_rows":10,"batch_size_rows":0}`, "batch_size_rows: set more than once in the config file"},
		{"target-postgres", nil, `{"dbname":"a","database":"b"}`, "database: is an alias of dbname, and the two name different databases"},
		{"target-sqlite", nil, `{"database":"a.db"} x`, "config: trailing data after the JSON object at byte 20"},
		{"target-sqlite", nil, `{"database":"a.db","database":"b.db"}`, "database: set more than once in the config file"},
	}
	for i, tc := range tests {
		t.Run(fmt.Sprint(tc.binary, i), func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "config.json")
			if err := os.WriteFile(path, []byte(tc.config), 0o600); err != nil {
				t.Fatal(err)
			}
			code, stdout, stderr := runBinary(t, dir, nil, tc.binary, append(tc.args, "--config", path)...)
			if code != 2 || !strings.Contains(stderr, tc.want) || stdout != "" {
				t.Fatalf("exit %d, stdout %q, stderr %s; want exit 2 and %q", code, stdout, stderr, tc.want)
			}
			if _, err := os.Stat(filepath.Join(dir, "spool")); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("a spool directory was created: %v", err)
			}
		})
	}
}

// TestExampleConfigsLoad: the committed example configs start each binary
// (the tap's with --discover, the targets' on empty input, target-postgres
// pointed at the test server through TARGET_POSTGRES_DSN).
func TestExampleConfigsLoad(t *testing.T) {
	t.Parallel()
	abs := func(rel string) string {
		p, err := filepath.Abs(filepath.Join("..", rel))
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, cfg := range []string{"config.example.json", "deploy/serve.json", "deploy/load.json"} {
		if code, stdout, stderr := runBinary(t, t.TempDir(), nil, "tap-customerio-webhook", "--config", abs(cfg), "--discover"); code != 0 || !strings.Contains(stdout, `"streams"`) {
			t.Errorf("%s: exit %d, stderr %s", cfg, code, stderr)
		}
	}
	if code, _, stderr := runBinary(t, t.TempDir(), nil, "target-sqlite", "--config", abs("target-sqlite.example.json")); code != 0 {
		t.Errorf("target-sqlite.example.json: exit %d, stderr %s", code, stderr)
	}
	dsn := pg.NewDatabase(t)
	if code, _, stderr := runBinary(t, t.TempDir(), []string{"TARGET_POSTGRES_DSN=" + dsn}, "target-postgres", "--config", abs("target-postgres.example.json")); code != 0 {
		t.Errorf("target-postgres.example.json: exit %d, stderr %s", code, stderr)
	}
}
