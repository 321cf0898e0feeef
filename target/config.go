package target

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/cio-singer/tap-customerio-webhook/internal/about"
	"github.com/cio-singer/tap-customerio-webhook/internal/jsonconfig"
)

// ConfigError is a bad configuration value. Main exits with code 2 for it.
type ConfigError struct {
	Key string
	Msg string
}

func (e *ConfigError) Error() string { return e.Key + ": " + e.Msg }

// Config holds the settings every target shares; each loader has its own
// keys besides these, which the core passes to Plugin.Open untouched.
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

// DefaultConfig returns the settings used for keys the config leaves out.
func DefaultConfig() Config {
	return Config{
		BatchSizeRows:      100000,
		BatchSizeBytes:     16 << 20, // converted rows take ~3x their JSON, and one batch loads while the next fills: ~130 MB peak RSS
		MaxBatchAge:        time.Second,
		AddMetadataColumns: true,
		PrimaryKeyRequired: true,
		FlatteningMaxLevel: 0,
		LogLevel:           zerolog.InfoLevel,
	}
}

// commonSettings documents the shared keys for --about, in the order shown.
func commonSettings() []about.Setting {
	d := DefaultConfig()
	return []about.Setting{
		{Name: "batch_size_rows", Type: "integer", Default: d.BatchSizeRows, Description: "Load a stream's rows once this many are buffered."},
		{Name: "batch_size_bytes", Type: "integer", Default: d.BatchSizeBytes, Description: "Load once buffered records reach this many bytes of JSON, per stream and in total: bounds memory."},
		{Name: "max_batch_age", Type: "string", Default: "1s", Description: "Load buffered rows at the latest this long after the first of them arrived (Go duration, e.g. \"500ms\", \"1m\")."},
		{Name: "add_metadata_columns", Type: "boolean", Default: d.AddMetadataColumns, Description: "Add _sdc_extracted_at, _sdc_received_at, _sdc_batched_at, _sdc_sequence (UnixNano at start plus input counter: increases across runs) and _sdc_table_version."},
		{Name: "primary_key_required", Type: "boolean", Default: d.PrimaryKeyRequired, Description: "Refuse a stream whose SCHEMA has empty key_properties; when false such streams are appended."},
		{Name: "validate_records", Type: "boolean", Default: d.ValidateRecords, Description: "Validate every record against its stream's JSON Schema and stop at the first invalid one."},
		{Name: "flattening_max_level", Type: "integer", Default: d.FlatteningMaxLevel, Description: "Turn declared nested object properties into parent__child columns down to this depth; 0 keeps them as JSON."},
		{Name: "log_level", Type: "string", Default: "info", Description: "Log level on stderr: debug, info, warn, error."},
	}
}

// envPrefix turns "target-postgres" into "TARGET_POSTGRES_".
func envPrefix(name string) string {
	var b strings.Builder
	for _, r := range strings.ToUpper(name) {
		if (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	b.WriteByte('_')
	return b.String()
}

// applyEnv overrides raw with environment variables for every known
// setting: env wins over the file. A value is taken as JSON when the setting
// is not a string and the value parses as JSON, else as a string.
func applyEnv(raw map[string]json.RawMessage, prefix string, settings []about.Setting, lookup func(string) (string, bool)) {
	for _, s := range settings {
		v, ok := lookup(prefix + strings.ToUpper(s.Name))
		if !ok {
			continue
		}
		if s.Type != "string" && json.Valid([]byte(v)) {
			raw[s.Name] = json.RawMessage(v)
			continue
		}
		enc, _ := json.Marshal(v) // a string always marshals
		raw[s.Name] = enc
	}
}

// parseConfigFile decodes the config file into raw values by key. The file
// holds one JSON object (empty or null means no settings); a key set twice
// or anything after the object is refused, naming the key: the reader
// could not tell which value counts. A null value counts as unset, as
// orchestrators write null for settings left empty.
func parseConfigFile(data []byte) (map[string]json.RawMessage, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return map[string]json.RawMessage{}, nil
	}
	raw, twice, err := jsonconfig.Object(data)
	if err != nil {
		return nil, &ConfigError{Key: "config", Msg: strings.TrimPrefix(err.Error(), "config: ")}
	}
	if len(twice) > 0 {
		var errs []error
		for _, k := range twice {
			errs = append(errs, &ConfigError{Key: k, Msg: jsonconfig.SetTwice})
		}
		return nil, errors.Join(errs...)
	}
	for k, v := range raw {
		if string(v) == "null" {
			delete(raw, k)
		}
	}
	return raw, nil
}

// parseCommon reads the shared keys out of raw over the defaults and reports
// every bad value at once, each as a *ConfigError naming its key.
func parseCommon(raw map[string]json.RawMessage) (Config, error) {
	c := DefaultConfig()
	var errs []error
	bad := func(key, msg string) { errs = append(errs, &ConfigError{Key: key, Msg: msg}) }
	if v, ok := raw["batch_size_rows"]; ok {
		n, err := decodeInt(v)
		if err != nil || n < 1 || n > 1<<30 {
			bad("batch_size_rows", fmt.Sprintf("%s is not a positive integer", v))
		}
		c.BatchSizeRows = int(n)
	}
	if v, ok := raw["batch_size_bytes"]; ok {
		n, err := decodeInt(v)
		if err != nil || n < 1 {
			bad("batch_size_bytes", fmt.Sprintf("%s is not a positive integer", v))
		}
		c.BatchSizeBytes = n
	}
	if v, ok := raw["max_batch_age"]; ok {
		d, err := decodeDuration(v)
		if err != nil || d <= 0 {
			bad("max_batch_age", fmt.Sprintf("%s is not a positive duration such as \"1s\"", v))
		}
		c.MaxBatchAge = d
	}
	for key, dst := range map[string]*bool{
		"add_metadata_columns": &c.AddMetadataColumns,
		"primary_key_required": &c.PrimaryKeyRequired,
		"validate_records":     &c.ValidateRecords,
	} {
		if v, ok := raw[key]; ok {
			b, err := decodeBool(v)
			if err != nil {
				bad(key, fmt.Sprintf("%s is not true or false", v))
			}
			*dst = b
		}
	}
	if v, ok := raw["flattening_max_level"]; ok {
		n, err := decodeInt(v)
		if err != nil || n < 0 || n > 64 {
			bad("flattening_max_level", fmt.Sprintf("%s is not an integer from 0 to 64", v))
		}
		c.FlatteningMaxLevel = int(n)
	}
	if v, ok := raw["log_level"]; ok {
		var s string
		lvl, err := zerolog.Level(0), json.Unmarshal(v, &s)
		if err == nil {
			lvl, err = zerolog.ParseLevel(strings.ToLower(s))
		}
		if err != nil || s == "" || lvl > zerolog.ErrorLevel {
			bad("log_level", fmt.Sprintf("%s is not one of debug, info, warn, error", v))
		}
		c.LogLevel = lvl
	}
	sort.Slice(errs, func(i, j int) bool { return errs[i].Error() < errs[j].Error() })
	return c, errors.Join(errs...)
}

// decodeInt accepts a JSON integer or a string holding one (orchestrators
// and env vars often pass numbers as strings).
func decodeInt(v json.RawMessage) (int64, error) {
	var s string
	if json.Unmarshal(v, &s) != nil {
		s = string(v)
	}
	return strconv.ParseInt(strings.TrimSpace(s), 10, 64)
}

func decodeBool(v json.RawMessage) (bool, error) {
	var s string
	if json.Unmarshal(v, &s) != nil {
		s = string(v)
	}
	return strconv.ParseBool(strings.TrimSpace(s))
}

// decodeDuration accepts a Go duration string or a number of seconds.
func decodeDuration(v json.RawMessage) (time.Duration, error) {
	var s string
	if json.Unmarshal(v, &s) == nil {
		return time.ParseDuration(s)
	}
	f, err := strconv.ParseFloat(string(v), 64)
	if err != nil {
		return 0, err
	}
	if f > float64(math.MaxInt64)/float64(time.Second) {
		return 0, errors.New("duration out of range")
	}
	return time.Duration(f * float64(time.Second)), nil
}
