package reliability_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cio-singer/tap-customerio-webhook/internal/poll"
	"github.com/cio-singer/tap-customerio-webhook/tap/auth"
)

// soloTap is the real tap binary writing its Singer output to a file.
type soloTap struct {
	*proc
	addr, stdout, stderr string
}

func startSoloTap(t *testing.T, bins binaries, spoolDir string, extra map[string]any) *soloTap {
	t.Helper()
	dir := t.TempDir()
	addr := freeAddr(t)
	cfg := tapConfig(t, dir, addr, spoolDir, extra)
	out, err := os.Create(filepath.Join(dir, "stdout.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	logs, err := os.Create(filepath.Join(dir, "stderr.log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = out.Close(); _ = logs.Close() })
	cmd := exec.Command(bins.tap, "--config", cfg)
	cmd.Stdout, cmd.Stderr = out, logs
	p := startProc(t, cmd, nil)
	t.Cleanup(func() {
		if t.Failed() {
			b, _ := os.ReadFile(logs.Name())
			lines := strings.Split(string(b), "\n")
			t.Logf("last tap stderr lines:\n%s", strings.Join(lines[max(0, len(lines)-40):], "\n"))
		}
	})
	waitReady(t, addr, p, time.Minute)
	return &soloTap{proc: p, addr: addr, stdout: out.Name(), stderr: logs.Name()}
}

func (s *soloTap) url() string { return "http://" + s.addr + "/webhook/" + testToken }

// terminate sends SIGTERM and checks the tap drains and exits 0.
func (s *soloTap) terminate(t *testing.T) {
	t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if !s.exited(2 * time.Minute) {
		t.Fatal("tap did not exit after SIGTERM")
	}
	if s.exitCode() != 0 {
		t.Fatalf("tap exited %d after SIGTERM, want 0", s.exitCode())
	}
}

// singerOutput counts the tap's records: data event ids, and rejected rows.
type singerOutput struct {
	data     map[string]int
	rejected int
	states   int
}

func readSinger(t *testing.T, path string) singerOutput {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := singerOutput{data: map[string]int{}}
	r := bufio.NewReaderSize(f, 1<<20)
	for n := 1; ; n++ {
		line, err := r.ReadBytes('\n')
		if len(line) == 0 && err != nil {
			break
		}
		var m struct {
			Type   string `json:"type"`
			Stream string `json:"stream"`
			Record struct {
				EventID string `json:"event_id"`
			} `json:"record"`
		}
		if jerr := json.Unmarshal(line, &m); jerr != nil {
			t.Fatalf("stdout line %d is not a Singer message: %v", n, jerr)
		}
		switch {
		case m.Type == "RECORD" && m.Stream == "data":
			out.data[m.Record.EventID]++
		case m.Type == "RECORD" && m.Stream == "rejected":
			out.rejected++
		case m.Type == "STATE":
			out.states++
		}
	}
	return out
}

// signedPost sends body with a valid Customer.io signature.
func signedPost(client *http.Client, url, contentType string, body []byte) (int, string, error) {
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	req.Header.Set("Content-Type", contentType)
	req.Header.Set(auth.HeaderTimestamp, ts)
	req.Header.Set(auth.HeaderSignature, auth.Sign([]byte(testSigningKey), []byte(ts), body))
	resp, err := client.Do(req)
	if err != nil {
		return 0, "", err
	}
	_ = resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("Retry-After"), nil
}

func eventBody(id string, pad int) []byte {
	return fmt.Appendf(nil, `{"event_id":%q,"object_type":"email","metric":"sent","timestamp":1700000000,"data":{"pad":%q}}`, id, strings.Repeat("p", pad))
}

// TestTmpfsFull runs the real tap with its spool on a 2 MiB tmpfs that
// fills up: webhooks get 503 with Retry-After, and 200 again by themselves
// once a file is deleted; every acknowledged webhook is emitted exactly once.
func TestTmpfsFull(t *testing.T) {
	mnt := filepath.Join(t.TempDir(), "mnt")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", mnt).CombinedOutput(); err != nil {
		t.Skipf("skipping the real full-disk test: cannot mount a 2 MiB tmpfs here (%v: %s); TestDiskFull covers ENOSPC on the in-memory FS", err, bytes.TrimSpace(out))
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", mnt).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", mnt, err, out)
		}
	})
	ballast := filepath.Join(mnt, "ballast")
	if err := os.WriteFile(ballast, make([]byte, 512<<10), 0o600); err != nil {
		t.Fatal(err)
	}
	bins := buildBinaries(t)
	tap := startSoloTap(t, bins, filepath.Join(mnt, "spool"), nil)
	client := &http.Client{Timeout: 10 * time.Second}

	var acked, refused []string
	post := func(id string) int {
		t.Helper()
		code, ra, err := signedPost(client, tap.url(), "application/json", eventBody(id, 8<<10))
		if err != nil {
			t.Fatalf("POST: %v", err)
		}
		checkStatus(t, code, ra)
		if code == 200 {
			acked = append(acked, id)
		} else {
			refused = append(refused, id)
		}
		return code
	}
	// Fill until the disk refuses three webhooks in a row. A 200 between
	// refusals is fine (a failed write frees what it had taken), provided it
	// is durable, which the end of the test checks.
	i, streak := 0, 0
	for ; streak < 3; i++ {
		if i > 2000 {
			t.Fatal("a 2 MiB tmpfs never filled up")
		}
		if post(fmt.Sprint("t", i)) == 503 {
			streak++
		} else {
			streak = 0
		}
	}
	full := len(acked)
	if err := os.Remove(ballast); err != nil {
		t.Fatal(err)
	}
	poll.Within(t, 30*time.Second, "a 200 after freeing space", func() bool {
		i++
		return post(fmt.Sprint("t", i)) == 200
	})
	for range 5 {
		i++
		if post(fmt.Sprint("t", i)) != 200 {
			t.Fatal("503 after space was freed and acknowledgements had resumed")
		}
	}
	tap.terminate(t)
	out := readSinger(t, tap.stdout)
	for _, id := range acked {
		if out.data[id] != 1 {
			t.Errorf("acknowledged %s emitted %d times, want 1", id, out.data[id])
		}
	}
	for _, id := range refused {
		if out.data[id] != 0 {
			t.Errorf("refused %s (503 on ENOSPC) was emitted", id)
		}
	}
	figure(t, "acknowledged_before_full", full)
	figure(t, "acknowledged", len(acked))
	figure(t, "refused_503", len(refused))
}
