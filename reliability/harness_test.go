package reliability_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cio-singer/tap-customerio-webhook/internal/loadgen"
	"github.com/cio-singer/tap-customerio-webhook/internal/pgtest"
	"github.com/cio-singer/tap-customerio-webhook/internal/poll"
)

var pg *pgtest.Server

func TestMain(m *testing.M) { pgtest.Main(m, &pg) }

// EnvFull selects the long version of every test (make test-faults sets it).
const EnvFull = "RELIABILITY_FULL"

// full reports whether the long version runs.
func full() bool { return os.Getenv(EnvFull) == "1" }

// pick returns long in the full run and short otherwise.
func pick[T any](short, long T) T {
	if full() {
		return long
	}
	return short
}

const (
	testToken      = "reliability-token-0123456789abcdef0123"
	testSigningKey = "reliability-signing-key"
)

// figure logs one measured figure in a grep-able form (RELIABILITY.md quotes them).
func figure(t *testing.T, name string, v any) {
	t.Helper()
	t.Logf("FIGURE %s %s = %v", t.Name(), name, v)
}

type binaries struct{ tap, targetPG string }

// buildBinaries builds the real binaries into a temporary directory.
func buildBinaries(t *testing.T) binaries {
	t.Helper()
	dir := goBuild(t, "tap-customerio-webhook", "target-postgres")
	return binaries{tap: filepath.Join(dir, "tap-customerio-webhook"), targetPG: filepath.Join(dir, "target-postgres")}
}

// goBuild builds the module's commands (names under cmd/) into a
// temporary directory and returns it.
func goBuild(t *testing.T, commands ...string) string {
	t.Helper()
	dir := t.TempDir()
	args := []string{"build", "-o", dir + string(filepath.Separator)}
	for _, c := range commands {
		args = append(args, "github.com/cio-singer/tap-customerio-webhook/cmd/"+c)
	}
	if out, err := exec.Command("go", args...).CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return dir
}

// freeAddr returns a loopback address with a port nobody listens on now.
// The tap keeps the same address across restarts so the load generator's URL
// stays valid.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}

func writeJSON(t *testing.T, path string, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// tapConfig writes a tap config listening on addr with its spool in spoolDir.
func tapConfig(t *testing.T, dir, addr, spoolDir string, extra map[string]any) string {
	t.Helper()
	cfg := map[string]any{
		"listen":         addr,
		"webhook_tokens": []string{testToken},
		"signing_keys":   []string{testSigningKey},
		"spool_dir":      spoolDir,
		"state_interval": "200ms",
		"log_level":      "info",
	}
	for k, v := range extra {
		cfg[k] = v
	}
	return writeJSON(t, filepath.Join(dir, "tap.json"), cfg)
}

func targetConfig(t *testing.T, dir, dsn string) string {
	t.Helper()
	return writeJSON(t, filepath.Join(dir, "target.json"), map[string]any{
		"dsn":                   dsn,
		"default_target_schema": "cio",
		"batch_size_rows":       2000,
		"max_batch_age":         "200ms",
		"log_level":             "info",
	})
}

// proc is a started process; done closes once it exited and its output is read.
type proc struct {
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

func startProc(t *testing.T, cmd *exec.Cmd, after func()) *proc {
	t.Helper()
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", cmd.Path, err)
	}
	p := &proc{cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		if after != nil {
			after()
		}
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// exited waits up to d for the process to exit.
func (p *proc) exited(d time.Duration) bool {
	select {
	case <-p.done:
		return true
	case <-time.After(d):
		return false
	}
}

func (p *proc) alive() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

func (p *proc) kill() { _ = p.cmd.Process.Signal(syscall.SIGKILL) }

func (p *proc) exitCode() int {
	if p.cmd.ProcessState == nil {
		return -1
	}
	return p.cmd.ProcessState.ExitCode()
}

// waitReady polls GET /readyz until it answers 200, the process exits or d passes.
func waitReady(t *testing.T, addr string, p *proc, d time.Duration) {
	t.Helper()
	client := &http.Client{Timeout: time.Second}
	poll.Within(t, d, "the tap to be ready on "+addr, func() bool {
		if !p.alive() {
			t.Fatalf("tap exited (code %d) before it was ready", p.exitCode())
		}
		resp, err := client.Get("http://" + addr + "/readyz")
		if err != nil {
			return false
		}
		_ = resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}

// pipeline is tap-customerio-webhook | target-postgres, restartable from the
// last state the target printed.
type pipeline struct {
	t         *testing.T
	bins      binaries
	dir       string
	addr      string
	tapCfg    string
	targetCfg string
	logs      *os.File // both processes' stderr, every run

	states stateLines // every line the target printed, over all runs

	tap, target *proc
	runs        int
}

func newPipeline(t *testing.T, bins binaries, dsn string) *pipeline {
	t.Helper()
	p := newPair(t, bins, dsn)
	p.addr = freeAddr(t)
	p.tapCfg = tapConfig(t, p.dir, p.addr, filepath.Join(p.dir, "spool"), nil)
	return p
}

// newPair is a pipeline without its tap config: a directory, the log file
// (dumped when the test fails) and the target's config.
func newPair(t *testing.T, bins binaries, dsn string) *pipeline {
	t.Helper()
	dir := t.TempDir()
	logs, err := os.Create(filepath.Join(dir, "stderr.log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = logs.Close() })
	p := &pipeline{t: t, bins: bins, dir: dir, logs: logs, targetCfg: targetConfig(t, dir, dsn)}
	t.Cleanup(func() {
		if t.Failed() {
			p.dumpLogs()
		}
	})
	return p
}

func (p *pipeline) url() string { return "http://" + p.addr + "/webhook/" + testToken }

// stateLines collects the lines a target prints (its states), from every
// run of a pipeline. Safe for concurrent use.
type stateLines struct {
	mu    sync.Mutex
	lines []string
}

// collect reads r to its end in a goroutine, keeping every line; the
// channel closes when r is drained.
func (s *stateLines) collect(r *os.File) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 64<<10), 16<<20)
		for sc.Scan() {
			s.mu.Lock()
			s.lines = append(s.lines, sc.Text())
			s.mu.Unlock()
		}
		_ = r.Close()
	}()
	return done
}

// last is the last line the target printed, or "".
func (s *stateLines) last() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.lines) == 0 {
		return ""
	}
	return s.lines[len(s.lines)-1]
}

// lastState is the last line the target printed, or "".
func (p *pipeline) lastState() string { return p.states.last() }

// tapArgs returns the tap's arguments for run number run: its config, and
// --state with the last state the target printed (state), written to a file
// of the run's own, when there is one.
func tapArgs(t *testing.T, dir, tapCfg string, run int, state string) []string {
	t.Helper()
	args := []string{"--config", tapCfg}
	if state != "" {
		path := filepath.Join(dir, fmt.Sprintf("state-%d.json", run))
		if err := os.WriteFile(path, []byte(state), 0o600); err != nil {
			t.Fatal(err)
		}
		args = append(args, "--state", path)
	}
	return args
}

// start starts both processes, the tap with --state set to the last state
// the target printed, and waits until the tap is ready.
func (p *pipeline) start() {
	p.t.Helper()
	p.launch()
	waitReady(p.t, p.addr, p.tap, time.Minute)
}

// launch starts both processes, the tap with --state set to the last state
// the target printed, and returns.
func (p *pipeline) launch() {
	t := p.t
	t.Helper()
	p.runs++
	args := tapArgs(t, p.dir, p.tapCfg, p.runs, p.lastState())
	pipeR, pipeW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	tapCmd := exec.Command(p.bins.tap, args...)
	tapCmd.Stdout, tapCmd.Stderr = pipeW, p.logs
	targetCmd := exec.Command(p.bins.targetPG, "--config", p.targetCfg)
	targetCmd.Stdin, targetCmd.Stdout, targetCmd.Stderr = pipeR, outW, p.logs

	linesDone := p.states.collect(outR)
	p.target = startProc(t, targetCmd, func() { <-linesDone })
	p.tap = startProc(t, tapCmd, nil)
	// The children hold their own copies of the pipe ends.
	for _, f := range []*os.File{pipeR, pipeW, outW} {
		_ = f.Close()
	}
}

// waitBoth waits for both processes to exit, up to d each.
func (p *pipeline) waitBoth(d time.Duration) bool {
	return p.tap.exited(d) && p.target.exited(d)
}

// stop sends SIGTERM to the tap and waits for both to exit 0: the tap
// drains its spool and writes a final STATE, the target commits and prints it.
func (p *pipeline) stop() {
	t := p.t
	t.Helper()
	if err := p.tap.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if !p.waitBoth(5 * time.Minute) {
		t.Fatal("pipeline did not finish after SIGTERM")
	}
	if p.tap.exitCode() != 0 || p.target.exitCode() != 0 {
		t.Fatalf("after SIGTERM: tap exit %d, target exit %d (want 0, 0)", p.tap.exitCode(), p.target.exitCode())
	}
}

func (p *pipeline) dumpLogs() {
	b, err := os.ReadFile(p.logs.Name())
	if err != nil {
		return
	}
	lines := strings.Split(string(b), "\n")
	if len(lines) > 80 {
		lines = lines[len(lines)-80:]
	}
	p.t.Logf("last stderr lines of the pipeline:\n%s", strings.Join(lines, "\n"))
}

// load runs the load generator until ctx ends, recording acknowledged ids.
type load struct {
	cancel context.CancelFunc
	done   chan struct{}
	acked  bytes.Buffer // written by loadgen under its own lock; read after done
	res    loadgen.Result
	err    error
}

func startLoad(url string, conns int, rate float64) *load {
	ctx, cancel := context.WithCancel(context.Background())
	l := &load{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(l.done)
		l.res, l.err = loadgen.Run(ctx, loadgen.Config{
			URL: url, Conns: conns, Duration: 24 * time.Hour, Rate: rate, BodyBytes: 600,
			SigningKey: testSigningKey, Timeout: 5 * time.Second, Acked: &l.acked,
		})
	}()
	return l
}

// stop ends the load and returns what it measured, with the acknowledged ids.
func (l *load) stop(t *testing.T) (loadgen.Result, []string) {
	t.Helper()
	l.cancel()
	<-l.done
	if l.err != nil {
		t.Fatalf("load generator: %v", l.err)
	}
	return l.res, strings.Fields(l.acked.String())
}

// warehouseIDs returns the event_id of every row of cio.data.
func warehouseIDs(t *testing.T, dsn string) []string {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT event_id FROM cio.data`)
	if err != nil {
		t.Fatal(err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	var exists bool
	if err := conn.QueryRow(ctx, `SELECT to_regclass('cio.rejected') IS NOT NULL`).Scan(&exists); err != nil {
		t.Fatal(err)
	}
	if exists {
		var rejected int64
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM cio.rejected`).Scan(&rejected); err != nil {
			t.Fatal(err)
		}
		if rejected != 0 {
			t.Errorf("%d rows in cio.rejected: the load generator sends only valid events", rejected)
		}
	}
	return ids
}

// verdict compares acknowledged ids with the warehouse.
type verdict struct {
	acked, distinctAcked, rows, distinctRows, lost, duplicates, extra int
}

func compare(acked, rows []string) verdict {
	v := verdict{acked: len(acked), rows: len(rows)}
	ackSet := make(map[string]bool, len(acked))
	for _, id := range acked {
		ackSet[id] = true
	}
	rowSet := make(map[string]int, len(rows))
	for _, id := range rows {
		rowSet[id]++
	}
	v.distinctAcked, v.distinctRows = len(ackSet), len(rowSet)
	for id := range ackSet {
		if rowSet[id] == 0 {
			v.lost++
		}
	}
	for id, n := range rowSet {
		v.duplicates += n - 1
		if !ackSet[id] {
			v.extra++
		}
	}
	return v
}

// check asserts the promise: every acknowledged id exactly once, and rows
// beyond them only for requests whose answer was lost (transport errors).
func (v verdict) check(t *testing.T, unanswered uint64) {
	t.Helper()
	figure(t, "acknowledged", v.acked)
	figure(t, "lost", v.lost)
	figure(t, "duplicate_rows", v.duplicates)
	figure(t, "rows", v.rows)
	figure(t, "unacknowledged_rows", v.extra)
	figure(t, "unanswered_requests", unanswered)
	if v.acked == 0 {
		t.Fatal("nothing was acknowledged: the test proved nothing")
	}
	if v.distinctAcked != v.acked {
		t.Errorf("the load generator acknowledged %d ids but only %d distinct", v.acked, v.distinctAcked)
	}
	if v.lost != 0 {
		t.Errorf("%d acknowledged event ids are missing from the warehouse", v.lost)
	}
	if v.duplicates != 0 {
		t.Errorf("%d duplicate rows", v.duplicates)
	}
	if uint64(v.extra) > unanswered {
		t.Errorf("%d rows were never acknowledged, more than the %d requests whose answer was lost", v.extra, unanswered)
	}
	if v.rows != v.distinctAcked+v.extra {
		t.Errorf("rows %d != distinct acknowledged %d + unacknowledged %d", v.rows, v.distinctAcked, v.extra)
	}
}
