package reliability_test

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	_ "modernc.org/sqlite" // reading what target-sqlite loaded
)

// The pipeline fuzzer (issue 8): generated bodies, hostile on purpose, are
// POSTed to the real tap over real HTTP; the tap's stdout is teed into the
// real target (target-postgres at flattening_max_level 0 and 1,
// target-sqlite); now and then the pipeline is killed and restarted from the
// last state the target printed. At the end every acknowledged body must be
// findable (see pipefuzz_oracle_test.go), no process may have stopped on its
// own, and every RECORD line the tap wrote must be loadable by other
// people's targets (PostgreSQL jsonb, no \u0000, no lone surrogate, no
// duplicate key).
//
// Environment:
//
//	PIPEFUZZ_SEED=n          replay a run (the seed is logged on every run)
//	PIPEFUZZ_DURATION=10m    run that long per target instead of the short run
//	PIPEFUZZ_TARGETS=a,b     targets to run (postgres-flat0, postgres-flat1, sqlite, sqlite-flat1)
//	PIPEFUZZ_DUMP=dir        write every acknowledged body there, in the case format
//	PIPEFUZZ_CASES=glob      regression cases to replay (default testdata/pipefuzz/*.txt)
//	PIPEFUZZ_BIN_DIR=dir     use the binaries there instead of building them

// fuzzTarget is one target configuration under test.
type fuzzTarget struct {
	name       string
	sqlite     bool
	flattening int
}

var fuzzTargets = []fuzzTarget{
	{"postgres-flat0", false, 0},
	{"postgres-flat1", false, 1},
	{"sqlite", true, 0},
	{"sqlite-flat1", true, 1},
}

// selectedTargets returns the targets of PIPEFUZZ_TARGETS, or the three of
// the issue.
func selectedTargets(t *testing.T) []fuzzTarget {
	names := os.Getenv("PIPEFUZZ_TARGETS")
	if names == "" {
		names = "postgres-flat0,postgres-flat1,sqlite"
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
	logs      *os.File
	tee       *os.File

	mu     sync.Mutex
	states []string

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

func (p *fuzzPipeline) lastState() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.states) == 0 {
		return ""
	}
	return p.states[len(p.states)-1]
}

// start starts tap | tee | target, the tap with --state set to the last
// state the target printed, and waits until the tap is ready.
func (p *fuzzPipeline) start() {
	t := p.t
	t.Helper()
	p.runs++
	args := []string{"--config", p.tapCfg}
	if st := p.lastState(); st != "" {
		path := filepath.Join(p.dir, fmt.Sprintf("state-%d.json", p.runs))
		if err := os.WriteFile(path, []byte(st), 0o600); err != nil {
			t.Fatal(err)
		}
		args = append(args, "--state", path)
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
	linesDone := make(chan struct{})
	go func() {
		defer close(linesDone)
		sc := bufio.NewScanner(targetOutR)
		sc.Buffer(make([]byte, 64<<10), 16<<20)
		for sc.Scan() {
			p.mu.Lock()
			p.states = append(p.states, sc.Text())
			p.mu.Unlock()
		}
		_ = targetOutR.Close()
	}()
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
		// having committed nothing after its last state.
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

// fuzzRun keeps what a run posted and what was acknowledged.
type fuzzRun struct {
	t        *testing.T
	p        *fuzzPipeline
	client   *http.Client
	expected []expectation
	byID     map[string]int // body number by cleaned event_id
	raw      map[int][]byte // small acknowledged bodies, for reports
	dump     *os.File
	posted   int
	status   map[int]int
	restarts map[string]int
	senders  int
}

func newFuzzRun(t *testing.T, p *fuzzPipeline) *fuzzRun {
	r := &fuzzRun{t: t, p: p, client: &http.Client{Timeout: 30 * time.Second}, raw: map[int][]byte{}, byID: map[string]int{},
		status: map[int]int{}, restarts: map[string]int{}, senders: 4}
	if dir := os.Getenv("PIPEFUZZ_DUMP"); dir != "" {
		f, err := os.Create(filepath.Join(dir, fmt.Sprintf("acked-%s-%d.txt", p.tgt.name, time.Now().Unix())))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = f.Close() })
		fmt.Fprintf(f, "acknowledged bodies of %s, target %s\n", t.Name(), p.tgt.name)
		r.dump = f
		t.Logf("acknowledged bodies go to %s", f.Name())
	}
	return r
}

// post sends bodies from r.senders concurrent senders (1: in order) and
// records the acknowledged.
func (r *fuzzRun) post(bodies []fuzzBody) {
	r.t.Helper()
	type answer struct {
		i    int
		code int
		err  error
	}
	answers := make(chan answer)
	next := make(chan int)
	var wg sync.WaitGroup
	for range r.senders {
		wg.Go(func() {
			for i := range next {
				code, _, err := signedPost(r.client, r.p.url(), "application/json", bodies[i].raw)
				answers <- answer{i, code, err}
			}
		})
	}
	go func() {
		for i := range bodies {
			next <- i
		}
		close(next)
		wg.Wait()
		close(answers)
	}()
	var refused []string
	for a := range answers {
		r.posted++
		b := bodies[a.i]
		if a.err != nil {
			r.status[0]++
			refused = append(refused, fmt.Sprintf("%s: %v", b, a.err))
			continue
		}
		r.status[a.code]++
		if a.code != http.StatusOK {
			refused = append(refused, fmt.Sprintf("%s: status %d", b, a.code))
			continue
		}
		r.acknowledged(b)
	}
	if s := r.p.stopped(); s != "" {
		r.failStop(s)
	}
	if len(refused) > 0 {
		sort.Strings(refused)
		r.t.Errorf("%d signed bodies within max_body_bytes were not answered 200 while the pipeline was up, e.g. %s",
			len(refused), refused[0])
	}
}

// restart ends the pipeline (see fuzzPipeline.end) and starts it again
// from the target's last state.
func (r *fuzzRun) restart(how string) {
	r.restarts[how]++
	if s := r.p.end(how); s != "" {
		r.failStop(s)
	}
	r.p.start()
}

// stop ends the pipeline with SIGTERM: both must exit 0.
func (r *fuzzRun) stop() {
	if s := r.p.end("stop"); s != "" {
		r.failStop(s)
	}
}

// failStop ends the test when a process stopped on its own, after naming
// the records that stop the target and checking the tap's output.
func (r *fuzzRun) failStop(what string) {
	r.t.Helper()
	for _, pr := range []*proc{r.p.tap, r.p.target} {
		pr.kill()
		<-pr.done
	}
	r.triage()
	r.checkTapOutput()
	r.t.Fatalf("%s (PIPEFUZZ_SEED replays the run; PIPEFUZZ_DUMP keeps the bodies)", what)
}

func (r *fuzzRun) acknowledged(b fuzzBody) {
	e := expect(b)
	r.expected = append(r.expected, e)
	if e.id != "" {
		r.byID[e.id] = b.n
	}
	if len(b.raw) <= 16<<10 {
		r.raw[b.n] = b.raw
	}
	if r.dump != nil {
		fmt.Fprintf(r.dump, "%s# %s\n%s", caseSeparator, b, b.raw)
	}
}

// caseSeparator separates the bodies of a case file. A case file is a
// description, then bodies, each after a separator line (the body's first
// line may be a "# " comment, which is not part of it).
const caseSeparator = "\n-- body --\n"

func parseCaseFile(data []byte) (desc string, bodies [][]byte) {
	parts := bytes.Split(data, []byte(caseSeparator))
	for _, part := range parts[1:] {
		if bytes.HasPrefix(part, []byte("# ")) {
			if i := bytes.IndexByte(part, '\n'); i >= 0 {
				part = part[i+1:]
			} else {
				part = nil
			}
		}
		bodies = append(bodies, part)
	}
	return strings.TrimSpace(string(parts[0])), bodies
}

// fuzzSeed returns PIPEFUZZ_SEED or a new seed, and logs it.
func fuzzSeed(t *testing.T) uint64 {
	t.Helper()
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("PIPEFUZZ_SEED"); s != "" {
		var err error
		if seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			t.Fatalf("PIPEFUZZ_SEED: %v", err)
		}
	}
	t.Logf("PIPEFUZZ_SEED=%d (set it to replay this run)", seed)
	return seed
}

// TestPipelineFuzz is the pipeline fuzzer. The short run (part of
// `go test ./reliability`) posts about 300 bodies per target with two
// restarts; PIPEFUZZ_DURATION=10m runs as long per target.
func TestPipelineFuzz(t *testing.T) {
	pg.Require(t)
	seed := fuzzSeed(t)
	var duration time.Duration
	if s := os.Getenv("PIPEFUZZ_DURATION"); s != "" {
		var err error
		if duration, err = time.ParseDuration(s); err != nil {
			t.Fatalf("PIPEFUZZ_DURATION: %v", err)
		}
	}
	bases, err := loadBasePayloads()
	if err != nil {
		t.Fatal(err)
	}
	bins := buildFuzzBinaries(t)
	for _, tgt := range selectedTargets(t) {
		t.Run(tgt.name, func(t *testing.T) {
			start := time.Now()
			p := newFuzzPipeline(t, bins, tgt)
			r := newFuzzRun(t, p)
			gen := newGenerator(seed, bases)
			rng := rand.New(rand.NewPCG(seed, 1)) // phases and restarts
			p.start()
			for phase := 0; ; phase++ {
				if duration == 0 && phase == 3 || duration > 0 && time.Since(start) > duration {
					break
				}
				bodies := make([]fuzzBody, 50+rng.IntN(100))
				for i := range bodies {
					bodies[i] = gen.next()
				}
				phaseStart := time.Now()
				r.post(bodies)
				t.Logf("phase %d: %d bodies answered in %s", phase, len(bodies), time.Since(phaseStart).Round(time.Millisecond))
				if duration == 0 && phase == 2 {
					continue // the last phase ends with the final stop
				}
				how := []string{"kill-tap", "kill-both", "kill-target", "term"}[rng.IntN(4)]
				time.Sleep(time.Duration(rng.IntN(300)) * time.Millisecond) // a random moment, not synchronisation: anything may be in flight
				r.restart(how)
			}
			r.stop()
			r.verify(seed, time.Since(start))
		})
	}
}

// TestPipelineFuzzRegressions replays every case under testdata/pipefuzz
// (inputs the fuzzer found bugs with) through each target, with one
// restart from state, and checks them as the fuzzer does.
func TestPipelineFuzzRegressions(t *testing.T) {
	pg.Require(t)
	glob := os.Getenv("PIPEFUZZ_CASES")
	if glob == "" {
		glob = filepath.Join("testdata", "pipefuzz", "*.txt")
	}
	paths, err := filepath.Glob(glob)
	if err != nil || len(paths) == 0 {
		t.Fatalf("no regression cases in %s (%v)", glob, err)
	}
	var bodies []fuzzBody
	for _, path := range paths {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		_, raws := parseCaseFile(data)
		for i, raw := range raws {
			bodies = append(bodies, fuzzBody{n: len(bodies) + 1, raw: raw, tags: []string{fmt.Sprintf("%s#%d", filepath.Base(path), i+1)}})
		}
	}
	bins := buildFuzzBinaries(t)
	for _, tgt := range selectedTargets(t) {
		t.Run(tgt.name, func(t *testing.T) {
			start := time.Now()
			p := newFuzzPipeline(t, bins, tgt)
			r := newFuzzRun(t, p)
			r.senders = 1 // in file order: some cases are sequences
			p.start()
			half := len(bodies) / 2
			r.post(bodies[:half])
			r.restart("kill-tap")
			r.post(bodies[half:])
			r.stop()
			r.verify(0, time.Since(start))
		})
	}
}

// verify loads what the target wrote and judges every acknowledged body,
// then checks the tap's output lines.
func (r *fuzzRun) verify(seed uint64, elapsed time.Duration) {
	t := r.t
	t.Helper()
	var w *warehouse
	if r.p.tgt.sqlite {
		w = readSQLiteWarehouse(t, r.p.dbPath)
	} else {
		w = readPostgresWarehouse(t, r.p.dsn)
	}
	verdicts := map[bodyVerdict]int{}
	var failures []string
	for _, e := range r.expected {
		var lost int
		v := w.judge(e, &lost)
		verdicts[v]++
		var why string
		switch v {
		case missing:
			why = "in neither data, rejected nor _sdc_rejected_records"
		case missingValues:
			why = fmt.Sprintf("its data row lacks %d of its %d values", lost, len(e.leaves))
		case wrongStream:
			why = "a valid event, but it landed on rejected"
		default:
			continue
		}
		msg := fmt.Sprintf("%s: %s", e.desc, why)
		if raw, ok := r.raw[e.n]; ok {
			msg += fmt.Sprintf("\n    body: %.2000q", raw)
			if v == missingValues {
				msg += "\n    missing: " + strings.Join(w.missingLeaves(raw, e.id), ", ")
			}
		}
		failures = append(failures, msg)
	}
	figure(t, "seed", seed)
	figure(t, "duration", elapsed.Round(time.Second))
	figure(t, "bodies_posted", r.posted)
	figure(t, "acknowledged", len(r.expected))
	figure(t, "status", r.status)
	figure(t, "restarts", r.restarts)
	figure(t, "target_exits_on_cut_line", r.p.tornExits)
	figure(t, "found_in_data", verdicts[foundData])
	figure(t, "found_in_rejected", verdicts[foundRejected])
	figure(t, "data_rows", len(w.rows))
	figure(t, "rejected_rows", w.rejectedRows)
	figure(t, "error_table_rows", w.errorRows)
	figure(t, "rows_with_sdc_errors", w.errorColumnValues)
	figure(t, "not_found", len(failures))
	if len(r.expected) == 0 {
		t.Fatal("nothing was acknowledged: the run proved nothing")
	}
	for i, f := range failures {
		if i == 10 {
			t.Errorf("… and %d more bodies not found", len(failures)-10)
			break
		}
		t.Errorf("target-%s: %s", r.p.tgt.name, f)
	}
	r.checkTapOutput()
}

// checkTapOutput checks every RECORD line the tap wrote (over all runs):
// it must pass checkSingerLine and parse as PostgreSQL jsonb.
func (r *fuzzRun) checkTapOutput() {
	t := r.t
	t.Helper()
	<-r.p.teeDone // the tee may still be writing what a dead target never read
	f, err := os.Open(r.p.tee.Name())
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	jb := newJSONBChecker(t)
	var bad []string
	records := 0
	rd := bufio.NewReaderSize(f, 1<<20)
	var offset int64
	torn := 0
	for n := 1; ; n++ {
		line, err := rd.ReadBytes('\n')
		if len(line) == 0 && err != nil {
			break
		}
		offset += int64(len(line))
		atEOF := !bytes.HasSuffix(line, []byte("\n")) // the tap was killed mid-line at the end
		line = bytes.TrimRight(line, "\n")
		var m struct{ Type string }
		if err := json.Unmarshal(line, &m); err != nil {
			if r.p.torn[offset] || atEOF {
				torn++ // cut by a kill -9
				continue
			}
			bad = append(bad, fmt.Sprintf("line %d is not JSON: %v", n, err))
			continue
		}
		if m.Type != "RECORD" {
			continue
		}
		records++
		if err := checkSingerLine(line); err != nil {
			bad = append(bad, fmt.Sprintf("RECORD line %d (%s): %v", n, r.describeLine(line), err))
		}
		jb.add(n, line)
	}
	for _, e := range jb.finish() {
		bad = append(bad, fmt.Sprintf("RECORD line %d is not valid jsonb: %s", e.line, e.err))
	}
	figure(t, "tap_record_lines", records)
	figure(t, "tap_lines_cut_by_kill", torn)
	figure(t, "tap_record_lines_unloadable", len(bad))
	for i, b := range bad {
		if i == 10 {
			t.Errorf("… and %d more unloadable lines", len(bad)-10)
			break
		}
		t.Errorf("tap output: %s", b)
	}
}

func (r *fuzzRun) describeLine(line []byte) string {
	var m struct {
		Stream string `json:"stream"`
		Record struct {
			EventID string `json:"event_id"`
		} `json:"record"`
	}
	_ = json.Unmarshal(line, &m)
	return fmt.Sprintf("stream %s, event_id %s", m.Stream, quoteTag(m.Record.EventID))
}

// jsonbChecker casts lines to jsonb in PostgreSQL, in chunks, and collects
// the lines it refuses with PostgreSQL's message.
type jsonbChecker struct {
	t     *testing.T
	conn  *pgx.Conn
	lines []string
	nums  []int
	size  int
	bad   []jsonbError
}

type jsonbError struct {
	line int
	err  string
}

func newJSONBChecker(t *testing.T) *jsonbChecker {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, pg.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close(ctx) })
	// PostgreSQL 15 has no pg_input_is_valid: catch the cast's error per line.
	_, err = conn.Exec(ctx, `CREATE FUNCTION pg_temp.bad_jsonb(lines text[]) RETURNS TABLE(i int, err text)
LANGUAGE plpgsql AS $$
BEGIN
  FOR k IN 1..coalesce(array_length(lines, 1), 0) LOOP
    BEGIN
      PERFORM lines[k]::jsonb;
    EXCEPTION WHEN others THEN
      i := k; err := SQLERRM; RETURN NEXT;
    END;
  END LOOP;
END $$`)
	if err != nil {
		t.Fatal(err)
	}
	return &jsonbChecker{t: t, conn: conn}
}

func (c *jsonbChecker) add(n int, line []byte) {
	if bytes.IndexByte(line, 0) >= 0 { // text cannot carry it; checkSingerLine reports it
		return
	}
	c.lines = append(c.lines, string(line))
	c.nums = append(c.nums, n)
	c.size += len(line)
	if c.size > 8<<20 || len(c.lines) >= 2000 {
		c.flush()
	}
}

func (c *jsonbChecker) flush() {
	if len(c.lines) == 0 {
		return
	}
	rows, err := c.conn.Query(context.Background(), `SELECT i, err FROM pg_temp.bad_jsonb($1)`, c.lines)
	if err != nil {
		c.t.Fatalf("jsonb check: %v", err)
	}
	for rows.Next() {
		var i int
		var msg string
		if err := rows.Scan(&i, &msg); err != nil {
			c.t.Fatal(err)
		}
		c.bad = append(c.bad, jsonbError{line: c.nums[i-1], err: msg})
	}
	if err := rows.Err(); err != nil {
		c.t.Fatalf("jsonb check: %v", err)
	}
	c.lines, c.nums, c.size = c.lines[:0], c.nums[:0], 0
}

func (c *jsonbChecker) finish() []jsonbError {
	c.flush()
	return c.bad
}

// readPostgresWarehouse reads data, rejected and _sdc_rejected_records of
// schema cio, each row as JSON (row_to_json).
func readPostgresWarehouse(t *testing.T, dsn string) *warehouse {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	w := newWarehouse()
	exists := func(table string) bool {
		var ok bool
		if err := conn.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, "cio."+table).Scan(&ok); err != nil {
			t.Fatal(err)
		}
		return ok
	}
	each := func(query string, fn func(row map[string]any)) {
		rows, err := conn.Query(ctx, query)
		if err != nil {
			t.Fatalf("%s: %v", query, err)
		}
		defer rows.Close()
		for rows.Next() {
			var text string
			if err := rows.Scan(&text); err != nil {
				t.Fatal(err)
			}
			doc, err := decodeDoc([]byte(text))
			if err != nil {
				t.Fatalf("row_to_json gave invalid JSON: %v", err)
			}
			fn(doc.(map[string]any))
		}
		if err := rows.Err(); err != nil {
			t.Fatalf("%s: %v", query, err)
		}
	}
	if exists("data") {
		each(`SELECT row_to_json(d)::text FROM cio.data d`, func(row map[string]any) { w.addData(row) })
	}
	if exists("rejected") {
		each(`SELECT row_to_json(r)::text FROM cio.rejected r`, func(row map[string]any) {
			if body, ok := row["body"].(string); ok {
				w.addRejectedBody(body)
			}
		})
	}
	if exists("_sdc_rejected_records") {
		each(`SELECT row_to_json(e)::text FROM cio._sdc_rejected_records e`, w.addErrorRecord)
	}
	return w
}

// addData adds a row of table data.
func (w *warehouse) addData(row map[string]any) {
	id, _ := row["event_id"].(string)
	if row["_sdc_errors"] != nil {
		w.errorColumnValues++
	}
	w.dataRows++
	w.addDataRow(id, row)
}

// addErrorRecord adds a row of _sdc_rejected_records (stream, key,
// record, error): the record, as JSON or as text holding JSON.
func (w *warehouse) addErrorRecord(row map[string]any) {
	w.errorRows++
	rec := row["record"]
	if s, ok := rec.(string); ok {
		if doc, err := decodeDoc([]byte(s)); err == nil {
			rec = doc
		}
	}
	obj, _ := rec.(map[string]any)
	if row["stream"] == "rejected" {
		if body, ok := obj["body"].(string); ok {
			w.addRejectedBody(body)
		}
		return
	}
	id, ok := obj["event_id"].(string)
	if !ok {
		id = keyOf(row["key"])
	}
	w.addDataRow(id, row)
}

// keyOf reads an event_id from the key column of _sdc_rejected_records,
// whichever way it is written: "id", {"event_id":"id"}, ["id"], or JSON text
// of those.
func keyOf(v any) string {
	if s, ok := v.(string); ok {
		if doc, err := decodeDoc([]byte(s)); err == nil {
			v = doc
		} else {
			return s
		}
	}
	switch k := v.(type) {
	case string:
		return k
	case map[string]any:
		s, _ := k["event_id"].(string)
		return s
	case []any:
		if len(k) > 0 {
			s, _ := k[0].(string)
			return s
		}
	}
	return ""
}

// readSQLiteWarehouse reads the same from target-sqlite's database file,
// each value by the logical type _sdc_columns records for its column.
func readSQLiteWarehouse(t *testing.T, path string) *warehouse {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	tables := map[string]bool{}
	rows, err := db.Query(`SELECT name FROM sqlite_master WHERE type = 'table'`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		tables[n] = true
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	logical := map[string]string{} // table.column -> logical type
	if tables["_sdc_columns"] {
		rows, err := db.Query(`SELECT table_name, column_name, logical_type FROM _sdc_columns`)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var tbl, col, typ string
			if err := rows.Scan(&tbl, &col, &typ); err != nil {
				t.Fatal(err)
			}
			logical[tbl+"."+col] = typ
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
	}
	w := newWarehouse()
	each := func(table string, fn func(row map[string]any)) {
		if !tables[table] {
			return
		}
		rows, err := db.Query(`SELECT * FROM "` + table + `"`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		cols, err := rows.Columns()
		if err != nil {
			t.Fatal(err)
		}
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		for rows.Next() {
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			row := make(map[string]any, len(cols))
			for i, c := range cols {
				row[c] = sqliteValue(vals[i], logical[table+"."+c])
			}
			fn(row)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
	}
	each("data", w.addData)
	each("rejected", func(row map[string]any) {
		if body, ok := row["body"].(string); ok {
			w.addRejectedBody(body)
		}
	})
	each("_sdc_rejected_records", w.addErrorRecord)
	return w
}

// sqliteValue turns a scanned SQLite value into what decodeDoc would give,
// by the column's logical type in _sdc_columns: booleans are 0/1, JSON is
// its text.
func sqliteValue(v any, logical string) any {
	switch v := v.(type) {
	case int64:
		if logical == "boolean" {
			return v != 0
		}
		return json.Number(strconv.FormatInt(v, 10))
	case float64:
		return json.Number(strconv.FormatFloat(v, 'g', -1, 64))
	case []byte:
		return sqliteValue(string(v), logical)
	case string:
		if logical == "json" {
			if doc, err := decodeDoc([]byte(v)); err == nil {
				return doc
			}
		}
		return v
	case time.Time:
		return v.Format(time.RFC3339Nano)
	default:
		return v
	}
}

// triage runs each RECORD line of the current run alone (after its
// stream's last SCHEMA) through a fresh target, and reports the records
// that stop the target by themselves, writing each as a case file into
// PIPEFUZZ_DUMP. Used when the pipeline stopped on its own.
func (r *fuzzRun) triage() {
	t, p := r.t, r.p
	t.Helper()
	<-p.teeDone
	f, err := os.Open(p.tee.Name())
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Seek(p.runStart, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	type candidate struct{ schema, record []byte }
	var cands []candidate
	schemas := map[string][]byte{}
	rd := bufio.NewReaderSize(f, 1<<20)
	for {
		line, err := rd.ReadBytes('\n')
		if len(line) == 0 && err != nil {
			break
		}
		var m struct{ Type, Stream string }
		if json.Unmarshal(line, &m) != nil {
			continue
		}
		switch m.Type {
		case "SCHEMA":
			schemas[m.Stream] = line
		case "RECORD":
			cands = append(cands, candidate{schemas[m.Stream], line})
		}
	}
	if len(cands) > 400 {
		cands = cands[len(cands)-400:]
	}
	base := baseSchemaProperties(t)
	symptoms := map[string]int{}
	for i, c := range cands {
		msg := p.tryAlone(i, append(ownSchema(c.schema, c.record, base), c.record...))
		if msg == "" {
			continue
		}
		symptom := quotedName.ReplaceAllString(msg, `"…"`)
		symptoms[symptom]++
		if symptoms[symptom] > 1 {
			continue // one example per symptom
		}
		var m struct {
			Stream string
			Record map[string]any
		}
		_ = json.Unmarshal(c.record, &m)
		id, _ := m.Record["event_id"].(string)
		n := r.byID[id]
		desc := fmt.Sprintf("record of stream %s, event_id %s", m.Stream, quoteTag(id))
		for _, e := range r.expected {
			if e.n == n && n != 0 {
				desc = e.desc
			}
		}
		t.Errorf("FINDING target-%s stops on one record alone: %s\n    target: %.400s\n    record line: %.600s", p.tgt.name, desc, msg, c.record)
		raw, ok := r.raw[n]
		if b, isStr := m.Record["body"].(string); !ok && m.Stream == "rejected" && isStr {
			raw, ok = []byte(b), true // the rejected stream's copy of the body
		}
		if dir := os.Getenv("PIPEFUZZ_DUMP"); dir != "" && ok {
			path := filepath.Join(dir, fmt.Sprintf("finding-%s-%d-%d.txt", p.tgt.name, p.runs, i))
			_ = os.WriteFile(path, fmt.Appendf(nil, "target-%s: %.400s\n%s# %s\n%s", p.tgt.name, msg, caseSeparator, desc, raw), 0o644)
		}
	}
	if len(symptoms) == 0 {
		r.bisectSequence()
	}
	for s, n := range symptoms {
		t.Logf("symptom (%d records): %.300s", n, s)
	}
}

var quotedName = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)

// baseSchemaProperties returns the property names of schemas/data.json, top
// level and in data.
func baseSchemaProperties(t *testing.T) map[string]bool {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "schemas", "data.json"))
	if err != nil {
		t.Fatal(err)
	}
	var s struct {
		Properties map[string]struct {
			Properties map[string]any
		}
	}
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for k, v := range s.Properties {
		names[k] = true
		for k2 := range v.Properties {
			names[k+"."+k2] = true
		}
	}
	return names
}

// ownSchema cuts a SCHEMA line down to the properties of schemas/data.json
// and those record has (top level and in data), as the tap would have
// written it had it seen only that record.
func ownSchema(schemaLine, recordLine []byte, base map[string]bool) []byte {
	var msg map[string]any
	var rec struct{ Record map[string]any }
	if json.Unmarshal(schemaLine, &msg) != nil || json.Unmarshal(recordLine, &rec) != nil {
		return schemaLine
	}
	schema, _ := msg["schema"].(map[string]any)
	props, _ := schema["properties"].(map[string]any)
	for k, v := range props {
		if _, ok := rec.Record[k]; !ok && !base[k] {
			delete(props, k)
			continue
		}
		sub, _ := v.(map[string]any)
		subProps, _ := sub["properties"].(map[string]any)
		inner, _ := rec.Record[k].(map[string]any)
		for k2 := range subProps {
			if _, ok := inner[k2]; !ok && !base[k+"."+k2] {
				delete(subProps, k2)
			}
		}
	}
	out, err := json.Marshal(msg)
	if err != nil {
		return schemaLine
	}
	return append(out, '\n')
}

// bisectSequence finds the shortest prefix of all the tap wrote (over all
// runs) that stops a fresh target, and reports the record it ends with:
// the one that stops the target given those before it.
func (r *fuzzRun) bisectSequence() {
	t, p := r.t, r.p
	t.Helper()
	data, err := os.ReadFile(p.tee.Name())
	if err != nil {
		t.Fatal(err)
	}
	var lines [][]byte
	for _, l := range bytes.SplitAfter(data, []byte("\n")) {
		if json.Valid(bytes.TrimSpace(l)) { // lines cut by a kill are left out
			lines = append(lines, l)
		}
	}
	fails := func(k int) string { return p.tryAlone(k, bytes.Join(lines[:k], nil)) }
	msg := fails(len(lines))
	if msg == "" {
		t.Errorf("FINDING target-%s stopped, but neither one record nor all %d lines the tap wrote stop a fresh target", p.tgt.name, len(lines))
		return
	}
	lo, hi := 0, len(lines) // fails(lo) == "", fails(hi) != ""
	for hi-lo > 1 {
		mid := (lo + hi) / 2
		if m := fails(mid); m != "" {
			hi, msg = mid, m
		} else {
			lo = mid
		}
	}
	var m struct {
		Record map[string]any
	}
	_ = json.Unmarshal(lines[hi-1], &m)
	id, _ := m.Record["event_id"].(string)
	desc := fmt.Sprintf("event_id %s", quoteTag(id))
	if n := r.byID[id]; n != 0 {
		for _, e := range r.expected {
			if e.n == n {
				desc = e.desc
			}
		}
	}
	t.Errorf("FINDING target-%s stops on a record after %d lines (none stops it alone): %s\n    target: %.400s\n    line: %.600s",
		p.tgt.name, hi-1, desc, msg, lines[hi-1])
}

// tryAlone loads input (a SCHEMA and a RECORD line) with a fresh target
// (its own schema or database file) and returns the target's error when
// it exits non-zero, or "".
func (p *fuzzPipeline) tryAlone(i int, input []byte) string {
	t := p.t
	p.tries++
	i = p.tries
	cfg := map[string]any{"flattening_max_level": p.tgt.flattening, "log_level": "error"}
	bin := p.bins.targetPG
	if p.tgt.sqlite {
		bin = p.bins.targetSQLite
		cfg["database"] = filepath.Join(p.dir, fmt.Sprintf("triage-%d.db", i))
	} else {
		cfg["dsn"] = p.dsn
		cfg["default_target_schema"] = fmt.Sprintf("triage_%d", i)
	}
	path := writeJSON(t, filepath.Join(p.dir, "triage.json"), cfg)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "--config", path)
	cmd.Stdin = bytes.NewReader(input)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err == nil {
		return ""
	}
	lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
	last := lines[len(lines)-1]
	var m struct{ Error string }
	if json.Unmarshal([]byte(last), &m) == nil && m.Error != "" {
		return m.Error
	}
	return last
}
