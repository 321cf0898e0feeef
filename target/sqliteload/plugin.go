package sqliteload

import (
	"context"

	"github.com/rs/zerolog"

	"github.com/cio-singer/tap-customerio-webhook/internal/config"
	"github.com/cio-singer/tap-customerio-webhook/target"
)

// DefaultDatabase is the file target-sqlite loads when no database is set:
// relative to the working directory, so a plain `tap | target-sqlite` run
// needs no setup.
const DefaultDatabase = "customerio.db"

// Config is target-sqlite's own setting.
type Config struct {
	Database string // path of the database file
}

// Plugin describes target-sqlite to the target core: its own setting
// (database) and how to open the loader.
func Plugin() target.Plugin[Config] {
	return target.Plugin[Config]{
		Name:        "target-sqlite",
		Description: "Singer target loading any stream into a local SQLite file (embedded, no server): one table per stream, upserts on key_properties.",
		Settings: config.Table[Config]{Settings: []config.Setting[Config]{
			config.Field("database", config.NonEmpty, func(c *Config) *string { return &c.Database }).Default(DefaultDatabase).
				Doc("Path of the SQLite database file, created if missing (WAL mode)."),
		}},
		Open: func(ctx context.Context, cfg Config, log zerolog.Logger) (target.Loader, error) {
			return Open(ctx, cfg.Database, log)
		},
	}
}
