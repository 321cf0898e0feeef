package e2e

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// startKafkaTopic starts an in-process kfake cluster (3 brokers, data on
// disk) and creates a safe topic (RF 3, min.insync.replicas 2) on it.
func startKafkaTopic(t *testing.T, partitions int32) (brokers []string, topic string) {
	t.Helper()
	c, topic := startKafkaCluster(t, partitions)
	return c.ListenAddrs(), topic
}

// startKafkaCluster is startKafkaTopic returning the cluster, for faults.
func startKafkaCluster(t *testing.T, partitions int32) (*kfake.Cluster, string) {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(3), kfake.DataDir(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	isr := "2"
	topic := "customerio-webhooks"
	resp, err := kadm.NewClient(cl).CreateTopic(ctx, partitions, 3, map[string]*string{"min.insync.replicas": &isr}, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Fatalf("creating topic: %v", err)
	}
	return c, topic
}

// receiverProc is a running `tap-customerio-webhook serve`.
type receiverProc struct {
	cmd    *exec.Cmd
	addr   string
	stderr *bytes.Buffer
}

func startReceiver(t *testing.T, cfgPath, addr string) *receiverProc {
	t.Helper()
	r := &receiverProc{addr: addr, stderr: &bytes.Buffer{}}
	r.cmd = exec.Command(filepath.Join(bin, "tap-customerio-webhook"), "serve", "--config", cfgPath)
	r.cmd.Stderr = r.stderr
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.cmd.Process.Kill(); _ = r.cmd.Wait() })
	waitReadyz(t, addr)
	return r
}

// post sends one webhook and reports whether it was answered 200; a
// connection cut by a killed receiver is an unacknowledged webhook.
func postAcked(addr string, body string) bool {
	resp, err := http.Post("http://"+addr+"/webhook/"+token, "application/json", strings.NewReader(body))
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

func kafkaEvent(id string) string {
	return `{"event_id":"` + id + `","object_type":"email","metric":"sent","timestamp":1727712043,"data":{"delivery_id":"d"}}`
}

// TestKafkaFleet runs the real binaries on an in-process Kafka cluster: two
// receivers (one SIGKILLed mid-load and restarted) take webhooks, then two
// loaders splitting the partitions, each piped into target-sqlite, load
// every acknowledged event exactly once; rerun from their last states they
// load nothing again.
func TestKafkaFleet(t *testing.T) {
	brokers, topic := startKafkaTopic(t, 4)
	dir := t.TempDir()
	kafka := map[string]any{"spool": "kafka", "kafka_brokers": brokers, "kafka_topic": topic}
	with := func(extra map[string]any) map[string]any { return merged(kafka, extra) }
	var receivers []*receiverProc
	var cfgs []string
	for i := range 2 {
		addr := freeAddr(t)
		cfg := filepath.Join(dir, fmt.Sprintf("serve%d.json", i))
		writeJSON(t, cfg, with(map[string]any{"listen": addr, "webhook_tokens": []string{token},
			"spool_dir": filepath.Join(dir, fmt.Sprintf("spool%d", i))}))
		cfgs = append(cfgs, cfg)
		receivers = append(receivers, startReceiver(t, cfg, addr))
	}

	acked := map[string]bool{}
	for i := range 120 {
		id := fmt.Sprintf("fleet-%03d", i)
		r := receivers[i%2]
		if i == 60 {
			// SIGKILL: no shutdown, nothing flushed; what it acknowledged is in the cluster.
			if err := receivers[1].cmd.Process.Kill(); err != nil {
				t.Fatal(err)
			}
			_ = receivers[1].cmd.Wait()
		}
		if i == 80 {
			receivers[1] = startReceiver(t, cfgs[1], receivers[1].addr)
		}
		if postAcked(r.addr, kafkaEvent(id)) {
			acked[id] = true
		}
	}
	if len(acked) < 100 {
		t.Fatalf("only %d of 120 webhooks acknowledged", len(acked))
	}

	db := filepath.Join(dir, "warehouse.db")
	targetCfg := filepath.Join(dir, "target.json")
	writeJSON(t, targetCfg, map[string]any{"database": db})
	var states []string
	for i, parts := range [][]int{{0, 1}, {2, 3}} {
		cfg := filepath.Join(dir, fmt.Sprintf("load%d.json", i))
		writeJSON(t, cfg, with(map[string]any{"listen": "", "kafka_partitions": parts, "spool_dir": filepath.Join(dir, "load")}))
		states = append(states, runOnce(t, cfg, targetCfg, ""))
	}
	countRows := func() (distinct, all int) { return sqliteEventCounts(t, db) }
	distinct, all := countRows()
	if distinct != len(acked) || all != len(acked) {
		t.Fatalf("warehouse has %d rows (%d distinct events), want the %d acknowledged once each", all, distinct, len(acked))
	}
	for i, st := range states {
		if !strings.Contains(st, `"kafka_offsets"`) {
			t.Fatalf("loader %d's last state %s has no kafka_offsets", i, st)
		}
		cfg := filepath.Join(dir, fmt.Sprintf("load%d.json", i))
		if again := runOnce(t, cfg, targetCfg, st); again != st {
			t.Errorf("loader %d rerun from its state moved it: %s, was %s", i, again, st)
		}
	}
	if d, a := countRows(); d != distinct || a != all {
		t.Fatalf("reruns changed the warehouse: %d rows, was %d", a, all)
	}
}

// sqliteEventCounts returns the distinct event ids and the rows of table
// data in the SQLite file db.
func sqliteEventCounts(t *testing.T, db string) (distinct, all int) {
	t.Helper()
	conn, err := sql.Open("sqlite", db)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.QueryRow("select count(distinct event_id), count(*) from data").Scan(&distinct, &all); err != nil {
		t.Fatal(err)
	}
	return distinct, all
}
