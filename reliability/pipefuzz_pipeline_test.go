package reliability_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// tap | tee | target for the pipeline fuzzer (pipefuzz_test.go).

// fuzzTarget is one target configuration under test.
type fuzzTarget struct {
	name       string
	sqlite     bool
	flattening int
	// drop: the tap runs with a catalog that deselects dropPaths (see
	// pipefuzz_drop_test.go).
	drop bool
}

var fuzzTargets = []fuzzTarget{
	{"postgres-flat0", false, 0, false},
	{"postgres-flat1", false, 1, false},
	{"sqlite", true, 0, false},
	{"sqlite-flat1", true, 1, false},
	{"postgres-flat1-drop", false, 1, true},
	{"sqlite-drop", true, 0, true},
}

// dropPaths returns the fields the target's tap runs deselected, or nil.
func (ft fuzzTarget) dropPaths() [][]string {
	if ft.drop {
		return dropPaths
	}
	return nil
}

// Targets run when PIPEFUZZ_TARGETS is not set: shortTargets in the
// short run (go test, make test), longTargets with PIPEFUZZ_DURATION (make
// fuzz-pipeline). postgres-flat1-drop is long-run only: it would add about
// 16 s of CPU to the short run, sqlite-drop adds about 10 s.
const (
	shortTargets = "postgres-flat0,postgres-flat1,sqlite,sqlite-drop"
	longTargets  = shortTargets + ",postgres-flat1-drop"
)

// selectedTargets returns the targets of PIPEFUZZ_TARGETS, or the default
// ones.
func selectedTargets(t *testing.T) []fuzzTarget {
	names := os.Getenv("PIPEFUZZ_TARGETS")
	switch {
	case names != "":
	case os.Getenv("PIPEFUZZ_DURATION") != "":
		names = longTargets
	default:
		names = shortTargets
	}
	var out []fuzzTarget
	for _, n := range strings.Split(names, ",") {
		found := false
		for _, ft := range fuzzTargets {
			if ft.name == strings.TrimSpace(n) {
				out = append(out, ft)
				found = true
			}
		}
		if !found {
			t.Fatalf("PIPEFUZZ_TARGETS: unknown target %q", n)
		}
	}
	return out
}

type fuzzBinaries struct{ tap, targetPG, targetSQLite string }

// buildFuzzBinaries builds the three binaries, or takes them from
// PIPEFUZZ_BIN_DIR (to fuzz binaries built elsewhere, e.g. from a branch).
func buildFuzzBinaries(t *testing.T) fuzzBinaries {
	t.Helper()
	if dir := os.Getenv("PIPEFUZZ_BIN_DIR"); dir != "" {
		t.Logf("binaries from PIPEFUZZ_BIN_DIR=%s", dir)
		return fuzzBinaries{
			tap:          filepath.Join(dir, "tap-customerio-webhook"),
			targetPG:     filepath.Join(dir, "target-postgres"),
			targetSQLite: filepath.Join(dir, "target-sqlite"),
		}
	}
	dir := t.TempDir()
	cmd := exec.Command("go", "build", "-o", dir+string(filepath.Separator),
		"github.com/cio-singer/tap-customerio-webhook/cmd/tap-customerio-webhook",
		"github.com/cio-singer/tap-customerio-webhook/cmd/target-postgres",
		"github.com/cio-singer/tap-customerio-webhook/cmd/target-sqlite")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return fuzzBinaries{
		tap:          filepath.Join(dir, "tap-customerio-webhook"),
		targetPG:     filepath.Join(dir, "target-postgres"),
		targetSQLite: filepath.Join(dir, "target-sqlite"),
	}
}

// fuzzPipeline is tap | tee | target, restartable from the target's last
// state. The tee keeps every line the tap wrote, over all runs.
type fuzzPipeline struct {
	t         *testing.T
	tgt       fuzzTarget
	bins      fuzzBinaries
	dir       string
	addr      string
	dsn       string // PostgreSQL targets
	dbPath    string // SQLite targets
	tapCfg    string
	targetCfg string
	catalog   string // --catalog, when fields are deselected
	logs      *os.File
	tee       *os.File

	states stateLines

	tap, target *proc
	teeDone     chan struct{}
	// torn holds the offsets just past lines a killed tap left unfinished
	// (a newline the harness added): a target sees them as a last line
	// without newline at EOF.
	torn map[int64]bool
	// tornExits counts target exits on a line a kill cut short.
	tornExits int
	// tries counts triage loads, each into its own schema or file.
	tries    int
	runStart int64 // size of the tee file when the current run started
	runs     int
}

func newFuzzPipeline(t *testing.T, bins fuzzBinaries, tgt fuzzTarget) *fuzzPipeline {
	t.Helper()
	dir := t.TempDir()
	p := &fuzzPipeline{t: t, tgt: tgt, bins: bins, dir: dir, addr: freeAddr(t)}
	var err error
	if p.logs, err = os.Create(filepath.Join(dir, "stderr.log")); err != nil {
		t.Fatal(err)
	}
	if p.tee, err = os.Create(filepath.Join(dir, "tap-stdout.jsonl")); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.logs.Close(); _ = p.tee.Close() })
	p.tapCfg = tapConfig(t, dir, p.addr, filepath.Join(dir, "spool"), map[string]any{"log_level": "warn"})
	if tgt.drop {
		p.catalog = writeDropCatalog(t, bins.tap, p.tapCfg, dir)
	}
	cfg := map[string]any{
		"batch_size_rows":      200,
		"max_batch_age":        "200ms",
		"flattening_max_level": tgt.flattening,
		"log_level":            "warn",
	}
	if tgt.sqlite {
		p.dbPath = filepath.Join(dir, "warehouse.db")
		cfg["database"] = p.dbPath
	} else {
		p.dsn = pg.NewDatabase(t)
		cfg["dsn"] = p.dsn
		cfg["default_target_schema"] = "cio"
	}
	p.targetCfg = writeJSON(t, filepath.Join(dir, "target.json"), cfg)
	t.Cleanup(func() {
		if t.Failed() {
			p.dumpLogs()
		}
	})
	return p
}

// lastLineTorn reports whether the tap's output so far ends mid-line, and
// the tee file's size. It waits for the tee to finish.
func (p *fuzzPipeline) lastLineTorn() (bool, int64) {
	if p.teeDone != nil {
		<-p.teeDone
	}
	info, err := p.tee.Stat()
	if err != nil {
		p.t.Fatal(err)
	}
	size := info.Size()
	if size == 0 {
		return false, 0
	}
	last := make([]byte, 1)
	if _, err := p.tee.ReadAt(last, size-1); err != nil {
		p.t.Fatal(err)
	}
	return last[0] != '\n', size
}

func (p *fuzzPipeline) cutShort() bool {
	torn, _ := p.lastLineTorn()
	return torn
}

// endTornLine ends the tee file with a newline when a killed tap left its
// last line unfinished, remembers where, and returns the file's size.
func (p *fuzzPipeline) endTornLine() int64 {
	torn, size := p.lastLineTorn()
	if !torn {
		return size
	}
	if _, err := p.tee.Write([]byte("\n")); err != nil {
		p.t.Fatal(err)
	}
	if p.torn == nil {
		p.torn = map[int64]bool{}
	}
	p.torn[size+1] = true
	return size + 1
}

func (p *fuzzPipeline) url() string { return "http://" + p.addr + "/webhook/" + testToken }

func (p *fuzzPipeline) lastState() string { return p.states.last() }

// start starts tap | tee | target, the tap with --state set to the last
// state the target printed, and waits until the tap is ready.
func (p *fuzzPipeline) start() {
	t := p.t
	t.Helper()
	p.runs++
	args := tapArgs(t, p.dir, p.tapCfg, p.runs, p.lastState())
	if p.catalog != "" {
		args = append(args, "--catalog", p.catalog)
	}
	tapOutR, tapOutW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	targetInR, targetInW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	targetOutR, targetOutW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	bin := p.bins.targetPG
	if p.tgt.sqlite {
		bin = p.bins.targetSQLite
	}
	tapCmd := exec.Command(p.bins.tap, args...)
	tapCmd.Stdout, tapCmd.Stderr = tapOutW, p.logs
	targetCmd := exec.Command(bin, "--config", p.targetCfg)
	targetCmd.Stdin, targetCmd.Stdout, targetCmd.Stderr = targetInR, targetOutW, p.logs

	// The tee: what the tap writes goes to the file and to the target. When
	// the target is gone, closing the tap's end makes its next write fail
	// as a shell pipe would.
	p.runStart = p.endTornLine()
	teeDone := make(chan struct{})
	p.teeDone = teeDone
	go func() {
		defer close(teeDone)
		buf := make([]byte, 256<<10)
		for {
			n, err := tapOutR.Read(buf)
			if n > 0 {
				_, _ = p.tee.Write(buf[:n])
				if _, werr := targetInW.Write(buf[:n]); werr != nil {
					break
				}
			}
			if err != nil {
				break
			}
		}
		_ = tapOutR.Close()
		_ = targetInW.Close()
	}()
	linesDone := p.states.collect(targetOutR)
	p.target = startProc(t, targetCmd, func() { <-linesDone })
	p.tap = startProc(t, tapCmd, nil)
	for _, f := range []*os.File{tapOutW, targetInR, targetOutW} {
		_ = f.Close()
	}
	waitReady(t, p.addr, p.tap, time.Minute)
}

// stopped reports a process of the pipeline that exited on its own.
func (p *fuzzPipeline) stopped() string {
	switch {
	case !p.target.alive():
		return fmt.Sprintf("target-%s exited %d on its own", p.tgt.name, p.target.exitCode())
	case !p.tap.alive():
		return fmt.Sprintf("tap exited %d on its own", p.tap.exitCode())
	}
	return ""
}

// end ends the pipeline one of five ways: SIGKILL the tap (the target
// must commit at EOF and exit 0), SIGKILL both, SIGKILL the target (the
// tap's next write fails), SIGTERM the tap (both must exit 0), or "stop",
// SIGTERM at the very end. It returns what went wrong, or "".
func (p *fuzzPipeline) end(how string) string {
	t := p.t
	t.Helper()
	if s := p.stopped(); s != "" {
		return s
	}
	switch how {
	case "kill-tap":
		p.tap.kill()
	case "kill-both":
		p.tap.kill()
		p.target.kill()
	case "kill-target":
		p.target.kill()
	default:
		if err := p.tap.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
	}
	if !p.target.exited(5 * time.Minute) {
		return fmt.Sprintf("%s: target still running 5 minutes after the tap ended", how)
	}
	if !p.tap.exited(30 * time.Second) { // killed target: the tap may be idle, not writing
		p.tap.kill()
		<-p.tap.done
	}
	graceful := how == "term" || how == "stop"
	if how == "kill-tap" && p.target.exitCode() != 0 && p.cutShort() {
		// The tap died mid-line: the target read a truncated last line,
		// which it must refuse (DESIGN §3: a malformed line is an error),
		// after committing what came before it and printing that state.
		p.tornExits++
		return ""
	}
	if (how == "kill-tap" || graceful) && p.target.exitCode() != 0 {
		return fmt.Sprintf("%s: target-%s exited %d at end of input, want 0", how, p.tgt.name, p.target.exitCode())
	}
	if graceful && p.tap.exitCode() != 0 {
		return fmt.Sprintf("%s: tap exited %d after SIGTERM, want 0", how, p.tap.exitCode())
	}
	return ""
}

func (p *fuzzPipeline) dumpLogs() {
	b, err := os.ReadFile(p.logs.Name())
	if err != nil {
		return
	}
	lines := strings.Split(string(b), "\n")
	if len(lines) > 40 {
		lines = lines[len(lines)-40:]
	}
	for i, l := range lines {
		if len(l) > 1000 {
			lines[i] = l[:1000] + "…"
		}
	}
	p.t.Logf("last stderr lines of the pipeline:\n%s", strings.Join(lines, "\n"))
}
