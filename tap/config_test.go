package tap

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/cio-singer/tap-customerio-webhook/internal/about"
	"github.com/cio-singer/tap-customerio-webhook/tap/spool"
)

const testToken = "test-token-0123456789abcdef0123456789"

func noEnv(string) string { return "" }

func TestLoadConfigDefaults(t *testing.T) {
	t.Parallel()
	cfg, err := LoadConfig(strings.NewReader(`{"webhook_tokens":["`+testToken+`"]}`), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	want := Config{Listen: "127.0.0.1:8080", WebhookTokens: []string{testToken}, SpoolDir: "./spool",
		MaxBodyBytes: 8 << 20, StateInterval: time.Second, LogLevel: zerolog.InfoLevel}
	if cfg.Listen != want.Listen || cfg.SpoolDir != want.SpoolDir || cfg.MaxBodyBytes != want.MaxBodyBytes ||
		cfg.StateInterval != want.StateInterval || cfg.LogLevel != want.LogLevel || cfg.ExitAfterIdle != 0 ||
		cfg.SignatureMaxAge != 0 || len(cfg.SigningKeys) != 0 || cfg.MaxInflightBytes != 64<<20 {
		t.Fatalf("defaults = %+v", cfg)
	}
}

func TestLoadConfigErrorsNameTheKey(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		config  string
		wantKey string
	}{
		{"misspelt signing key", `{"webhook_tokens":["` + testToken + `"],"signing_key":["k"]}`, "signing_key: unknown key"},
		{"short token", `{"webhook_tokens":["short"]}`, "webhook_tokens[0]: token has 5 characters"},
		{"bad duration", `{"webhook_tokens":["` + testToken + `"],"signature_max_age":"soon"}`, "signature_max_age:"},
		{"negative duration", `{"webhook_tokens":["` + testToken + `"],"exit_after_idle":"-1s"}`, "exit_after_idle:"},
		{"zero state interval", `{"webhook_tokens":["` + testToken + `"],"state_interval":"0s"}`, "state_interval:"},
		{"body size not a number", `{"webhook_tokens":["` + testToken + `"],"max_body_bytes":"big"}`, "max_body_bytes:"},
		{"bad log level", `{"webhook_tokens":["` + testToken + `"],"log_level":"loud"}`, "log_level:"},
		{"empty spool dir", `{"webhook_tokens":["` + testToken + `"],"spool_dir":""}`, "spool_dir:"},
		{"not an object", `[1]`, "config:"},
		{"empty file", ``, "config: not a JSON object"},
		{"signing keys set twice", `{"webhook_tokens":["` + testToken + `"],"signing_keys":["k"],"signing_keys":[]}`,
			"signing_keys: set more than once in the config file"},
		{"second object", `{"webhook_tokens":["` + testToken + `"]} {"signing_keys":[]}`, "config: trailing data after the JSON object at byte 61"},
		{"trailing text", `{"webhook_tokens":["` + testToken + `"]} x`, "config: trailing data after the JSON object"},
		{"listen not host:port", `{"webhook_tokens":["` + testToken + `"],"listen":"8080"}`, `listen: "8080" is not host:port`},
		{"negative spool limit", `{"webhook_tokens":["` + testToken + `"],"spool_max_bytes":-1}`, "spool_max_bytes: must be at least 0"},
		{"zero inflight budget", `{"webhook_tokens":["` + testToken + `"],"max_inflight_bytes":0}`, "max_inflight_bytes: must be at least 1"},
		{"body beyond a spool record", `{"webhook_tokens":["` + testToken + `"],"max_body_bytes":268435457,"max_inflight_bytes":1000000000}`,
			"max_body_bytes: 268435457 is more than the spool stores in one record (268435456 bytes)"},
		{"inflight below a body", `{"webhook_tokens":["` + testToken + `"],"max_inflight_bytes":1048576}`,
			"max_inflight_bytes: 1048576 is less than max_body_bytes (8388608)"},
		{"spool limit below a segment", `{"webhook_tokens":["` + testToken + `"],"spool_max_bytes":10485760}`,
			"spool_max_bytes: 10485760 is less than 83886688, the least with which the spool keeps accepting webhooks"},
		{"retention bytes without retention", `{"webhook_tokens":["` + testToken + `"],"spool_retention_bytes":1000}`,
			"spool_retention_bytes: has no effect without spool_retention"},
		{"retention unbounded under a spool limit", `{"webhook_tokens":["` + testToken + `"],"spool_retention":"24h","spool_max_bytes":1000000000}`,
			"spool_retention_bytes: must be set when spool_retention and spool_max_bytes are"},
		{"retention fills the spool limit", `{"webhook_tokens":["` + testToken + `"],"spool_retention":"24h","spool_max_bytes":1000000000,"spool_retention_bytes":1000000000}`,
			"spool_retention_bytes: 1000000000 leaves less than 83886688 bytes of spool_max_bytes (1000000000) for new webhooks"},
		{"signature age without keys", `{"webhook_tokens":["` + testToken + `"],"signature_max_age":"5m"}`,
			"signature_max_age: has no effect without signing_keys"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := LoadConfig(strings.NewReader(tc.config), noEnv)
			var ce *ConfigError
			if !errors.As(err, &ce) || !strings.Contains(err.Error(), tc.wantKey) {
				t.Fatalf("error = %v, want a ConfigError naming %q", err, tc.wantKey)
			}
		})
	}
}

func TestLoadConfigNeverPrintsSecrets(t *testing.T) {
	t.Parallel()
	secret := "s3cret-but-too-short"
	_, err := LoadConfig(strings.NewReader(`{"webhook_tokens":["`+testToken+`","`+secret+`"],"signing_keys":[""]}`), noEnv)
	if err == nil || strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), testToken) {
		t.Fatalf("error %q leaks a token (or is nil)", err)
	}
}

func TestLoadConfigEnvironmentWins(t *testing.T) {
	t.Parallel()
	env := map[string]string{
		"TAP_CUSTOMERIO_WEBHOOK_LISTEN":             "0.0.0.0:9999",
		"TAP_CUSTOMERIO_WEBHOOK_WEBHOOK_TOKENS":     `["` + testToken + `","sha256:` + strings.Repeat("ab", 32) + `"]`,
		"TAP_CUSTOMERIO_WEBHOOK_SIGNING_KEYS":       "k1, k2",
		"TAP_CUSTOMERIO_WEBHOOK_MAX_BODY_BYTES":     "1024",
		"TAP_CUSTOMERIO_WEBHOOK_EXIT_AFTER_IDLE":    "2s",
		"TAP_CUSTOMERIO_WEBHOOK_MAX_INFLIGHT_BYTES": "4096",
	}
	cfg, err := LoadConfig(strings.NewReader(`{"listen":"127.0.0.1:1","webhook_tokens":["`+testToken+`"]}`), func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Listen != "0.0.0.0:9999" || len(cfg.WebhookTokens) != 2 || strings.Join(cfg.SigningKeys, "|") != "k1|k2" ||
		cfg.MaxBodyBytes != 1024 || cfg.ExitAfterIdle != 2*time.Second || cfg.MaxInflightBytes != 4096 {
		t.Fatalf("env not applied: %+v", cfg)
	}
	env["TAP_CUSTOMERIO_WEBHOOK_MAX_INFLIGHT_BYTES"] = "512"
	if _, err := LoadConfig(strings.NewReader(`{"webhook_tokens":["`+testToken+`"]}`), func(k string) string { return env[k] }); err == nil ||
		!strings.Contains(err.Error(), "max_inflight_bytes: 512 is less than max_body_bytes (1024)") {
		t.Fatalf("contradiction set through the environment: %v", err)
	}
	env["TAP_CUSTOMERIO_WEBHOOK_MAX_BODY_BYTES"] = "lots"
	if _, err := LoadConfig(strings.NewReader(`{"webhook_tokens":["`+testToken+`"]}`), func(k string) string { return env[k] }); err == nil ||
		!strings.Contains(err.Error(), "max_body_bytes") {
		t.Fatalf("bad env value: %v", err)
	}
}

// TestLoadConfigNullIsUnset: null, in the file or the environment, leaves
// a setting at its default, as for the targets.
func TestLoadConfigNullIsUnset(t *testing.T) {
	t.Parallel()
	env := map[string]string{EnvPrefix + "MAX_BODY_BYTES": "null", EnvPrefix + "STATE_INTERVAL": ""}
	cfg, err := LoadConfig(strings.NewReader(`{"webhook_tokens":["`+testToken+`"],"spool_dir":null,"max_body_bytes":null,"log_level":null}`),
		func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if cfg.SpoolDir != "./spool" || cfg.MaxBodyBytes != 8<<20 || cfg.StateInterval != time.Second || cfg.LogLevel != zerolog.InfoLevel {
		t.Fatalf("nulls not unset: %+v", cfg)
	}
	if EnvPrefix != about.EnvPrefix(Name) {
		t.Fatalf("EnvPrefix %q, about.EnvPrefix(Name) %q", EnvPrefix, about.EnvPrefix(Name))
	}
}

// TestLoadConfigLimitsAtTheirBounds: settings exactly at the bounds the
// contradiction checks draw are accepted.
func TestLoadConfigLimitsAtTheirBounds(t *testing.T) {
	t.Parallel()
	minSpool := spool.MinMaxBytes(0, 8<<20)
	for _, config := range []string{
		fmt.Sprintf(`{"spool_max_bytes":%d}`, minSpool),
		fmt.Sprintf(`{"spool_max_bytes":%d,"spool_retention":"1h","spool_retention_bytes":1000000}`, minSpool+1000000),
		`{"max_body_bytes":268435456,"max_inflight_bytes":268435456}`,
		`{"max_body_bytes":1024,"max_inflight_bytes":1024,"spool_max_bytes":` + fmt.Sprint(spool.MinMaxBytes(0, 1024)) + `}`,
		`{"signing_keys":["k"],"signature_max_age":"5m"}`,
		`{"listen":":8080"}`,
		`{"listen":""}`,
		`null`,
	} {
		if _, err := LoadConfig(strings.NewReader(config), noEnv); err != nil {
			t.Errorf("%s: %v", config, err)
		}
	}
}

// TestLoadConfigReportsEveryProblem: a key set twice does not hide the
// other problems, and the value of a key set twice is never quoted.
func TestLoadConfigReportsEveryProblem(t *testing.T) {
	t.Parallel()
	_, err := LoadConfig(strings.NewReader(`{"signing_keys":["`+testToken+`"],"signing_keys":["`+testToken+`"],"log_level":"loud","x":1}`), noEnv)
	if err == nil {
		t.Fatal("accepted")
	}
	for _, want := range []string{"signing_keys: set more than once", "log_level:", "x: unknown key"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if strings.Contains(err.Error(), testToken) {
		t.Errorf("error %q quotes a signing key", err)
	}
}

// TestExampleConfigLoads keeps the committed example (used by make run)
// valid.
func TestExampleConfigLoads(t *testing.T) {
	t.Parallel()
	cfg, err := LoadConfigFile(filepath.Join("..", "config.example.json"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Listen != "127.0.0.1:8080" {
		t.Errorf("example listens on %s, README says 127.0.0.1:8080", cfg.Listen)
	}
}

// TestReadmeSettingsTable keeps the README's settings table what --about
// --format markdown prints.
func TestReadmeSettingsTable(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	md := Info().Markdown()
	table := md[strings.Index(md, "| Setting |"):strings.Index(md, "\nEvery setting")]
	if !strings.Contains(string(readme), table) {
		t.Fatalf("README.md lacks the current settings table; paste the output of `tap-customerio-webhook --about --format markdown`:\n%s", table)
	}
}

func TestLoadConfigAppAPI(t *testing.T) {
	t.Parallel()
	base := `{"webhook_tokens":["` + testToken + `"]`
	cfg, err := LoadConfig(strings.NewReader(base+`}`), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if a := cfg.AppAPI; a.Key != "" || a.Region != "us" || a.URL != "" || !a.StartDate.IsZero() || a.Lookback != 168*time.Hour || a.Interval != time.Hour {
		t.Fatalf("defaults = %+v", a)
	}
	cfg, err = LoadConfig(strings.NewReader(base+`,"app_api_key":"k","app_api_region":"EU","app_api_url":"http://127.0.0.1:9/v1",
		"app_api_start_date":"2025-01-31","app_api_lookback":"48h","app_api_interval":"15m"}`), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	want := AppAPIConfig{Key: "k", Region: "eu", URL: "http://127.0.0.1:9/v1", StartDate: time.Date(2025, 1, 31, 0, 0, 0, 0, time.UTC),
		Lookback: 48 * time.Hour, Interval: 15 * time.Minute}
	if cfg.AppAPI != want {
		t.Fatalf("got %+v, want %+v", cfg.AppAPI, want)
	}
	cfg, err = LoadConfig(strings.NewReader(base+`,"app_api_key":"k","app_api_start_date":"2025-01-31T12:00:00+02:00"}`), noEnv)
	if err != nil || cfg.AppAPI.StartDate.Unix() != time.Date(2025, 1, 31, 10, 0, 0, 0, time.UTC).Unix() {
		t.Fatalf("date-time start: %v %v", cfg.AppAPI.StartDate, err)
	}

	const secret = "sk-very-secret-app-api-key"
	for _, tc := range []struct{ config, wantKey string }{
		{`,"app_api_key":"` + secret + `","app_api_region":"asia"}`, `app_api_region: "asia" is neither us nor eu`},
		{`,"app_api_key":"` + secret + `","app_api_url":"ftp://x"}`, "app_api_url: is not an http(s) URL"},
		{`,"app_api_key":"` + secret + `","app_api_start_date":"last week"}`, "app_api_start_date: \"last week\" is neither an RFC 3339"},
		{`,"app_api_key":"` + secret + `","app_api_start_date":"2999-01-01"}`, "app_api_start_date: \"2999-01-01\" is in the future"},
		{`,"app_api_key":"` + secret + `","app_api_lookback":"0s"}`, "app_api_lookback: must be positive"},
		{`,"app_api_key":"` + secret + `","app_api_interval":"often"}`, "app_api_interval:"},
		{`,"app_api_key":7}`, "app_api_key: must be a string"},
		{`,"app_api_url":"http://127.0.0.1:9/v1"}`, "app_api_url: has no effect without app_api_key"},
		{`,"app_api_start_date":"2025-01-31"}`, "app_api_start_date: has no effect without app_api_key"},
	} {
		_, err := LoadConfig(strings.NewReader(base+tc.config), noEnv)
		var ce *ConfigError
		if !errors.As(err, &ce) || !strings.Contains(err.Error(), tc.wantKey) {
			t.Errorf("%s: error = %v, want a ConfigError naming %q", tc.config, err, tc.wantKey)
		}
		if err != nil && strings.Contains(err.Error(), secret) {
			t.Errorf("%s: error leaks the key", tc.config)
		}
	}
	env := map[string]string{EnvPrefix + "APP_API_KEY": secret, EnvPrefix + "APP_API_REGION": "eu"}
	cfg, err = LoadConfig(strings.NewReader(base+`}`), func(k string) string { return env[k] })
	if err != nil || cfg.AppAPI.Key != secret || cfg.AppAPI.Region != "eu" {
		t.Fatalf("from the environment: %+v %v", cfg.AppAPI, err)
	}
}
