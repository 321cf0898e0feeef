package tap

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/cio-singer/tap-customerio-webhook/internal/about"
	"github.com/cio-singer/tap-customerio-webhook/internal/jsonconfig"
	"github.com/cio-singer/tap-customerio-webhook/tap/appapi"
	"github.com/cio-singer/tap-customerio-webhook/tap/auth"
	"github.com/cio-singer/tap-customerio-webhook/tap/kafkaspool"
	"github.com/cio-singer/tap-customerio-webhook/tap/spool"
)

// EnvPrefix prefixes the environment variable of every setting.
const EnvPrefix = "TAP_CUSTOMERIO_WEBHOOK_"

// Config is the tap's configuration. Tokens and keys are secrets: Config
// is never logged or printed.
type Config struct {
	Listen          string
	WebhookTokens   []string
	SigningKeys     []string
	SignatureMaxAge time.Duration
	SpoolDir        string
	SpoolMaxBytes   int64
	// SpoolRetention and SpoolRetentionBytes keep emitted records for
	// replays into a new warehouse (0: release once a --state covers them).
	SpoolRetention      time.Duration
	SpoolRetentionBytes int64
	MaxBodyBytes        int64
	// MaxInflightBytes bounds the memory of all webhook bodies being
	// received at once; past it the receiver answers 503.
	MaxInflightBytes int64
	StateInterval    time.Duration
	ExitAfterIdle    time.Duration
	LogLevel         zerolog.Level
	// Spool is SpoolDisk (spool_dir) or SpoolKafka (the Kafka settings).
	Spool string
	Kafka kafkaspool.Config
	// set names the keys the file or the environment gave, so that a
	// Kafka setting without spool "kafka" is refused even at its default.
	set map[string]bool
	// AppAPI reads the history webhooks never sent (streams deliveries,
	// campaigns, ...) when its Key is set.
	AppAPI AppAPIConfig
}

// The values of the spool setting.
const (
	SpoolDisk  = "disk"
	SpoolKafka = "kafka"
)

// AppAPIConfig configures the App API streams (package tap/appapi).
type AppAPIConfig struct {
	Key    string // secret; "" reads nothing
	Region string // "us" or "eu"
	URL    string // overrides the region's base URL
	// StartDate is where the first run of deliveries begins; zero takes
	// appapi's default.
	StartDate time.Time
	Lookback  time.Duration
	Interval  time.Duration
}

// setting is one config key: how --about describes it and how its JSON
// value is decoded into Config. The defaults live here and nowhere else.
type setting struct {
	about.Setting
	apply func(c *Config, raw json.RawMessage) error
}

func settings() []setting {
	return []setting{
		{about.Setting{Name: "listen", Type: "string", Default: "127.0.0.1:8080",
			Description: `Address the HTTP server listens on; "" runs no server and only emits what the spool holds.`},
			func(c *Config, raw json.RawMessage) error {
				if err := decodeString(raw, &c.Listen); err != nil {
					return err
				}
				if _, _, err := net.SplitHostPort(c.Listen); c.Listen != "" && err != nil {
					return fmt.Errorf("%q is not host:port (e.g. 127.0.0.1:8080, :8080)", c.Listen)
				}
				return nil
			}},
		{about.Setting{Name: "webhook_tokens", Type: "array", Secret: true,
			Description: "Secret URL path tokens (POST /webhook/{token}): each a string of 32+ characters or sha256:<hex> of one. Added to the tokens in spool_dir/tokens.json (see `token new`); the server needs at least one token in all."},
			func(c *Config, raw json.RawMessage) error {
				if err := decodeStrings(raw, &c.WebhookTokens); err != nil {
					return err
				}
				if len(c.WebhookTokens) == 0 {
					return nil // the token file may hold them: checkTokens decides at start
				}
				_, err := auth.ParseTokens(c.WebhookTokens)
				return err
			}},
		{about.Setting{Name: "signing_keys", Type: "array", Secret: true,
			Description: "Customer.io webhook signing keys; when set, every webhook must carry a valid X-CIO-Signature."},
			func(c *Config, raw json.RawMessage) error {
				if err := decodeStrings(raw, &c.SigningKeys); err != nil {
					return err
				}
				for i, k := range c.SigningKeys {
					if k == "" {
						return fmt.Errorf("entry %d is empty", i)
					}
				}
				return nil
			}},
		{about.Setting{Name: "signature_max_age", Type: "string", Default: "0s",
			Description: `When > 0 (e.g. "5m"), reject signatures whose X-CIO-Timestamp is older or newer than this. Needs signing_keys.`},
			func(c *Config, raw json.RawMessage) error { return decodeDuration(raw, &c.SignatureMaxAge) }},
		{about.Setting{Name: "spool_dir", Type: "string", Default: "./spool",
			Description: "Where acknowledged webhooks are kept until emitted and released."},
			func(c *Config, raw json.RawMessage) error {
				if err := decodeString(raw, &c.SpoolDir); err != nil {
					return err
				}
				if c.SpoolDir == "" {
					return errors.New("must not be empty")
				}
				return nil
			}},
		{about.Setting{Name: "spool_max_bytes", Type: "integer", Default: 0,
			Description: "When > 0, webhooks get 503 (and Customer.io retries) once the spool's files would exceed this many bytes. At least 64 MiB plus twice max_body_bytes (about 80 MiB by default): the segment being written is never released."},
			func(c *Config, raw json.RawMessage) error { return decodeInt(raw, &c.SpoolMaxBytes, 0) }},
		{about.Setting{Name: "spool_retention", Type: "string", Default: "0s",
			Description: `Keep emitted webhooks in the spool this long (e.g. "168h"), so a run with an empty state replays them into a new warehouse; "0s" deletes them at the start after the --state that covers them.`},
			func(c *Config, raw json.RawMessage) error { return decodeDuration(raw, &c.SpoolRetention) }},
		{about.Setting{Name: "spool_retention_bytes", Type: "integer", Default: 0,
			Description: "When > 0, emitted webhooks kept for spool_retention take at most about this many bytes: the oldest are deleted first. Needs spool_retention; required with spool_retention and spool_max_bytes, and must leave the minimum of spool_max_bytes free."},
			func(c *Config, raw json.RawMessage) error { return decodeInt(raw, &c.SpoolRetentionBytes, 0) }},
		{about.Setting{Name: "spool", Type: "string", Default: SpoolDisk,
			Description: `Where acknowledged webhooks are kept: "disk" (spool_dir) or "kafka" (a Kafka topic, the kafka_* settings; README "Past one machine").`},
			func(c *Config, raw json.RawMessage) error {
				if err := decodeString(raw, &c.Spool); err != nil {
					return err
				}
				if c.Spool != SpoolDisk && c.Spool != SpoolKafka {
					return fmt.Errorf("%q is neither %q nor %q", c.Spool, SpoolDisk, SpoolKafka)
				}
				return nil
			}},
		{about.Setting{Name: "kafka_brokers", Type: "array",
			Description: `Seed brokers ("host:9092") of the Kafka cluster; required with spool "kafka".`},
			func(c *Config, raw json.RawMessage) error { return decodeStrings(raw, &c.Kafka.Brokers) }},
		{about.Setting{Name: "kafka_topic", Type: "string", Default: kafkaspool.DefaultTopic,
			Description: "The Kafka topic: one record per webhook (value: the raw body; headers: receive time and token id)."},
			func(c *Config, raw json.RawMessage) error {
				if err := decodeString(raw, &c.Kafka.Topic); err != nil {
					return err
				}
				if c.Kafka.Topic == "" {
					return errors.New("must not be empty")
				}
				return nil
			}},
		{about.Setting{Name: "kafka_produce_timeout", Type: "string", Default: "3s",
			Description: "A webhook the cluster has not acknowledged (acks=all) within this gets 503 with Retry-After; under the 4 s Customer.io waits."},
			func(c *Config, raw json.RawMessage) error {
				return decodePositiveDuration(raw, &c.Kafka.ProduceTimeout)
			}},
		{about.Setting{Name: "kafka_tls", Type: "boolean", Default: false,
			Description: "TLS to the Kafka brokers."},
			func(c *Config, raw json.RawMessage) error { return decodeBool(raw, &c.Kafka.TLS) }},
		{about.Setting{Name: "kafka_ca_file", Type: "string",
			Description: "PEM file of the certificate authorities to trust for the brokers instead of the system's. Needs kafka_tls."},
			func(c *Config, raw json.RawMessage) error { return decodeString(raw, &c.Kafka.CAFile) }},
		{about.Setting{Name: "kafka_sasl_mechanism", Type: "string",
			Description: "SASL authentication to the brokers: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512; empty: none."},
			func(c *Config, raw json.RawMessage) error { return decodeString(raw, &c.Kafka.SASLMechanism) }},
		{about.Setting{Name: "kafka_sasl_username", Type: "string",
			Description: "SASL user name. Needs kafka_sasl_mechanism."},
			func(c *Config, raw json.RawMessage) error { return decodeString(raw, &c.Kafka.SASLUsername) }},
		{about.Setting{Name: "kafka_sasl_password", Type: "string", Secret: true,
			Description: "SASL password. Needs kafka_sasl_mechanism."},
			func(c *Config, raw json.RawMessage) error { return decodeString(raw, &c.Kafka.SASLPassword) }},
		{about.Setting{Name: "kafka_partitions", Type: "array",
			Description: "The partitions this loader emits (several loaders split a topic, e.g. [0, 1] and [2, 3]); empty: all."},
			func(c *Config, raw json.RawMessage) error { return decodePartitions(raw, &c.Kafka.Partitions) }},
		{about.Setting{Name: "kafka_allow_unsafe_topic", Type: "boolean", Default: false,
			Description: "At start the tap refuses a topic with replication factor below 3 or min.insync.replicas below 2; true makes that a warning (development, one broker)."},
			func(c *Config, raw json.RawMessage) error { return decodeBool(raw, &c.Kafka.AllowUnsafeTopic) }},
		{about.Setting{Name: "max_body_bytes", Type: "integer", Default: 8 << 20,
			Description: "Larger webhook bodies get 413. At most 268435456 (256 MiB, what the spool stores in one record)."},
			func(c *Config, raw json.RawMessage) error { return decodeInt(raw, &c.MaxBodyBytes, 1) }},
		{about.Setting{Name: "max_inflight_bytes", Type: "integer", Default: 64 << 20,
			Description: "Memory budget for all webhook bodies being received at once; past it webhooks get 503 with Retry-After (Customer.io retries). At least max_body_bytes."},
			func(c *Config, raw json.RawMessage) error { return decodeInt(raw, &c.MaxInflightBytes, 1) }},
		{about.Setting{Name: "state_interval", Type: "string", Default: "1s",
			Description: "How often, at most, a STATE message is written while records flow."},
			func(c *Config, raw json.RawMessage) error { return decodePositiveDuration(raw, &c.StateInterval) }},
		{about.Setting{Name: "exit_after_idle", Type: "string", Default: "0s",
			Description: `When > 0, exit cleanly (final STATE, exit 0) after this long with nothing new to emit; "0s" runs until SIGTERM.`},
			func(c *Config, raw json.RawMessage) error { return decodeDuration(raw, &c.ExitAfterIdle) }},
		{about.Setting{Name: "app_api_key", Type: "string", Secret: true,
			Description: "Customer.io App API key (Settings > API Credentials > App API Keys). When set, runs also emit the streams deliveries, campaigns, broadcasts, newsletters and transactional_messages read from the App API."},
			func(c *Config, raw json.RawMessage) error { return decodeString(raw, &c.AppAPI.Key) }},
		{about.Setting{Name: "app_api_region", Type: "string", Default: "us",
			Description: "Region of the Customer.io account: us (api.customer.io) or eu (api-eu.customer.io)."},
			func(c *Config, raw json.RawMessage) error {
				if err := decodeString(raw, &c.AppAPI.Region); err != nil {
					return err
				}
				c.AppAPI.Region = strings.ToLower(strings.TrimSpace(c.AppAPI.Region))
				if c.AppAPI.Region != "us" && c.AppAPI.Region != "eu" {
					return fmt.Errorf("%q is neither us nor eu", c.AppAPI.Region)
				}
				return nil
			}},
		{about.Setting{Name: "app_api_url", Type: "string",
			Description: "Base URL of the App API (e.g. https://proxy.example.com/v1); overrides app_api_region. For proxies and tests."},
			func(c *Config, raw json.RawMessage) error {
				if err := decodeString(raw, &c.AppAPI.URL); err != nil {
					return err
				}
				if _, err := appapi.BaseURL("", c.AppAPI.URL); err != nil {
					return errors.New("is not an http(s) URL") // never quote it: it may hold credentials
				}
				return nil
			}},
		{about.Setting{Name: "app_api_start_date", Type: "string",
			Description: `Where the first run reads deliveries from: an RFC 3339 date-time or a date ("2025-01-31"); empty: the 180 days the API keeps by default.`},
			func(c *Config, raw json.RawMessage) error { return decodeStartDate(raw, &c.AppAPI.StartDate) }},
		{about.Setting{Name: "app_api_lookback", Type: "string", Default: "168h",
			Description: "Each run reads deliveries again from this long before its bookmark, because their metrics (opened, clicked, ...) keep arriving for days."},
			func(c *Config, raw json.RawMessage) error { return decodePositiveDuration(raw, &c.AppAPI.Lookback) }},
		{about.Setting{Name: "app_api_interval", Type: "string", Default: "1h",
			Description: "How often a run that keeps running reads the App API streams again."},
			func(c *Config, raw json.RawMessage) error { return decodePositiveDuration(raw, &c.AppAPI.Interval) }},
		{about.Setting{Name: "log_level", Type: "string", Default: "info",
			Description: "trace, debug, info, warn or error. Logs are JSON on stderr."},
			func(c *Config, raw json.RawMessage) error {
				var s string
				if err := decodeString(raw, &s); err != nil {
					return err
				}
				lvl, err := zerolog.ParseLevel(strings.ToLower(s))
				if err != nil || s == "" {
					return fmt.Errorf("%q is not a log level", s)
				}
				c.LogLevel = lvl
				return nil
			}},
	}
}

// Settings describes every config key, for --about.
func Settings() []about.Setting {
	var out []about.Setting
	for _, s := range settings() {
		out = append(out, s.Setting)
	}
	return out
}

// ConfigError is a bad config: the program exits 2 without starting.
type ConfigError struct{ Errs []error }

func (e *ConfigError) Error() string { return errors.Join(e.Errs...).Error() }

// LoadConfig decodes a JSON config file over the defaults, then applies
// TAP_CUSTOMERIO_WEBHOOK_<KEY> environment variables, which win over the
// file (getenv is os.Getenv outside tests). Unknown keys, a key set twice
// and anything after the JSON object are errors: a misspelt or repeated
// signing_keys must not silently turn signature checks off. So are limits
// that contradict each other (see contradictions). Every problem is
// reported at once, each prefixed with its key.
func LoadConfig(r io.Reader, getenv func(string) string) (Config, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return Config{}, &ConfigError{[]error{fmt.Errorf("config: %w", err)}}
	}
	file, twice, err := jsonconfig.Object(data)
	if err != nil {
		return Config{}, &ConfigError{[]error{err}}
	}
	var errs []error
	for _, k := range twice {
		errs = append(errs, fmt.Errorf("%s: %s", k, jsonconfig.SetTwice))
	}
	known := map[string]bool{}
	cfg := Config{set: map[string]bool{}}
	for _, s := range settings() {
		known[s.Name] = true
		raw, err := valueOf(s.Setting, file[s.Name], getenv(EnvPrefix+strings.ToUpper(s.Name)))
		if raw != nil {
			cfg.set[s.Name] = true
		}
		if err == nil && raw == nil && s.Required {
			err = errors.New("required")
		}
		if err == nil && raw == nil && s.Default != nil {
			raw, _ = json.Marshal(s.Default)
		}
		if err == nil && raw != nil {
			err = s.apply(&cfg, raw)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", s.Name, err))
		}
	}
	var unknown []string
	for k := range file {
		if !known[k] {
			unknown = append(unknown, k)
		}
	}
	sort.Strings(unknown)
	for _, k := range unknown {
		errs = append(errs, fmt.Errorf("%s: unknown key (see --about for the settings)", k))
	}
	if len(errs) == 0 {
		errs = contradictions(cfg) // only between values that each parsed
	}
	if len(errs) > 0 {
		return Config{}, &ConfigError{errs}
	}
	return cfg, nil
}

// contradictions returns an error, naming the key to change, for each
// pair of settings that cannot both hold: each would start a tap that
// answers 503 for ever, or whose setting does nothing it seems to.
func contradictions(c Config) []error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: "+format, append([]any{key}, args...)...))
	}
	if c.MaxBodyBytes > spool.MaxBodyBytes {
		bad("max_body_bytes", "%d is more than the spool stores in one record (%d bytes): such bodies would get 503 for ever",
			c.MaxBodyBytes, spool.MaxBodyBytes)
	}
	if c.MaxInflightBytes < c.MaxBodyBytes {
		bad("max_inflight_bytes", "%d is less than max_body_bytes (%d): a body of max_body_bytes would get 503 for ever",
			c.MaxInflightBytes, c.MaxBodyBytes)
	}
	// Once the bounds above hold, the sizes below fit an int.
	minSpool := spool.MinMaxBytes(0, int(min(c.MaxBodyBytes, spool.MaxBodyBytes)))
	if c.SpoolMaxBytes > 0 && c.SpoolMaxBytes < minSpool {
		bad("spool_max_bytes", "%d is less than %d, the least with which the spool keeps accepting webhooks of max_body_bytes (%d) "+
			"once it has filled: the segment being written (%d bytes) is never released; use 0 (no limit) or at least %d",
			c.SpoolMaxBytes, minSpool, c.MaxBodyBytes, spool.DefaultSegmentBytes, minSpool)
	}
	switch {
	case c.SpoolRetentionBytes > 0 && c.SpoolRetention == 0:
		bad("spool_retention_bytes", "has no effect without spool_retention")
	case c.SpoolRetention > 0 && c.SpoolMaxBytes > 0 && c.SpoolRetentionBytes == 0:
		bad("spool_retention_bytes", "must be set when spool_retention and spool_max_bytes are: webhooks kept for replay "+
			"would fill the spool and new ones get 503; at most %d with spool_max_bytes %d", max(0, c.SpoolMaxBytes-minSpool), c.SpoolMaxBytes)
	case c.SpoolRetention > 0 && c.SpoolMaxBytes > 0 && c.SpoolRetentionBytes > c.SpoolMaxBytes-minSpool:
		bad("spool_retention_bytes", "%d leaves less than %d bytes of spool_max_bytes (%d) for new webhooks: webhooks kept "+
			"for replay would fill the spool and new ones get 503; at most %d", c.SpoolRetentionBytes, minSpool, c.SpoolMaxBytes,
			max(0, c.SpoolMaxBytes-minSpool))
	}
	if c.SignatureMaxAge > 0 && len(c.SigningKeys) == 0 {
		bad("signature_max_age", "has no effect without signing_keys: no signature is checked")
	}
	errs = append(errs, spoolContradictions(c)...)
	if c.AppAPI.Key == "" {
		if c.AppAPI.URL != "" {
			bad("app_api_url", "has no effect without app_api_key: the App API is not read")
		}
		if !c.AppAPI.StartDate.IsZero() {
			bad("app_api_start_date", "has no effect without app_api_key: the App API is not read")
		}
	}
	return errs
}

// spoolContradictions refuses Kafka settings that would do nothing (spool
// is not "kafka") and Kafka settings kafkaspool cannot work with.
func spoolContradictions(c Config) []error {
	if c.Spool != SpoolKafka {
		var errs []error
		for _, s := range settings() {
			if strings.HasPrefix(s.Name, "kafka_") && c.set[s.Name] {
				errs = append(errs, fmt.Errorf("%s: has no effect without spool \"kafka\" (spool is %q)", s.Name, c.Spool))
			}
		}
		return errs
	}
	// Validate's messages start with the key they are about.
	if err := c.Kafka.Validate(); err != nil {
		return []error{err}
	}
	return nil
}

// LoadConfigFile is LoadConfig on the file at path with the real environment.
func LoadConfigFile(path string) (Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return Config{}, &ConfigError{[]error{fmt.Errorf("config: %w", err)}}
	}
	defer f.Close()
	return LoadConfig(f, os.Getenv)
}

// valueOf returns the JSON value of s: from the environment when set, else
// from the file; nil when neither sets it (JSON null counts as unset, as
// orchestrators write null for settings left empty).
func valueOf(s about.Setting, fromFile json.RawMessage, fromEnv string) (json.RawMessage, error) {
	if fromEnv != "" {
		return envToJSON(s.Type, fromEnv)
	}
	if len(fromFile) == 0 || string(bytes.TrimSpace(fromFile)) == "null" {
		return nil, nil
	}
	return fromFile, nil
}

// envToJSON turns an environment variable into the JSON the file would
// hold. Arrays are a JSON array or a comma-separated list, as Meltano
// passes array settings as JSON.
func envToJSON(typ, v string) (json.RawMessage, error) {
	switch typ {
	case "integer":
		if _, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err != nil {
			return nil, fmt.Errorf("environment value is not an integer")
		}
		return json.RawMessage(strings.TrimSpace(v)), nil
	case "array":
		if strings.HasPrefix(strings.TrimSpace(v), "[") {
			return json.RawMessage(v), nil
		}
		parts := strings.Split(v, ",")
		for i := range parts {
			parts[i] = strings.TrimSpace(parts[i])
		}
		return json.Marshal(parts)
	default:
		return json.Marshal(v)
	}
}

func decodeString(raw json.RawMessage, dst *string) error {
	if err := json.Unmarshal(raw, dst); err != nil {
		return errors.New("must be a string")
	}
	return nil
}

// decodeStrings accepts a list of strings, or one string for one entry.
// Errors never quote the values: they are secrets.
func decodeStrings(raw json.RawMessage, dst *[]string) error {
	var one string
	if json.Unmarshal(raw, &one) == nil {
		*dst = []string{one}
		return nil
	}
	if err := json.Unmarshal(raw, dst); err != nil {
		return errors.New("must be a list of strings")
	}
	return nil
}

// decodeDuration accepts Go duration strings ("5m", "1h30m") and plain
// numbers of seconds.
func decodeDuration(raw json.RawMessage, dst *time.Duration) error {
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		var secs float64
		if err := json.Unmarshal(raw, &secs); err != nil {
			return errors.New(`must be a duration such as "30s" or "5m"`)
		}
		s = strconv.FormatFloat(secs, 'f', -1, 64) + "s"
	}
	d, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil {
		return fmt.Errorf(`%q is not a duration such as "30s" or "5m"`, s)
	}
	if d < 0 {
		return errors.New("must not be negative")
	}
	*dst = d
	return nil
}

func decodePositiveDuration(raw json.RawMessage, dst *time.Duration) error {
	if err := decodeDuration(raw, dst); err != nil {
		return err
	}
	if *dst <= 0 {
		return errors.New("must be positive")
	}
	return nil
}

// decodeStartDate accepts an RFC 3339 date-time or a date (midnight UTC);
// "" leaves dst zero.
func decodeStartDate(raw json.RawMessage, dst *time.Time) error {
	var s string
	if err := decodeString(raw, &s); err != nil {
		return err
	}
	s = strings.TrimSpace(s)
	if s == "" {
		return nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		if t, err = time.Parse(time.DateOnly, s); err != nil {
			return fmt.Errorf(`%q is neither an RFC 3339 date-time ("2025-01-31T00:00:00Z") nor a date ("2025-01-31")`, s)
		}
	}
	if t.After(time.Now()) {
		return fmt.Errorf("%q is in the future", s)
	}
	*dst = t
	return nil
}

// decodeBool accepts true and false, also as strings (as the environment gives them).
func decodeBool(raw json.RawMessage, dst *bool) error {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		raw = json.RawMessage(strings.ToLower(strings.TrimSpace(s)))
	}
	if err := json.Unmarshal(raw, dst); err != nil {
		return errors.New("must be true or false")
	}
	return nil
}

// decodePartitions accepts a list of partition numbers, as numbers or
// strings (a comma-separated environment value gives strings).
func decodePartitions(raw json.RawMessage, dst *[]int32) error {
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return errors.New("must be a list of partition numbers")
	}
	out := make([]int32, 0, len(items))
	for _, it := range items {
		var n int64
		if err := decodeInt(it, &n, 0); err != nil || n > math.MaxInt32 {
			return fmt.Errorf("%s is not a partition number", it)
		}
		out = append(out, int32(n))
	}
	if len(out) > 0 {
		*dst = out
	}
	return nil
}

func decodeInt(raw json.RawMessage, dst *int64, min int64) error {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		raw = json.RawMessage(strings.TrimSpace(s))
	}
	var n int64
	if err := json.Unmarshal(raw, &n); err != nil {
		return errors.New("must be an integer")
	}
	if n < min {
		return fmt.Errorf("must be at least %d", min)
	}
	*dst = n
	return nil
}
