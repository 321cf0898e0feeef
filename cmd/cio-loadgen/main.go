// Command cio-loadgen sends Customer.io-shaped webhooks for benchmarks and
// reliability tests, and runs the servers they are measured against.
//
//	cio-loadgen run --url URL [--conns 64] [--duration 30s] [--rate 0] [--body-bytes 1024] [--signing-key K] [--acked FILE]
//	cio-loadgen noop --listen ADDR                     # fasthttp server answering 200: the baseline
//	cio-loadgen receiver --listen ADDR --token T [--signing-key K]  # our receiver with an in-memory spool
//	cio-loadgen wrk-script --path /webhook/T [--requests 1000] [--body-bytes 1024] [--signing-key K] [--unique-ids]  # Lua for wrk
//	cio-loadgen kfake --dir D [--brokers 3] [--ports P1,P2,P3] [--topic T] [--partitions 6] [--sync-writes]
//	    # a Kafka-protocol cluster (kfake) on 127.0.0.1 with its data in D and a topic the tap
//	    # accepts (RF 3, min.insync.replicas 2); prints the brokers (host:port,...) on one line
//	    # once ready and runs until SIGINT/SIGTERM, then saves its state into D (restart it
//	    # with the same --dir and --ports)
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"github.com/cio-singer/tap-customerio-webhook/internal/loadgen"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "cio-loadgen:", err)
		os.Exit(2)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errors.New("usage: cio-loadgen run|noop|receiver|wrk-script|kfake [flags]")
	}
	fs := flag.NewFlagSet("cio-loadgen "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg loadgen.Config
	var acked, listen, token string
	wrk := loadgen.WrkConfig{Now: time.Now(), Seed: uint64(time.Now().UnixNano())}
	var kafka loadgen.KafkaConfig
	var ports string
	var partitions int
	switch args[0] {
	case "run":
		fs.StringVar(&cfg.URL, "url", "", "webhook URL, token included")
		fs.IntVar(&cfg.Conns, "conns", 64, "keep-alive connections")
		fs.DurationVar(&cfg.Duration, "duration", 30e9, "how long to send")
		fs.Float64Var(&cfg.Rate, "rate", 0, "total requests per second (0: as fast as possible)")
		fs.IntVar(&cfg.BodyBytes, "body-bytes", 1024, "approximate body size")
		fs.StringVar(&cfg.SigningKey, "signing-key", "", "sign requests with this Customer.io signing key")
		fs.StringVar(&acked, "acked", "", "append the event_id of every 2xx answer to this file")
	case "noop", "receiver":
		fs.StringVar(&listen, "listen", "127.0.0.1:8081", "address to listen on")
		fs.StringVar(&token, "token", "", "webhook token (receiver)")
		fs.StringVar(&cfg.SigningKey, "signing-key", "", "require signatures with this key (receiver)")
	case "wrk-script":
		fs.StringVar(&wrk.Path, "path", "", "request path, token included: /webhook/<token>")
		fs.IntVar(&wrk.Requests, "requests", 1000, "distinct signed requests to cycle through")
		fs.IntVar(&wrk.BodyBytes, "body-bytes", 1024, "approximate body size")
		fs.StringVar(&wrk.SigningKey, "signing-key", "", "sign requests with this Customer.io signing key")
		fs.BoolVar(&wrk.UniqueIDs, "unique-ids", false, "give every request wrk sends a new event_id, signed as it is sent (LuaJIT ffi + libcrypto); --requests bodies become templates")
	case "kfake":
		fs.StringVar(&kafka.Dir, "dir", "", "data directory (required; reloaded on restart)")
		fs.IntVar(&kafka.Brokers, "brokers", 3, "brokers")
		fs.StringVar(&ports, "ports", "", "comma-separated ports on 127.0.0.1, one per broker (default: free ports)")
		fs.StringVar(&kafka.Topic, "topic", "customerio-webhooks", "topic to create (RF 3, min.insync.replicas 2); empty: none")
		fs.IntVar(&partitions, "partitions", 6, "the topic's partitions")
		fs.BoolVar(&kafka.SyncWrites, "sync-writes", false, "fsync every produced batch")
	default:
		return fmt.Errorf("unknown command %q (want run, noop, receiver, wrk-script or kfake)", args[0])
	}
	err := fs.Parse(args[1:])
	if err != nil {
		return err
	}
	switch args[0] {
	case "run":
		return runLoad(ctx, cfg, acked, stdout)
	case "wrk-script":
		return loadgen.WriteWrkScript(stdout, wrk)
	case "kfake":
		if partitions < 1 || partitions > 100_000 {
			return fmt.Errorf("partitions: %d is not between 1 and 100000", partitions)
		}
		kafka.Partitions = int32(partitions)
		if kafka.Ports, err = parsePorts(ports); err != nil {
			return err
		}
		return runKafka(ctx, kafka, stdout)
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	if args[0] == "noop" {
		srv := loadgen.NewNoopServer()
		return loadgen.ServeUntil(ctx, ln, srv.Serve, srv.ShutdownWithContext)
	}
	srv, err := loadgen.NewMemReceiver(token, cfg.SigningKey, zerolog.New(stderr).Level(zerolog.InfoLevel))
	if err != nil {
		return err
	}
	return loadgen.ServeUntil(ctx, ln, srv.Serve, srv.Shutdown)
}

func runLoad(ctx context.Context, cfg loadgen.Config, acked string, stdout io.Writer) (err error) {
	if acked != "" {
		f, err := os.OpenFile(acked, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			return err
		}
		defer func() { err = errors.Join(err, f.Close()) }()
		cfg.Acked = f
	}
	res, err := loadgen.Run(ctx, cfg)
	if res.Requests > 0 { // measured, even if the ack file could not be written
		err = errors.Join(err, json.NewEncoder(stdout).Encode(res))
	}
	return err
}

// runKafka runs a kfake cluster until ctx ends, after printing its brokers
// on one line: the line says the cluster and its topic are ready.
func runKafka(ctx context.Context, cfg loadgen.KafkaConfig, stdout io.Writer) error {
	c, err := loadgen.StartKafka(ctx, cfg)
	if err != nil {
		return err
	}
	defer c.Close() // saves the cluster's state into cfg.Dir
	if _, err := fmt.Fprintln(stdout, strings.Join(c.ListenAddrs(), ",")); err != nil {
		return err
	}
	<-ctx.Done()
	return nil
}

// parsePorts reads "9092,9093,9094"; "" is none.
func parsePorts(s string) ([]int, error) {
	if s == "" {
		return nil, nil
	}
	var ports []int
	for _, f := range strings.Split(s, ",") {
		p, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || p <= 0 || p > 65535 {
			return nil, fmt.Errorf("ports: %q is not a port", f)
		}
		ports = append(ports, p)
	}
	return ports, nil
}
