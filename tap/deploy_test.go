package tap

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/cio-singer/tap-customerio-webhook/tap/metrics"
)

// TestDeployFiles: the example configs under deploy/ are valid tap
// configs (serve.json runs a server, load.json only emits), the units run
// commands the tap has, and the README shows the receiver unit as
// committed.
func TestDeployFiles(t *testing.T) {
	t.Parallel()
	for name, wantListen := range map[string]bool{"serve.json": true, "load.json": false} {
		cfg, err := LoadConfigFile(filepath.Join("..", "deploy", name))
		if err != nil {
			t.Fatalf("deploy/%s: %v", name, err)
		}
		if (cfg.Listen != "") != wantListen {
			t.Errorf("deploy/%s: listen %q", name, cfg.Listen)
		}
	}
	unit, err := os.ReadFile(filepath.Join("..", "deploy", "tap-customerio-webhook.service"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(unit), "ExecStart=/usr/local/bin/tap-customerio-webhook serve --config /etc/tap-customerio-webhook/serve.json\n") {
		t.Error("receiver unit does not run `serve --config`")
	}
	readme, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(readme), "```ini\n"+string(unit)+"```") {
		t.Error("README.md does not show deploy/tap-customerio-webhook.service as committed")
	}
	script, err := os.ReadFile(filepath.Join("..", "deploy", "tap-customerio-webhook-load"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`tap-customerio-webhook --config "$conf/load.json" --state "$state"`, "target-postgres --config", "tail -n 1"} {
		if !strings.Contains(string(script), want) {
			t.Errorf("load script lacks %q", want)
		}
	}
}

// TestAlertRules: deploy/prometheus/alerts.yml passes `promtool check
// rules` and its unit tests (`promtool test rules`), and every metric it
// names is one a running tap exposes, so a renamed metric cannot silently
// disarm an alert. promtool comes from Debian's prometheus package; in CI a
// missing promtool fails the test.
func TestAlertRules(t *testing.T) {
	t.Parallel()
	dir := filepath.Join("..", "deploy", "prometheus")
	rules, err := os.ReadFile(filepath.Join(dir, "alerts.yml"))
	if err != nil {
		t.Fatal(err)
	}
	// The one-process tap, and serve beside a scheduled load: between them
	// they expose every family.
	rt := startTap(t, testConfig(t, t.TempDir()), Bookmark{}, nil)
	waitReady(t, rt.base)
	post(t, rt.url, sentEvent("a1"))
	rt.recordsUntilState(t, 1)
	_, body := scrape(t, rt.base)
	rt.stop(t)
	cfg := testConfig(t, t.TempDir())
	base := startServe(t, cfg)
	waitReady(t, base)
	post(t, base+"/webhook/"+testToken, sentEvent("a2"))
	load(t, cfg, Bookmark{})
	_, served := scrape(t, base)
	body += served
	names := regexp.MustCompile(metrics.Prefix+`[a-z_]+`).FindAllString(string(rules), -1)
	if len(names) == 0 {
		t.Fatal("alerts.yml names no metric of the tap")
	}
	for _, name := range names {
		if !strings.Contains(body, "# TYPE "+name+" ") {
			t.Errorf("alerts.yml uses %s, which /metrics does not expose", name)
		}
	}

	promtool, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("promtool is missing (Debian package prometheus); CI must install it")
		}
		t.Skip("promtool is missing (apt-get install prometheus)")
	}
	for _, args := range [][]string{{"check", "rules", "alerts.yml"}, {"test", "rules", "alerts_test.yml"}} {
		cmd := exec.Command(promtool, args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}
