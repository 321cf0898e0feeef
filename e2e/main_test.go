// Package e2e runs the real binaries over real HTTP and real pipes: the
// tap alone, and the tap piped into target-postgres (a throwaway PostgreSQL
// from internal/pgtest) and into target-sqlite.
package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cio-singer/tap-customerio-webhook/internal/pgtest"
	"github.com/cio-singer/tap-customerio-webhook/internal/poll"
)

var (
	pg  *pgtest.Server
	bin string // directory holding the built binaries
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	build := exec.Command("go", "build", "-o", dir+string(os.PathSeparator), "./cmd/...")
	build.Dir = ".."
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building binaries: %v\n%s", err, out)
		os.Exit(1)
	}
	bin = dir
	code := pgtest.Run(m, &pg) // not Main: its os.Exit would skip removing dir
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

const token = "e2e-token-0123456789abcdef0123456789abcdef"

// payloads returns the sample bodies, sorted by file name.
func payloads(t *testing.T) (names []string, bodies [][]byte) {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join("..", "testdata", "payloads", "*.json"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no payloads: %v", err)
	}
	sort.Strings(paths)
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, filepath.Base(p))
		bodies = append(bodies, b)
	}
	return names, bodies
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func writeJSON(t *testing.T, path string, v any) {
	t.Helper()
	raw, _ := json.Marshal(v)
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		t.Fatal(err)
	}
}

// tap is a running tap-customerio-webhook process.
type tap struct {
	cmd    *exec.Cmd
	addr   string
	stderr *bytes.Buffer
}

// startTap starts the tap binary writing Singer messages to stdout.
func startTap(t *testing.T, dir string, stdout io.Writer, extraArgs ...string) *tap {
	t.Helper()
	addr := freeAddr(t)
	cfg := filepath.Join(dir, "tap.json")
	writeJSON(t, cfg, map[string]any{"listen": addr, "webhook_tokens": []string{token},
		"spool_dir": filepath.Join(dir, "spool"), "state_interval": "100ms", "max_body_bytes": 65536})
	tp := &tap{addr: addr, stderr: &bytes.Buffer{}}
	tp.cmd = exec.Command(filepath.Join(bin, "tap-customerio-webhook"), append([]string{"--config", cfg}, extraArgs...)...)
	tp.cmd.Stdout, tp.cmd.Stderr = stdout, tp.stderr
	if err := tp.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tp.cmd.Process.Kill() })
	waitReadyz(t, addr)
	return tp
}

// waitReadyz polls the server at addr until /readyz answers 200.
func waitReadyz(t *testing.T, addr string) {
	t.Helper()
	poll.Until(t, "ready at "+addr, func() bool {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
}

func (tp *tap) url() string { return "http://" + tp.addr + "/webhook/" + token }

// stop sends SIGTERM and waits for a clean exit.
func (tp *tap) stop(t *testing.T) {
	t.Helper()
	if err := tp.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := tp.cmd.Wait(); err != nil {
		t.Fatalf("tap exited with %v\n%s", err, tp.stderr)
	}
}

func do(t *testing.T, method, url string, body []byte) int {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// TestTapBinary: every row of the status table over real HTTP, then
// SIGTERM, then stdout checked line by line.
func TestTapBinary(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var out bytes.Buffer
	tp := startTap(t, dir, &out)
	_, bodies := payloads(t)
	for i, b := range bodies {
		if code := do(t, "POST", tp.url(), b); code != 200 {
			t.Fatalf("payload %d: %d", i, code)
		}
	}
	checks := []struct {
		method, url string
		body        []byte
		want        int
	}{
		{"POST", tp.url(), []byte("not json at all"), 200},
		{"POST", "http://" + tp.addr + "/webhook/wrong-token-0123456789abcdef0123456789", bodies[0], 404},
		{"GET", tp.url(), nil, 405},
		{"GET", "http://" + tp.addr + "/healthz", nil, 200},
		{"GET", "http://" + tp.addr + "/nowhere", nil, 404},
	}
	for _, c := range checks {
		if code := do(t, c.method, c.url, c.body); code != c.want {
			t.Errorf("%s %s: %d, want %d", c.method, c.url, code, c.want)
		}
	}
	if code := oversized(t, tp.addr, 70000); code != 413 {
		t.Errorf("oversized body: %d, want 413", code)
	}
	tp.stop(t)

	sc := bufio.NewScanner(&out)
	sc.Buffer(nil, 1<<24)
	var lines []map[string]json.RawMessage
	for sc.Scan() {
		var m map[string]json.RawMessage
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("stdout line is not JSON: %q", sc.Text())
		}
		lines = append(lines, m)
	}
	typeOf := func(m map[string]json.RawMessage) string {
		var s, st string
		json.Unmarshal(m["type"], &s)
		json.Unmarshal(m["stream"], &st)
		return s + ":" + st
	}
	var seq []string
	var dataRecords []json.RawMessage
	for _, m := range lines {
		if typeOf(m) == "STATE:" {
			continue // states may come at any point after records
		}
		seq = append(seq, typeOf(m))
		if typeOf(m) == "RECORD:data" {
			dataRecords = append(dataRecords, m["record"])
		}
	}
	want := []string{"SCHEMA:data"}
	for range bodies {
		want = append(want, "RECORD:data")
	}
	want = append(want, "SCHEMA:rejected", "RECORD:rejected")
	if strings.Join(seq, " ") != strings.Join(want, " ") {
		t.Fatalf("messages:\n%v\nwant\n%v", seq, want)
	}
	for i, rec := range dataRecords {
		if !sameJSON(t, rec, bodies[i]) {
			t.Errorf("record %d is not the body as posted:\n%s\n%s", i, rec, bodies[i])
		}
	}
	if last := typeOf(lines[len(lines)-1]); last != "STATE:" {
		t.Fatalf("last message is %s, want the final STATE", last)
	}
	if !strings.Contains(string(lines[len(lines)-1]["value"]), fmt.Sprintf(`"spool_offset":%d`, len(bodies)+1)) {
		t.Errorf("final state %s does not cover all %d records", lines[len(lines)-1]["value"], len(bodies)+1)
	}
	if strings.Contains(tp.stderr.String(), token) || strings.Contains(tp.stderr.String(), "example.com") {
		t.Error("the tap logged a token or payload contents")
	}
}

// oversized announces a body of n bytes and reads the answer without
// sending it: the server answers 413 from the headers and closes, so a
// client still writing the body would see a broken pipe instead.
func oversized(t *testing.T, addr string, n int) int {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /webhook/%s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", token, addr, n)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func sameJSON(t *testing.T, a, b []byte) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		return false
	}
	if err := json.Unmarshal(b, &y); err != nil {
		return false
	}
	xa, _ := json.Marshal(x)
	ya, _ := json.Marshal(y)
	return bytes.Equal(xa, ya)
}

// pipeline is tap | target with the target's stdout (state lines) kept.
type pipeline struct {
	tap    *tap
	target *exec.Cmd
	states *bytes.Buffer
	tErr   *bytes.Buffer
}

func startPipeline(t *testing.T, dir, target string, targetCfg map[string]any, state string) *pipeline {
	t.Helper()
	cfgPath := filepath.Join(dir, "target.json")
	writeJSON(t, cfgPath, targetCfg)
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &pipeline{states: &bytes.Buffer{}, tErr: &bytes.Buffer{}}
	p.target = exec.Command(filepath.Join(bin, target), "--config", cfgPath)
	p.target.Stdin, p.target.Stdout, p.target.Stderr = pr, p.states, p.tErr
	if err := p.target.Start(); err != nil {
		t.Fatal(err)
	}
	pr.Close()
	t.Cleanup(func() { _ = p.target.Process.Kill() })
	var args []string
	if state != "" {
		statePath := filepath.Join(dir, "state.json")
		if err := os.WriteFile(statePath, []byte(state), 0o600); err != nil {
			t.Fatal(err)
		}
		args = []string{"--state", statePath}
	}
	p.tap = startTap(t, dir, pw, args...)
	pw.Close() // the tap holds its own copy
	return p
}

// stop stops the tap cleanly; the target then reads EOF, loads the rest
// and exits. It returns the last state line the target printed.
func (p *pipeline) stop(t *testing.T) string {
	t.Helper()
	p.tap.stop(t)
	done := make(chan error, 1)
	go func() { done <- p.target.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("target exited with %v\n%s", err, p.tErr)
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("target did not exit after the tap\n%s", p.tErr)
	}
	lines := strings.Split(strings.TrimSpace(p.states.String()), "\n")
	return lines[len(lines)-1]
}
