package tap

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/rs/zerolog"

	"github.com/cio-singer/tap-customerio-webhook/tap/auth"
	"github.com/cio-singer/tap-customerio-webhook/tap/spool"
)

// subcommand runs `tap-customerio-webhook NAME ...`; ok is false when
// args[0] is no subcommand (the Singer mode then handles args).
func subcommand(ctx context.Context, args []string, stdout, stderr io.Writer) (code int, ok bool) {
	if len(args) == 0 {
		return 0, false
	}
	switch args[0] {
	case "serve":
		return mainServe(ctx, args[1:], stderr), true
	case "token":
		return mainToken(args[1:], stdout, stderr), true
	case "status":
		return mainStatus(ctx, args[1:], stdout, stderr), true
	}
	return 0, false
}

// parseInterspersed parses flags wherever they stand among the positional
// arguments (`token revoke ID --config C` and `token revoke --config C ID`).
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// loadForCommand loads --config for a subcommand; bad config exits 2.
func loadForCommand(name, path string, stderr io.Writer) (Config, bool) {
	if path == "" {
		fmt.Fprintf(stderr, "%s %s: --config is required\n", Name, name)
		return Config{}, false
	}
	cfg, err := LoadConfigFile(path)
	if err != nil {
		fmt.Fprintf(stderr, "%s: bad config %s:\n%v\n", Name, path, err)
		return Config{}, false
	}
	return cfg, true
}

// mainServe runs only the receiver: it writes the spool until SIGTERM,
// while scheduled Singer runs with "listen": "" emit from the same
// spool_dir.
func mainServe(ctx context.Context, args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet(Name+" serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "", "config file (JSON)")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return exitUsage
	}
	if len(pos) > 0 {
		fmt.Fprintf(stderr, "%s serve: unexpected argument %q\n", Name, pos[0])
		return exitUsage
	}
	cfg, ok := loadForCommand("serve", *configPath, stderr)
	if !ok {
		return exitUsage
	}
	if cfg.Listen == "" {
		fmt.Fprintf(stderr, "%s: bad config %s:\nlisten: serve needs an address to listen on\n", Name, *configPath)
		return exitUsage
	}
	if _, err := checkTokens(cfg); err != nil {
		fmt.Fprintf(stderr, "%s: bad config %s:\n%v\n", Name, *configPath, err)
		return exitUsage
	}
	log := newLogger(stderr, cfg.LogLevel)
	if err := Serve(ctx, Options{Config: cfg, Log: log}); err != nil {
		log.Error().Err(err).Msg("CRITICAL receiver stopped")
		return exitFailed
	}
	return exitOK
}

// Serve receives webhooks into the spool until ctx ends (SIGTERM), then
// stops accepting (503) and returns nil once every accepted webhook was
// answered. It emits nothing: a Singer run with "listen": "" does, from
// the same spool_dir, at the same time.
func Serve(ctx context.Context, o Options) error {
	cfg := o.Config
	if cfg.Spool == SpoolKafka {
		return serveKafka(ctx, o)
	}
	sp, err := openWriter(ctx, spool.Options{Dir: cfg.SpoolDir, MaxBytes: cfg.SpoolMaxBytes, Log: o.Log})
	if err != nil {
		return fmt.Errorf("opening spool: %w", err)
	}
	defer sp.Close()
	m := &metrics{now: time.Now, sp: sp, emitted: func() (uint64, bool) {
		p, ok := readProgress(sp.Dir(), sp.ID())
		return p.Offset, ok
	}, loaded: func() (uint64, bool) {
		p, ok := readProgress(sp.Dir(), sp.ID())
		return p.Loaded, ok
	}}
	if o.Listener == nil && cfg.Listen == "" {
		return errors.New("serve needs listen")
	}
	rr, err := startReceiver(ctx, cfg, diskStore(sp), o, m)
	if err != nil {
		return err
	}
	if err := rr.serveUntil(ctx, o.Log); err != nil {
		return err
	}
	if err := sp.CloseWriter(); err != nil {
		return err
	}
	o.Log.Info().Uint64("offset", sp.Durable()).Msg("stopped")
	return nil
}

// serveUntil serves until ctx ends, then shuts the receiver down: nil, or
// why the server stopped on its own.
func (r *runningReceiver) serveUntil(ctx context.Context, log zerolog.Logger) error {
	select {
	case <-ctx.Done():
	case err := <-r.errs():
		r.shutdown(log)
		if err == nil {
			err = errors.New("stopped")
		}
		return fmt.Errorf("http server: %w", err)
	}
	r.shutdown(log)
	return nil
}

// openWriter opens the spool as its writer. A scheduled load that finds
// no writer running holds the writer lock for a moment (to recover the
// spool after a crash); a receiver starting just then waits for it.
func openWriter(ctx context.Context, opts spool.Options) (*spool.Spool, error) {
	deadline := time.Now().Add(30 * time.Second)
	for {
		sp, err := spool.Open(opts)
		if !errors.Is(err, spool.ErrLocked) || time.Now().After(deadline) {
			return sp, err
		}
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// mainToken manages the token file: new, list, revoke.
func mainToken(args []string, stdout, stderr io.Writer) int {
	usage := func() int {
		fmt.Fprintf(stderr, "usage: %s token new [--label L] [--public-url https://host] --config C\n"+
			"       %s token list --config C\n       %s token revoke ID --config C\n", Name, Name, Name)
		return exitUsage
	}
	if len(args) == 0 {
		return usage()
	}
	verb := args[0]
	fs := flag.NewFlagSet(Name+" token "+verb, flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "", "config file (JSON)")
	label := fs.String("label", "", "new: a label to tell tokens apart (not secret)")
	publicURL := fs.String("public-url", "", "new: the https URL Customer.io reaches this server at, e.g. https://hooks.example.com")
	pos, err := parseInterspersed(fs, args[1:])
	if err != nil {
		return exitUsage
	}
	switch {
	case verb != "new" && verb != "list" && verb != "revoke":
		return usage()
	case verb == "revoke" && len(pos) != 1, verb != "revoke" && len(pos) != 0:
		return usage()
	case *publicURL != "" && !strings.HasPrefix(*publicURL, "https://") && !strings.HasPrefix(*publicURL, "http://"):
		fmt.Fprintf(stderr, "%s token: --public-url must start with https://\n", Name)
		return exitUsage
	}
	cfg, ok := loadForCommand("token", *configPath, stderr)
	if !ok {
		return exitUsage
	}
	path := tokenFilePath(cfg.SpoolDir)
	unlock, err := lockTokenFile(path)
	if err != nil {
		fmt.Fprintf(stderr, "%s token: %v\n", Name, err)
		return exitFailed
	}
	defer unlock()
	tf, err := readTokenFile(path)
	if err != nil {
		fmt.Fprintf(stderr, "%s token: %v\n", Name, err)
		return exitFailed
	}
	switch verb {
	case "new":
		err = tokenNew(stdout, path, tf, cfg, *label, *publicURL)
	case "list":
		err = tokenList(stdout, tf, cfg)
	case "revoke":
		err = tokenRevoke(stdout, path, tf, pos[0])
	}
	if err != nil {
		fmt.Fprintf(stderr, "%s token %s: %v\n", Name, verb, err)
		return exitFailed
	}
	return exitOK
}

func tokenNew(stdout io.Writer, path string, tf tokenFile, cfg Config, label, publicURL string) error {
	token, err := newToken()
	if err != nil {
		return err
	}
	entry := normalizeEntry(token)
	set, err := auth.ParseTokens([]string{entry})
	if err != nil {
		return err
	}
	id := set.IDs()[0]
	tf.Tokens = append(tf.Tokens, fileToken{ID: id, Hash: strings.TrimPrefix(entry, "sha256:"),
		Created: time.Now().UTC().Truncate(time.Second), Label: label})
	if err := writeTokenFile(path, tf); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "token id:    %s\nwebhook URL: %s\n", id, webhookURL(publicURL, cfg.Listen, token))
	fmt.Fprintln(stdout, "The URL holds the secret token; it is not stored and is shown only this once.")
	if publicURL == "" {
		fmt.Fprintln(stdout, "Customer.io needs an https URL: pass --public-url https://<your host> for the one to paste.")
	}
	fmt.Fprintln(stdout, "A running server accepts it within a second.")
	return nil
}

func tokenList(stdout io.Writer, tf tokenFile, cfg Config) error {
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tCREATED\tSOURCE\tLABEL")
	for _, t := range tf.Tokens {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", t.ID, t.Created.Format(time.RFC3339), TokenFileName, t.Label)
	}
	if len(cfg.WebhookTokens) > 0 {
		if set, err := auth.ParseTokens(cfg.WebhookTokens); err == nil {
			for _, id := range set.IDs() {
				fmt.Fprintf(tw, "%s\t-\twebhook_tokens\t\n", id)
			}
		}
	}
	return tw.Flush()
}

func tokenRevoke(stdout io.Writer, path string, tf tokenFile, id string) error {
	kept := tf.Tokens[:0:0]
	for _, t := range tf.Tokens {
		if t.ID != id {
			kept = append(kept, t)
		}
	}
	if len(kept) == len(tf.Tokens) {
		return fmt.Errorf("no token with id %q in %s (tokens in webhook_tokens are removed from the config)", id, path)
	}
	tf.Tokens = kept
	if err := writeTokenFile(path, tf); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "revoked %s: a running server answers 404 to its URL within a second\n", id)
	return nil
}

// hostPort returns the address to reach listen from this machine.
func hostPort(listen string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return listen
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}
