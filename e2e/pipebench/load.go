package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

// loadResult is what a client reports about one run.
type loadResult struct {
	Requests uint64  // answered
	Non2xx   uint64  // answered, but not 2xx (wrk: status >= 400)
	Errors   uint64  // connect, read, write errors and timeouts
	RPS      float64 // answered per second
	P50, P99 float64 // ack latency, ms
	Max      float64
	// CPU is the client's CPU seconds (user + system) over its life.
	CPU float64
}

// acked is the number of webhooks the client saw answered 2xx.
func (r loadResult) acked() uint64 { return r.Requests - r.Non2xx }

// client drives load against a URL for a duration.
type client interface {
	name() string
	// prepare is called once per run, before any load, with the run's
	// working directory.
	prepare(work string) error
	run(url string, d time.Duration) (loadResult, error)
}

// wrkClient is wrk (a C client, lighter than the servers it measures)
// with a script from `cio-loadgen wrk-script --unique-ids`: every request a
// new event_id, signed as it is sent.
type wrkClient struct {
	bin, path, key  string
	threads, conns  int
	bodyBytes, tmpl int
	script          string
}

func (w *wrkClient) name() string {
	return fmt.Sprintf("wrk %d threads x %d connections, a new signed event_id per request (~%d B bodies)", w.threads, w.conns, w.bodyBytes)
}

func (w *wrkClient) prepare(work string) error {
	w.script = filepath.Join(work, "req.lua")
	out, err := exec.Command(filepath.Join(w.bin, "cio-loadgen"), "wrk-script", "--unique-ids", "--path", w.path,
		"--requests", fmt.Sprint(w.tmpl), "--body-bytes", fmt.Sprint(w.bodyBytes), "--signing-key", w.key).Output()
	if err != nil {
		return fmt.Errorf("cio-loadgen wrk-script: %w", err)
	}
	return os.WriteFile(w.script, out, 0o600)
}

func (w *wrkClient) run(url string, d time.Duration) (loadResult, error) {
	sum, cpu, err := runClient(exec.Command("wrk", fmt.Sprintf("-t%d", w.threads), fmt.Sprintf("-c%d", w.conns),
		fmt.Sprintf("-d%ds", int(d.Seconds())), "-s", w.script, url))
	return loadResult{Requests: sum.Requests, Non2xx: sum.Non2xx, Errors: sum.SocketErrors, RPS: sum.RPS,
		P50: sum.Latency["p50"], P99: sum.Latency["p99"], Max: sum.Latency["max"], CPU: cpu}, err
}

// clientSummary is the JSON line both clients print when done: the wrk
// script's done() and `cio-loadgen run`.
type clientSummary struct {
	Requests     uint64             `json:"requests"`
	RPS          float64            `json:"rps"`
	Non2xx       uint64             `json:"non_2xx"`
	SocketErrors uint64             `json:"socket_errors"` // wrk
	Errors       uint64             `json:"errors"`        // cio-loadgen
	Latency      map[string]float64 `json:"latency_ms"`
}

// runClient runs a client to its end and decodes the last line of its
// output that is a JSON object; cpu is the client's CPU seconds.
func runClient(cmd *exec.Cmd) (sum clientSummary, cpu float64, err error) {
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return sum, 0, fmt.Errorf("%s: %w\n%s", filepath.Base(cmd.Path), err, out)
	}
	line := out[bytes.LastIndex(out, []byte("\n{"))+1:]
	if err := json.Unmarshal(line, &sum); err != nil {
		return sum, 0, fmt.Errorf("%s printed no summary (%w):\n%s", filepath.Base(cmd.Path), err, out)
	}
	return sum, (cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()).Seconds(), nil
}

// loadgenClient is `cio-loadgen run`, the Go client: it costs more CPU
// than the server it measures, but can pace a fixed rate (rate > 0).
type loadgenClient struct {
	bin, key  string
	conns     int
	bodyBytes int
	rate      float64
}

func (l *loadgenClient) name() string {
	s := fmt.Sprintf("cio-loadgen run, %d connections, signed ~%d B bodies", l.conns, l.bodyBytes)
	if l.rate > 0 {
		s += fmt.Sprintf(" at %.0f/s", l.rate)
	}
	return s
}

func (l *loadgenClient) prepare(string) error { return nil }

func (l *loadgenClient) run(url string, d time.Duration) (loadResult, error) {
	args := []string{"run", "--url", url, "--conns", fmt.Sprint(l.conns), "--duration", d.String(),
		"--body-bytes", fmt.Sprint(l.bodyBytes), "--signing-key", l.key}
	if l.rate > 0 {
		args = append(args, "--rate", fmt.Sprint(l.rate))
	}
	sum, cpu, err := runClient(exec.Command(filepath.Join(l.bin, "cio-loadgen"), args...))
	// cio-loadgen counts transport errors as non-2xx too; wrk does not.
	return loadResult{Requests: sum.Requests - sum.Errors, Non2xx: sum.Non2xx - sum.Errors, Errors: sum.Errors, RPS: sum.RPS,
		P50: sum.Latency["p50"], P99: sum.Latency["p99"], Max: sum.Latency["max"], CPU: cpu}, err
}
