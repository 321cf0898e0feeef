package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestRun_Usage(t *testing.T) {
	for _, args := range [][]string{nil, {"bogus"}, {"run", "--no-such-flag"}, {"run", "--conns", "0", "--url", "http://x"}} {
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
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("receiver did not start: %v", err)
		}
		time.Sleep(10 * time.Millisecond) // polling for the port under a deadline
	}

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
