package target

import (
	"bytes"
	"encoding/json"
	"errors"
	"unicode/utf8"
)

// Records are walked with singer.EachMember over JSON the singer.Reader has
// already validated, so a record is decoded once, straight into column
// values, without building maps. The helpers here still check bounds and
// never panic on malformed input.

var errMalformed = errors.New("malformed JSON")

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
	if bytes.Contains(raw, []byte(`\u0000`)) {
		return true // possibly an escaped backslash before "u0000": the rewrite tells them apart
	}
	for i := 0; i < len(raw); i++ {
		switch raw[i] {
		case ' ', '\t', '\n', '\r':
			return true
		case '"':
			end := stringEnd(raw, i)
			if end < 0 {
				return false
			}
			i = end
		}
	}
	return false
}

// stringEnd returns the index of the quote closing the string that starts
// at raw[i] == '"', or -1. It jumps from quote to quote with IndexByte,
// which is much faster than a byte loop on long strings.
func stringEnd(raw []byte, i int) int {
	j := i + 1
	for {
		k := bytes.IndexByte(raw[j:], '"')
		if k < 0 {
			return -1
		}
		j += k
		backslashes := 0
		for b := j - 1; b > i && raw[b] == '\\'; b-- {
			backslashes++
		}
		if backslashes%2 == 0 {
			return j
		}
		j++
	}
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
