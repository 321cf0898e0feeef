package target

import (
	"bytes"
	"encoding/json"
	"errors"
	"unicode/utf8"
)

// This file walks JSON that the singer.Reader has already validated, so a
// record is decoded once, straight into column values, without building
// maps. Every function still checks bounds and reports malformed input as an
// error rather than panicking.

var errMalformed = errors.New("malformed JSON")

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// scanString returns the index after the string starting at b[i] == '"' and
// whether it contains escapes.
func scanString(b []byte, i int) (end int, escaped bool, err error) {
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			escaped = true
			j++
		case '"':
			return j + 1, escaped, nil
		}
	}
	return 0, false, errMalformed
}

// scanValue returns the index after the value starting at b[i].
func scanValue(b []byte, i int) (int, error) {
	if i >= len(b) {
		return 0, errMalformed
	}
	switch b[i] {
	case '"':
		end, _, err := scanString(b, i)
		return end, err
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				end, _, err := scanString(b, j)
				if err != nil {
					return 0, err
				}
				j = end - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1, nil
				}
			}
		}
		return 0, errMalformed
	default:
		j := i
		for j < len(b) && b[j] != ',' && b[j] != '}' && b[j] != ']' && b[j] != ' ' && b[j] != '\t' && b[j] != '\n' && b[j] != '\r' {
			j++
		}
		if j == i {
			return 0, errMalformed
		}
		return j, nil
	}
}

// eachMember calls fn with the raw key (quotes included) and raw value of
// every member of the JSON object obj, in order.
func eachMember(obj []byte, fn func(key, value []byte) error) error {
	i := skipSpace(obj, 0)
	if i >= len(obj) || obj[i] != '{' {
		return errMalformed
	}
	i = skipSpace(obj, i+1)
	if i < len(obj) && obj[i] == '}' {
		return nil
	}
	for {
		if i >= len(obj) || obj[i] != '"' {
			return errMalformed
		}
		kEnd, _, err := scanString(obj, i)
		if err != nil {
			return err
		}
		key := obj[i:kEnd]
		i = skipSpace(obj, kEnd)
		if i >= len(obj) || obj[i] != ':' {
			return errMalformed
		}
		i = skipSpace(obj, i+1)
		vEnd, err := scanValue(obj, i)
		if err != nil {
			return err
		}
		if err := fn(key, obj[i:vEnd]); err != nil {
			return err
		}
		i = skipSpace(obj, vEnd)
		if i >= len(obj) {
			return errMalformed
		}
		switch obj[i] {
		case ',':
			i = skipSpace(obj, i+1)
		case '}':
			return nil
		default:
			return errMalformed
		}
	}
}

// decodeString returns the Go string of the JSON string raw. NUL, which
// PostgreSQL text cannot hold, becomes U+FFFD.
func decodeString(raw []byte) (string, error) {
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return "", errMalformed
	}
	inner := raw[1 : len(raw)-1]
	if bytes.IndexByte(inner, '\\') < 0 && utf8.Valid(inner) {
		return string(inner), nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", err
	}
	if bytes.IndexByte([]byte(s), 0) >= 0 {
		s = string(bytes.ReplaceAll([]byte(s), []byte{0}, []byte("\uFFFD")))
	}
	return s, nil
}

// compactJSON returns raw without insignificant whitespace, with every
// \u0000 escape replaced by \ufffd (PostgreSQL jsonb rejects \u0000). It
// returns raw itself when nothing needs to change.
func compactJSON(raw []byte) []byte {
	if !needsRewrite(raw) {
		return raw
	}
	out := make([]byte, 0, len(raw))
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		switch c {
		case ' ', '\t', '\n', '\r':
			continue
		case '"':
			end, _, err := scanString(raw, i)
			if err != nil {
				return append(out, raw[i:]...)
			}
			out = appendStringNoNUL(out, raw[i:end])
			i = end - 1
		default:
			out = append(out, c)
		}
	}
	return out
}

func needsRewrite(raw []byte) bool {
	for i := 0; i < len(raw); i++ {
		switch raw[i] {
		case ' ', '\t', '\n', '\r':
			return true
		case '"':
			end, escaped, err := scanString(raw, i)
			if err != nil {
				return false
			}
			if escaped && bytes.Contains(raw[i:end], []byte(`\u0000`)) {
				return true
			}
			i = end - 1
		}
	}
	return false
}

// appendStringNoNUL appends the JSON string s, rewriting \u0000 escapes
// (but not an escaped backslash followed by "u0000").
func appendStringNoNUL(out, s []byte) []byte {
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			if s[i+1] == 'u' && i+6 <= len(s) && string(s[i+2:i+6]) == "0000" {
				out = append(out, `\ufffd`...)
				i += 5
				continue
			}
			out = append(out, s[i], s[i+1])
			i++
			continue
		}
		out = append(out, s[i])
	}
	return out
}
