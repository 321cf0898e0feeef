package tap

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

const testToken = "test-token-0123456789abcdef0123456789"

func noEnv(string) string { return "" }

func TestLoadConfigDefaults(t *testing.T) {
	cfg, err := LoadConfig(strings.NewReader(`{"webhook_tokens":["`+testToken+`"]}`), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	want := Config{Listen: "127.0.0.1:8080", WebhookTokens: []string{testToken}, SpoolDir: "./spool",
		MaxBodyBytes: 8 << 20, StateInterval: time.Second, LogLevel: zerolog.InfoLevel}
	if cfg.Listen != want.Listen || cfg.SpoolDir != want.SpoolDir || cfg.MaxBodyBytes != want.MaxBodyBytes ||
		cfg.StateInterval != want.StateInterval || cfg.LogLevel != want.LogLevel || cfg.ExitAfterIdle != 0 ||
		cfg.SignatureMaxAge != 0 || len(cfg.SigningKeys) != 0 {
		t.Fatalf("defaults = %+v", cfg)
	}
}

func TestLoadConfigErrorsNameTheKey(t *testing.T) {
	tests := []struct {
		name    string
		config  string
		wantKey string
	}{
		{"misspelt signing key", `{"webhook_tokens":["` + testToken + `"],"signing_key":["k"]}`, "signing_key: unknown key"},
		{"short token", `{"webhook_tokens":["short"]}`, "webhook_tokens:"},
		{"bad duration", `{"webhook_tokens":["` + testToken + `"],"signature_max_age":"soon"}`, "signature_max_age:"},
		{"negative duration", `{"webhook_tokens":["` + testToken + `"],"exit_after_idle":"-1s"}`, "exit_after_idle:"},
		{"zero state interval", `{"webhook_tokens":["` + testToken + `"],"state_interval":"0s"}`, "state_interval:"},
		{"body size not a number", `{"webhook_tokens":["` + testToken + `"],"max_body_bytes":"big"}`, "max_body_bytes:"},
		{"bad log level", `{"webhook_tokens":["` + testToken + `"],"log_level":"loud"}`, "log_level:"},
		{"empty spool dir", `{"webhook_tokens":["` + testToken + `"],"spool_dir":""}`, "spool_dir:"},
		{"not an object", `[1]`, "config:"},
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
	secret := "s3cret-but-too-short"
	_, err := LoadConfig(strings.NewReader(`{"webhook_tokens":["`+testToken+`","`+secret+`"],"signing_keys":[""]}`), noEnv)
	if err == nil || strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), testToken) {
		t.Fatalf("error %q leaks a token (or is nil)", err)
	}
}

func TestLoadConfigEnvironmentWins(t *testing.T) {
	env := map[string]string{
		"TAP_CUSTOMERIO_WEBHOOK_LISTEN":          "0.0.0.0:9999",
		"TAP_CUSTOMERIO_WEBHOOK_WEBHOOK_TOKENS":  `["` + testToken + `","sha256:` + strings.Repeat("ab", 32) + `"]`,
		"TAP_CUSTOMERIO_WEBHOOK_SIGNING_KEYS":    "k1, k2",
		"TAP_CUSTOMERIO_WEBHOOK_MAX_BODY_BYTES":  "1024",
		"TAP_CUSTOMERIO_WEBHOOK_EXIT_AFTER_IDLE": "2s",
	}
	cfg, err := LoadConfig(strings.NewReader(`{"listen":"127.0.0.1:1","webhook_tokens":["`+testToken+`"]}`), func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Listen != "0.0.0.0:9999" || len(cfg.WebhookTokens) != 2 || strings.Join(cfg.SigningKeys, "|") != "k1|k2" ||
		cfg.MaxBodyBytes != 1024 || cfg.ExitAfterIdle != 2*time.Second {
		t.Fatalf("env not applied: %+v", cfg)
	}
	env["TAP_CUSTOMERIO_WEBHOOK_MAX_BODY_BYTES"] = "lots"
	if _, err := LoadConfig(strings.NewReader(`{"webhook_tokens":["`+testToken+`"]}`), func(k string) string { return env[k] }); err == nil ||
		!strings.Contains(err.Error(), "max_body_bytes") {
		t.Fatalf("bad env value: %v", err)
	}
}

// TestExampleConfigLoads keeps the committed example (used by make run)
// valid.
func TestExampleConfigLoads(t *testing.T) {
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
