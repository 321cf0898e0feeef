// Command tap-customerio-webhook is a Singer tap for Customer.io reporting
// webhooks. See the README and `tap-customerio-webhook --about`.
package main

import (
	"os"

	"github.com/cio-singer/tap-customerio-webhook/tap/cli"
)

func main() {
	ctx, stop := cli.SignalContext()
	code := cli.Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
