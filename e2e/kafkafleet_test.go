package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cio-singer/tap-customerio-webhook/tap/auth"
	"github.com/cio-singer/tap-customerio-webhook/tap/kafkaspool"
)

const signingKey = "e2e-signing-key-0123456789abcdef"

// webhookSender plays Customer.io: each event is posted signed and retried,
// on the next receiver when there are several, until one answers 200.
type webhookSender struct {
	addrs   []string
	acked   atomic.Int64
	refused atomic.Int64 // answers other than 200 (503 while the cluster refuses)
	// noRetryAfter counts 503s without a Retry-After header.
	noRetryAfter atomic.Int64
	cut          atomic.Int64 // requests that got no answer (a killed receiver)
}

// send posts every id with workers concurrent senders and returns once each
// was answered 200, or the error of an event still refused after 60s.
func (s *webhookSender) send(ids []string, workers int) error {
	next := make(chan string)
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			attempt := w
			for id := range next {
				if err := s.deliver(id, &attempt); err != nil {
					errs <- err
					for range next { // let the feeder finish
					}
					return
				}
			}
		}()
	}
	for _, id := range ids {
		next <- id
	}
	close(next)
	wg.Wait()
	close(errs)
	return <-errs
}

func (s *webhookSender) deliver(id string, attempt *int) error {
	body := []byte(kafkaEvent(id))
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		addr := s.addrs[*attempt%len(s.addrs)]
		*attempt++
		code, retryAfter, err := postSigned(addr, body)
		switch {
		case err != nil:
			s.cut.Add(1)
		case code == http.StatusOK:
			s.acked.Add(1)
			return nil
		default:
			s.refused.Add(1)
			if code == http.StatusServiceUnavailable && retryAfter == "" {
				s.noRetryAfter.Add(1)
			}
		}
		time.Sleep(20 * time.Millisecond) // the sender's retry pace, not synchronisation
	}
	return fmt.Errorf("event %s: no 200 within 60s", id)
}

func postSigned(addr string, body []byte) (code int, retryAfter string, err error) {
	req, err := http.NewRequest(http.MethodPost, "http://"+addr+"/webhook/"+token, bytes.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(auth.HeaderTimestamp, ts)
	req.Header.Set(auth.HeaderSignature, auth.Sign([]byte(signingKey), []byte(ts), body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("Retry-After"), nil
}

func eventIDs(prefix string, n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("%s-%05d", prefix, i)
	}
	return ids
}

// lockedBuffer is a bytes.Buffer a process writes while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// lastLine is the last complete line of what a target printed.
func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// loaderRun is what one `tap | target` run did.
type loaderRun struct {
	lastState string   // the target's last state line
	emitted   []string // event ids of the data records the tap wrote
}

// runLoaderInto runs the tap with tapCfg (and state, when not "") piped into
// target with targetCfg, reading the tap's stdout on the way. With
// killMidDrain the tap is SIGKILLed mid-drain, once the target has printed
// a state, and either process may then fail; otherwise both must exit 0.
func runLoaderInto(t *testing.T, target, tapCfg, targetCfg, state string, killMidDrain bool) loaderRun {
	const killAfter = 300
	t.Helper()
	args := []string{"--config", tapCfg}
	if state != "" {
		p := filepath.Join(t.TempDir(), "state.json")
		if err := os.WriteFile(p, []byte(state), 0o600); err != nil {
			t.Fatal(err)
		}
		args = append(args, "--state", p)
	}
	tapCmd := exec.Command(filepath.Join(bin, "tap-customerio-webhook"), args...)
	targetCmd := exec.Command(filepath.Join(bin, target), "--config", targetCfg)
	var tapErr, targetErr bytes.Buffer
	states := &lockedBuffer{}
	tapOut, err := tapCmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	targetIn, err := targetCmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	tapCmd.Stderr, targetCmd.Stdout, targetCmd.Stderr = &tapErr, states, &targetErr
	if err := targetCmd.Start(); err != nil {
		t.Fatal(err)
	}
	if err := tapCmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tapCmd.Process.Kill(); _ = targetCmd.Process.Kill() })
	// The tap's lines go to the target as they are (a torn last line
	// included), parsed on the way for the records they carry. With
	// killMidDrain the copy pauses after the first STATE that follows
	// killAfter records, so the tap is blocked on a full pipe, far from
	// done, when it is killed.
	var run loaderRun
	copied := make(chan struct{})
	paused := make(chan struct{})
	resume := make(chan struct{})
	go func() {
		defer close(copied)
		defer targetIn.Close()
		r := bufio.NewReaderSize(tapOut, 1<<16)
		didPause := false
		for {
			line, err := r.ReadBytes('\n')
			if _, werr := targetIn.Write(line); werr != nil || err != nil {
				_, _ = io.Copy(io.Discard, r)
				return
			}
			var m struct {
				Type, Stream string
				Record       struct {
					EventID string `json:"event_id"`
				}
			}
			if json.Unmarshal(line, &m) != nil {
				continue
			}
			if m.Type == "RECORD" && m.Stream == "data" {
				run.emitted = append(run.emitted, m.Record.EventID)
			}
			if killMidDrain && m.Type == "STATE" && len(run.emitted) >= killAfter && !didPause {
				didPause = true
				close(paused)
				<-resume
			}
		}
	}()
	if killMidDrain {
		select {
		case <-paused:
		case <-copied:
			t.Fatalf("the tap wrote everything before %d records", killAfter)
		}
		waitFor(t, "the target's state", func() bool { return strings.Contains(states.String(), "\n") })
		if err := tapCmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		close(resume)
	}
	<-copied // before Wait, which closes the pipe it reads
	tapState := tapCmd.Wait()
	targetState := targetCmd.Wait()
	if !killMidDrain && (tapState != nil || targetState != nil) {
		t.Fatalf("tap: %v\n%s\n%s: %v\n%s", tapState, tapErr.String(), target, targetState, targetErr.String())
	}
	run.lastState = lastLine(states.String())
	return run
}

// topicPositions maps each event id to where it is in the topic
// (the first copy, should the topic hold two).
func topicPositions(t *testing.T, brokers []string, topic string) map[string]kafkaspool.Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out := map[string]kafkaspool.Record{}
	if _, err := kafkaspool.Load(ctx, kafkaspool.Config{Brokers: brokers, Topic: topic}, kafkaspool.Position{}, func(r kafkaspool.Record) error {
		var ev struct {
			EventID string `json:"event_id"`
		}
		if err := json.Unmarshal(r.Body, &ev); err == nil {
			if _, seen := out[ev.EventID]; !seen {
				out[ev.EventID] = r
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestKafkaFleetPostgres: two receivers (the real binary, signatures
// required) take a signed load through an in-process Kafka cluster while
// one of them is SIGKILLed and restarted; the sender retries what got no
// 200. A loader piped into the real target-postgres is SIGKILLed mid-drain
// and rerun from the last state line target-postgres printed: the rerun
// emits nothing that state covers, and PostgreSQL ends with every event
// exactly once.
func TestKafkaFleetPostgres(t *testing.T) {
	brokers, topic := startKafkaTopic(t, 3)
	dir := t.TempDir()
	kafka := map[string]any{"spool": "kafka", "kafka_brokers": brokers, "kafka_topic": topic}
	var addrs, cfgs []string
	var receivers []*receiverProc
	for i := range 2 {
		addr := freeAddr(t)
		cfg := filepath.Join(dir, fmt.Sprintf("serve%d.json", i))
		writeJSON(t, cfg, merged(kafka, map[string]any{"listen": addr, "webhook_tokens": []string{token},
			"signing_keys": []string{signingKey}, "signature_max_age": "5m"}))
		addrs, cfgs = append(addrs, addr), append(cfgs, cfg)
		receivers = append(receivers, startReceiver(t, cfg, addr))
	}
	if code := do(t, http.MethodPost, "http://"+addrs[0]+"/webhook/"+token, []byte(kafkaEvent("unsigned"))); code != http.StatusUnauthorized {
		t.Fatalf("an unsigned webhook: %d, want 401", code)
	}

	const n = 1500
	ids := eventIDs("fleet", n)
	s := &webhookSender{addrs: addrs}
	sent := make(chan error, 1)
	go func() { sent <- s.send(ids, 6) }()
	waitFor(t, "a third of the load acknowledged", func() bool { return s.acked.Load() >= n/3 })
	if err := receivers[1].cmd.Process.Kill(); err != nil { // SIGKILL: nothing flushed, nothing shut down
		t.Fatal(err)
	}
	_ = receivers[1].cmd.Wait()
	waitFor(t, "two thirds of the load acknowledged", func() bool { return s.acked.Load() >= 2*n/3 })
	receivers[1] = startReceiver(t, cfgs[1], addrs[1])
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
	if s.acked.Load() != n {
		t.Fatalf("%d of %d events acknowledged", s.acked.Load(), n)
	}
	t.Logf("sender: %d refused, %d cut by the kill", s.refused.Load(), s.cut.Load())

	dsn := pg.NewDatabase(t)
	targetCfg := filepath.Join(dir, "target-postgres.json")
	writeJSON(t, targetCfg, map[string]any{"dsn": dsn, "default_target_schema": "customerio",
		"batch_size_rows": 100, "max_batch_age": "50ms"})
	loadCfg := filepath.Join(dir, "load.json")
	writeJSON(t, loadCfg, merged(kafka, map[string]any{"listen": "", "state_interval": "10ms", "spool_dir": filepath.Join(dir, "load")}))

	killed := runLoaderInto(t, "target-postgres", loadCfg, targetCfg, "", true)
	if !strings.Contains(killed.lastState, `"kafka_offsets"`) {
		t.Fatalf("the killed loader's target printed %q, want a state with kafka_offsets", killed.lastState)
	}
	t.Logf("the killed loader's target printed last %s", killed.lastState)
	var st struct {
		Bookmarks struct {
			Data kafkaspool.Position `json:"data"`
		} `json:"bookmarks"`
	}
	if err := json.Unmarshal([]byte(killed.lastState), &st); err != nil {
		t.Fatal(err)
	}
	rerun := runLoaderInto(t, "target-postgres", loadCfg, targetCfg, killed.lastState, false)
	if len(rerun.emitted) == 0 {
		t.Fatal("the rerun emitted nothing: the loader was not killed mid-drain")
	}
	where := topicPositions(t, brokers, topic)
	for _, id := range rerun.emitted {
		r := where[id]
		if r.Offset < st.Bookmarks.Data.Offsets[r.Partition] {
			t.Fatalf("the rerun emitted %s (partition %d offset %d), which the state %s covers", id, r.Partition, r.Offset, killed.lastState)
		}
	}
	if got := psql(t, dsn, "select count(*), count(distinct event_id) from customerio.data")[0]; got != fmt.Sprintf("%d\t%d", n, n) {
		t.Fatalf("rows, distinct events = %s; want %d, %d", got, n, n)
	}
	if got := psql(t, dsn, "select count(*) from customerio.data where event_id not like 'fleet-%'")[0]; got != "0" {
		t.Fatalf("%s rows are not events sent", got)
	}
	if !strings.Contains(rerun.lastState, `"kafka_offsets"`) {
		t.Fatalf("the rerun ended on %q", rerun.lastState)
	}
}

// merged is base with extra's keys added.
func merged(base, extra map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range base {
		out[k] = v
	}
	for k, v := range extra {
		out[k] = v
	}
	return out
}
