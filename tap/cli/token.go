package cli

import (
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/cio-singer/tap-customerio-webhook/tap"
	"github.com/cio-singer/tap-customerio-webhook/tap/auth"
	"github.com/cio-singer/tap-customerio-webhook/tap/tokenfile"
)

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
		return flagsExit(err)
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
