package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/cio-singer/tap-customerio-webhook/tap"
	"github.com/cio-singer/tap-customerio-webhook/tap/auth"
	"github.com/cio-singer/tap-customerio-webhook/tap/tokenfile"
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
func loadForCommand(name, path string, stderr io.Writer) (tap.Config, bool) {
	if path == "" {
		fmt.Fprintf(stderr, "%s %s: --config is required\n", tap.Name, name)
		return tap.Config{}, false
	}
	cfg, err := tap.LoadConfigFile(path)
	if err != nil {
		fmt.Fprintf(stderr, "%s: bad config %s:\n%v\n", tap.Name, path, err)
		return tap.Config{}, false
	}
	return cfg, true
}

// mainServe runs only the receiver: it writes the spool until SIGTERM,
// while scheduled Singer runs with "listen": "" emit from the same
// spool_dir.
func mainServe(ctx context.Context, args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet(tap.Name+" serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "", "config file (JSON)")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return exitUsage
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

// mainToken manages the token file: new, list, revoke.
func mainToken(args []string, stdout, stderr io.Writer) int {
	usage := func() int {
		fmt.Fprintf(stderr, "usage: %s token new [--label L] [--public-url https://host] --config C\n"+
			"       %s token list --config C\n       %s token revoke ID --config C\n", tap.Name, tap.Name, tap.Name)
		return exitUsage
	}
	if len(args) == 0 {
		return usage()
	}
	verb := args[0]
	fs := flag.NewFlagSet(tap.Name+" token "+verb, flag.ContinueOnError)
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
		fmt.Fprintf(stderr, "%s token: --public-url must start with https://\n", tap.Name)
		return exitUsage
	}
	cfg, ok := loadForCommand("token", *configPath, stderr)
	if !ok {
		return exitUsage
	}
	path := tokenfile.Path(cfg.SpoolDir)
	unlock, err := tokenfile.Lock(path)
	if err != nil {
		fmt.Fprintf(stderr, "%s token: %v\n", tap.Name, err)
		return exitFailed
	}
	defer unlock()
	tf, err := tokenfile.Read(path)
	if err != nil {
		fmt.Fprintf(stderr, "%s token: %v\n", tap.Name, err)
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
		fmt.Fprintf(stderr, "%s token %s: %v\n", tap.Name, verb, err)
		return exitFailed
	}
	return exitOK
}

func tokenNew(stdout io.Writer, path string, tf tokenfile.File, cfg tap.Config, label, publicURL string) error {
	token, id, err := tf.Add(label, time.Now())
	if err != nil {
		return err
	}
	if err := tokenfile.Write(path, tf); err != nil {
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

func tokenList(stdout io.Writer, tf tokenfile.File, cfg tap.Config) error {
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tCREATED\tSOURCE\tLABEL")
	for _, t := range tf.Tokens {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", t.ID, t.Created.Format(time.RFC3339), tokenfile.Name, t.Label)
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

func tokenRevoke(stdout io.Writer, path string, tf tokenfile.File, id string) error {
	if !tf.Remove(id) {
		return fmt.Errorf("no token with id %q in %s (tokens in webhook_tokens are removed from the config)", id, path)
	}
	if err := tokenfile.Write(path, tf); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "revoked %s: a running server answers 404 to its URL within a second\n", id)
	return nil
}

// webhookURL is the URL Customer.io posts to for token, under base (an
// http(s) URL) or, without one, on the listen address.
func webhookURL(base, listen, token string) string {
	if base == "" {
		base = "http://" + hostPort(listen)
	}
	return strings.TrimRight(base, "/") + "/webhook/" + token
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
