package config

import (
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/cio-singer/tap-customerio-webhook/internal/about"
	"github.com/cio-singer/tap-customerio-webhook/internal/jsonconfig"
)

func TestError_NamesTheKeyOnce(t *testing.T) {
	t.Parallel()
	tests := []struct {
		key, msg, want string
	}{
		{"log_level", "must be a string", "log_level: must be a string"},
		{"webhook_tokens", "webhook_tokens[1]: token has 5 characters", "webhook_tokens[1]: token has 5 characters"},
		{"kafka_ca_file", "kafka_ca_file is set but kafka_tls is false", "kafka_ca_file is set but kafka_tls is false"},
		{"kafka_tls", "kafka_tls: must be true or false", "kafka_tls: must be true or false"},
		{"spool", "spool_dir is full", "spool: spool_dir is full"}, // another key, not this one
		{"", "no key", "no key"},
	}
	for _, tc := range tests {
		if got := (&Error{Key: tc.key, Err: errors.New(tc.msg)}).Error(); got != tc.want {
			t.Errorf("%s / %q: %q, want %q", tc.key, tc.msg, got, tc.want)
		}
	}
}

func TestNamed(t *testing.T) {
	t.Parallel()
	keys := []string{"kafka_tls", "spool", "spool_dir"}
	for msg, want := range map[string]string{
		"spool_dir: gone":       "spool_dir",
		"spool: \"x\" is wrong": "spool",
		"kafka_tls is false":    "kafka_tls",
		"something else is off": "config",
	} {
		if got := Named(errors.New(msg), keys).Key; got != want {
			t.Errorf("%q: key %q, want %q", msg, got, want)
		}
	}
	e := Errorf("spool", "x")
	if Named(e, keys) != e {
		t.Error("Named wrapped an *Error again")
	}
}

func TestErrors(t *testing.T) {
	t.Parallel()
	if Errors(nil).Err() != nil {
		t.Fatal("no problem is not nil")
	}
	err := Errors{Errorf("a", "one"), Errorf("b", "two")}.Err()
	if err.Error() != "a: one\nb: two" {
		t.Fatalf("%q", err)
	}
	var e *Error
	if !errors.As(err, &e) || e.Key != "a" {
		t.Fatalf("errors.As: %v", e)
	}
}

func TestRead(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in string
		keys     string // sorted, comma-joined; "-" for nil Values
		wantErr  string
	}{
		{"empty file", "", "-", "config: not a JSON object: EOF"},
		{"null", "null", "", ""},
		{"null values are unset", `{"a":null,"b":1,"c": null }`, "b", ""},
		{"set twice keeps the values", `{"a":1,"a":2,"b":null}`, "a", "a: " + jsonconfig.ErrSetTwice.Error()},
		{"not an object", `[1]`, "-", "config: not a JSON object: the file holds a JSON array"},
		{"trailing data", `{"a":1} x`, "-", "config: trailing data after the JSON object at byte 8: a config file holds exactly one object"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v, errs := Read([]byte(tc.in))
			if got := errs.Error(); got != tc.wantErr {
				t.Fatalf("errors %q, want %q", got, tc.wantErr)
			}
			keys := "-"
			if v != nil {
				keys = strings.Join(v.Unknown(), ",")
			}
			if keys != tc.keys {
				t.Fatalf("keys %q, want %q", keys, tc.keys)
			}
		})
	}
}

func TestValues_ApplyEnv(t *testing.T) {
	t.Parallel()
	settings := []about.Setting{
		{Name: "name", Type: "string"}, {Name: "null_name", Type: "string"}, {Name: "count", Type: "integer"},
		{Name: "null_count", Type: "integer"}, {Name: "empty", Type: "integer"}, {Name: "bad_count", Type: "integer"},
		{Name: "list", Type: "array"}, {Name: "json_list", Type: "array"}, {Name: "one", Type: "array"},
		{Name: "flag", Type: "boolean"}, {Name: "unset", Type: "string"},
	}
	env := map[string]string{
		"P_NAME": " a b ", "P_NULL_NAME": "null", "P_COUNT": " 1024 ", "P_NULL_COUNT": "null", "P_EMPTY": "",
		"P_BAD_COUNT": "lots", "P_LIST": "k1, k2", "P_JSON_LIST": `["x,y"]`, "P_ONE": "2", "P_FLAG": "true",
	}
	v := Values{"null_count": json.RawMessage(`5`), "empty": json.RawMessage(`6`), "count": json.RawMessage(`7`)}
	v.ApplyEnv("P_", settings, func(k string) (string, bool) { s, ok := env[k]; return s, ok })
	want := map[string]string{
		"name": `" a b "`, "null_name": `"null"`, "count": `1024`, "null_count": `5`, "empty": `6`, "bad_count": `"lots"`,
		"list": `["k1","k2"]`, "json_list": `["x,y"]`, "one": `["2"]`, "flag": `true`,
	}
	if len(v) != len(want) {
		t.Errorf("values %v, want %v", v, want)
	}
	for k, w := range want {
		if string(v[k]) != w {
			t.Errorf("%s = %s, want %s", k, v[k], w)
		}
	}
}

type testConfig struct {
	Name    string
	Count   int
	Wait    time.Duration
	Checked bool
}

func testTable() Table[testConfig] {
	return Table[testConfig]{Settings: []Setting[testConfig]{
		Field("name", String, func(c *testConfig) *string { return &c.Name }).Required().Doc("a name"),
		Field("count", Int(1, 10), func(c *testConfig) *int { return &c.Count }).Default(3),
		Field("wait", Duration(true), func(c *testConfig) *time.Duration { return &c.Wait }).Default("1s").Secret(),
	}, Check: func(c *testConfig, v Values) Errors {
		c.Checked = true
		if c.Count > 5 && !v.Has("wait") {
			return Errors{Errorf("wait", "must be set with a count over 5")}
		}
		return nil
	}}
}

func TestTable_Decode(t *testing.T) {
	t.Parallel()
	tab := testTable()
	var c testConfig
	if errs := tab.Decode(&c, Values{"name": json.RawMessage(`"n"`)}); errs != nil {
		t.Fatal(errs)
	}
	if c != (testConfig{Name: "n", Count: 3, Wait: time.Second, Checked: true}) {
		t.Fatalf("decoded %+v", c)
	}
	c = testConfig{}
	errs := tab.Decode(&c, Values{"count": json.RawMessage(`11`), "wait": json.RawMessage(`"soon"`)})
	if got := errs.Error(); got != "name: required\ncount: must be from 1 to 10, not 11\nwait: must be a duration such as \"30s\" or \"5m\", not \"soon\"" || c.Checked {
		t.Fatalf("errors %q, checked %v", got, c.Checked)
	}
	errs = tab.Decode(&c, Values{"name": json.RawMessage(`"n"`), "count": json.RawMessage(`6`)})
	if errs.Error() != "wait: must be set with a count over 5" {
		t.Fatalf("check: %v", errs)
	}
	if d := tab.Defaults(); d != (testConfig{Count: 3, Wait: time.Second}) {
		t.Fatalf("defaults %+v", d)
	}
	a := tab.About()
	if len(a) != 3 || a[0] != (about.Setting{Name: "name", Type: "string", Description: "a name", Required: true}) ||
		a[1].Default != 3 || !a[2].Secret || a[2].Type != "string" {
		t.Fatalf("about %+v", a)
	}
}

func TestTable_DefaultsPanicOnABadDefault(t *testing.T) {
	t.Parallel()
	tab := Table[testConfig]{Settings: []Setting[testConfig]{
		Field("count", Int(1, 10), func(c *testConfig) *int { return &c.Count }).Default(0),
	}}
	defer func() {
		if r := recover(); r == nil || !strings.Contains(r.(string), "count") {
			t.Fatalf("recovered %v", r)
		}
	}()
	tab.Defaults()
}

func TestParsers(t *testing.T) {
	t.Parallel()
	type result struct {
		v   any
		err error
	}
	wrap := func(v any, err error) result { return result{v, err} }
	tests := []struct {
		name    string
		got     result
		want    any
		wantErr string
	}{
		{"string", wrap(String.Parse(json.RawMessage(`"x"`))), "x", ""},
		{"string never quotes", wrap(String.Parse(json.RawMessage(`5`))), "", "must be a string"},
		{"non-empty", wrap(NonEmpty.Parse(json.RawMessage(`""`))), "", "must not be empty"},
		{"strings", wrap(Strings.Parse(json.RawMessage(`["a","b"]`))), []string{"a", "b"}, ""},
		{"one string", wrap(Strings.Parse(json.RawMessage(`"a"`))), []string{"a"}, ""},
		{"strings refused", wrap(Strings.Parse(json.RawMessage(`[1]`))), []string(nil), "must be a list of strings"},
		{"bool", wrap(Bool.Parse(json.RawMessage(`true`))), true, ""},
		{"bool as string", wrap(Bool.Parse(json.RawMessage(`" FALSE "`))), false, ""},
		{"bool refused", wrap(Bool.Parse(json.RawMessage(`"yes"`))), false, `must be true or false, not "yes"`},
		{"int", wrap(Int(1, 9).Parse(json.RawMessage(`9`))), 9, ""},
		{"int as string", wrap(Int(1, 9).Parse(json.RawMessage(`" 2 "`))), 2, ""},
		{"int out of range", wrap(Int(1, 9).Parse(json.RawMessage(`0`))), 0, "must be from 1 to 9, not 0"},
		{"int not an integer", wrap(Int(1, 9).Parse(json.RawMessage(`1.5`))), 0, "must be an integer, not 1.5"},
		{"at least", wrap(AtLeast[int64](0).Parse(json.RawMessage(`-1`))), int64(0), "must be at least 0, not -1"},
		{"at least beyond int64", wrap(AtLeast[int64](0).Parse(json.RawMessage(`9223372036854775808`))), int64(0), "must be at least 0, not 9223372036854775808"},
		{"int32 beyond its range", wrap(AtLeast[int32](0).Parse(json.RawMessage(`2147483648`))), int32(0), "must be at least 0, not 2147483648"},
		{"duration", wrap(Duration(false).Parse(json.RawMessage(`" 1m30s"`))), 90 * time.Second, ""},
		{"duration in seconds", wrap(Duration(true).Parse(json.RawMessage(`0.5`))), 500 * time.Millisecond, ""},
		{"zero duration", wrap(Duration(false).Parse(json.RawMessage(`"0s"`))), time.Duration(0), ""},
		{"duration not positive", wrap(Duration(true).Parse(json.RawMessage(`0`))), time.Duration(0), "must be positive, not 0"},
		{"negative duration", wrap(Duration(false).Parse(json.RawMessage(`"-1s"`))), time.Duration(0), `must not be negative, not "-1s"`},
		{"not a duration", wrap(Duration(false).Parse(json.RawMessage(`"soon"`))), time.Duration(0), `must be a duration such as "30s" or "5m", not "soon"`},
		{"too long", wrap(Duration(true).Parse(json.RawMessage(`1e300`))), time.Duration(0), "must be at most about 292 years, not 1e300 seconds"},
		{"log level", wrap(LogLevel.Parse(json.RawMessage(`"WARN"`))), zerolog.WarnLevel, ""},
		{"log level trace", wrap(LogLevel.Parse(json.RawMessage(`"trace"`))), zerolog.TraceLevel, ""},
		{"log level disabled", wrap(LogLevel.Parse(json.RawMessage(`"disabled"`))), zerolog.Disabled, ""},
		{"log level fatal", wrap(LogLevel.Parse(json.RawMessage(`"Fatal"`))), zerolog.FatalLevel, ""},
		{"log level unknown", wrap(LogLevel.Parse(json.RawMessage(`"loud"`))), zerolog.Level(0), `must be one of trace, debug, info, warn, error, fatal, panic, disabled, not "loud"`},
		{"log level empty", wrap(LogLevel.Parse(json.RawMessage(`""`))), zerolog.Level(0), "must be one of"},
		{"log level by number", wrap(LogLevel.Parse(json.RawMessage(`"3"`))), zerolog.ErrorLevel, ""},
		{"log level number of no level", wrap(LogLevel.Parse(json.RawMessage(`"100"`))), zerolog.Level(0), `must be one of trace, debug, info, warn, error, fatal, panic, disabled, not "100"`},
		{"log level number of NoLevel", wrap(LogLevel.Parse(json.RawMessage(`"6"`))), zerolog.Level(0), "must be one of"},
		{"check", wrap(String.Check(func(string) error { return errors.New("no") }).Parse(json.RawMessage(`"x"`))), "x", "no"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.wantErr != "" {
				if tc.got.err == nil || !strings.Contains(tc.got.err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want %q", tc.got.err, tc.wantErr)
				}
				return
			}
			if tc.got.err != nil {
				t.Fatal(tc.got.err)
			}
			g, _ := json.Marshal(tc.got.v)
			w, _ := json.Marshal(tc.want)
			if string(g) != string(w) {
				t.Fatalf("got %s, want %s", g, w)
			}
		})
	}
}

// TestLogLevelNames: every level LogLevelDoc names parses to that level, and
// they are all zerolog's named levels, so the settings tables say exactly
// what log_level takes.
func TestLogLevelNames(t *testing.T) {
	named := map[zerolog.Level]bool{}
	for _, name := range strings.Split(LogLevelNames, ", ") {
		lvl, err := LogLevel.Parse(json.RawMessage(strconv.Quote(name)))
		if err != nil || lvl.String() != name {
			t.Errorf("%s parses to %v, %v; want level %s", name, lvl, err, name)
		}
		named[lvl] = true
	}
	for lvl := zerolog.TraceLevel; lvl <= zerolog.PanicLevel; lvl++ {
		if !named[lvl] {
			t.Errorf("level %s is accepted but not in LogLevelNames", lvl)
		}
	}
	if !named[zerolog.Disabled] {
		t.Error("disabled is accepted but not in LogLevelNames")
	}
	if !strings.Contains(LogLevelDoc, LogLevelNames) {
		t.Errorf("LogLevelDoc %q does not list %q", LogLevelDoc, LogLevelNames)
	}
}
