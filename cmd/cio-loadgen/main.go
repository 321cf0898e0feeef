// Command cio-loadgen sends Customer.io-shaped webhooks for benchmarks and
// reliability tests, and runs the servers they are measured against.
//
//	cio-loadgen run --url URL [--conns 64] [--duration 30s] [--rate 0] [--body-bytes 1024] [--signing-key K] [--acked FILE]
//	cio-loadgen noop --listen ADDR                     # fasthttp server answering 200: the baseline
//	cio-loadgen receiver --listen ADDR --token T [--signing-key K]  # our receiver with an in-memory spool
//	cio-loadgen wrk-script --path /webhook/T [--requests 1000] [--body-bytes 1024] [--signing-key K]  # Lua for wrk
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
		return errors.New("usage: cio-loadgen run|noop|receiver|wrk-script [flags]")
	}
	fs := flag.NewFlagSet("cio-loadgen "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg loadgen.Config
	var acked, listen, token string
	wrk := loadgen.WrkConfig{Now: time.Now(), Seed: uint64(time.Now().UnixNano())}
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
	default:
		return fmt.Errorf("unknown command %q (want run, noop, receiver or wrk-script)", args[0])
	}
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	switch args[0] {
	case "run":
		return runLoad(ctx, cfg, acked, stdout)
	case "wrk-script":
		return loadgen.WriteWrkScript(stdout, wrk)
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
