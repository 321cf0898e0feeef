// Command pipebench measures the whole pipeline, HTTP to committed rows:
// a client POSTs signed ~1 KB webhooks to the real tap-customerio-webhook,
// piped into the real target-postgres, loading a private PostgreSQL
// cluster (internal/pgtest), all on this machine's cores.
//
// The client is wrk by default (a C client lighter than the servers it
// measures, every request a new event_id signed as it is sent), and the
// same wrk against `cio-loadgen noop` gives the baseline of each run;
// -client loadgen uses the Go client instead (it can pace a rate).
//
// Per run it reports acknowledged events/s and ack latency (the client's),
// the ratio to the no-op server, freshness from the spool's end offset
// over time against the target's committed state over time (see fresh.go),
// whether the target's final state covers every acknowledged webhook and
// the table holds one row per event, peak RSS of tap and target, and how
// the cores were split between client, tap, target, PostgreSQL and the
// machine's other jobs. It ends with a table to paste into BENCHMARKS.md.
//
//	go run ./e2e/pipebench -bin bin -duration 60s -runs 3   (scripts/bench-pipeline.sh)
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/cio-singer/tap-customerio-webhook/internal/pgtest"
)

const (
	token = "pipebench-token-0123456789abcdef0123456789"
	key   = "pipebench-signing-key"
)

type options struct {
	bin, client, source           string
	duration, noopDuration        time.Duration
	sample, stateInterval, maxAge time.Duration
	conns, threads, bodyBytes     int
	templates, runs, batchRows    int
	rate                          float64
}

func main() {
	var o options
	flag.StringVar(&o.bin, "bin", "bin", "directory of the built binaries")
	flag.StringVar(&o.client, "client", "wrk", "load client: wrk, or loadgen (cio-loadgen run, a Go client that costs more CPU than the server)")
	flag.DurationVar(&o.duration, "duration", 60*time.Second, "how long to send to the pipeline")
	flag.DurationVar(&o.noopDuration, "noop-duration", 20*time.Second, "how long to send to the no-op server before each run (0: no baseline)")
	flag.IntVar(&o.conns, "conns", 64, "connections")
	flag.IntVar(&o.threads, "threads", 2, "wrk threads")
	flag.IntVar(&o.runs, "runs", 1, "runs, each with a fresh tap, target and schema")
	flag.Float64Var(&o.rate, "rate", 0, "requests per second, loadgen only (0: as fast as possible)")
	flag.IntVar(&o.bodyBytes, "body-bytes", 1024, "body size")
	flag.IntVar(&o.templates, "templates", 100, "wrk: distinct bodies, each sent with a new event_id")
	flag.DurationVar(&o.sample, "sample", 20*time.Millisecond, "how often the tap's spool end offset is sampled (freshness resolution)")
	flag.StringVar(&o.source, "sample-source", "durable", "where the spool end offset is read: durable (spool_dir/DURABLE, free) or metrics (GET /metrics, which costs the tap CPU)")
	flag.DurationVar(&o.stateInterval, "state-interval", 100*time.Millisecond, "the tap's state_interval: how finely the target's state can follow its commits")
	flag.DurationVar(&o.maxAge, "max-batch-age", 500*time.Millisecond, "the target's max_batch_age")
	flag.IntVar(&o.batchRows, "batch-size-rows", 20000, "the target's batch_size_rows")
	flag.Parse()
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "pipebench:", err)
		os.Exit(1)
	}
}

func newClient(o options) (client, error) {
	switch o.client {
	case "wrk":
		if _, err := exec.LookPath("wrk"); err != nil {
			return nil, errors.New("wrk is missing (Debian: apt-get install wrk), or use -client loadgen")
		}
		return &wrkClient{bin: o.bin, path: "/webhook/" + token, key: key, threads: o.threads, conns: o.conns,
			bodyBytes: o.bodyBytes, tmpl: o.templates}, nil
	case "loadgen":
		return &loadgenClient{bin: o.bin, key: key, conns: o.conns, bodyBytes: o.bodyBytes, rate: o.rate}, nil
	}
	return nil, fmt.Errorf("-client %q: want wrk or loadgen", o.client)
}

func run(o options) error {
	cl, err := newClient(o)
	if err != nil {
		return err
	}
	srv, err := pgtest.Start()
	if err != nil {
		return err
	}
	defer srv.Stop()
	pg := postmaster(srv.Port())
	fmt.Printf("machine: %d cores, load average %s\n", runtime.NumCPU(), loadavg())
	fmt.Printf("client: %s; %s to the no-op server, then %s to the pipeline, %d run(s)\n", cl.name(), o.noopDuration, o.duration, o.runs)
	fmt.Printf("pipeline: tap (state_interval %s) | target-postgres (max_batch_age %s, batch_size_rows %d) -> private PostgreSQL (pgtest: fsync off)\n",
		o.stateInterval, o.maxAge, o.batchRows)
	var results []runResult
	for i := 1; i <= o.runs; i++ {
		r, err := oneRun(o, cl, srv, pg, i)
		if err != nil {
			return fmt.Errorf("run %d: %w", i, err)
		}
		r.print(i, o)
		results = append(results, r)
	}
	printTable(results, o)
	for _, r := range results {
		if len(r.problems) > 0 {
			return errors.New("a run lost or duplicated events (see above)")
		}
	}
	return nil
}

func oneRun(o options, cl client, srv *pgtest.Server, pg, i int) (runResult, error) {
	r := runResult{loadavg: loadavg()}
	work, err := os.MkdirTemp("", "pipebench-")
	if err != nil {
		return r, err
	}
	defer os.RemoveAll(work)
	if err := cl.prepare(work); err != nil {
		return r, err
	}
	if o.noopDuration > 0 {
		if r.noop, err = measureNoop(o, cl); err != nil {
			return r, err
		}
	}
	err = pipeline(o, cl, srv, pg, work, fmt.Sprintf("bench%d", i), &r)
	return r, err
}

// measureNoop runs the client against `cio-loadgen noop`: the most a
// fasthttp server on these cores answers with this client.
func measureNoop(o options, cl client) (loadResult, error) {
	addr, err := freeAddr()
	if err != nil {
		return loadResult{}, err
	}
	noop := exec.Command(filepath.Join(o.bin, "cio-loadgen"), "noop", "--listen", addr)
	noop.Stderr = os.Stderr
	if err := noop.Start(); err != nil {
		return loadResult{}, err
	}
	defer func() { _ = noop.Process.Kill(); _ = noop.Wait() }()
	if err := waitReady("http://" + addr + "/"); err != nil {
		return loadResult{}, err
	}
	return cl.run("http://"+addr+"/webhook/"+token, o.noopDuration)
}

// pipeline runs tap | target under load and fills r.
func pipeline(o options, cl client, srv *pgtest.Server, pg int, work, schema string, r *runResult) error {
	addr, err := freeAddr()
	if err != nil {
		return err
	}
	tapCfg := filepath.Join(work, "tap.json")
	targetCfg := filepath.Join(work, "target.json")
	if err := writeJSON(tapCfg, map[string]any{"listen": addr, "webhook_tokens": []string{token}, "signing_keys": []string{key},
		"spool_dir": filepath.Join(work, "spool"), "log_level": "warn", "state_interval": o.stateInterval.String()}); err != nil {
		return err
	}
	if err := writeJSON(targetCfg, map[string]any{"dsn": srv.DSN(), "default_target_schema": schema, "max_batch_age": o.maxAge.String(),
		"batch_size_rows": o.batchRows, "log_level": "info"}); err != nil {
		return err
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		return err
	}
	target := exec.Command(filepath.Join(o.bin, "target-postgres"), "--config", targetCfg)
	target.Stdin = pr
	targetOut, err := target.StdoutPipe()
	if err != nil {
		return err
	}
	targetLog, err := target.StderrPipe()
	if err != nil {
		return err
	}
	tap := exec.Command(filepath.Join(o.bin, "tap-customerio-webhook"), "--config", tapCfg)
	tap.Stdout, tap.Stderr = pw, os.Stderr
	if err := target.Start(); err != nil {
		return err
	}
	defer func() { _ = target.Process.Kill(); _ = target.Wait() }()
	states := readStates(targetOut)
	batches := readBatchLog(targetLog, os.Stderr)
	if err := tap.Start(); err != nil {
		return err
	}
	defer func() { _ = tap.Process.Kill(); _ = tap.Wait() }()
	pr.Close()
	pw.Close()
	if err := waitReady("http://" + addr + "/readyz"); err != nil {
		return err
	}

	metricsURL := "http://" + addr + "/metrics"
	read := metricsSource(metricsURL)
	if o.source == "durable" {
		var closeFile func() error
		if read, closeFile, err = durableFileSource(filepath.Join(work, "spool", "DURABLE")); err != nil {
			return err
		}
		defer closeFile()
	}
	smp := startSampler(read, o.sample)
	defer func() {
		if smp != nil {
			_, _ = smp.finish()
		}
	}()
	if err := waitFor(10*time.Second, func() bool { _, ok := smp.last(); return ok }); err != nil {
		return fmt.Errorf("no sample of the spool's end offset: %w", err)
	}
	before := takeCPU(tap.Process.Pid, target.Process.Pid, pg)
	if r.load, err = cl.run("http://"+addr+"/webhook/"+token, o.duration); err != nil {
		return err
	}
	after := takeCPU(tap.Process.Pid, target.Process.Pid, pg)
	r.cpu = split(before, after, r.load.CPU)
	loadEnd := after.at

	// Drain: wait until a sample taken once the client's last requests are
	// settled shows the spool's end, and the target's state covers it.
	var end spoolSample
	err = waitFor(120*time.Second, func() bool {
		end, _ = smp.last()
		return end.sent.After(loadEnd.Add(500*time.Millisecond)) && states.covered() >= end.durable
	})
	if err != nil {
		return fmt.Errorf("the target's state did not reach the spool's end offset %d (at %d): %w", end.durable, states.covered(), err)
	}
	samples, err := smp.finish()
	smp = nil
	if err != nil {
		return fmt.Errorf("sampling /metrics: %w", err)
	}
	r.durable = end.durable
	m, err := scrapeMetrics(http.DefaultClient, metricsURL)
	if err != nil {
		return err
	}
	r.accepted, r.metricsDurable = m.accepted, m.durable
	r.tapRSS, r.targetRSS = peakRSS(tap.Process.Pid), peakRSS(target.Process.Pid)
	if err := tap.Process.Signal(syscall.SIGTERM); err != nil {
		return err
	}
	if err := tap.Wait(); err != nil {
		return fmt.Errorf("tap: %w", err)
	}
	lines, serr := states.wait()
	r.batches = batches.summary()
	if err := target.Wait(); err != nil {
		return fmt.Errorf("target-postgres: %w", err)
	}
	if serr != nil {
		return serr
	}
	if len(lines) > 0 {
		r.stated = lines[len(lines)-1].offset
	}
	r.readP50, r.readMax = readLatency(samples)
	upper, lower, err := freshness(samples, lines, r.durable)
	if err != nil {
		return err
	}
	r.fresh = percentiles(upper, 0.5, 0.99, 1)
	r.windows = byWindow(upper, before.at, 10*time.Second, 0.99)
	if at, ok := coveredAt(lines, r.durable); ok {
		r.drain = max(0, at.Sub(loadEnd))
	}
	r.freshLower = percentiles(lower, 0.5, 0.99, 1)

	rows := psql(srv, fmt.Sprintf(`select count(*), count(distinct event_id),
	  round((percentile_cont(0.5) within group (order by extract(epoch from _sdc_batched_at - _sdc_extracted_at)))::numeric * 1000),
	  round((percentile_cont(0.99) within group (order by extract(epoch from _sdc_batched_at - _sdc_extracted_at)))::numeric * 1000),
	  round(extract(epoch from max(_sdc_batched_at - _sdc_extracted_at))::numeric * 1000)
	  from %s.data`, schema))
	f := strings.Split(rows, "|")
	if len(f) != 5 {
		return fmt.Errorf("unexpected psql output %q", rows)
	}
	fmt.Sscan(f[0], &r.rows)
	fmt.Sscan(f[1], &r.distinct)
	r.rowFresh = fmt.Sprintf("p50 %s p99 %s max %s", f[2], f[3], f[4])
	r.check(o)
	return nil
}

// readLatency is how long reading the end offset took: with the sampling
// interval, the resolution of the spool's timeline.
func readLatency(samples []spoolSample) (p50, maxd time.Duration) {
	spans := make([]span, len(samples))
	for i, s := range samples {
		spans[i] = span{fresh: s.answered.Sub(s.sent), n: 1}
	}
	q := percentiles(spans, 0.5, 1)
	return q[0], q[1]
}

func psql(srv *pgtest.Server, query string) string {
	path, err := srv.Tool("psql")
	if err != nil {
		return "psql: " + err.Error()
	}
	out, err := exec.Command(path, srv.DSN(), "-X", "-At", "-c", query).CombinedOutput()
	if err != nil {
		return fmt.Sprintf("psql: %v: %s", err, out)
	}
	return strings.TrimSpace(string(out))
}

// peakRSS returns VmHWM of pid in KiB.
func peakRSS(pid int) int {
	raw, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	for _, line := range strings.Split(string(raw), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			var kb int
			fmt.Sscanf(strings.TrimSpace(strings.TrimPrefix(line, "VmHWM:")), "%d", &kb)
			return kb
		}
	}
	return 0
}

func loadavg() string {
	raw, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(raw))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func writeJSON(path string, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return os.WriteFile(path, raw, 0o600)
}

// waitFor polls cond until it holds or d passes.
func waitFor(d time.Duration, cond func() bool) error {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return fmt.Errorf("not within %s", d)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return nil
}

func waitReady(url string) error {
	return waitFor(20*time.Second, func() bool {
		resp, err := http.Get(url)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}
