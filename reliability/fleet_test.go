package reliability_test

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cio-singer/tap-customerio-webhook/internal/loadgen"
)

// envKafkaBrokers points the fleet crash loop at a real cluster
// (comma-separated seed brokers, at least 3 brokers) instead of a kfake
// cluster; whole-cluster restarts need kfake and are skipped then.
const envKafkaBrokers = "TAP_KAFKA_TEST_BROKERS"

// kafkaCluster is the fleet's cluster: `cio-loadgen kfake` (3 brokers, data
// on disk) in a process of its own, restartable on the same directory and
// ports, or the real cluster envKafkaBrokers names.
type kafkaCluster struct {
	t       *testing.T
	bin     string // cio-loadgen; "" on a real cluster
	dir     string
	logs    *os.File
	topic   string
	brokers []string
	proc    *proc
}

func startKafkaCluster(t *testing.T, logs *os.File) *kafkaCluster {
	t.Helper()
	c := &kafkaCluster{t: t, logs: logs, topic: "customerio-webhooks"}
	if env := os.Getenv(envKafkaBrokers); env != "" {
		c.brokers = strings.Split(env, ",")
		c.topic = fmt.Sprintf("reliability-fleet-%d", time.Now().UnixNano())
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := loadgen.CreateTopic(ctx, c.brokers, c.topic, 6); err != nil {
			t.Fatal(err)
		}
		return c
	}
	c.bin = filepath.Join(goBuild(t, "cio-loadgen"), "cio-loadgen")
	c.dir = t.TempDir()
	c.start("")
	return c
}

// start runs the cluster and waits for the line with its brokers, which it
// prints once the topic exists.
func (c *kafkaCluster) start(ports string) {
	t := c.t
	t.Helper()
	args := []string{"kfake", "--dir", c.dir, "--brokers", "3", "--topic", c.topic, "--partitions", "6"}
	if ports != "" {
		args = append(args, "--ports", ports)
	}
	cmd := exec.Command(c.bin, args...)
	cmd.Stderr = c.logs
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	c.proc = startProc(t, cmd, nil)
	line := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		sc.Scan()
		line <- sc.Text()
		for sc.Scan() { // nothing more is expected; keep the pipe drained
		}
	}()
	select {
	case l := <-line:
		if l == "" {
			t.Fatalf("kfake printed no brokers (exit %d)", c.proc.exitCode())
		}
		c.brokers = strings.Split(l, ",")
	case <-time.After(time.Minute):
		t.Fatal("kfake did not start within a minute")
	}
}

// restart stops the cluster (it saves its state into its directory) and
// starts it again on the same directory and ports: every broker at once.
func (c *kafkaCluster) restart() {
	t := c.t
	t.Helper()
	var ports []string
	for _, b := range c.brokers {
		_, p, err := net.SplitHostPort(b)
		if err != nil {
			t.Fatal(err)
		}
		ports = append(ports, p)
	}
	if err := c.proc.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if !c.proc.exited(time.Minute) || c.proc.exitCode() != 0 {
		t.Fatalf("kfake did not stop cleanly (exit %d)", c.proc.exitCode())
	}
	c.start(strings.Join(ports, ","))
}

// kafkaKeys are the tap settings that put its spool on c's topic.
func (c *kafkaCluster) kafkaKeys() map[string]any {
	return map[string]any{"spool": "kafka", "kafka_brokers": c.brokers, "kafka_topic": c.topic}
}

// fleetReceiver is one `tap-customerio-webhook serve` on the cluster.
type fleetReceiver struct {
	t    *testing.T
	bin  string
	addr string
	cfg  string
	logs *os.File
	proc *proc
}

func (r *fleetReceiver) start() {
	r.t.Helper()
	cmd := exec.Command(r.bin, "serve", "--config", r.cfg)
	cmd.Stderr = r.logs
	r.proc = startProc(r.t, cmd, nil)
	waitReady(r.t, r.addr, r.proc, time.Minute)
}

func (r *fleetReceiver) url() string { return "http://" + r.addr + "/webhook/" + testToken }

// loaderRun is one scheduled load (`tap | target-postgres` with "listen":
// "") and what happens to it.
type loaderRun struct {
	started      time.Time
	killAt       time.Time // zero: left to finish
	victim       string
	clusterEpoch int // cluster restarts before it started
}

// TestIntegrationFleetCrashLoop is the crash loop of fleet mode: two `serve`
// receivers on a Kafka cluster (3 brokers, RF 3, min.insync.replicas 2)
// under continuous signed load, and a loader (the Singer run with "listen":
// "" piped into target-postgres) started again each time it catches up, as a
// timer would. At random moments a receiver is killed with SIGKILL (and
// restarted), loader runs are killed (the tap, the target or both; the next
// run starts from the last state the target printed), and the whole
// cluster is restarted on its data. At the end every acknowledged event_id
// must be in PostgreSQL exactly once, and a rerun from the last state must
// load nothing.
func TestIntegrationFleetCrashLoop(t *testing.T) {
	dsn := pg.NewDatabase(t)
	bins := buildBinaries(t)
	duration := pick(8*time.Second, 90*time.Second)
	maxUp := pick(1500*time.Millisecond, 4*time.Second)
	seed := uint64(time.Now().UnixNano())
	t.Logf("kill moments seeded %d (the processes' own timing varies too)", seed)
	rng := rand.New(rand.NewPCG(seed, 0))

	ld := newPair(t, bins, dsn) // the loader and its target; its log file takes every process's stderr
	cluster := startKafkaCluster(t, ld.logs)
	var restarts []time.Duration // whole-cluster restarts, evenly spread
	if cluster.bin != "" {
		n := pick(1, 4)
		for i := range n {
			restarts = append(restarts, duration*time.Duration(i+1)/time.Duration(n+1))
		}
	}
	loaderCfg := cluster.kafkaKeys()
	ld.tapCfg = tapConfig(t, ld.dir, "", filepath.Join(ld.dir, "withheld"), loaderCfg)

	var receivers []*fleetReceiver
	for i := range 2 {
		dir := filepath.Join(ld.dir, fmt.Sprintf("receiver%d", i))
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		addr := freeAddr(t)
		r := &fleetReceiver{t: t, bin: bins.tap, addr: addr, logs: ld.logs,
			cfg: tapConfig(t, dir, addr, filepath.Join(dir, "spool"), cluster.kafkaKeys())}
		r.start()
		receivers = append(receivers, r)
	}
	rate := float64(pick(150, 250)) // per receiver
	var loads []*load
	for _, r := range receivers {
		l := startLoad(r.url(), 4, rate)
		t.Cleanup(func() { l.cancel(); <-l.done })
		loads = append(loads, l)
	}

	kills := map[string]int{}
	clusterEpoch := 0
	var clusterDown time.Duration // the longest whole-cluster restart
	var whole []time.Duration     // how long the runs nobody killed took
	cutLines := 0                 // targets that exited 1 on a line cut by the tap's kill
	var run *loaderRun            // the loader run under way, or nil
	// finish judges a loader run whose processes have both exited.
	finish := func() {
		t.Helper()
		tapCode, targetCode := ld.tap.exitCode(), ld.target.exitCode()
		switch {
		case run.victim == "tap":
			// The target reads EOF: it commits and exits 0, or, when the
			// tap died in the middle of a line, loads what came before the
			// cut line, prints the state covering it and exits 1 (the next
			// run starts from that state).
			if targetCode != 0 && targetCode != 1 {
				t.Fatalf("loader run %d: target exited %d after the tap was killed, want 0 or 1", ld.runs, targetCode)
			}
			if targetCode == 1 {
				cutLines++
			}
		case run.victim != "":
			// The target was killed: the tap's next write fails (EPIPE).
		case run.clusterEpoch != clusterEpoch:
			// The cluster went away under the run: the tap may fail (no
			// final STATE); the target commits what it got.
			if targetCode != 0 {
				t.Fatalf("loader run %d: target exited %d, want 0", ld.runs, targetCode)
			}
		case tapCode != 0 || targetCode != 0:
			t.Fatalf("loader run %d: tap exit %d, target exit %d, want 0, 0", ld.runs, tapCode, targetCode)
		}
		if run.victim == "" {
			whole = append(whole, time.Since(run.started))
		}
		run = nil
	}
	start := time.Now()
	end := start.Add(duration)
	nextReceiverKill := start.Add(time.Duration(200+rng.IntN(int(maxUp/time.Millisecond))) * time.Millisecond)
	var nextLoad time.Time
	for now := time.Now(); now.Before(end); now = time.Now() {
		for i, r := range receivers {
			if !r.proc.alive() {
				t.Fatalf("receiver %d exited on its own (code %d)", i, r.proc.exitCode())
			}
		}
		if run != nil && !ld.tap.alive() && !ld.target.alive() {
			finish()
			nextLoad = now.Add(time.Duration(rng.IntN(1000)) * time.Millisecond)
		}
		if run != nil && !run.killAt.IsZero() && now.After(run.killAt) {
			// Tap killed: the target reads EOF. Target killed: the tap's
			// next write fails (EPIPE) and it exits; kill it if it lingers.
			run.killAt = time.Time{}
			if (run.victim != "target" && ld.tap.alive()) || (run.victim != "tap" && ld.target.alive()) {
				kills["loader_"+run.victim]++
				if run.victim != "target" {
					ld.tap.kill()
				}
				if run.victim != "tap" {
					ld.target.kill()
					if !ld.tap.exited(30 * time.Second) {
						ld.tap.kill()
					}
				}
			} else {
				run.victim = "" // it had finished: nothing was killed
			}
		}
		if run == nil && now.After(nextLoad) {
			run = &loaderRun{started: now, clusterEpoch: clusterEpoch}
			if rng.IntN(3) != 0 { // two runs in three are killed
				run.killAt = now.Add(time.Duration(rng.IntN(300)) * time.Millisecond)
				run.victim = []string{"tap", "target", "both"}[rng.IntN(3)]
			}
			ld.launch()
		}
		if now.After(nextReceiverKill) {
			i := rng.IntN(len(receivers))
			kills[fmt.Sprintf("receiver%d", i)]++
			receivers[i].proc.kill()
			<-receivers[i].proc.done
			receivers[i].start()
			nextReceiverKill = time.Now().Add(time.Duration(200+rng.IntN(int(maxUp/time.Millisecond))) * time.Millisecond)
		}
		if len(restarts) > 0 && now.Sub(start) >= restarts[0] {
			restarts = restarts[1:]
			cluster.restart()
			clusterEpoch++
			clusterDown = max(clusterDown, time.Since(now))
		}
		time.Sleep(10 * time.Millisecond) // the schedule's tick: the run lasts duration whatever happens, so no condition to poll
	}

	var res loadgen.Result
	var acked []string
	res.Status = map[string]uint64{}
	for _, l := range loads {
		r, ids := l.stop(t)
		res.Requests += r.Requests
		res.Errors += r.Errors
		for code, n := range r.Status {
			res.Status[code] += n
		}
		acked = append(acked, ids...)
	}
	for i, r := range receivers {
		if err := r.proc.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		if !r.proc.exited(time.Minute) || r.proc.exitCode() != 0 {
			t.Fatalf("receiver %d after SIGTERM: exit %d, want 0", i, r.proc.exitCode())
		}
	}
	if run != nil {
		if !ld.waitBoth(5 * time.Minute) {
			t.Fatal("the last loader run did not finish")
		}
		finish()
	}
	// The final load catches up; a second one from its last state loads nothing.
	var final [2]string
	for i := range final {
		ld.launch()
		if !ld.waitBoth(5*time.Minute) || ld.tap.exitCode() != 0 || ld.target.exitCode() != 0 {
			t.Fatalf("final load %d: tap exit %d, target exit %d, want 0, 0", i, ld.tap.exitCode(), ld.target.exitCode())
		}
		final[i] = ld.lastState()
	}
	if !strings.Contains(final[0], `"kafka_offsets"`) {
		t.Fatalf("the final load's last state has no kafka_offsets: %s", final[0])
	}
	if final[1] != final[0] {
		t.Errorf("a load from the last state moved it: %s, was %s", final[1], final[0])
	}

	figure(t, "duration", duration)
	figure(t, "kills", kills)
	figure(t, "cluster_restarts", clusterEpoch)
	figure(t, "longest_cluster_restart", clusterDown)
	figure(t, "loader_runs", ld.runs)
	figure(t, "targets_refusing_a_cut_line", cutLines)
	slices.Sort(whole)
	if len(whole) > 0 {
		figure(t, "loader_run_median", whole[len(whole)/2])
	}
	figure(t, "requests", res.Requests)
	figure(t, "status", res.Status)
	if kills["receiver0"]+kills["receiver1"] == 0 {
		t.Error("no receiver was killed: the test proved less than it says")
	}
	// A row nobody got a 200 for comes from a request whose answer was lost
	// to a kill, or from a produce that timed out (503) and landed later.
	compare(acked, warehouseIDs(t, dsn)).check(t, res.Errors+res.Status["503"])
}
