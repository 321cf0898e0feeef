package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"github.com/rs/zerolog"
)

// Parser turns the JSON value of a setting into a Go value. Its messages
// say what the value must be, after the key Error puts in front. They
// quote the value only for numbers, booleans and durations, never for
// strings, which may be secrets.
type Parser[V any] struct {
	Type  string // JSON Schema type: string, integer, number, boolean, array
	Parse func(raw json.RawMessage) (V, error)
}

// Check returns p followed by check, which refuses a parsed value with an
// error or accepts it with nil.
func (p Parser[V]) Check(check func(V) error) Parser[V] {
	return Parser[V]{Type: p.Type, Parse: func(raw json.RawMessage) (V, error) {
		v, err := p.Parse(raw)
		if err == nil {
			err = check(v)
		}
		return v, err
	}}
}

// String takes a JSON string.
var String = Parser[string]{Type: "string", Parse: func(raw json.RawMessage) (string, error) {
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", errors.New("must be a string")
	}
	return s, nil
}}

// NonEmpty takes a JSON string other than "".
var NonEmpty = String.Check(func(s string) error {
	if s == "" {
		return errors.New("must not be empty")
	}
	return nil
})

// Strings takes a list of strings, or one string for a list of one.
var Strings = Parser[[]string]{Type: "array", Parse: func(raw json.RawMessage) ([]string, error) {
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return []string{one}, nil
	}
	var list []string
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, errors.New("must be a list of strings")
	}
	return list, nil
}}

// Bool takes true or false, also as a string ("true", "false", "1", "0",
// as strconv.ParseBool reads them).
var Bool = Parser[bool]{Type: "boolean", Parse: func(raw json.RawMessage) (bool, error) {
	b, err := strconv.ParseBool(unquote(raw))
	if err != nil {
		return false, fmt.Errorf("must be true or false, not %s", raw)
	}
	return b, nil
}}

// Integer is the kinds of Go integer Int and AtLeast fill.
type Integer interface{ ~int | ~int32 | ~int64 }

// Int takes an integer from min to max, also as a string holding one
// (environment variables and some orchestrators give strings).
func Int[N Integer](min, max N) Parser[N] {
	return integer(min, max, fmt.Sprintf("from %d to %d", min, max))
}

// AtLeast takes an integer of at least min, as Int does.
func AtLeast[N Integer](min N) Parser[N] {
	var n N
	bits := 8 * int(unsafe.Sizeof(n))
	return integer(min, N(1<<(bits-1)-1), fmt.Sprintf("at least %d", min))
}

func integer[N Integer](min, max N, want string) Parser[N] {
	return Parser[N]{Type: "integer", Parse: func(raw json.RawMessage) (N, error) {
		n, err := strconv.ParseInt(unquote(raw), 10, 64)
		if err != nil && !errors.Is(err, strconv.ErrRange) {
			return 0, fmt.Errorf("must be an integer, not %s", raw)
		}
		if err != nil || n < int64(min) || n > int64(max) {
			return 0, fmt.Errorf("must be %s, not %s", want, raw)
		}
		return N(n), nil
	}}
}

// Duration takes a Go duration string ("30s", "1h30m") or a number of
// seconds, of 0 or more; with positive, of more than 0.
func Duration(positive bool) Parser[time.Duration] {
	return Parser[time.Duration]{Type: "string", Parse: func(raw json.RawMessage) (time.Duration, error) {
		d, err := parseDuration(raw)
		switch {
		case errors.Is(err, errTooLong):
			return 0, fmt.Errorf("must be at most about 292 years, not %s seconds", raw)
		case err != nil:
			return 0, fmt.Errorf(`must be a duration such as "30s" or "5m", not %s`, raw)
		case positive && d <= 0:
			return 0, fmt.Errorf("must be positive, not %s", raw)
		case d < 0:
			return 0, fmt.Errorf("must not be negative, not %s", raw)
		}
		return d, nil
	}}
}

// parseDuration's errors.
var (
	errNotDuration = errors.New("not a duration")
	errTooLong     = errors.New("more seconds than a time.Duration holds")
)

func parseDuration(raw json.RawMessage) (time.Duration, error) {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		d, err := time.ParseDuration(strings.TrimSpace(s))
		if err != nil {
			return 0, errNotDuration
		}
		return d, nil
	}
	var secs float64
	if err := json.Unmarshal(raw, &secs); err != nil {
		return 0, errNotDuration
	}
	if math.Abs(secs) > float64(math.MaxInt64)/float64(time.Second) {
		return 0, errTooLong
	}
	return time.Duration(secs * float64(time.Second)), nil
}

// LogLevelNames are the zerolog level names LogLevel takes (DESIGN: "zerolog
// level"), in any case.
const LogLevelNames = "trace, debug, info, warn, error, fatal, panic, disabled"

// LogLevelDoc describes a log_level setting, the same in every binary.
const LogLevelDoc = "Log level: " + LogLevelNames + ". Logs are JSON on stderr."

// LogLevel takes any of LogLevelNames.
var LogLevel = Parser[zerolog.Level]{Type: "string", Parse: func(raw json.RawMessage) (zerolog.Level, error) {
	var s string
	_ = json.Unmarshal(raw, &s) // a non-string leaves s empty, which no level is
	// zerolog.ParseLevel also takes a level's number ("3" is error), which
	// stays accepted (DESIGN: "zerolog level"), but any number too ("100"):
	// only one that names a level is.
	lvl, err := zerolog.ParseLevel(strings.ToLower(strings.TrimSpace(s)))
	if err != nil || !slices.Contains(strings.Split(LogLevelNames, ", "), lvl.String()) {
		return 0, fmt.Errorf("must be one of %s, not %s", LogLevelNames, raw)
	}
	return lvl, nil
}}

// unquote returns the text of a JSON string, trimmed, or else the raw JSON.
func unquote(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return strings.TrimSpace(s)
	}
	return string(raw)
}
