package cli

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const testToken = "test-token-0123456789abcdef0123456789"

func TestMainExitCodes(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	good := filepath.Join(dir, "good.json")
	os.WriteFile(good, []byte(`{"listen":"127.0.0.1:0","exit_after_idle":"1s","webhook_tokens":["`+testToken+`"],"spool_dir":"`+filepath.Join(dir, "spool")+`"}`), 0o600)
	notJSON := filepath.Join(dir, "not.json")
	os.WriteFile(notJSON, []byte("{oops"), 0o600)
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte(`{"webhook_tokens":["`+testToken+`"],"signing_key":"x"}`), 0o600)
	twice := filepath.Join(dir, "twice.json")
	os.WriteFile(twice, []byte(`{"webhook_tokens":["`+testToken+`"],"signing_keys":["k"],"signing_keys":[]}`), 0o600)
	contradicting := filepath.Join(dir, "contradicting.json")
	os.WriteFile(contradicting, []byte(`{"webhook_tokens":["`+testToken+`"],"max_inflight_bytes":1000}`), 0o600)
	tests := []struct {
		name     string
		args     []string
		code     int
		stdout   string
		stderr   string
		jsonLine bool
	}{
		{"version", []string{"--version"}, 0, "tap-customerio-webhook", "", false},
		{"about json", []string{"--about", "--format", "json"}, 0, `"capabilities"`, "", false},
		{"about markdown", []string{"--about", "--format=markdown"}, 0, "| `webhook_tokens` |", "", false},
		{"about bad format", []string{"--about", "--format", "xml"}, 2, "", "--format", false},
		{"no config", []string{}, 2, "", "--config is required", false},
		{"unknown key", []string{"--config", bad}, 2, "", "signing_key: unknown key", false},
		{"key set twice", []string{"--config", twice}, 2, "", "signing_keys: set more than once", false},
		{"serve: key set twice", []string{"serve", "--config", twice}, 2, "", "signing_keys: set more than once", false},
		{"token: contradiction", []string{"token", "list", "--config", contradicting}, 2, "", "max_inflight_bytes: 1000 is less than max_body_bytes", false},
		{"missing file", []string{"--config", filepath.Join(dir, "nope.json")}, 2, "", "no such file", false},
		{"unknown flag", []string{"--bogus"}, 2, "", "bogus", false},
		{"help", []string{"--help"}, 0, "", "-discover", false},
		{"serve: help", []string{"serve", "-h"}, 0, "", "-config", false},
		{"status: help", []string{"status", "--help"}, 0, "", "-metrics-url", false},
		{"token: help", []string{"token", "new", "--help"}, 0, "", "-public-url", false},
		{"discover", []string{"--config", good, "--discover"}, 0, `"tap_stream_id": "rejected"`, "", false},
		{"bad state", []string{"--config", good, "--state", notJSON}, 2, "", "--state", false},
		{"bad catalog", []string{"--config", good, "--catalog", notJSON}, 2, "", "--catalog", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := Main(context.Background(), tc.args, &out, &errOut)
			if code != tc.code || !strings.Contains(out.String(), tc.stdout) || !strings.Contains(errOut.String(), tc.stderr) {
				t.Fatalf("code %d stdout %q stderr %q; want %d, %q, %q", code, out.String(), errOut.String(), tc.code, tc.stdout, tc.stderr)
			}
		})
	}
}

// TestMainDiscoverIsTheCatalog: --discover output parses as a catalog the
// tap accepts back with --catalog.
func TestMainDiscoverIsTheCatalog(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "c.json")
	os.WriteFile(cfgPath, []byte(`{"webhook_tokens":["`+testToken+`"],"listen":"","exit_after_idle":"10ms","spool_dir":"`+filepath.Join(dir, "spool")+`"}`), 0o600)
	var out, errOut bytes.Buffer
	if code := Main(context.Background(), []string{"--config", cfgPath, "--discover"}, &out, &errOut); code != 0 {
		t.Fatalf("discover: %d %s", code, errOut.String())
	}
	catPath := filepath.Join(dir, "catalog.json")
	os.WriteFile(catPath, out.Bytes(), 0o600)
	out.Reset()
	if code := Main(context.Background(), []string{"--config", cfgPath, "--properties", catPath}, &out, &errOut); code != 0 {
		t.Fatalf("sync with catalog: %d %s", code, errOut.String())
	}
	sc := bufio.NewScanner(&out)
	for sc.Scan() {
		if !strings.HasPrefix(sc.Text(), `{"type":"STATE"`) {
			t.Fatalf("unexpected line %s", sc.Text())
		}
	}
}

// TestMainDiscoverWithAppAPIKey: --discover lists the App API streams only
// when app_api_key is set; a --state of either format is read back.
func TestMainDiscoverWithAppAPIKey(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, tc := range []struct {
		key  string
		want bool
	}{{"", false}, {"k", true}} {
		cfg := filepath.Join(dir, "c.json")
		os.WriteFile(cfg, []byte(`{"webhook_tokens":["`+testToken+`"],"app_api_key":"`+tc.key+`","spool_dir":"`+filepath.Join(dir, "spool")+`"}`), 0o600)
		var out, errOut bytes.Buffer
		if code := Main(context.Background(), []string{"--config", cfg, "--discover"}, &out, &errOut); code != 0 {
			t.Fatalf("discover: %d %s", code, errOut.String())
		}
		if got := strings.Contains(out.String(), `"tap_stream_id": "deliveries"`); got != tc.want {
			t.Errorf("key %q: deliveries in the catalog = %v, want %v", tc.key, got, tc.want)
		}
	}
}

// TestMainRefusesKafkaContradictions: kafka_* keys without spool "kafka",
// and a one-process run without a token, exit 2 naming the key before
// contacting any cluster.
func TestMainRefusesKafkaContradictions(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, tc := range []struct{ name, config, want string }{
		{"one process without token", `{"listen":"127.0.0.1:0","spool":"kafka","kafka_brokers":["127.0.0.1:1"]}`,
			`webhook_tokens`},
		{"kafka key on disk", `{"listen":"","kafka_brokers":["127.0.0.1:1"]}`, `kafka_brokers: has no effect without spool "kafka"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-")+".json")
			if err := os.WriteFile(path, []byte(tc.config), 0o600); err != nil {
				t.Fatal(err)
			}
			var out, errOut bytes.Buffer
			if code := Main(context.Background(), []string{"--config", path}, &out, &errOut); code != exitUsage ||
				!strings.Contains(errOut.String(), tc.want) || out.Len() != 0 {
				t.Fatalf("exit %d stdout %q stderr %q; want 2 and %q", code, out.String(), errOut.String(), tc.want)
			}
		})
	}
}
