// Package jsonconfig reads a config file's top-level JSON object strictly,
// for the tap and the targets alike: encoding/json keeps the last of two
// equal keys and a json.Decoder stops reading after the first value, so a
// second "signing_keys": [] would silently turn signature checks off, and
// text after the object would be ignored.
package jsonconfig

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
)

// ErrSetTwice is the problem of a key that appears more than once; the
// caller names the key.
var ErrSetTwice = errors.New("set more than once in the config file; keep one (which one wins is not obvious to a reader)")

// Object decodes data, which must hold exactly one JSON object (or null,
// read as an empty object), into the raw value of each top-level key, and
// returns the keys set more than once, in the order their repeats were
// found, so the caller can report them with its other problems. err is
// anything else: not one JSON object, or something after it; it is about
// the file as a whole, and the caller says which file. Errors never quote
// values: they may be secrets.
func Object(data []byte) (obj map[string]json.RawMessage, dups []string, err error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	tok, err := dec.Token()
	if err != nil {
		return nil, nil, notObject(err)
	}
	obj = map[string]json.RawMessage{}
	switch tok {
	case nil: // null
	case json.Delim('{'):
		if dups, err = members(dec, obj); err != nil {
			return nil, nil, err
		}
	default:
		return nil, nil, notObject(fmt.Errorf("the file holds a JSON %s", kind(tok)))
	}
	if err := trailing(data, dec.InputOffset()); err != nil {
		return nil, nil, err
	}
	return obj, dups, nil
}

// members reads the members of an object whose '{' dec has just read,
// through its closing '}'.
func members(dec *json.Decoder, obj map[string]json.RawMessage) (dups []string, err error) {
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, notObject(err)
		}
		key, _ := tok.(string) // inside an object, Token returns keys as strings
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, notObject(err)
		}
		if _, seen := obj[key]; seen && !slices.Contains(dups, key) {
			dups = append(dups, key)
		}
		obj[key] = v
	}
	if _, err := dec.Token(); err != nil { // the closing '}'
		return nil, notObject(err)
	}
	return dups, nil
}

// trailing refuses anything but white space after the object, which ends
// at byte end.
func trailing(data []byte, end int64) error {
	rest := bytes.TrimLeft(data[end:], " \t\r\n")
	if len(rest) == 0 {
		return nil
	}
	return fmt.Errorf("trailing data after the JSON object at byte %d: a config file holds exactly one object", len(data)-len(rest))
}

func notObject(err error) error {
	return fmt.Errorf("not a JSON object: %w", err)
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
