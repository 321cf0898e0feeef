package reliability_test

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
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
//	PIPEFUZZ_TARGETS=a,b     targets to run (postgres-flat0, postgres-flat1, sqlite, sqlite-flat1,
//	                         postgres-flat1-drop, sqlite-drop: fields deselected, see pipefuzz_drop_test.go)
//	PIPEFUZZ_DUMP=dir        write every acknowledged body there, in the case format
//	PIPEFUZZ_CASES=glob      regression cases to replay (default testdata/pipefuzz/*.txt)
//	PIPEFUZZ_BIN_DIR=dir     use the binaries there instead of building them

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
	// secretBodies counts acknowledged bodies holding a marked value;
	// declared are the plain column names SCHEMA lines of data declared
	// (see checkDropLine).
	secretBodies int
	declared     map[string]bool
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
	e := expect(b, r.p.tgt.dropPaths())
	r.expected = append(r.expected, e)
	if bytes.Contains(b.raw, []byte(secretMark)) {
		r.secretBodies++
	}
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
// restarts; PIPEFUZZ_DURATION=10m runs as long per target (see
// selectedTargets for which targets run).
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
			t.Parallel() // each target has its own pipeline, port and warehouse
			start := time.Now()
			p := newFuzzPipeline(t, bins, tgt)
			r := newFuzzRun(t, p)
			gen := newGenerator(seed, bases)
			if tgt.drop {
				gen.deselecting()
			}
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
			t.Parallel() // each target has its own pipeline, port and warehouse
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
		w = readSQLiteWarehouse(t, r.p.dbPath, r.p.tgt.drop)
	} else {
		w = readPostgresWarehouse(t, r.p.dsn, r.p.tgt.drop)
	}
	verdicts := map[bodyVerdict]int{}
	var failures []string
	judged, lostOf := make([]bodyVerdict, len(r.expected)), make([]int, len(r.expected))
	sharing, whole := map[string]int{}, map[string]bool{} // bodies by event_id; ids of a body found whole
	for i, e := range r.expected {
		judged[i] = w.judge(e, &lostOf[i])
		if e.isDoc && e.id != "" {
			sharing[e.id]++
		}
		if judged[i] == foundData {
			whole[e.id] = true
		}
	}
	for i, e := range r.expected {
		v, lost := judged[i], lostOf[i]
		// Two bodies can end with the same event_id (duplicate-key gives
		// event_id a hostile string such as \N): the target keeps one row
		// per key, so one body's row replaces the other's.
		if (v == missingValues || v == leakedValues) && sharing[e.id] > 1 && whole[e.id] {
			v = superseded
		}
		verdicts[v]++
		var why string
		switch v {
		case missing:
			why = "in neither data, rejected nor _sdc_rejected_records"
		case missingValues:
			why = fmt.Sprintf("its data row lacks %d of its %d values", lost, len(e.leaves))
		case wrongStream:
			why = "a valid event, but it landed on rejected"
		case leakedValues:
			why = "its data row holds a value of a deselected field"
		case notWithheld:
			why = "on rejected with its body, which holds deselected fields that cannot be removed: it must be withheld"
		case needlesslyWithheld:
			why = "withheld, though its deselected fields could be removed: it must be on rejected without them"
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
	figure(t, "row_replaced_by_a_body_with_the_same_event_id", verdicts[superseded])
	if r.p.tgt.drop {
		figure(t, "found_withheld", verdicts[foundWithheld])
		figure(t, "acknowledged_with_deselected_values", r.secretBodies)
	}
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
	if r.p.tgt.drop {
		r.checkDeselection(w)
	}
}
