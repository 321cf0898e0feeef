package sqliteload_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// buildTarget compiles cmd/target-sqlite into a temporary directory.
func buildTarget(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "target-sqlite")
	out, err := exec.Command("go", "build", "-o", bin, "../../cmd/target-sqlite").CombinedOutput()
	if err != nil {
		t.Fatalf("building target-sqlite: %v\n%s", err, out)
	}
	return bin
}

type runResult struct {
	stdout, stderr string
	code           int
}

func runTarget(t *testing.T, bin, dir string, config any, stdin []byte, args ...string) runResult {
	t.Helper()
	cfg, err := json.Marshal(config)
	if err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "config.json")
	if err := os.WriteFile(cfgPath, cfg, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, append([]string{"--config", cfgPath}, args...)...)
	cmd.Dir = dir
	cmd.Stdin = bytes.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	res := runResult{stdout: stdout.String(), stderr: stderr.String()}
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		res.code = exit.ExitCode()
	case err != nil:
		t.Fatalf("running target-sqlite: %v", err)
	}
	return res
}

// samplePayloads reads the Customer.io bodies that the RECORDs of
// testdata/events.singer.jsonl carry, keyed by event_id.
func samplePayloads(t *testing.T, input []byte) map[string]map[string]any {
	t.Helper()
	out := map[string]map[string]any{}
	sc := bufio.NewScanner(bytes.NewReader(input))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var m struct {
			Type   string         `json:"type"`
			Record map[string]any `json:"record"`
		}
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatal(err)
		}
		if m.Type == "RECORD" {
			out[m.Record["event_id"].(string)] = m.Record
		}
	}
	return out
}

func TestEndToEnd(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("builds and runs the target-sqlite binary")
	}
	bin := buildTarget(t)
	input, err := os.ReadFile(filepath.Join("testdata", "events.singer.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	payloads := samplePayloads(t, input)
	dir := t.TempDir()
	config := map[string]any{"database": "warehouse.db", "batch_size_rows": 3, "some_orchestrator_key": true}
	wantStates := "{\"bookmarks\":{\"data\":{\"spool_offset\":4}}}\n{\"bookmarks\":{\"data\":{\"spool_offset\":8}}}\n"

	t.Run("loads the sample events and prints each state after its records", func(t *testing.T) {
		res := runTarget(t, bin, dir, config, input)
		if res.code != 0 {
			t.Fatalf("exit %d\n%s", res.code, res.stderr)
		}
		if res.stdout != wantStates {
			t.Fatalf("stdout = %q, want %q", res.stdout, wantStates)
		}
		db := openReader(t, filepath.Join(dir, "warehouse.db"))
		rows, err := db.Query(`SELECT event_id, metric, data FROM data`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		seen := 0
		for rows.Next() {
			var id string
			var metric, data *string
			if err := rows.Scan(&id, &metric, &data); err != nil {
				t.Fatal(err)
			}
			want, ok := payloads[id]
			if !ok {
				t.Fatalf("unexpected event_id %q", id)
			}
			if got, _ := want["metric"].(string); (metric == nil) != (want["metric"] == nil) || metric != nil && *metric != got {
				t.Errorf("%s: metric = %v, want %v", id, metric, want["metric"])
			}
			var gotData any
			if data != nil {
				if err := json.Unmarshal([]byte(*data), &gotData); err != nil {
					t.Fatalf("%s: data is not JSON: %v", id, err)
				}
			}
			if !reflect.DeepEqual(gotData, want["data"]) {
				t.Errorf("%s: data = %v, want %v", id, gotData, want["data"])
			}
			seen++
		}
		if seen != len(payloads) {
			t.Fatalf("got %d rows, want %d", seen, len(payloads))
		}
	})

	t.Run("loading again keeps one row per event_id", func(t *testing.T) {
		res := runTarget(t, bin, dir, config, input)
		if res.code != 0 || res.stdout != wantStates {
			t.Fatalf("exit %d, stdout %q\n%s", res.code, res.stdout, res.stderr)
		}
		db := openReader(t, filepath.Join(dir, "warehouse.db"))
		var n, distinct int
		if err := db.QueryRow(`SELECT count(*), count(DISTINCT event_id) FROM data`).Scan(&n, &distinct); err != nil {
			t.Fatal(err)
		}
		if n != len(payloads) || distinct != len(payloads) {
			t.Fatalf("after two loads: %d rows, %d distinct event_ids, want %d", n, distinct, len(payloads))
		}
	})

	t.Run("a bad line exits non-zero naming the line", func(t *testing.T) {
		lines := strings.SplitAfter(string(input), "\n")
		bad := strings.Join(lines[:3], "") + "{\"type\":\"RECORD\",\"stream\":\"data\",\"record\":{oops\n" + strings.Join(lines[3:], "")
		badDir := t.TempDir()
		res := runTarget(t, bin, badDir, config, []byte(bad))
		if res.code == 0 {
			t.Fatalf("exit 0 on a malformed line\n%s", res.stderr)
		}
		if res.stdout != "" {
			t.Fatalf("stdout = %q, want no state for anything after the bad line", res.stdout)
		}
		if !logsLine(res.stderr, 4) {
			t.Fatalf("stderr does not name line 4:\n%s", res.stderr)
		}
	})

	t.Run("database defaults to customerio.db in the working directory", func(t *testing.T) {
		defDir := t.TempDir()
		res := runTarget(t, bin, defDir, map[string]any{}, input)
		if res.code != 0 {
			t.Fatalf("exit %d\n%s", res.code, res.stderr)
		}
		if _, err := os.Stat(filepath.Join(defDir, "customerio.db")); err != nil {
			t.Fatalf("default database: %v", err)
		}
	})

	t.Run("a database that is not a string is a config error", func(t *testing.T) {
		res := runTarget(t, bin, t.TempDir(), map[string]any{"database": 5}, input)
		if res.code != 2 || !strings.Contains(res.stderr, "database") || res.stdout != "" {
			t.Fatalf("exit %d, stdout %q, stderr %s", res.code, res.stdout, res.stderr)
		}
	})
}

// logsLine reports whether a JSON log line on stderr carries "line": n.
func logsLine(stderr string, n int) bool {
	for _, l := range strings.Split(stderr, "\n") {
		var entry map[string]any
		if json.Unmarshal([]byte(l), &entry) != nil {
			continue
		}
		if line, ok := entry["line"].(float64); ok && int(line) == n && entry["level"] != "info" {
			return true
		}
	}
	return false
}
