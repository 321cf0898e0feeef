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
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/cio-singer/tap-customerio-webhook/internal/lockedbuf"
	"github.com/cio-singer/tap-customerio-webhook/internal/poll"
	"github.com/cio-singer/tap-customerio-webhook/tap/appapi/appapitest"
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

// pipeOptions say what happens to the tap of runLoaderInto while it runs.
type pipeOptions struct {
	// killMidDrain SIGKILLs the tap mid-drain, once the target has printed
	// a state; either process may then fail.
	killMidDrain bool
	// during, when set, is called once both processes run (a tap with a
	// server: send webhooks, then SIGTERM).
	during func(tap *os.Process)
}

// runLoaderInto runs the tap with tapCfg (and state, when not "") piped into
// target with targetCfg, reading the tap's stdout on the way, until both
// exit; both must exit 0 unless opts.killMidDrain.
func runLoaderInto(t *testing.T, target, tapCfg, targetCfg, state string, opts pipeOptions) loaderRun {
	const killAfter = 300
	killMidDrain := opts.killMidDrain
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
	states := &lockedbuf.Buffer{}
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
	// done, when it is killed: what it wrote by then (the pipe's 64 KiB
	// and this reader's 4 KiB) still reaches the target.
	var run loaderRun
	copied := make(chan struct{})
	paused := make(chan struct{})
	resume := make(chan struct{})
	go func() {
		defer close(copied)
		defer targetIn.Close()
		r := bufio.NewReaderSize(tapOut, 1<<12)
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
		poll.Until(t, "the target's state", func() bool { return strings.Contains(states.String(), "\n") })
		if err := tapCmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		close(resume)
	}
	if opts.during != nil {
		opts.during(tapCmd.Process)
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

// topicCopies maps each event id to the records that carry it: two when
// a receiver killed mid-request had produced it before the sender retried.
func topicCopies(t *testing.T, brokers []string, topic string) map[string][]kafkaspool.Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out := map[string][]kafkaspool.Record{}
	if _, err := kafkaspool.Load(ctx, kafkaspool.Config{Brokers: brokers, Topic: topic}, kafkaspool.Position{}, func(r kafkaspool.Record) error {
		var ev struct {
			EventID string `json:"event_id"`
		}
		if err := json.Unmarshal(r.Body, &ev); err == nil {
			out[ev.EventID] = append(out[ev.EventID], r)
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
	poll.Until(t, "a third of the load acknowledged", func() bool { return s.acked.Load() >= n/3 })
	if err := receivers[1].cmd.Process.Kill(); err != nil { // SIGKILL: nothing flushed, nothing shut down
		t.Fatal(err)
	}
	_ = receivers[1].cmd.Wait()
	poll.Until(t, "two thirds of the load acknowledged", func() bool { return s.acked.Load() >= 2*n/3 })
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
	// A STATE after every record: the kill comes at record killAfter
	// whatever the machine's speed (at 10ms a fast loader wrote all 1500
	// records before its second STATE, and the kill came after the end).
	writeJSON(t, loadCfg, merged(kafka, map[string]any{"listen": "", "state_interval": "1ns", "spool_dir": filepath.Join(dir, "load")}))

	killed := runLoaderInto(t, "target-postgres", loadCfg, targetCfg, "", pipeOptions{killMidDrain: true})
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
	rerun := runLoaderInto(t, "target-postgres", loadCfg, targetCfg, killed.lastState, pipeOptions{})
	if len(rerun.emitted) == 0 {
		t.Fatal("the rerun emitted nothing: the loader was not killed mid-drain")
	}
	// The rerun emits exactly the records the state does not cover: as
	// many, and for each event emitted a copy past the state.
	uncovered := map[string]int{}
	total := 0
	for id, copies := range topicCopies(t, brokers, topic) {
		for _, r := range copies {
			if r.Offset >= st.Bookmarks.Data.Offsets[r.Partition] {
				uncovered[id]++
				total++
			}
		}
	}
	for _, id := range rerun.emitted {
		if uncovered[id] == 0 {
			t.Fatalf("the rerun emitted %s, which the state %s covers", id, killed.lastState)
		}
		uncovered[id]--
	}
	if len(rerun.emitted) != total {
		t.Fatalf("the rerun emitted %d records, the state leaves %d", len(rerun.emitted), total)
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

// scrapeMetric returns the value of one sample of a receiver's /metrics.
func scrapeMetric(t *testing.T, addr, sample string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "tap_customerio_webhook_"+sample+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatal(err)
			}
			return f
		}
	}
	t.Fatalf("/metrics has no %s", sample)
	return 0
}

// TestKafkaProduceErrorsAre503UntilTheyLand: the real receiver on an
// in-process cluster that refuses produces (NOT_ENOUGH_REPLICAS), answers
// them REQUEST_TIMED_OUT, then holds them past kafka_produce_timeout:
// every such webhook is a 503 with Retry-After, the sender retries it
// until a 200, and the loader then brings every event into the warehouse
// exactly once (writes that landed late collapse on event_id).
func TestKafkaProduceErrorsAre503UntilTheyLand(t *testing.T) {
	cluster, topic := startKafkaCluster(t, 2)
	dir := t.TempDir()
	kafka := map[string]any{"spool": "kafka", "kafka_brokers": cluster.ListenAddrs(), "kafka_topic": topic}
	addr := freeAddr(t)
	serveCfg := filepath.Join(dir, "serve.json")
	writeJSON(t, serveCfg, merged(kafka, map[string]any{"listen": addr, "webhook_tokens": []string{token},
		"signing_keys": []string{signingKey}, "kafka_produce_timeout": "500ms"}))
	startReceiver(t, serveCfg, addr)
	s := &webhookSender{addrs: []string{addr}}

	// Each phase: the cluster misbehaves, a batch is sent, and the fault
	// clears once the sender has had some 503s; the batch then lands.
	var held atomic.Bool
	release := make(chan struct{})
	cluster.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		if held.Load() {
			cluster.SleepControl(func() { <-release })
		}
		return nil, nil, false // then handled as usual: acknowledged late
	})
	phases := []struct {
		name  string
		start func() (stop func())
	}{
		{"not enough replicas", func() func() {
			f := cluster.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Topic: topic, Err: kerr.NotEnoughReplicas, Count: -1})
			return f.Remove
		}},
		{"request timed out", func() func() {
			f := cluster.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Topic: topic, Err: kerr.RequestTimedOut, Count: -1})
			return f.Remove
		}},
		{"no answer within kafka_produce_timeout", func() func() {
			held.Store(true)
			return func() { held.Store(false); close(release) }
		}},
	}
	var all []string
	for i, ph := range phases {
		ids := eventIDs(fmt.Sprintf("fault%d", i), 20)
		all = append(all, ids...)
		refusedBefore := s.refused.Load()
		stop := ph.start()
		sent := make(chan error, 1)
		go func() { sent <- s.send(ids, 4) }()
		poll.Until(t, ph.name+": 503s", func() bool { return s.refused.Load() >= refusedBefore+3 })
		stop()
		if err := <-sent; err != nil {
			t.Fatalf("%s: %v", ph.name, err)
		}
	}
	if s.noRetryAfter.Load() != 0 || s.cut.Load() != 0 {
		t.Fatalf("%d 503s without Retry-After, %d requests unanswered", s.noRetryAfter.Load(), s.cut.Load())
	}
	if failed := scrapeMetric(t, addr, `kafka_produce_total{result="failed"}`); failed < float64(s.refused.Load()) {
		t.Errorf("/metrics counts %v failed produces, the sender had %d 503s", failed, s.refused.Load())
	}
	if timeouts := scrapeMetric(t, addr, "kafka_produce_timeouts_total"); timeouts < 3 {
		t.Errorf("/metrics counts %v produce timeouts, want the held ones", timeouts)
	}

	db := filepath.Join(dir, "warehouse.db")
	targetCfg := filepath.Join(dir, "target.json")
	writeJSON(t, targetCfg, map[string]any{"database": db})
	loadCfg := filepath.Join(dir, "load.json")
	writeJSON(t, loadCfg, merged(kafka, map[string]any{"listen": "", "spool_dir": filepath.Join(dir, "load")}))
	runOnce(t, loadCfg, targetCfg, "")
	if distinct, rows := sqliteEventCounts(t, db); distinct != len(all) || rows != len(all) {
		t.Fatalf("warehouse has %d rows of %d events, want the %d sent once each", rows, distinct, len(all))
	}
}

// TestKafkaOneProcessSIGTERM: the real tap receiving and emitting in one
// process on spool "kafka", with the App API streams, piped into the real
// target-postgres. Webhooks reach PostgreSQL while it runs; on SIGTERM it
// emits what it acknowledged, writes a final STATE (Kafka offsets and the
// deliveries bookmark) and exits 0; a loader run from the state the
// target printed emits no webhook again.
func TestKafkaOneProcessSIGTERM(t *testing.T) {
	t.Parallel()
	brokers, topic := startKafkaTopic(t, 2)
	fake := appapitest.New(t, appapitest.Options{})
	now := time.Now()
	const deliveries = 150
	if err := fake.AddDeliveries(appapitest.Deliveries(deliveries, now.Add(-3*24*time.Hour), now.Add(-time.Minute))...); err != nil {
		t.Fatal(err)
	}
	fake.SetTable("/v1/campaigns", json.RawMessage(`{"id":23,"name":"Welcome"}`))
	dir := t.TempDir()
	addr := freeAddr(t)
	kafka := map[string]any{"spool": "kafka", "kafka_brokers": brokers, "kafka_topic": topic,
		"app_api_key": fake.Key(), "app_api_url": fake.URL,
		"app_api_start_date": now.Add(-7 * 24 * time.Hour).UTC().Format(time.RFC3339)}
	tapCfg := filepath.Join(dir, "tap.json")
	writeJSON(t, tapCfg, merged(kafka, map[string]any{"listen": addr, "webhook_tokens": []string{token},
		"signing_keys": []string{signingKey}, "state_interval": "100ms", "spool_dir": filepath.Join(dir, "spool")}))
	dsn := pg.NewDatabase(t)
	targetCfg := filepath.Join(dir, "target-postgres.json")
	writeJSON(t, targetCfg, map[string]any{"dsn": dsn, "default_target_schema": "customerio", "max_batch_age": "100ms"})
	// rows and distinct keys of a table
	count := func(table string) string {
		key := map[string]string{"data": "event_id", "deliveries": "id"}[table]
		rows, err := tryPsql(dsn, "select count(*), count(distinct "+key+") from customerio."+table)
		if err != nil || len(rows) != 1 {
			return ""
		}
		return rows[0]
	}

	s := &webhookSender{addrs: []string{addr}}
	live, late := eventIDs("live", 40), eventIDs("late", 40)
	run := runLoaderInto(t, "target-postgres", tapCfg, targetCfg, "", pipeOptions{during: func(tap *os.Process) {
		waitReadyz(t, addr)
		if err := s.send(live, 4); err != nil {
			t.Error(err)
		}
		poll.Until(t, "live events in PostgreSQL while the tap runs", func() bool { return count("data") == "40\t40" })
		// SIGTERM does not wait for an App API pass under way (as on disk).
		poll.Until(t, "the App API pass in PostgreSQL", func() bool {
			return count("deliveries") == fmt.Sprintf("%d\t%d", deliveries, deliveries)
		})
		if err := s.send(late, 4); err != nil {
			t.Error(err)
		}
		if err := tap.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
	}})
	if got := count("data"); got != "80\t80" {
		t.Fatalf("data rows, distinct = %q after SIGTERM, want every acknowledged event once (80)", got)
	}
	if got := count("deliveries"); got != fmt.Sprintf("%d\t%d", deliveries, deliveries) {
		t.Fatalf("deliveries rows %q, want %d", got, deliveries)
	}
	var st struct {
		Bookmarks struct {
			Data       kafkaspool.Position `json:"data"`
			Deliveries struct {
				Created int64 `json:"created"`
			} `json:"deliveries"`
		} `json:"bookmarks"`
	}
	if err := json.Unmarshal([]byte(run.lastState), &st); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ends, err := kafkaspool.Offsets(ctx, kafkaspool.Config{Brokers: brokers, Topic: topic})
	if err != nil {
		t.Fatal(err)
	}
	for p, r := range ends {
		if st.Bookmarks.Data.Offsets[p] != r.End {
			t.Fatalf("last state %s: partition %d at %d, want its end offset %d", run.lastState, p, st.Bookmarks.Data.Offsets[p], r.End)
		}
	}
	if st.Bookmarks.Deliveries.Created < now.Add(-2*time.Minute).Unix() {
		t.Fatalf("last state %s: want the deliveries bookmark", run.lastState)
	}

	loadCfg := filepath.Join(dir, "load.json")
	writeJSON(t, loadCfg, merged(kafka, map[string]any{"listen": "", "spool_dir": filepath.Join(dir, "load")}))
	again := runLoaderInto(t, "target-postgres", loadCfg, targetCfg, run.lastState, pipeOptions{})
	if len(again.emitted) != 0 {
		t.Fatalf("a loader from the last state emitted %d webhook events again", len(again.emitted))
	}
	if got := count("data"); got != "80\t80" {
		t.Fatalf("data rows after the loader: %q", got)
	}
}
