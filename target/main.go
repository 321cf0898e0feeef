package target

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/rs/zerolog"

	"github.com/cio-singer/tap-customerio-webhook/internal/about"
	"github.com/cio-singer/tap-customerio-webhook/internal/config"
)

// Plugin is what a loader package gives the core; a target's main is just
// os.Exit(target.Main(pgload.Plugin(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr)).
// C is the loader's own configuration.
type Plugin[C any] struct {
	Name        string // "target-postgres"; env prefix TARGET_POSTGRES_
	Description string
	// Settings are the loader's own keys; the core reads them with its
	// common ones, from the same file and environment, and reports the
	// problems of both at once.
	Settings config.Table[C]
	// Open connects with the loader's settings once every setting is
	// valid. A *ConfigError means bad config: exit 2.
	Open func(ctx context.Context, cfg C, log zerolog.Logger) (Loader, error)
}

// Exit codes of Main.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

// Main runs a target: it parses args, reads the config file (every key can
// be overridden by an environment variable <NAME>_<KEY>, e.g.
// TARGET_POSTGRES_BATCH_SIZE_ROWS; env wins over the file), opens the loader
// and loads Singer messages from stdin (or --input) until the end of input.
// stdout receives only state values. It returns the process exit code: 0 at
// a clean end of input, 2 for bad flags or config, 1 for any other failure.
func Main[C any](p Plugin[C], args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return mainWith(ctx, p, args, stdin, stdout, stderr, os.LookupEnv, defaultOptions())
}

func (p Plugin[C]) info() about.Info {
	return about.Info{
		Name:         p.Name,
		Description:  p.Description,
		Capabilities: []string{"about"},
		Settings:     p.settings(),
		EnvPrefix:    about.EnvPrefix(p.Name),
	}
}

// settings are the loader's keys, then the common ones.
func (p Plugin[C]) settings() []about.Setting {
	return append(p.Settings.About(), commonTable().About()...)
}

type cliFlags struct {
	config, input, format string
	about, version        bool
}

func parseFlags(name string, args []string, stderr io.Writer) (cliFlags, error) {
	var f cliFlags
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&f.config, "config", "", "config `FILE` (JSON)")
	fs.StringVar(&f.input, "input", "", "read Singer messages from `FILE` instead of stdin")
	fs.BoolVar(&f.about, "about", false, "print what this target is and its settings, then exit")
	fs.StringVar(&f.format, "format", "text", "--about format: text, json or markdown")
	fs.BoolVar(&f.version, "version", false, "print the version, then exit")
	if err := fs.Parse(args); err != nil {
		return f, err
	}
	if fs.NArg() > 0 {
		return f, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if f.config == "" && !f.about && !f.version {
		return f, errors.New("--config is required")
	}
	return f, nil
}

func mainWith[C any](ctx context.Context, p Plugin[C], args []string, stdin io.Reader, stdout, stderr io.Writer,
	lookupEnv func(string) (string, bool), opts options) int {
	f, err := parseFlags(p.Name, args, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		fmt.Fprintf(stderr, "%s: %v\n", p.Name, err)
		return exitUsage
	}
	switch {
	case f.version:
		fmt.Fprintf(stdout, "%s %s\n", p.Name, about.Version)
		return exitOK
	case f.about:
		if err := p.info().Write(stdout, f.format); err != nil {
			fmt.Fprintf(stderr, "%s: %v\n", p.Name, err)
			return exitUsage
		}
		return exitOK
	}

	log := newLogger(stderr, zerolog.InfoLevel, p.Name)
	cfg, own, err := loadConfig(p, f.config, lookupEnv, log)
	if err != nil {
		log.WithLevel(zerolog.FatalLevel).Err(err).Msg("invalid config")
		return exitUsage
	}
	log = newLogger(stderr, cfg.LogLevel, p.Name)

	in := stdin
	if f.input != "" {
		file, err := os.Open(f.input)
		if err != nil {
			log.WithLevel(zerolog.FatalLevel).Err(err).Msg("opening --input")
			return exitUsage
		}
		defer file.Close()
		in = file
	}

	loader, err := p.Open(ctx, own, log)
	if err != nil {
		var ce *ConfigError
		if errors.As(err, &ce) {
			log.WithLevel(zerolog.FatalLevel).Err(err).Msg("invalid config")
			return exitUsage
		}
		log.WithLevel(zerolog.FatalLevel).Err(err).Msg("opening loader")
		return exitFailure
	}
	runErr := run(ctx, cfg, loader, in, stdout, log, opts)
	if err := loader.Close(); err != nil && runErr == nil {
		runErr = fmt.Errorf("closing loader: %w", err)
	}
	if runErr != nil {
		ev := log.WithLevel(zerolog.FatalLevel).Err(runErr)
		if line := lineOf(runErr); line > 0 {
			ev = ev.Int("line", line)
		}
		ev.Msg("target stopped; no state written for uncommitted records")
		return exitFailure
	}
	return exitOK
}

// loadConfig reads the config file, applies env overrides and decodes the
// common keys and the loader's, reporting the problems of both at once.
// Unknown keys are logged as warnings: orchestrators pass extra keys.
func loadConfig[C any](p Plugin[C], path string, lookupEnv func(string) (string, bool), log zerolog.Logger) (Config, C, error) {
	var cfg Config
	var own C
	data, err := os.ReadFile(path)
	if err != nil {
		return cfg, own, &ConfigError{Key: "--config", Err: err}
	}
	if len(bytes.TrimSpace(data)) == 0 {
		data = []byte("null") // an empty file is no settings to a target; the tap refuses one
	}
	vals, errs := config.Read(data)
	if vals == nil {
		return cfg, own, errs
	}
	vals.ApplyEnv(about.EnvPrefix(p.Name), p.settings(), lookupEnv)
	errs = append(errs, commonTable().Decode(&cfg, vals)...)
	errs = append(errs, p.Settings.Decode(&own, vals)...)
	if err := errs.Err(); err != nil {
		return cfg, own, err
	}
	for _, k := range vals.Unknown(p.settings()) {
		log.Warn().Str("key", k).Msg("ignoring unknown config key")
	}
	return cfg, own, nil
}

// newLogger logs JSON lines to stderr, or a console format when stderr is a
// terminal.
func newLogger(stderr io.Writer, level zerolog.Level, name string) zerolog.Logger {
	w := stderr
	if f, ok := stderr.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			w = zerolog.ConsoleWriter{Out: stderr}
		}
	}
	return zerolog.New(w).Level(level).With().Timestamp().Str("app", name).Logger()
}
