package config

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"

	"github.com/cio-singer/tap-customerio-webhook/internal/about"
	"github.com/cio-singer/tap-customerio-webhook/internal/jsonconfig"
)

// Values are the raw JSON values of a config by key, as the file and the
// environment give them. A key that is absent is unset: Read leaves out
// null values, and ApplyEnv empty variables.
type Values map[string]json.RawMessage

// Has reports whether the file or the environment set key.
func (v Values) Has(key string) bool {
	_, ok := v[key]
	return ok
}

// Read parses a config file: one JSON object, or null (no settings). A null
// value leaves its key unset. Keys set more than once come back as Errors
// beside the values, so that they are reported with every other problem; a
// file that is not one JSON object (an empty one included) or has text
// after it gives nil Values and an Error for key "config".
func Read(data []byte) (Values, Errors) {
	obj, twice, err := jsonconfig.Object(data)
	if err != nil {
		return nil, Errors{{Key: "config", Err: err}}
	}
	var errs Errors
	for _, k := range twice {
		errs = append(errs, &Error{Key: k, Err: jsonconfig.ErrSetTwice})
	}
	for k, raw := range obj {
		if isNull(raw) {
			delete(obj, k)
		}
	}
	return Values(obj), errs
}

// LookupEnv finds an environment variable, as os.LookupEnv does.
type LookupEnv func(name string) (string, bool)

// ApplyEnv sets each of settings whose environment variable (prefix and
// the name in upper case, see about.EnvVar) is set, over the file's value.
// An empty variable leaves the setting as the file has it, and so does
// "null" for a setting that is not a string. The variable's text becomes
// the JSON the file would hold: a string setting takes it as it is; an
// array takes a JSON array, or a comma-separated list (Meltano passes
// arrays as JSON, people type lists); other types take it as JSON when it
// is JSON ("1024", "true"), else as a string for the decoder to refuse.
func (v Values) ApplyEnv(prefix string, settings []about.Setting, lookup LookupEnv) {
	for _, s := range settings {
		env, _ := lookup(about.EnvVar(prefix, s.Name))
		if raw := envJSON(s.Type, env); raw != nil {
			v[s.Name] = raw
		}
	}
}

// envJSON is ApplyEnv's conversion; nil means unset.
func envJSON(typ, env string) json.RawMessage {
	trimmed := strings.TrimSpace(env)
	switch {
	case env == "":
		return nil
	case typ == "string":
		return mustJSON(env)
	case trimmed == "null":
		return nil
	case typ == "array" && strings.HasPrefix(trimmed, "["):
		return json.RawMessage(trimmed)
	case typ == "array":
		parts := strings.Split(env, ",")
		for i := range parts {
			parts[i] = strings.TrimSpace(parts[i])
		}
		return mustJSON(parts)
	case json.Valid([]byte(trimmed)):
		return json.RawMessage(trimmed)
	default:
		return mustJSON(env)
	}
}

// Unknown returns the keys of v that none of settings names, sorted.
func (v Values) Unknown(settings ...[]about.Setting) []string {
	known := map[string]bool{}
	for _, list := range settings {
		for _, s := range list {
			known[s.Name] = true
		}
	}
	var out []string
	for k := range v {
		if !known[k] {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

func isNull(raw json.RawMessage) bool {
	return bytes.Equal(bytes.TrimSpace(raw), []byte("null"))
}

// mustJSON marshals strings, lists of strings and the defaults of settings
// (numbers, strings, booleans), none of which can fail.
func mustJSON(v any) json.RawMessage {
	raw, err := json.Marshal(v)
	if err != nil {
		panic("config: marshalling " + err.Error())
	}
	return raw
}
