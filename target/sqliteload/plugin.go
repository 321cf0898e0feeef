package sqliteload

import (
	"context"
	"encoding/json"

	"github.com/rs/zerolog"

	"github.com/cio-singer/tap-customerio-webhook/internal/about"
	"github.com/cio-singer/tap-customerio-webhook/target"
)

// DefaultDatabase is the file target-sqlite loads when no database is set:
// relative to the working directory, so a plain `tap | target-sqlite` run
// needs no setup.
const DefaultDatabase = "customerio.db"

// Plugin describes target-sqlite to the target core: its own setting
// (database) and how to open the loader.
func Plugin() target.Plugin {
	return target.Plugin{
		Name:        "target-sqlite",
		Description: "Singer target loading any stream into a local SQLite file (embedded, no server): one table per stream, upserts on key_properties.",
		Settings: []about.Setting{{
			Name:        "database",
			Type:        "string",
			Description: "Path of the SQLite database file, created if missing (WAL mode).",
			Default:     DefaultDatabase,
		}},
		Open: openPlugin,
	}
}

func openPlugin(ctx context.Context, raw map[string]json.RawMessage, log zerolog.Logger) (target.Loader, error) {
	path, err := databasePath(raw)
	if err != nil {
		return nil, err
	}
	return Open(ctx, path, log)
}

// databasePath reads the database setting: a non-empty string, or absent
// (null counts as absent) for the default.
func databasePath(raw map[string]json.RawMessage) (string, error) {
	v, ok := raw["database"]
	if !ok || string(v) == "null" {
		return DefaultDatabase, nil
	}
	var path string
	if err := json.Unmarshal(v, &path); err != nil {
		return "", &target.ConfigError{Key: "database", Msg: "must be a string (a file path)"}
	}
	if path == "" {
		return "", &target.ConfigError{Key: "database", Msg: "must not be empty"}
	}
	return path, nil
}
