package pgload

import (
	"context"
	"encoding/json"

	"github.com/rs/zerolog"

	"github.com/cio-singer/tap-customerio-webhook/target"
)

// Plugin describes target-postgres to the target core.
func Plugin() target.Plugin {
	return target.Plugin{
		Name:        "target-postgres",
		Description: "Singer target loading into PostgreSQL: binary COPY, upsert on key_properties, exact strings, numbers and instants",
		Settings:    settings(),
		Open: func(ctx context.Context, raw map[string]json.RawMessage, log zerolog.Logger) (target.Loader, error) {
			cfg, err := parseConfig(raw)
			if err != nil {
				return nil, err
			}
			if cfg.DSN != "" {
				for _, k := range []string{"host", "port", "user", "password", "dbname", "database"} {
					if _, ok := raw[k]; ok {
						log.Warn().Str("key", k).Msg("ignoring key: dsn is set and overrides it")
					}
				}
			}
			return Open(ctx, cfg, log)
		},
	}
}
