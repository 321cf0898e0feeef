package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/cio-singer/tap-customerio-webhook/internal/poll"
	"github.com/cio-singer/tap-customerio-webhook/tap/kafkaspool"
)

func TestRun_Usage(t *testing.T) {
	for _, args := range [][]string{nil, {"bogus"}, {"run", "--no-such-flag"}, {"run", "--conns", "0", "--url", "http://x"},
		{"kfake"}, {"kfake", "--dir", "unused", "--ports", "9092,9093"}, {"kfake", "--dir", "unused", "--ports", "x"},
		{"kfake", "--dir", "unused", "--partitions", "0"}} {
		var stdout, stderr bytes.Buffer
		if err := run(context.Background(), args, &stdout, &stderr); err == nil {
			t.Errorf("run(%q) = nil; want an error", args)
		}
		if stdout.Len() != 0 {
			t.Errorf("run(%q) wrote %q to stdout", args, stdout.String())
		}
	}
}

// TestRun_ReceiverAndLoad runs the receiver subcommand and a signed load
// against it, the way the benchmark in the report was taken.
func TestRun_ReceiverAndLoad(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // run listens itself; the port is free again for a moment
	const token = "cmd-test-token-0123456789abcdef0123456789"
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	var serverLog bytes.Buffer
	go func() {
		served <- run(ctx, []string{"receiver", "--listen", addr, "--token", token, "--signing-key", "k"}, &bytes.Buffer{}, &serverLog)
	}()
	url := "http://" + addr + "/webhook/" + token
	poll.Until(t, "the receiver to listen on "+addr, func() bool {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			return false
		}
		c.Close()
		return true
	})

	acked := filepath.Join(t.TempDir(), "acked.txt")
	var stdout bytes.Buffer
	err = run(context.Background(), []string{"run", "--url", url, "--conns", "2", "--duration", "200ms", "--signing-key", "k", "--acked", acked}, &stdout, os.Stderr)
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	if err := <-served; err != nil {
		t.Fatalf("receiver: %v", err)
	}
	var res struct {
		Requests int            `json:"requests"`
		Status   map[string]int `json:"status"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil || strings.Count(stdout.String(), "\n") != 1 {
		t.Fatalf("stdout %q is not one JSON line: %v", stdout.String(), err)
	}
	ids, err := os.ReadFile(acked)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(ids), "\n"); res.Requests == 0 || res.Status["200"] != res.Requests || n != res.Requests {
		t.Fatalf("requests %d, status %v, acked ids %d; want all 200 and all acked", res.Requests, res.Status, n)
	}
	if strings.Contains(serverLog.String(), token) {
		t.Fatal("the receiver logged the token")
	}
}

// TestRun_Kfake runs the kfake subcommand the way bench-ingest.sh and the
// fleet crash loop do: it prints its brokers once the topic exists (RF 3,
// min.insync.replicas 2, what the tap requires), keeps a produced record
// across a restart on the same directory and ports, and stops on its
// context.
func TestRun_Kfake(t *testing.T) {
	dir := t.TempDir()
	start := func(ports string) (brokers []string, stop func()) {
		t.Helper()
		ctx, cancel := context.WithCancel(context.Background())
		out, w := io.Pipe()
		done := make(chan error, 1)
		args := []string{"kfake", "--dir", dir, "--partitions", "2"}
		if ports != "" {
			args = append(args, "--ports", ports)
		}
		go func() { done <- run(ctx, args, w, io.Discard); w.Close() }()
		line, err := bufio.NewReader(out).ReadString('\n')
		if err != nil {
			t.Fatalf("kfake printed no brokers: %v (run: %v)", err, <-done)
		}
		go io.Copy(io.Discard, out) //nolint:errcheck // drains the pipe until run returns
		return strings.Split(strings.TrimSpace(line), ","), func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("kfake: %v", err)
			}
		}
	}
	brokers, stop := start("")
	if len(brokers) != 3 {
		t.Fatalf("brokers %v, want 3", brokers)
	}
	cfg := kafkaspool.Config{Brokers: brokers, Topic: "customerio-webhooks"}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	info, err := kafkaspool.CheckTopic(ctx, cfg, zerolog.Nop())
	if err != nil || len(info.Partitions) != 2 {
		t.Fatalf("topic: %+v, %v; want a safe topic of 2 partitions", info, err)
	}
	p, err := kafkaspool.NewProducer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Append(ctx, []byte(`{"event_id":"kept"}`), "t"); err != nil {
		t.Fatal(err)
	}
	p.Close()
	stop()

	var ports []string
	for _, b := range brokers {
		ports = append(ports, b[strings.LastIndex(b, ":")+1:])
	}
	again, stop := start(strings.Join(ports, ","))
	defer stop()
	if !slices.Equal(again, brokers) {
		t.Fatalf("restarted on %v, want %v", again, brokers)
	}
	var bodies []string
	if _, err := kafkaspool.Load(ctx, cfg, kafkaspool.Position{}, func(r kafkaspool.Record) error {
		bodies = append(bodies, string(r.Body))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(bodies, []string{`{"event_id":"kept"}`}) {
		t.Fatalf("after the restart the topic holds %q, want the one record produced before", bodies)
	}
}

// TestRun_WrkScriptUniqueIDs: --unique-ids turns the requests into
// templates signed by the script as wrk sends them (internal/loadgen runs
// such a script in wrk).
func TestRun_WrkScriptUniqueIDs(t *testing.T) {
	for _, unique := range []bool{false, true} {
		args := []string{"wrk-script", "--path", "/webhook/tok", "--requests", "3", "--signing-key", "k"}
		if unique {
			args = append(args, "--unique-ids")
		}
		var stdout, stderr bytes.Buffer
		if err := run(context.Background(), args, &stdout, &stderr); err != nil {
			t.Fatalf("run(%q): %v\n%s", args, err, stderr.String())
		}
		signsInScript := strings.Contains(stdout.String(), "C.SHA256_Final(md, ctx)")
		if signsInScript != unique || strings.Count(stdout.String(), "\nreqs[") != 3 {
			t.Errorf("run(%q): script signs in wrk %t, want %t; %d requests, want 3", args, signsInScript, unique,
				strings.Count(stdout.String(), "\nreqs["))
		}
	}
}
