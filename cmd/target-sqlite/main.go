// Command target-sqlite is a Singer target that loads any stream into a
// local SQLite file: the zero-setup default for tap-customerio-webhook.
//
//	tap-customerio-webhook --config config.json | target-sqlite --config target-sqlite.json
package main

import (
	"os"

	"github.com/cio-singer/tap-customerio-webhook/target"
	"github.com/cio-singer/tap-customerio-webhook/target/sqliteload"
)

func main() {
	os.Exit(target.Main(sqliteload.Plugin(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
