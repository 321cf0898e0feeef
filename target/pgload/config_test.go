package pgload

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/cio-singer/tap-customerio-webhook/target"
)

func rawConfig(t *testing.T, s string) map[string]json.RawMessage {
	t.Helper()
	raw := map[string]json.RawMessage{}
	if err := json.Unmarshal([]byte(s), &raw); err != nil {
		t.Fatal(err)
	}
	return raw
}

// parseConfig decodes raw as the target core does with the loader's keys.
func parseConfig(raw map[string]json.RawMessage) (Config, error) {
	var c Config
	err := configTable().Decode(&c, raw).Err()
	return c, err
}

func TestParseConfig(t *testing.T) {
	tests := []struct {
		name     string
		json     string
		wantConn string
		wantErr  string // the key the *target.ConfigError names; "" for none
	}{
		{"defaults", `{}`, "host='localhost' port=5432", ""},
		{"parts", `{"host":"db","port":6543,"user":"u","password":"p'w\\d","dbname":"wh"}`,
			`host='db' port=6543 user='u' password='p\'w\\d' dbname='wh'`, ""},
		{"port as string", `{"port":"5433"}`, "host='localhost' port=5433", ""},
		{"database alias", `{"database":"a"}`, "host='localhost' port=5432 dbname='a'", ""},
		{"alias agrees with dbname", `{"database":"b","dbname":"b"}`, "host='localhost' port=5432 dbname='b'", ""},
		{"alias names another database", `{"database":"a","dbname":"b"}`, "", "database"},
		{"dsn overrides", `{"host":"ignored","dsn":"postgres://u@h:1/d"}`, "postgres://u@h:1/d", ""},
		{"bad port", `{"port":70000}`, "", "port"},
		{"port not a number", `{"port":true}`, "", "port"},
		{"host not a string", `{"host":5}`, "", "host"},
		{"empty schema", `{"default_target_schema":""}`, "", "default_target_schema"},
		{"long schema", `{"default_target_schema":"` + strings.Repeat("s", 64) + `"}`, "", "default_target_schema"},
		{"bad dsn", `{"dsn":"postgres://h:notaport/d"}`, "", "dsn"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := parseConfig(rawConfig(t, tc.json))
			if tc.wantErr != "" {
				var ce *target.ConfigError
				if !errors.As(err, &ce) || ce.Key != tc.wantErr {
					t.Fatalf("error %v, want a ConfigError for key %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := c.connString(); got != tc.wantConn {
				t.Fatalf("connString %q, want %q", got, tc.wantConn)
			}
		})
	}
}

func TestParseConfigDoesNotLeakPassword(t *testing.T) {
	_, err := parseConfig(rawConfig(t, `{"dsn":"postgres://u:s3cr3t-pw@h:notaport/d"}`))
	if err == nil || strings.Contains(err.Error(), "s3cr3t-pw") {
		t.Fatalf("error %v: want one without the password", err)
	}
}

func TestSettingsMatchConfigKeys(t *testing.T) {
	// Every setting is a key parseConfig reads, so the core passes it on.
	known := map[string]bool{"host": true, "port": true, "user": true, "password": true, "dbname": true,
		"database": true, "dsn": true, "default_target_schema": true}
	for _, s := range configTable().About() {
		if !known[s.Name] {
			t.Errorf("setting %q is not read by parseConfig", s.Name)
		}
		delete(known, s.Name)
	}
	for k := range known {
		t.Errorf("key %q has no setting", k)
	}
}
