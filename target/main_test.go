package target

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/cio-singer/tap-customerio-webhook/internal/about"
	"github.com/cio-singer/tap-customerio-webhook/internal/config"
)

// memConfig is memPlugin's own configuration.
type memConfig struct{ Database string }

// memPlugin is a Plugin over a memLoader with one key of its own,
// "database", which it requires.
func memPlugin(l *memLoader, got *memConfig) Plugin[memConfig] {
	return Plugin[memConfig]{
		Name:        "target-mem",
		Description: "Loads Singer messages into memory.",
		Settings: config.Table[memConfig]{Settings: []config.Setting[memConfig]{
			config.Field("database", config.String, func(c *memConfig) *string { return &c.Database }).Required().Doc("where"),
		}},
		Open: func(_ context.Context, cfg memConfig, _ zerolog.Logger) (Loader, error) {
			if got != nil {
				*got = cfg
			}
			return l, nil
		},
	}
}

type mainResult struct {
	code           int
	stdout, stderr string
}

func runMain(t *testing.T, p Plugin[memConfig], env map[string]string, config string, input string, extra ...string) mainResult {
	t.Helper()
	dir := t.TempDir()
	args := extra
	if config != "" {
		cfgPath := filepath.Join(dir, "config.json")
		if err := os.WriteFile(cfgPath, []byte(config), 0o600); err != nil {
			t.Fatal(err)
		}
		args = append([]string{"--config", cfgPath}, args...)
	}
	var stdout, stderr bytes.Buffer
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	code := mainWith(t.Context(), p, args, strings.NewReader(input), &stdout, &stderr, lookup, testOptions())
	return mainResult{code, stdout.String(), stderr.String()}
}

// logLines decodes stderr's JSON log lines.
func logLines(t *testing.T, stderr string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(stderr), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("stderr line %q is not JSON: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

func TestMain_SuccessfulRun(t *testing.T) {
	l := newMemLoader()
	var got memConfig
	input := lines(fmt.Sprintf(simpleSchema, "s"), rec("s", 1, "a"), state(1), rec("s", 2, "b"), state(2))
	res := runMain(t, memPlugin(l, &got), nil, `{"database":"x.db","batch_size_rows":1,"some_orchestrator_key":true}`, input)
	if res.code != 0 {
		t.Fatalf("exit %d, stderr:\n%s", res.code, res.stderr)
	}
	if !strings.HasSuffix(res.stdout, `{"pos":2}`+"\n") {
		t.Fatalf("stdout %q", res.stdout)
	}
	if lower := strings.ToLower(res.stderr); strings.Contains(lower, "error") || strings.Contains(lower, "exception") {
		t.Fatalf("a successful run logged error/exception (Meltano's test fails on that):\n%s", res.stderr)
	}
	if got.Database != "x.db" {
		t.Fatalf("plugin got %+v, want its own key", got)
	}
	warned := false
	for _, m := range logLines(t, res.stderr) {
		if m["level"] == "warn" && m["key"] == "some_orchestrator_key" {
			warned = true
		}
	}
	if !warned {
		t.Fatalf("no warning naming the unknown key:\n%s", res.stderr)
	}
	if len(l.loads) != 2 || !l.closed {
		t.Fatalf("%d loads (batch_size_rows 1), closed %v", len(l.loads), l.closed)
	}
}

func TestMain_EnvOverridesFile(t *testing.T) {
	l := newMemLoader()
	var got memConfig
	env := map[string]string{"TARGET_MEM_BATCH_SIZE_ROWS": "1", "TARGET_MEM_DATABASE": "env.db", "TARGET_MEM_ADD_METADATA_COLUMNS": "false"}
	input := lines(fmt.Sprintf(simpleSchema, "s"), rec("s", 1, "a"), rec("s", 2, "b"))
	res := runMain(t, memPlugin(l, &got), env, `{"database":"file.db","batch_size_rows":1000}`, input)
	if res.code != 0 {
		t.Fatalf("exit %d: %s", res.code, res.stderr)
	}
	if len(l.loads) != 2 || got.Database != "env.db" || len(l.loads[0].Columns) != 3 { // id, v, _sdc_errors
		t.Fatalf("env not applied: %d loads, database %s, columns %v", len(l.loads), got.Database, l.loads[0].Columns)
	}
}

func TestMain_BadUsage(t *testing.T) {
	tests := []struct {
		name    string
		config  string
		env     map[string]string
		args    []string
		noCfg   bool
		wantKey string
	}{
		{name: "missing --config", noCfg: true, wantKey: "--config"},
		{name: "bad batch_size_rows", config: `{"database":"x","batch_size_rows":-3}`, wantKey: "batch_size_rows"},
		{name: "bad env value", config: `{"database":"x"}`, env: map[string]string{"TARGET_MEM_VALIDATE_RECORDS": "maybe"}, wantKey: "validate_records"},
		{name: "bad max_batch_age", config: `{"database":"x","max_batch_age":"soon"}`, wantKey: "max_batch_age"},
		{name: "bad log_level", config: `{"database":"x","log_level":"loud"}`, wantKey: "log_level"},
		{name: "not an object", config: `[1]`, wantKey: "config"},
		{name: "plugin key missing", config: `{}`, wantKey: "database"},
		{name: "unknown flag", config: `{"database":"x"}`, args: []string{"--frobnicate"}, wantKey: "frobnicate"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.config
			if tc.noCfg {
				cfg = ""
			}
			res := runMain(t, memPlugin(newMemLoader(), nil), tc.env, cfg, "", tc.args...)
			if res.code != 2 {
				t.Fatalf("exit %d, want 2; stderr %s", res.code, res.stderr)
			}
			if !strings.Contains(res.stderr, tc.wantKey) {
				t.Fatalf("stderr does not name %s:\n%s", tc.wantKey, res.stderr)
			}
			if res.stdout != "" {
				t.Fatalf("stdout %q", res.stdout)
			}
		})
	}
}

// TestMain_FailureNamesTheLine: a bad line ends the run with exit 1 naming
// it, after loading what came before it and printing the state covering
// that; nothing after the bad line is loaded or covered by a state.
func TestMain_FailureNamesTheLine(t *testing.T) {
	input := lines(fmt.Sprintf(simpleSchema, "s"), rec("s", 1, "a"), state(1), `{"type":"RECORD","stream":"s","record":{"id":"x"}}`, rec("s", 2, "b"), state(2))
	loader := newMemLoader()
	res := runMain(t, memPlugin(loader, nil), nil, `{"database":"x"}`, input)
	if res.code != 1 {
		t.Fatalf("exit %d, want 1", res.code)
	}
	if res.stdout != "{\"pos\":1}\n" {
		t.Fatalf("stdout %q, want only the state before the bad line", res.stdout)
	}
	var loaded int
	for _, b := range loader.loads {
		loaded += len(b.Rows)
	}
	if loaded != 1 {
		t.Fatalf("%d rows loaded, want the 1 record before the bad line", loaded)
	}
	logs := logLines(t, res.stderr)
	last := logs[len(logs)-1]
	if last["level"] != "fatal" || last["line"] != float64(4) || !strings.Contains(fmt.Sprint(last["error"]), `field "id"`) {
		t.Fatalf("last log line %v", last)
	}
}

func TestMain_InputFlagAboutVersion(t *testing.T) {
	l := newMemLoader()
	path := filepath.Join(t.TempDir(), "in.jsonl")
	if err := os.WriteFile(path, []byte(lines(fmt.Sprintf(simpleSchema, "s"), rec("s", 1, "a"), state(1))), 0o600); err != nil {
		t.Fatal(err)
	}
	res := runMain(t, memPlugin(l, nil), nil, `{"database":"x"}`, "ignored stdin", "--input", path)
	if res.code != 0 || res.stdout != `{"pos":1}`+"\n" {
		t.Fatalf("--input: exit %d stdout %q stderr %s", res.code, res.stdout, res.stderr)
	}

	res = runMain(t, memPlugin(l, nil), nil, "", "", "--about", "--format", "json")
	var doc struct {
		Name     string
		Settings struct{ Properties map[string]any }
	}
	if res.code != 0 || json.Unmarshal([]byte(res.stdout), &doc) != nil || doc.Name != "target-mem" {
		t.Fatalf("--about json: exit %d %q", res.code, res.stdout)
	}
	for _, k := range []string{"database", "batch_size_rows", "batch_size_bytes", "max_batch_age", "add_metadata_columns", "primary_key_required", "validate_records", "flattening_max_level", "log_level"} {
		if _, ok := doc.Settings.Properties[k]; !ok {
			t.Errorf("--about lacks setting %s", k)
		}
	}
	res = runMain(t, memPlugin(l, nil), nil, "", "", "--about", "--format", "markdown")
	if res.code != 0 || !strings.Contains(res.stdout, "TARGET_MEM_") {
		t.Fatalf("--about markdown does not document env vars: %q", res.stdout)
	}
	res = runMain(t, memPlugin(l, nil), nil, "", "", "--version")
	if res.code != 0 || res.stdout != "target-mem "+about.Version+"\n" {
		t.Fatalf("--version: %d %q", res.code, res.stdout)
	}
}

// lineWriter sends every write (one state line each) to a channel.
type lineWriter chan string

func (w lineWriter) Write(p []byte) (int, error) {
	w <- string(p)
	return len(p), nil
}

// TestRun_MaxBatchAgeWhileInputStaysOpen: rows buffered while the input
// stays open are loaded once max_batch_age passes, and the STATE after them
// is printed once they are committed. Two records written together usually
// share one aged batch, but max_batch_age is real time: if the machine
// stalls the run for longer than it between the two, the first is rightly
// loaded alone, so the rows are counted over the aged batches.
func TestRun_MaxBatchAgeWhileInputStaysOpen(t *testing.T) {
	l := newMemLoader()
	loaded := make(chan int, 10)
	l.onLoad = func(b *Batch) { loaded <- len(b.Rows) }
	pr, pw := io.Pipe()
	out := make(lineWriter, 10)
	cfg := testConfig()
	cfg.MaxBatchAge = 20 * time.Millisecond
	done, exited := make(chan error, 1), make(chan struct{})
	go func() {
		defer close(exited)
		done <- run(t.Context(), cfg, l, pr, out, zerologT(t), testOptions())
	}()
	// After a failure the run would still log to t, which panics once t
	// completed: end it first.
	t.Cleanup(func() { pw.Close(); <-exited })

	wait := func(what string, ch <-chan int) int {
		t.Helper()
		select {
		case n := <-ch:
			return n
		case <-time.After(10 * time.Second):
			t.Fatalf("timed out waiting for %s", what)
			return 0
		}
	}
	if _, err := io.WriteString(pw, lines(fmt.Sprintf(simpleSchema, "s"), rec("s", 1, "a"), rec("s", 2, "b"), state(2))); err != nil {
		t.Fatal(err)
	}
	for rows := 0; rows < 2; {
		n := wait("an age flush", loaded)
		if rows += n; n < 1 || rows > 2 {
			t.Fatalf("aged batch of %d rows after %d, want the 2 written", n, rows-n)
		}
	}
	select {
	case line := <-out:
		if line != `{"pos":2}`+"\n" {
			t.Fatalf("state %q", line)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no state after the aged batch committed")
	}
	if _, err := io.WriteString(pw, lines(rec("s", 3, "c"))); err != nil {
		t.Fatal(err)
	}
	if n := wait("a second age flush", loaded); n != 1 {
		t.Fatalf("second batch %d rows", n)
	}
	pw.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
