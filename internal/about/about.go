// Package about prints what a Singer program is and which settings it takes,
// in the three forms Meltano and people use: `--about` (text),
// `--about --format json` (read by Meltano and the Hub) and
// `--about --format markdown` (pasted into the README). One description of
// the settings feeds all three, so they cannot drift apart.
package about

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// Version is the release of all three binaries. It is a variable so a
// release build can set it with -ldflags "-X ...about.Version=v1.2.3".
var Version = "0.1.0-dev"

// Setting is one configuration key.
type Setting struct {
	Name        string
	Type        string // JSON Schema type: string, integer, number, boolean, array, object
	Description string
	Default     any  // nil when there is none
	Required    bool // the program refuses to start without it
	Secret      bool // never printed, logged or stored in plain text by us
}

// Info describes one program.
type Info struct {
	Name         string
	Description  string
	Capabilities []string
	Settings     []Setting
	// EnvPrefix is the prefix of the environment variable of each setting
	// (TAP_CUSTOMERIO_WEBHOOK_ gives TAP_CUSTOMERIO_WEBHOOK_LISTEN).
	EnvPrefix string
}

// EnvVar returns the environment variable that sets s.
func (i Info) EnvVar(s Setting) string {
	return EnvVar(i.EnvPrefix, s.Name)
}

// EnvVar returns the environment variable that sets the setting name of
// the program whose prefix is prefix: the prefix and the name in upper case.
func EnvVar(prefix, name string) string {
	return prefix + strings.ToUpper(name)
}

// EnvPrefix returns the environment prefix of a program: its name in upper
// case with every other character than a letter or digit turned into "_",
// and a final "_" ("target-postgres" gives "TARGET_POSTGRES_").
func EnvPrefix(program string) string {
	var b strings.Builder
	for _, r := range strings.ToUpper(program) {
		if (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	b.WriteByte('_')
	return b.String()
}

// Write prints i in format "" or "text", "json" or "markdown".
func (i Info) Write(w io.Writer, format string) error {
	switch format {
	case "", "text":
		return i.writeText(w)
	case "json":
		return i.writeJSON(w)
	case "markdown":
		_, err := io.WriteString(w, i.Markdown())
		return err
	default:
		return fmt.Errorf("--format: %q is not one of text, json, markdown", format)
	}
}

func (i Info) writeText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "Name: %s\nDescription: %s\nVersion: %s\nCapabilities:\n", i.Name, i.Description, Version)
	for _, c := range i.Capabilities {
		fmt.Fprintf(&b, "  - %s\n", c)
	}
	b.WriteString("Settings:\n")
	for _, s := range i.Settings {
		fmt.Fprintf(&b, "  - Name: %s\n    Type: %s\n    Environment Variable: %s\n", s.Name, s.Type, i.EnvVar(s))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func (i Info) writeJSON(w io.Writer) error {
	type property struct {
		Type        string `json:"type"`
		Description string `json:"description"`
		Default     any    `json:"default,omitempty"`
		Secret      bool   `json:"secret,omitempty"`
		Writeonly   bool   `json:"writeOnly,omitempty"`
	}
	props := make(map[string]property, len(i.Settings))
	required := []string{}
	for _, s := range i.Settings {
		props[s.Name] = property{Type: s.Type, Description: s.Description, Default: s.Default, Secret: s.Secret, Writeonly: s.Secret}
		if s.Required {
			required = append(required, s.Name)
		}
	}
	doc := struct {
		Name         string   `json:"name"`
		Description  string   `json:"description"`
		Version      string   `json:"version"`
		SDKVersion   any      `json:"sdk_version"`
		Capabilities []string `json:"capabilities"`
		Settings     any      `json:"settings"`
	}{
		Name: i.Name, Description: i.Description, Version: Version, Capabilities: i.Capabilities,
		Settings: map[string]any{"type": "object", "properties": props, "required": required},
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(doc)
}

// Markdown returns the settings table the README shows.
func (i Info) Markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "# `%s`\n\n%s\n\n## Capabilities\n\n", i.Name, i.Description)
	for _, c := range i.Capabilities {
		fmt.Fprintf(&b, "* `%s`\n", c)
	}
	b.WriteString("\n## Settings\n\n| Setting | Required | Default | Description |\n|:--|:--:|:--|:--|\n")
	for _, s := range i.Settings {
		req := "False"
		if s.Required {
			req = "True"
		}
		def := "None"
		if s.Default != nil {
			raw, _ := json.Marshal(s.Default)
			def = "`" + string(raw) + "`"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", s.Name, req, def, strings.ReplaceAll(s.Description, "|", `\|`))
	}
	fmt.Fprintf(&b, "\nEvery setting can also be given as an environment variable `%s<SETTING>` (upper case).\n\n", i.EnvPrefix)
	fmt.Fprintf(&b, "A full list of supported settings and capabilities is available by running: `%s --about`\n", i.Name)
	return b.String()
}
