// Package deploy_test checks the fleet-mode deployment examples (deploy/kafka
// and deploy/compose): their tap configs load with the tap's own config
// loader, the target config names only settings target-postgres has, the
// files agree with each other, and the systemd units pass systemd-analyze.
// (The disk-mode files are checked by tap/deploy_test.go.)
package deploy_test

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/cio-singer/tap-customerio-webhook/tap"
	"github.com/cio-singer/tap-customerio-webhook/target"
	"github.com/cio-singer/tap-customerio-webhook/target/pgload"
)

// loadTapConfig loads path with the tap's config loader, the environment
// giving only env.
func loadTapConfig(t *testing.T, path string, env map[string]string) tap.Config {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cfg, err := tap.LoadConfig(f, func(k string) string { return env[k] })
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return cfg
}

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestKafkaConfigs: every receiver config is a `serve` on Kafka, every
// loader config a Singer run with "listen": "", on the same topic; the
// SASL password comes from the environment the systemd units read.
func TestKafkaConfigs(t *testing.T) {
	t.Parallel()
	env := map[string]string{"TAP_CUSTOMERIO_WEBHOOK_KAFKA_SASL_PASSWORD": "from-the-environment"}
	for _, c := range []struct {
		path   string
		listen bool
		parts  []int32
		env    map[string]string
	}{
		{"kafka/serve.json", true, nil, env},
		{"kafka/load.json", false, []int32{0, 1, 2}, env},
		{"compose/serve.json", true, nil, nil},
		{"compose/load.json", false, nil, nil},
	} {
		cfg := loadTapConfig(t, c.path, c.env)
		if cfg.Spool != tap.SpoolKafka {
			t.Errorf("%s: spool %q, want kafka", c.path, cfg.Spool)
		}
		if (cfg.Listen != "") != c.listen {
			t.Errorf("%s: listen %q", c.path, cfg.Listen)
		}
		if len(cfg.Kafka.Brokers) != 3 || cfg.Kafka.Topic != "customerio-webhooks" {
			t.Errorf("%s: brokers %v, topic %q; want 3 brokers and customerio-webhooks", c.path, cfg.Kafka.Brokers, cfg.Kafka.Topic)
		}
		if !slices.Equal(cfg.Kafka.Partitions, c.parts) {
			t.Errorf("%s: kafka_partitions %v, want %v", c.path, cfg.Kafka.Partitions, c.parts)
		}
		if cfg.Kafka.AllowUnsafeTopic {
			t.Errorf("%s: kafka_allow_unsafe_topic is for one-broker development clusters", c.path)
		}
		if cfg.Kafka.SASLMechanism != "" && cfg.Kafka.SASLPassword != env["TAP_CUSTOMERIO_WEBHOOK_KAFKA_SASL_PASSWORD"] {
			t.Errorf("%s: the SASL password is not the environment's", c.path)
		}
	}
	if strings.Contains(read(t, "kafka/serve.json"), "password") {
		t.Error("kafka/serve.json holds a password; it belongs in the unit's EnvironmentFile")
	}
}

// TestComposeTargetConfig: every key of compose/target-postgres.json is a
// setting target-postgres lists in its --about.
func TestComposeTargetConfig(t *testing.T) {
	t.Parallel()
	var about bytes.Buffer
	if code := target.Main(pgload.Plugin(), []string{"--about", "--format", "json"}, strings.NewReader(""), &about, io.Discard); code != 0 {
		t.Fatalf("target-postgres --about: exit %d", code)
	}
	var info struct {
		Settings struct {
			Properties map[string]json.RawMessage `json:"properties"`
		} `json:"settings"`
	}
	if err := json.Unmarshal(about.Bytes(), &info); err != nil || len(info.Settings.Properties) == 0 {
		t.Fatalf("target-postgres --about --format json: %v\n%s", err, about.String())
	}
	var cfg map[string]json.RawMessage
	if err := json.Unmarshal([]byte(read(t, "compose/target-postgres.json")), &cfg); err != nil {
		t.Fatal(err)
	}
	for k := range cfg {
		if _, ok := info.Settings.Properties[k]; !ok {
			t.Errorf("compose/target-postgres.json: %q is not a target-postgres setting", k)
		}
	}
}

// TestComposeWiring: the compose file, nginx and the configs name the same
// brokers, topic, ports and files.
func TestComposeWiring(t *testing.T) {
	t.Parallel()
	compose := read(t, "compose/compose.yaml")
	nginx := read(t, "compose/nginx.conf")
	serve := loadTapConfig(t, "compose/serve.json", nil)
	load := loadTapConfig(t, "compose/load.json", nil)

	for _, b := range append(serve.Kafka.Brokers, load.Kafka.Brokers...) {
		host, _, _ := strings.Cut(b, ":")
		if !strings.Contains(compose, "\n  "+host+":\n") || !strings.Contains(compose, "PLAINTEXT://"+b+"\n") {
			t.Errorf("broker %s is not a compose service advertising that address", b)
		}
	}
	for _, want := range []string{
		"--topic=" + serve.Kafka.Topic + "\n", "--replication-factor=3\n", "--config=min.insync.replicas=2\n",
		"KAFKA_UNCLEAN_LEADER_ELECTION_ENABLE: \"false\"",
	} {
		if !strings.Contains(compose, want) {
			t.Errorf("compose.yaml lacks %q", want)
		}
	}
	_, port, _ := strings.Cut(serve.Listen, ":")
	upstreams := regexp.MustCompile(`server (receiver\d):(\d+)`).FindAllStringSubmatch(nginx, -1)
	if len(upstreams) != 2 {
		t.Fatalf("nginx.conf has %d receivers upstream, want 2", len(upstreams))
	}
	for _, u := range upstreams {
		if u[2] != port || !strings.Contains(compose, "\n  "+u[1]+":\n") {
			t.Errorf("nginx upstream %s:%s is not a compose receiver listening on %s", u[1], u[2], port)
		}
	}
	if m := regexp.MustCompile(`client_max_body_size (\d+)m;`).FindStringSubmatch(nginx); m == nil || m[1]+"m" != "8m" || serve.MaxBodyBytes > 8<<20 {
		t.Errorf("nginx client_max_body_size %v does not admit max_body_bytes %d", m, serve.MaxBodyBytes)
	}
	// Every file the compose file mounts or builds from exists.
	for _, m := range regexp.MustCompile(`\./([a-z.-]+):/`).FindAllStringSubmatch(compose, -1) {
		if _, err := os.Stat(filepath.Join("compose", m[1])); err != nil {
			t.Errorf("compose.yaml mounts %s: %v", m[1], err)
		}
	}
	dockerfile := read(t, "compose/Dockerfile")
	if !strings.Contains(dockerfile, "COPY deploy/tap-customerio-webhook-load /usr/local/bin/") ||
		!strings.Contains(compose, "tap-customerio-webhook-load") {
		t.Error("the loader service does not run deploy/tap-customerio-webhook-load from the image")
	}
}

// TestKafkaUnits: the units run what the configs are for, and pass
// `systemd-analyze verify` in a root that has the binaries they start (stubs).
// In CI a missing systemd-analyze fails the test.
func TestKafkaUnits(t *testing.T) {
	t.Parallel()
	receiver := read(t, "kafka/tap-customerio-webhook-kafka.service")
	loader := read(t, "kafka/tap-customerio-webhook-kafka-load@.service")
	if !strings.Contains(receiver, "\nExecStart=/usr/local/bin/tap-customerio-webhook serve --config /etc/tap-customerio-webhook/kafka/serve.json\n") {
		t.Error("the receiver unit does not run `serve` with the Kafka serve.json")
	}
	script := read(t, "tap-customerio-webhook-load")
	for _, v := range []string{"TAP_CUSTOMERIO_WEBHOOK_CONF", "TAP_CUSTOMERIO_WEBHOOK_STATE"} {
		if !strings.Contains(loader, "\nEnvironment="+v+"=") || !strings.Contains(script, "${"+v+":-") {
			t.Errorf("the loader unit and the load script do not agree on %s", v)
		}
	}

	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("systemd-analyze is missing (Debian package systemd); CI must have it")
		}
		t.Skip("systemd-analyze is missing")
	}
	root := t.TempDir()
	units := filepath.Join(root, "etc", "systemd", "system")
	for _, dir := range []string{units, filepath.Join(root, "usr", "local", "bin"), filepath.Join(root, "usr", "lib", "systemd", "system")} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, bin := range []string{"tap-customerio-webhook", "tap-customerio-webhook-load"} {
		if err := os.WriteFile(filepath.Join(root, "usr", "local", "bin", bin), []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// The targets the units are ordered after or installed into.
	systemTargets, _ := filepath.Glob("/usr/lib/systemd/system/*.target")
	for _, src := range systemTargets {
		b, err := os.ReadFile(src)
		if err == nil {
			err = os.WriteFile(filepath.Join(root, "usr", "lib", "systemd", "system", filepath.Base(src)), b, 0o644)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	files, _ := filepath.Glob("kafka/*.service")
	timers, _ := filepath.Glob("kafka/*.timer")
	for _, f := range append(files, timers...) {
		if err := os.WriteFile(filepath.Join(units, filepath.Base(f)), []byte(read(t, f)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(analyze, "verify", "--root="+root, "tap-customerio-webhook-kafka.service",
		"tap-customerio-webhook-kafka-load@a.service", "tap-customerio-webhook-kafka-load@a.timer")
	out, err := cmd.CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) != 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}
