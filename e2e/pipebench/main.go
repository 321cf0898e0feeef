// Command pipebench measures the whole pipeline, HTTP to committed rows:
// cio-loadgen POSTs signed ~1 KB webhooks to the real tap-customerio-webhook,
// piped into the real target-postgres, loading a private PostgreSQL cluster
// (internal/pgtest). It reports acknowledged events/s, rows committed, the
// freshness of each row (commit time _sdc_batched_at minus receive time
// _sdc_extracted_at: an upper bound of 2xx-to-visible, as the 2xx follows
// the receive) and the peak RSS of both processes.
//
//	go run ./e2e/pipebench -bin bin -duration 60s   (scripts/bench-pipeline.sh)
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/cio-singer/tap-customerio-webhook/internal/pgtest"
)

func main() {
	bin := flag.String("bin", "bin", "directory of the built binaries")
	duration := flag.Duration("duration", 60*time.Second, "how long to send")
	conns := flag.Int("conns", 64, "connections")
	rate := flag.Float64("rate", 0, "requests per second (0: as fast as possible)")
	flag.Parse()
	if err := run(*bin, *duration, *conns, *rate); err != nil {
		fmt.Fprintln(os.Stderr, "pipebench:", err)
		os.Exit(1)
	}
}

func run(bin string, duration time.Duration, conns int, rate float64) error {
	srv, err := pgtest.Start()
	if err != nil {
		return err
	}
	defer srv.Stop()
	dsn := srv.DSN()
	work, err := os.MkdirTemp("", "pipebench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)

	addr, err := freeAddr()
	if err != nil {
		return err
	}
	token := "pipebench-token-0123456789abcdef0123456789"
	key := "pipebench-signing-key"
	tapCfg := filepath.Join(work, "tap.json")
	targetCfg := filepath.Join(work, "target.json")
	writeJSON(tapCfg, map[string]any{"listen": addr, "webhook_tokens": []string{token}, "signing_keys": []string{key},
		"spool_dir": filepath.Join(work, "spool"), "log_level": "warn"})
	writeJSON(targetCfg, map[string]any{"dsn": dsn, "default_target_schema": "bench", "max_batch_age": "500ms",
		"batch_size_rows": 20000, "log_level": "warn"})

	pr, pw, err := os.Pipe()
	if err != nil {
		return err
	}
	target := exec.Command(filepath.Join(bin, "target-postgres"), "--config", targetCfg)
	target.Stdin, target.Stdout, target.Stderr = pr, nil, os.Stderr
	tap := exec.Command(filepath.Join(bin, "tap-customerio-webhook"), "--config", tapCfg)
	tap.Stdout, tap.Stderr = pw, os.Stderr
	if err := target.Start(); err != nil {
		return err
	}
	if err := tap.Start(); err != nil {
		return err
	}
	pr.Close()
	pw.Close()
	defer tap.Process.Kill()
	defer target.Process.Kill()
	if err := waitReady("http://" + addr + "/readyz"); err != nil {
		return err
	}

	args := []string{"run", "--url", "http://" + addr + "/webhook/" + token, "--conns", fmt.Sprint(conns),
		"--duration", duration.String(), "--signing-key", key}
	if rate > 0 {
		args = append(args, "--rate", fmt.Sprint(rate))
	}
	out, err := exec.Command(filepath.Join(bin, "cio-loadgen"), args...).Output()
	if err != nil {
		return fmt.Errorf("cio-loadgen: %w", err)
	}
	var load struct {
		Requests uint64             `json:"requests"`
		RPS      float64            `json:"rps"`
		Status   map[string]uint64  `json:"status"`
		Non2xx   uint64             `json:"non_2xx"`
		Latency  map[string]float64 `json:"latency_ms"`
	}
	if err := json.Unmarshal(out, &load); err != nil {
		return fmt.Errorf("decoding %s: %w", out, err)
	}
	tapRSS, targetRSS := peakRSS(tap.Process.Pid), peakRSS(target.Process.Pid)
	drainStart := time.Now()
	if err := tap.Process.Signal(syscall.SIGTERM); err != nil {
		return err
	}
	if err := tap.Wait(); err != nil {
		return fmt.Errorf("tap: %w", err)
	}
	if err := target.Wait(); err != nil {
		return fmt.Errorf("target-postgres: %w", err)
	}
	drain := time.Since(drainStart)

	stats := psql(srv, `select count(*), count(distinct event_id),
	  round(extract(epoch from max(_sdc_batched_at) - min(_sdc_extracted_at))::numeric, 2),
	  round((percentile_cont(0.5) within group (order by extract(epoch from _sdc_batched_at - _sdc_extracted_at)))::numeric * 1000),
	  round((percentile_cont(0.99) within group (order by extract(epoch from _sdc_batched_at - _sdc_extracted_at)))::numeric * 1000),
	  round(extract(epoch from max(_sdc_batched_at - _sdc_extracted_at))::numeric * 1000)
	  from bench.data`)
	f := strings.Split(stats, "|")
	if len(f) != 6 {
		return fmt.Errorf("unexpected psql output %q", stats)
	}
	fmt.Printf("load: %s x %d connections, signed ~1 KB bodies; %d requests, %d answered 200, %d non-2xx\n",
		duration, conns, load.Requests, load.Status["200"], load.Non2xx)
	fmt.Printf("acknowledged: %.0f events/s; ack latency ms p50 %.2f p99 %.2f max %.2f\n",
		load.RPS, load.Latency["p50"], load.Latency["p99"], load.Latency["max"])
	fmt.Printf("committed: %s rows (%s distinct event_id) in %s s from first receive to last commit; drain after SIGTERM %.1f s\n",
		f[0], f[1], f[2], drain.Seconds())
	fmt.Printf("freshness (commit - receive) ms: p50 %s p99 %s max %s\n", f[3], f[4], f[5])
	fmt.Printf("peak RSS during load: tap %d MB, target-postgres %d MB\n", tapRSS/1024, targetRSS/1024)
	return nil
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

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func writeJSON(path string, v any) {
	raw, _ := json.Marshal(v)
	_ = os.WriteFile(path, raw, 0o600)
}

func waitReady(url string) error {
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("%s not ready", url)
}
