package target

import (
	"time"

	"github.com/rs/zerolog"

	"github.com/cio-singer/tap-customerio-webhook/internal/config"
)

// ConfigError is one bad setting, naming its key. Main exits with code 2
// for it, and for a config.Errors of them.
type ConfigError = config.Error

// Config holds the settings every target shares; each loader has its own
// keys besides these (Plugin.Settings).
type Config struct {
	BatchSizeRows      int
	BatchSizeBytes     int64
	MaxBatchAge        time.Duration
	AddMetadataColumns bool
	PrimaryKeyRequired bool
	ValidateRecords    bool
	FlatteningMaxLevel int
	LogLevel           zerolog.Level
}

// DefaultConfig returns the settings used for keys the config leaves out:
// the defaults of commonTable, which --about and the README show.
func DefaultConfig() Config { return commonTable().Defaults() }

// commonTable declares the shared keys, in the order --about shows them
// after the loader's own.
func commonTable() config.Table[Config] {
	return config.Table[Config]{Settings: []config.Setting[Config]{
		config.Field("batch_size_rows", config.Int(1, 1<<30), func(c *Config) *int { return &c.BatchSizeRows }).Default(100000).
			Doc("Load a stream's rows once this many are buffered."),
		// Converted rows take ~3x their JSON, and one batch loads while the
		// next fills: 16 MiB gives ~130 MB peak RSS.
		config.Field("batch_size_bytes", config.AtLeast[int64](1), func(c *Config) *int64 { return &c.BatchSizeBytes }).Default(16 << 20).
			Doc("Load once buffered records reach this many bytes of JSON, per stream and in total: bounds memory."),
		config.Field("max_batch_age", config.Duration(true), func(c *Config) *time.Duration { return &c.MaxBatchAge }).Default("1s").
			Doc("Load buffered rows at the latest this long after the first of them arrived (Go duration, e.g. \"500ms\", \"1m\")."),
		config.Field("add_metadata_columns", config.Bool, func(c *Config) *bool { return &c.AddMetadataColumns }).Default(true).
			Doc("Add _sdc_extracted_at, _sdc_received_at, _sdc_batched_at, _sdc_sequence (UnixNano at start plus input counter: increases across runs) and _sdc_table_version."),
		config.Field("primary_key_required", config.Bool, func(c *Config) *bool { return &c.PrimaryKeyRequired }).Default(true).
			Doc("Refuse a stream whose SCHEMA has empty key_properties; when false such streams are appended."),
		config.Field("validate_records", config.Bool, func(c *Config) *bool { return &c.ValidateRecords }).Default(false).
			Doc("Validate every record against its stream's JSON Schema and stop at the first invalid one."),
		config.Field("flattening_max_level", config.Int(0, 64), func(c *Config) *int { return &c.FlatteningMaxLevel }).Default(0).
			Doc("Turn declared nested object properties into parent__child columns down to this depth; 0 keeps them as JSON."),
		config.Field("log_level", config.LogLevel, func(c *Config) *zerolog.Level { return &c.LogLevel }).Default("info").
			Doc(config.LogLevelDoc),
	}}
}
