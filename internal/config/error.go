package config

import (
	"errors"
	"fmt"
	"strings"
)

// Error is one bad setting: Key names it (a config key; "config" for the
// file as a whole, or a flag such as "--config") and Err says what is wrong.
type Error struct {
	Key string
	Err error
}

// Errorf returns an *Error for key with a message formatted as fmt.Errorf does.
func Errorf(key, format string, args ...any) *Error {
	return &Error{Key: key, Err: fmt.Errorf(format, args...)}
}

// Error returns "key: problem", naming the key once: when the problem
// already starts with the key (a callee that knows the key, such as
// "webhook_tokens[1]: token has 31 characters"), it is returned as it is.
func (e *Error) Error() string {
	msg := e.Err.Error()
	if e.Key == "" || startsWithKey(msg, e.Key) {
		return msg
	}
	return e.Key + ": " + msg
}

func (e *Error) Unwrap() error { return e.Err }

// startsWithKey reports whether msg begins with key as a word: followed by
// nothing, ':', ' ' or '[' (an entry of a list).
func startsWithKey(msg, key string) bool {
	rest, ok := strings.CutPrefix(msg, key)
	return ok && (rest == "" || strings.ContainsRune(": [", rune(rest[0])))
}

// Named returns err as an *Error for the longest of keys that its message
// starts with, for callees whose messages name the key themselves (such as
// kafkaspool's Validate); an error that names none of keys gets key
// "config".
func Named(err error, keys []string) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	best, msg := "", err.Error()
	for _, k := range keys {
		if len(k) > len(best) && startsWithKey(msg, k) {
			best = k
		}
	}
	if best == "" {
		best = "config"
	}
	return &Error{Key: best, Err: err}
}

// Errors is every problem of one config, reported together so that a
// user fixes them in one go. The program exits 2 for it.
type Errors []*Error

// Error lists the problems one per line.
func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap lets errors.As find each *Error.
func (es Errors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

// Err returns es as an error, or nil when there is no problem (a nil
// Errors stored in an error would not be nil).
func (es Errors) Err() error {
	if len(es) == 0 {
		return nil
	}
	return es
}
