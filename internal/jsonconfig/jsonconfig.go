// Package jsonconfig reads a config file's top-level JSON object strictly,
// for the tap and the targets alike: encoding/json keeps the last of two
// equal keys and stops reading after the first value, so a second
// "signing_keys": [] would silently turn signature checks off, and text
// after the object would be ignored.
package jsonconfig

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// DuplicateKeyError is a top-level key that appears more than once.
type DuplicateKeyError struct{ Key string }

func (e *DuplicateKeyError) Error() string {
	return e.Key + ": set more than once in the config file; keep one (which one wins is not obvious to a reader)"
}

// Object decodes data, which must hold exactly one JSON object (or null,
// read as an empty object), into the raw value of each top-level key. It
// refuses anything after the object. Duplicate keys are reported as
// joined *DuplicateKeyError values, one per key, in the order they were
// found; the map is still returned then, so the caller may report other
// problems too. Errors never quote values: they may be secrets.
func Object(data []byte) (map[string]json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	tok, err := dec.Token()
	if err != nil {
		return nil, notObject(err)
	}
	out := map[string]json.RawMessage{}
	var dups error
	switch tok {
	case nil: // null
	case json.Delim('{'):
		if dups = members(dec, out); dups != nil && !isDuplicates(dups) {
			return nil, dups
		}
	default:
		return nil, notObject(fmt.Errorf("the file holds a JSON %s", kind(tok)))
	}
	if err := trailing(data, dec.InputOffset()); err != nil {
		return nil, err
	}
	return out, dups
}

// members reads the members of an object whose '{' dec has just read,
// through its closing '}'.
func members(dec *json.Decoder, out map[string]json.RawMessage) error {
	var dups []error
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return notObject(err)
		}
		key, _ := tok.(string) // inside an object, Token returns keys as strings
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return notObject(err)
		}
		if seen[key] && !containsKey(dups, key) {
			dups = append(dups, &DuplicateKeyError{Key: key})
		}
		seen[key] = true
		out[key] = v
	}
	if _, err := dec.Token(); err != nil { // the closing '}'
		return notObject(err)
	}
	return errors.Join(dups...)
}

func containsKey(dups []error, key string) bool {
	for _, d := range dups {
		if d.(*DuplicateKeyError).Key == key {
			return true
		}
	}
	return false
}

// isDuplicates reports whether err holds only *DuplicateKeyError values.
func isDuplicates(err error) bool {
	joined, ok := err.(interface{ Unwrap() []error })
	if !ok {
		return false
	}
	for _, e := range joined.Unwrap() {
		var d *DuplicateKeyError
		if !errors.As(e, &d) {
			return false
		}
	}
	return true
}

// trailing refuses anything but white space after the object, which ends
// at byte end.
func trailing(data []byte, end int64) error {
	rest := bytes.TrimLeft(data[end:], " \t\r\n")
	if len(rest) == 0 {
		return nil
	}
	return fmt.Errorf("config: trailing data after the JSON object at byte %d: a config file holds exactly one object", len(data)-len(rest))
}

func notObject(err error) error {
	return fmt.Errorf("config: not a JSON object: %w", err)
}

func kind(tok json.Token) string {
	switch tok.(type) {
	case json.Delim:
		return "array"
	case string:
		return "string"
	case bool:
		return "boolean"
	default:
		return "number"
	}
}
