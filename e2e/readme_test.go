package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestReadmeSettingsTables: the README's settings tables are what each
// binary prints with --about --format markdown, so the docs cannot drift.
func TestReadmeSettingsTables(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"tap-customerio-webhook", "target-postgres", "target-sqlite"} {
		out, err := exec.Command(filepath.Join(bin, name), "--about", "--format", "markdown").Output()
		if err != nil {
			t.Fatalf("%s --about: %v", name, err)
		}
		md := string(out)
		start := strings.Index(md, "| Setting |")
		end := strings.Index(md[start:], "\n\n")
		if start < 0 || end < 0 {
			t.Fatalf("%s: no settings table in:\n%s", name, md)
		}
		if table := md[start : start+end+1]; !strings.Contains(string(readme), table) {
			t.Errorf("README.md lacks the settings table of %s; paste `%s --about --format markdown`:\n%s", name, name, table)
		}
	}
}
