// Package cli is tap-customerio-webhook's command line: the Singer mode's
// flags (--config, --state, --catalog, --discover, --about), the commands
// serve, token and status, the root logger and the exit codes. What runs
// is package tap's (Run, Serve); the token file is package tokenfile's.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"github.com/cio-singer/tap-customerio-webhook/catalog"
	"github.com/cio-singer/tap-customerio-webhook/internal/about"
	"github.com/cio-singer/tap-customerio-webhook/tap"
)

// Exit codes.
const (
	exitOK     = 0
	exitFailed = 1
	exitUsage  = 2 // bad flags or config: nothing was started
)

// Main runs the tap with command-line args (without the program name) and
// returns the exit code. ctx ending (SIGINT/SIGTERM in main) stops it
// cleanly.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if code, ok := subcommand(ctx, args, stdout, stderr); ok {
		return code
	}
	fs := flag.NewFlagSet(tap.Name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "", "config file (JSON)")
	statePath := fs.String("state", "", "state file: the last state value a target printed")
	catalogPath := fs.String("catalog", "", "catalog file selecting streams and fields")
	fs.StringVar(catalogPath, "properties", "", "alias of --catalog")
	discover := fs.Bool("discover", false, "print the catalog and exit")
	showAbout := fs.Bool("about", false, "print name, capabilities and settings, and exit")
	format := fs.String("format", "text", "--about format: text, json or markdown")
	version := fs.Bool("version", false, "print the version and exit")
	if err := fs.Parse(args); err != nil {
		return flagsExit(err)
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "%s: unexpected argument %q\n", tap.Name, fs.Arg(0))
		return exitUsage
	}
	switch {
	case *version:
		fmt.Fprintf(stdout, "%s %s\n", tap.Name, about.Version)
		return exitOK
	case *showAbout:
		if err := tap.Info().Write(stdout, *format); err != nil {
			fmt.Fprintf(stderr, "%s: %v\n", tap.Name, err)
			return exitUsage
		}
		return exitOK
	case *configPath == "":
		fmt.Fprintf(stderr, "%s: --config is required\n", tap.Name)
		return exitUsage
	}
	cfg, err := tap.LoadConfigFile(*configPath)
	if err != nil {
		fmt.Fprintf(stderr, "%s: bad config %s:\n%v\n", tap.Name, *configPath, err)
		return exitUsage
	}
	log := newLogger(stderr, cfg.LogLevel)
	if *discover {
		c, err := catalog.DiscoverFor(cfg.AppAPI.Key != "")
		if err == nil {
			err = c.Write(stdout)
		}
		if err != nil {
			log.Error().Err(err).Msg("discovering catalog")
			return exitFailed
		}
		return exitOK
	}
	if cfg.Listen != "" {
		if _, err := tap.CheckTokens(cfg); err != nil {
			fmt.Fprintf(stderr, "%s: bad config %s:\n%v\n", tap.Name, *configPath, err)
			return exitUsage
		}
	}
	opts, err := runOptions(cfg, *statePath, *catalogPath)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", tap.Name, err)
		return exitUsage
	}
	opts.Stdout, opts.Log = stdout, log
	if err := tap.Run(ctx, opts); err != nil {
		log.Error().Err(err).Msg("CRITICAL tap stopped")
		return exitFailed
	}
	return exitOK
}

func runOptions(cfg tap.Config, statePath, catalogPath string) (tap.Options, error) {
	opts := tap.Options{Config: cfg}
	if statePath != "" {
		raw, err := os.ReadFile(statePath)
		if err != nil {
			return tap.Options{}, fmt.Errorf("--state: %w", err)
		}
		if opts.State, err = tap.ParseState(raw); err != nil {
			return tap.Options{}, fmt.Errorf("--state %s: %w", statePath, err)
		}
		if opts.KafkaPosition, err = tap.ParseKafkaPosition(raw); err != nil {
			return tap.Options{}, fmt.Errorf("--state %s: %w", statePath, err)
		}
		if opts.AppAPIBookmarks, err = tap.ParseAppAPIBookmarks(raw); err != nil {
			return tap.Options{}, fmt.Errorf("--state %s: %w", statePath, err)
		}
	}
	var err error
	if catalogPath == "" {
		opts.Selection, err = catalog.DefaultFor(cfg.AppAPI.Key != "")
		return opts, err
	}
	f, err := os.Open(catalogPath)
	if err != nil {
		return tap.Options{}, fmt.Errorf("--catalog: %w", err)
	}
	defer f.Close()
	c, err := catalog.Parse(f)
	if err == nil {
		opts.Selection, err = c.Select()
	}
	if err != nil {
		return tap.Options{}, fmt.Errorf("--catalog %s: %w", catalogPath, err)
	}
	if len(opts.Selection) == 0 {
		return tap.Options{}, errors.New("--catalog selects no stream")
	}
	return opts, nil
}

// newLogger is the one root logger: JSON on stderr, or a human console
// format when stderr is a terminal.
func newLogger(stderr io.Writer, level zerolog.Level) zerolog.Logger {
	out := stderr
	if f, ok := stderr.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			out = zerolog.ConsoleWriter{Out: stderr, TimeFormat: time.RFC3339}
		}
	} else {
		// The server, the token watcher and the emitter log concurrently;
		// a file takes whole writes atomically, a buffer does not.
		out = zerolog.SyncWriter(stderr)
	}
	return zerolog.New(out).Level(level).With().Timestamp().Str("app", tap.Name).Logger()
}

// SignalContext returns a context that ends on SIGINT or SIGTERM. SIGPIPE
// is ignored so a target that exits makes writes fail with EPIPE, which
// Run reports, instead of killing the process mid-write.
func SignalContext() (context.Context, context.CancelFunc) {
	signal.Ignore(syscall.SIGPIPE)
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}
