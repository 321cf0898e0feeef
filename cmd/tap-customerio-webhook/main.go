// Command tap-customerio-webhook is a Singer tap for Customer.io reporting
// webhooks. See the README and `tap-customerio-webhook --about`.
package main

import (
	"os"

	"github.com/cio-singer/tap-customerio-webhook/tap"
)

func main() {
	ctx, stop := tap.SignalContext()
	code := tap.Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
