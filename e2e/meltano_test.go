package e2e

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
)

// meltanoPlugin is what meltano.yml declares of one plugin.
type meltanoPlugin struct {
	capabilities []string
	kinds        map[string]string // setting -> kind
	sensitive    map[string]bool
}

// parseMeltano reads the plugin blocks of meltano.yml. The file's layout
// is fixed (two-space YAML as committed), so a line reader is enough and
// keeps YAML out of the dependencies.
func parseMeltano(t *testing.T) map[string]*meltanoPlugin {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "meltano.yml"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]*meltanoPlugin{}
	var cur *meltanoPlugin
	var section, setting string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, "  - name: "):
			cur = &meltanoPlugin{kinds: map[string]string{}, sensitive: map[string]bool{}}
			out[strings.TrimPrefix(line, "  - name: ")] = cur
		case cur == nil || strings.HasPrefix(trimmed, "#"):
		case strings.HasPrefix(line, "    ") && !strings.HasPrefix(line, "     ") && strings.HasSuffix(trimmed, ":"):
			section = strings.TrimSuffix(trimmed, ":")
		case section == "capabilities" && strings.HasPrefix(trimmed, "- "):
			cur.capabilities = append(cur.capabilities, strings.TrimPrefix(trimmed, "- "))
		case section == "settings" && strings.HasPrefix(trimmed, "- name: "):
			setting = strings.TrimPrefix(trimmed, "- name: ")
			cur.kinds[setting] = ""
		case section == "settings" && strings.HasPrefix(trimmed, "kind: "):
			cur.kinds[setting] = strings.TrimPrefix(trimmed, "kind: ")
		case section == "settings" && trimmed == "sensitive: true":
			cur.sensitive[setting] = true
		}
	}
	return out
}

// TestMeltanoYMLMatchesAbout keeps meltano.yml in sync with what each
// binary says of itself with --about --format json: same capabilities,
// every setting declared with a matching kind, secrets marked sensitive.
func TestMeltanoYMLMatchesAbout(t *testing.T) {
	t.Parallel()
	plugins := parseMeltano(t)
	for _, name := range []string{"tap-customerio-webhook", "target-postgres", "target-sqlite"} {
		t.Run(name, func(t *testing.T) {
			declared := plugins[name]
			if declared == nil {
				t.Fatalf("meltano.yml does not declare %s", name)
			}
			out, err := exec.Command(filepath.Join(bin, name), "--about", "--format", "json").Output()
			if err != nil {
				t.Fatal(err)
			}
			var about struct {
				Capabilities []string `json:"capabilities"`
				Settings     struct {
					Properties map[string]struct {
						Type   string `json:"type"`
						Secret bool   `json:"secret"`
					} `json:"properties"`
				} `json:"settings"`
			}
			if err := json.Unmarshal(out, &about); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(sorted(declared.capabilities), sorted(about.Capabilities)) {
				t.Errorf("capabilities: meltano.yml %v, --about %v", declared.capabilities, about.Capabilities)
			}
			var aboutNames, ymlNames []string
			for n, p := range about.Settings.Properties {
				aboutNames = append(aboutNames, n)
				kind := declared.kinds[n]
				want := map[string]string{"string": "string", "integer": "integer", "boolean": "boolean", "array": "array", "number": "decimal", "object": "object"}[p.Type]
				if p.Secret && p.Type == "string" {
					want = "password"
				}
				if kind != want && !(kind == "password" && p.Type == "string") {
					t.Errorf("setting %s: kind %q in meltano.yml, want %q (type %s)", n, kind, want, p.Type)
				}
				if p.Secret && !declared.sensitive[n] {
					t.Errorf("setting %s is secret but not sensitive in meltano.yml", n)
				}
			}
			for n := range declared.kinds {
				ymlNames = append(ymlNames, n)
			}
			if !reflect.DeepEqual(sorted(aboutNames), sorted(ymlNames)) {
				t.Errorf("settings: meltano.yml %v, --about %v", sorted(ymlNames), sorted(aboutNames))
			}
		})
	}
}

func sorted(s []string) []string {
	c := append([]string{}, s...)
	sort.Strings(c)
	return c
}
