// Command target-postgres loads Singer messages from stdin into PostgreSQL.
// See target.Main for the command line and target/pgload for the loader.
package main

import (
	"os"

	"github.com/cio-singer/tap-customerio-webhook/target"
	"github.com/cio-singer/tap-customerio-webhook/target/pgload"
)

func main() {
	os.Exit(target.Main(pgload.Plugin(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
