package pgload_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cio-singer/tap-customerio-webhook/internal/lockedbuf"
)

// These tests run the real target-postgres binary (buildTarget: built once
// per test binary) on Singer input from testdata/ or generated here.
func TestIntegrationEndToEnd(t *testing.T) {
	pg.Require(t)
	bin := buildTarget(t)
	// Each run has its own database, so the runs go in parallel, except the
	// outage: it stops the shared cluster. Parallel subtests only start once
	// this function has returned, so they never overlap it.
	parallel := func(f func(*testing.T, string)) func(*testing.T) {
		return func(t *testing.T) { t.Parallel(); f(t, bin) }
	}
	t.Run("string escapes, empty strings and exact values", parallel(testEscapes))
	t.Run("final state written when no rows follow the last batch", parallel(testLastState))
	t.Run("interleaved streams with states, loaded twice", parallel(testInterleaved))
	t.Run("bad line exits naming it without state beyond the commit", parallel(testBadLine))
	t.Run("killed mid-input and rerun from its last state loses nothing", parallel(testKillAndResume))
	t.Run("server stopped during a load is retried", func(t *testing.T) { testOutage(t, bin) })
}

// builtTarget is the target-postgres binary of this test run: built by the
// first test that needs it, shared by the others, and its directory
// removed by TestMain.
var builtTarget struct {
	once sync.Once
	dir  string
	bin  string
	err  error
}

// buildTarget returns the path of the target-postgres binary, compiling
// cmd/target-postgres once per test binary.
func buildTarget(t *testing.T) string {
	t.Helper()
	b := &builtTarget
	b.once.Do(func() {
		if b.dir, b.err = os.MkdirTemp("", "pgload-test-bin-"); b.err != nil {
			return
		}
		bin := filepath.Join(b.dir, "target-postgres")
		build := exec.Command("go", "build", "-o", bin, "github.com/cio-singer/tap-customerio-webhook/cmd/target-postgres")
		if out, err := build.CombinedOutput(); err != nil {
			b.err = fmt.Errorf("building target-postgres: %w\n%s", err, out)
			return
		}
		b.bin = bin
	})
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.bin
}

// target is one run of the binary against one database.
type targetRun struct {
	cmd            *exec.Cmd
	stdout, stderr *lockedbuf.Buffer
	stdin          io.WriteCloser
}

func writeConfig(t *testing.T, dsn string, extra string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config.json")
	cfg := fmt.Sprintf(`{"dsn":%q,"default_target_schema":"cio"%s}`, dsn, extra)
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func startTarget(t *testing.T, bin, config string, stdin io.Reader) *targetRun {
	t.Helper()
	r := &targetRun{stdout: &lockedbuf.Buffer{}, stderr: &lockedbuf.Buffer{}}
	r.cmd = exec.Command(bin, "--config", config)
	r.cmd.Stdout, r.cmd.Stderr = r.stdout, r.stderr
	if stdin != nil {
		r.cmd.Stdin = stdin
	} else {
		w, err := r.cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		r.stdin = w
	}
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if r.cmd.ProcessState == nil {
			_ = r.cmd.Process.Kill()
			_ = r.cmd.Wait()
		}
		if t.Failed() {
			t.Logf("target stderr:\n%s", r.stderr.String())
		}
	})
	return r
}

// wait waits for the run to end and returns its exit code.
func (r *targetRun) wait(t *testing.T) int {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- r.cmd.Wait() }()
	select {
	case err := <-done:
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			return exit.ExitCode()
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0
	case <-time.After(3 * time.Minute):
		_ = r.cmd.Process.Kill()
		t.Fatal("target did not finish within 3 minutes")
		return -1
	}
}

func runFile(t *testing.T, bin, config, input string) (*targetRun, int) {
	t.Helper()
	f, err := os.Open(input)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := startTarget(t, bin, config, f)
	return r, r.wait(t)
}

// states returns the state lines the target printed, compacted.
func states(t *testing.T, stdout string) []string {
	t.Helper()
	var out []string
	for _, line := range strings.Split(strings.TrimSpace(stdout), "\n") {
		if line == "" {
			continue
		}
		var b bytes.Buffer
		if err := json.Compact(&b, []byte(line)); err != nil {
			t.Fatalf("stdout line %q is not JSON: %v", line, err)
		}
		out = append(out, b.String())
	}
	return out
}

func queryStrings(t *testing.T, dsn, sql string) []string {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, sql)
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	got, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func testEscapes(t *testing.T, bin string) {
	dsn := pg.NewDatabase(t)
	r, code := runFile(t, bin, writeConfig(t, dsn, ""), "testdata/escapes.jsonl")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	if got, want := states(t, r.stdout.String()), []string{`{"bookmarks":{"data":{"spool_offset":3}}}`}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("stdout states %v, want %v", got, want)
	}
	type rec struct {
		note, metric       *string
		ts, amount, recvAt *string
		customer           *string
	}
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	got := map[string]rec{}
	rows, err := conn.Query(t.Context(), `SELECT event_id, note, metric, "timestamp"::text, amount::text,
		to_char(received_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'), data->>'customer_id' FROM cio.data`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id string
		var x rec
		if err := rows.Scan(&id, &x.note, &x.metric, &x.ts, &x.amount, &x.recvAt, &x.customer); err != nil {
			t.Fatal(err)
		}
		got[id] = x
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	str := func(p *string) string {
		if p == nil {
			return "<NULL>"
		}
		return *p
	}
	checks := []struct{ what, got, want string }{
		{"e1 note", str(got["e1"].note), "a\nb\tc\\d\"e\x01f\r\b\f 😀"},
		{"e1 timestamp 2^53+1", str(got["e1"].ts), "9007199254740993"},
		{"e1 amount", str(got["e1"].amount), "1234567890.123456789012345"},
		{"e1 received_at instant", str(got["e1"].recvAt), "2026-01-02T19:00:00Z"},
		{"e1 nested string", str(got["e1"].customer), "line1\nline2 \"quoted\" back\\slash café ☃"},
		{`e2 metric ""`, str(got["e2"].metric), ""},
		{"e2 note null", str(got["e2"].note), "<NULL>"},
		{`e3 metric "null"`, str(got["e3"].metric), "null"},
		{"e3 NUL replaced", str(got["e3"].note), "\uFFFDx"},
		{"e3 max int64", str(got["e3"].ts), "9223372036854775807"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: got %q, want %q", c.what, c.got, c.want)
		}
	}
	if len(got) != 3 {
		t.Errorf("%d rows, want 3", len(got))
	}
}

func testLastState(t *testing.T, bin string) {
	dsn := pg.NewDatabase(t)
	r, code := runFile(t, bin, writeConfig(t, dsn, `,"batch_size_rows":2`), "testdata/last_state.jsonl")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	st := states(t, r.stdout.String())
	if len(st) == 0 || st[len(st)-1] != `{"pos":2}` {
		t.Fatalf("states %v: the last must be {\"pos\":2}", st)
	}
	if got := queryStrings(t, dsn, `SELECT event_id FROM cio.data ORDER BY 1`); fmt.Sprint(got) != "[e1 e2]" {
		t.Fatalf("rows %v", got)
	}
}

func testInterleaved(t *testing.T, bin string) {
	dsn := pg.NewDatabase(t)
	config := writeConfig(t, dsn, `,"batch_size_rows":2`)
	dump := func() string {
		return fmt.Sprint(queryStrings(t, dsn, `SELECT event_id || '=' || metric FROM cio.data ORDER BY 1`),
			queryStrings(t, dsn, `SELECT rejection_id || '=' || reason || '=' || body FROM cio.rejected ORDER BY 1`))
	}
	var first string
	for run := 1; run <= 2; run++ {
		r, code := runFile(t, bin, config, "testdata/interleaved.jsonl")
		if code != 0 {
			t.Fatalf("run %d: exit %d", run, code)
		}
		st := states(t, r.stdout.String())
		if len(st) == 0 || st[len(st)-1] != `{"bookmarks":{"data":{"spool_offset":6}}}` {
			t.Fatalf("run %d: states %v", run, st)
		}
		got := dump()
		want := "[e1=delivered e2=opened e3=clicked] [r1=no event_id={} r2=not an object=[1]]"
		if got != want {
			t.Fatalf("run %d: rows %s, want %s", run, got, want)
		}
		if run == 1 {
			first = got
		} else if got != first {
			t.Fatalf("second load changed the rows: %s, then %s", first, got)
		}
	}
}

func testBadLine(t *testing.T, bin string) {
	dsn := pg.NewDatabase(t)
	r, code := runFile(t, bin, writeConfig(t, dsn, ""), "testdata/bad_line.jsonl")
	if code == 0 {
		t.Fatal("exit 0 on a malformed line")
	}
	named := false
	for _, line := range strings.Split(r.stderr.String(), "\n") {
		var entry struct {
			Line  int    `json:"line"`
			Level string `json:"level"`
		}
		if json.Unmarshal([]byte(line), &entry) == nil && entry.Line == 4 {
			named = true
		}
	}
	if !named {
		t.Fatalf("stderr does not name line 4:\n%s", r.stderr.String())
	}
	st := states(t, r.stdout.String())
	for _, s := range st {
		if s != `{"pos":1}` {
			t.Fatalf("state %s written beyond the bad line", s)
		}
		if loaded := queryStrings(t, dsn, `SELECT event_id FROM cio.data ORDER BY 1`); fmt.Sprint(loaded) != "[e1]" {
			t.Fatalf("state {\"pos\":1} written but rows are %v", loaded)
		}
	}
}
