package tap

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/cio-singer/tap-customerio-webhook/internal/about"
	"github.com/cio-singer/tap-customerio-webhook/internal/config"
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

// configTable declares every config key: its documentation (--about,
// the README table, meltano.yml) and how its value lands in Config. The
// defaults live here and nowhere else.
func configTable() config.Table[Config] {
	return config.Table[Config]{Settings: []config.Setting[Config]{
		config.Field("listen", config.String.Check(checkListen), func(c *Config) *string { return &c.Listen }).Default("127.0.0.1:8080").
			Doc(`Address the HTTP server listens on; "" runs no server and only emits what the spool holds.`),
		config.Field("webhook_tokens", config.Strings.Check(checkTokenList), func(c *Config) *[]string { return &c.WebhookTokens }).Secret().
			Doc("Secret URL path tokens (POST /webhook/{token}): each a string of 32+ characters or sha256:<hex> of one. Added to the tokens in spool_dir/tokens.json (see `token new`); the server needs at least one token in all."),
		config.Field("signing_keys", config.Strings.Check(noEmptyEntry), func(c *Config) *[]string { return &c.SigningKeys }).Secret().
			Doc("Customer.io webhook signing keys; when set, every webhook must carry a valid X-CIO-Signature."),
		config.Field("signature_max_age", config.Duration(false), func(c *Config) *time.Duration { return &c.SignatureMaxAge }).Default("0s").
			Doc(`When > 0 (e.g. "5m"), reject signatures whose X-CIO-Timestamp is older or newer than this. Needs signing_keys.`),
		config.Field("spool_dir", config.NonEmpty, func(c *Config) *string { return &c.SpoolDir }).Default("./spool").
			Doc("Where acknowledged webhooks are kept until emitted and released."),
		config.Field("spool_max_bytes", config.AtLeast[int64](0), func(c *Config) *int64 { return &c.SpoolMaxBytes }).Default(0).
			Doc("When > 0, webhooks get 503 (and Customer.io retries) once the spool's files would exceed this many bytes. At least 64 MiB plus twice max_body_bytes (about 80 MiB by default): the segment being written is never released."),
		config.Field("spool_retention", config.Duration(false), func(c *Config) *time.Duration { return &c.SpoolRetention }).Default("0s").
			Doc(`Keep emitted webhooks in the spool this long (e.g. "168h"), so a run with an empty state replays them into a new warehouse; "0s" deletes them at the start after the --state that covers them.`),
		config.Field("spool_retention_bytes", config.AtLeast[int64](0), func(c *Config) *int64 { return &c.SpoolRetentionBytes }).Default(0).
			Doc("When > 0, emitted webhooks kept for spool_retention take at most about this many bytes: the oldest are deleted first. Needs spool_retention; required with spool_retention and spool_max_bytes, and must leave the minimum of spool_max_bytes free."),
		config.Field("spool", config.String.Check(checkSpool), func(c *Config) *string { return &c.Spool }).Default(SpoolDisk).
			Doc(`Where acknowledged webhooks are kept: "disk" (spool_dir) or "kafka" (a Kafka topic, the kafka_* settings; README "Past one machine").`),
		config.Field("kafka_brokers", config.Strings, func(c *Config) *[]string { return &c.Kafka.Brokers }).
			Doc(`Seed brokers ("host:9092") of the Kafka cluster; required with spool "kafka".`),
		config.Field("kafka_topic", config.NonEmpty, func(c *Config) *string { return &c.Kafka.Topic }).Default(kafkaspool.DefaultTopic).
			Doc("The Kafka topic: one record per webhook (value: the raw body; headers: receive time and token id)."),
		config.Field("kafka_produce_timeout", config.Duration(true), func(c *Config) *time.Duration { return &c.Kafka.ProduceTimeout }).
			Default(kafkaspool.DefaultProduceTimeout.String()).
			Doc("A webhook the cluster has not acknowledged (acks=all) within this gets 503 with Retry-After; under the 4 s Customer.io waits."),
		config.Field("kafka_tls", config.Bool, func(c *Config) *bool { return &c.Kafka.TLS }).Default(false).
			Doc("TLS to the Kafka brokers."),
		config.Field("kafka_ca_file", config.String, func(c *Config) *string { return &c.Kafka.CAFile }).
			Doc("PEM file of the certificate authorities to trust for the brokers instead of the system's. Needs kafka_tls."),
		config.Field("kafka_sasl_mechanism", config.String, func(c *Config) *string { return &c.Kafka.SASLMechanism }).
			Doc("SASL authentication to the brokers: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512; empty: none."),
		config.Field("kafka_sasl_username", config.String, func(c *Config) *string { return &c.Kafka.SASLUsername }).
			Doc("SASL user name. Needs kafka_sasl_mechanism."),
		config.Field("kafka_sasl_password", config.String, func(c *Config) *string { return &c.Kafka.SASLPassword }).Secret().
			Doc("SASL password. Needs kafka_sasl_mechanism."),
		config.Field("kafka_partitions", partitions, func(c *Config) *[]int32 { return &c.Kafka.Partitions }).
			Doc("The partitions this process emits, as a loader or in one-process mode (several split a topic, e.g. [0, 1] and [2, 3]); empty: all."),
		config.Field("kafka_allow_unsafe_topic", config.Bool, func(c *Config) *bool { return &c.Kafka.AllowUnsafeTopic }).Default(false).
			Doc("At start the tap refuses a topic with replication factor below 3 or min.insync.replicas below 2; true makes that a warning (development, one broker)."),
		config.Field("max_body_bytes", config.AtLeast[int64](1), func(c *Config) *int64 { return &c.MaxBodyBytes }).Default(8 << 20).
			Doc("Larger webhook bodies get 413. At most 268435456 (256 MiB, what the spool stores in one record)."),
		config.Field("max_inflight_bytes", config.AtLeast[int64](1), func(c *Config) *int64 { return &c.MaxInflightBytes }).Default(64 << 20).
			Doc("Memory budget for all webhook bodies being received at once; past it webhooks get 503 with Retry-After (Customer.io retries). At least max_body_bytes."),
		config.Field("state_interval", config.Duration(true), func(c *Config) *time.Duration { return &c.StateInterval }).Default("1s").
			Doc("How often, at most, a STATE message is written while records flow."),
		config.Field("exit_after_idle", config.Duration(false), func(c *Config) *time.Duration { return &c.ExitAfterIdle }).Default("0s").
			Doc(`When > 0, exit cleanly (final STATE, exit 0) after this long with nothing new to emit; "0s" runs until SIGTERM.`),
		config.Field("app_api_key", config.String, func(c *Config) *string { return &c.AppAPI.Key }).Secret().
			Doc("Customer.io App API key (Settings > API Credentials > App API Keys). When set, runs also emit the streams deliveries, campaigns, broadcasts, newsletters and transactional_messages read from the App API."),
		config.Field("app_api_region", region, func(c *Config) *string { return &c.AppAPI.Region }).Default("us").
			Doc("Region of the Customer.io account: us (api.customer.io) or eu (api-eu.customer.io)."),
		config.Field("app_api_url", config.String.Check(checkAppAPIURL), func(c *Config) *string { return &c.AppAPI.URL }).
			Doc("Base URL of the App API (e.g. https://proxy.example.com/v1); overrides app_api_region. For proxies and tests."),
		config.Field("app_api_start_date", startDate, func(c *Config) *time.Time { return &c.AppAPI.StartDate }).
			Doc(`Where the first run reads deliveries from: an RFC 3339 date-time or a date ("2025-01-31"); empty: the 180 days the API keeps by default.`),
		config.Field("app_api_lookback", config.Duration(true), func(c *Config) *time.Duration { return &c.AppAPI.Lookback }).Default("168h").
			Doc("Each run reads deliveries again from this long before its bookmark, because their metrics (opened, clicked, ...) keep arriving for days."),
		config.Field("app_api_interval", config.Duration(true), func(c *Config) *time.Duration { return &c.AppAPI.Interval }).Default("1h").
			Doc("How often a run that keeps running reads the App API streams again."),
		config.Field("log_level", config.LogLevel, func(c *Config) *zerolog.Level { return &c.LogLevel }).Default("info").
			Doc(config.LogLevelDoc),
	}, Check: checkConfig}
}

// Settings describes every config key, for --about.
func Settings() []about.Setting { return configTable().About() }

// ConfigError is one bad setting, naming its key; LoadConfig returns them
// all at once (a config.Errors). The program exits 2 without starting.
type ConfigError = config.Error

// LoadConfig decodes a JSON config file over the defaults, then applies
// TAP_CUSTOMERIO_WEBHOOK_<KEY> environment variables, which win over the
// file (getenv is os.Getenv outside tests; an empty variable, like a JSON
// null, leaves the key unset). Unknown keys, a key set twice and anything
// after the JSON object are errors: a misspelt or repeated signing_keys
// must not silently turn signature checks off. So are limits that
// contradict each other (see contradictions). Every key's own problem is
// reported at once, each a *ConfigError naming its key; contradictions
// between keys once every key is valid on its own (they are judged on the
// decoded values).
func LoadConfig(r io.Reader, getenv func(string) string) (Config, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return Config{}, config.Errors{{Key: "config", Err: err}}
	}
	vals, errs := config.Read(data)
	if vals == nil {
		return Config{}, errs
	}
	table := configTable()
	vals.ApplyEnv(EnvPrefix, table.About(), func(k string) (string, bool) { v := getenv(k); return v, v != "" })
	for _, k := range vals.Unknown(table.About()) {
		errs = append(errs, &ConfigError{Key: k, Err: errUnknownKey})
	}
	var cfg Config
	errs = append(errs, table.Decode(&cfg, vals)...)
	if err := errs.Err(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

var errUnknownKey = errors.New("unknown key (see --about for the settings)")

// checkConfig is the table's Check: the contradictions between settings
// that each decoded.
func checkConfig(c *Config, v config.Values) config.Errors {
	errs := contradictions(*c)
	var keys []string
	for _, s := range Settings() {
		keys = append(keys, s.Name)
	}
	for _, err := range spoolContradictions(*c, v) { // their messages start with the key
		errs = append(errs, config.Named(err, keys))
	}
	return errs
}

// contradictions returns an error, naming the key to change, for each
// pair of settings that cannot both hold: each would start a tap that
// answers 503 for ever, or whose setting does nothing it seems to.
func contradictions(c Config) config.Errors {
	var errs config.Errors
	bad := func(key, format string, args ...any) {
		errs = append(errs, config.Errorf(key, format, args...))
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
// is not "kafka") and Kafka settings kafkaspool cannot work with; given
// says which keys the file or the environment set.
func spoolContradictions(c Config, given config.Values) []error {
	if c.Spool != SpoolKafka {
		var errs []error
		for _, s := range Settings() {
			if strings.HasPrefix(s.Name, "kafka_") && given.Has(s.Name) {
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
		return Config{}, config.Errors{{Key: "config", Err: err}}
	}
	defer f.Close()
	return LoadConfig(f, os.Getenv)
}

func checkListen(addr string) error {
	if _, _, err := net.SplitHostPort(addr); addr != "" && err != nil {
		return fmt.Errorf("%q is not host:port (e.g. 127.0.0.1:8080, :8080)", addr)
	}
	return nil
}

// checkTokenList checks the form of each token; an empty list is for
// checkTokens to judge at start, as the token file may hold tokens. Its
// messages name entries as webhook_tokens[i] and never quote a token.
func checkTokenList(tokens []string) error {
	if len(tokens) == 0 {
		return nil
	}
	_, err := auth.ParseTokens(tokens)
	return err
}

func noEmptyEntry(list []string) error {
	for i, k := range list {
		if k == "" {
			return fmt.Errorf("entry %d is empty", i)
		}
	}
	return nil
}

func checkSpool(s string) error {
	if s != SpoolDisk && s != SpoolKafka {
		return fmt.Errorf("%q is neither %q nor %q", s, SpoolDisk, SpoolKafka)
	}
	return nil
}

func checkAppAPIURL(u string) error {
	if _, err := appapi.BaseURL("", u); err != nil {
		return errors.New("is not an http(s) URL") // never quote it: it may hold credentials
	}
	return nil
}

// region takes us or eu, in any case.
var region = config.Parser[string]{Type: "string", Parse: func(raw json.RawMessage) (string, error) {
	s, err := config.String.Parse(raw)
	if err != nil {
		return "", err
	}
	if s = strings.ToLower(strings.TrimSpace(s)); s != "us" && s != "eu" {
		return "", fmt.Errorf("%q is neither us nor eu", s)
	}
	return s, nil
}}

// startDate takes an RFC 3339 date-time or a date (midnight UTC), not in
// the future; "" is the zero time.
var startDate = config.Parser[time.Time]{Type: "string", Parse: func(raw json.RawMessage) (time.Time, error) {
	s, err := config.String.Parse(raw)
	if s = strings.TrimSpace(s); err != nil || s == "" {
		return time.Time{}, err
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		if t, err = time.Parse(time.DateOnly, s); err != nil {
			return time.Time{}, fmt.Errorf(`%q is neither an RFC 3339 date-time ("2025-01-31T00:00:00Z") nor a date ("2025-01-31")`, s)
		}
	}
	if t.After(time.Now()) {
		return time.Time{}, fmt.Errorf("%q is in the future", s)
	}
	return t, nil
}}

// partitions takes a list of partition numbers, as numbers or strings (a
// comma-separated environment value gives strings); empty is all.
var partitions = config.Parser[[]int32]{Type: "array", Parse: func(raw json.RawMessage) ([]int32, error) {
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, errors.New("must be a list of partition numbers")
	}
	var out []int32
	for _, it := range items {
		n, err := config.AtLeast[int32](0).Parse(it)
		if err != nil {
			return nil, fmt.Errorf("%s is not a partition number", it)
		}
		out = append(out, n)
	}
	return out, nil
}}
