package tap

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDeployFiles: the example configs under deploy/ are valid tap
// configs (serve.json runs a server, load.json only emits), the units run
// commands the tap has, and the README shows the receiver unit as
// committed.
func TestDeployFiles(t *testing.T) {
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
