package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"

	"github.com/cio-singer/tap-customerio-webhook/tap"
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

// flagsExit is the exit code for a command line the flag package refused:
// 0 when it was a request for help (the flag package printed the usage).
func flagsExit(err error) int {
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	return exitUsage
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
