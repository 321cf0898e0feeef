package cli

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/cio-singer/tap-customerio-webhook/tap"
)

// mainServe runs only the receiver: it writes the spool until SIGTERM,
// while scheduled Singer runs with "listen": "" emit from the same
// spool_dir.
func mainServe(ctx context.Context, args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet(tap.Name+" serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "", "config file (JSON)")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return flagsExit(err)
	}
	if len(pos) > 0 {
		fmt.Fprintf(stderr, "%s serve: unexpected argument %q\n", tap.Name, pos[0])
		return exitUsage
	}
	cfg, ok := loadForCommand("serve", *configPath, stderr)
	if !ok {
		return exitUsage
	}
	if cfg.Listen == "" {
		fmt.Fprintf(stderr, "%s: bad config %s:\nlisten: serve needs an address to listen on\n", tap.Name, *configPath)
		return exitUsage
	}
	if _, err := tap.CheckTokens(cfg); err != nil {
		fmt.Fprintf(stderr, "%s: bad config %s:\n%v\n", tap.Name, *configPath, err)
		return exitUsage
	}
	log := newLogger(stderr, cfg.LogLevel)
	if err := tap.Serve(ctx, tap.Options{Config: cfg, Log: log}); err != nil {
		log.Error().Err(err).Msg("CRITICAL receiver stopped")
		return exitFailed
	}
	return exitOK
}
