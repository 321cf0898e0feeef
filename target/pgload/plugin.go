package pgload

import (
	"context"

	"github.com/rs/zerolog"

	"github.com/cio-singer/tap-customerio-webhook/target"
)

// Plugin describes target-postgres to the target core.
func Plugin() target.Plugin[Config] {
	return target.Plugin[Config]{
		Name:        "target-postgres",
		Description: "Singer target loading into PostgreSQL: binary COPY, upsert on key_properties, exact strings, numbers and instants",
		Settings:    configTable(),
		Open: func(ctx context.Context, cfg Config, log zerolog.Logger) (target.Loader, error) {
			for _, k := range cfg.ignored {
				log.Warn().Str("key", k).Msg("ignoring key: dsn is set and overrides it")
			}
			return Open(ctx, cfg, log)
		},
	}
}
