package jsonlex

import (
	"bytes"
	"errors"
)

// ErrMalformed is returned by EachMember for input that is not a JSON object.
var ErrMalformed = errors.New("jsonlex: malformed JSON")

// text is what the functions that only read take: []byte, string or a
// type defined on either (json.Number, json.RawMessage).
type text interface{ ~string | ~[]byte }

// SkipSpace returns the index of the first byte at or after i in b that is
// not JSON whitespace.
func SkipSpace(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// StringEnd returns the index after the quote closing the string that
// starts at b[i] == '"', or -1 when it is not closed. It jumps from quote to
// quote with IndexByte, which on long strings is much faster than a byte
// loop, and does not check what lies between.
func StringEnd(b []byte, i int) int {
	j := i + 1
	for {
		k := bytes.IndexByte(b[j:], '"')
		if k < 0 {
			return -1
		}
		j += k
		backslashes := 0
		for p := j - 1; p > i && b[p] == '\\'; p-- {
			backslashes++
		}
		if backslashes%2 == 0 {
			return j + 1
		}
		j++
	}
}

// ValueEnd returns the index after the JSON value that starts at b[i]; ok
// is false when the value is not closed. Only strings and brackets are
// followed, so the value must be known valid.
func ValueEnd(b []byte, i int) (end int, ok bool) {
	if i >= len(b) {
		return 0, false
	}
	switch b[i] {
	case '"':
		end = StringEnd(b, i)
		return end, end > 0
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				end := StringEnd(b, j)
				if end < 0 {
					return 0, false
				}
				j = end - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1, true
				}
			}
		}
		return 0, false
	default:
		j := i
		for j < len(b) && b[j] != ',' && b[j] != '}' && b[j] != ']' && b[j] != ' ' && b[j] != '\t' && b[j] != '\n' && b[j] != '\r' {
			j++
		}
		return j, j > i
	}
}

// EachMember calls fn with the raw key (quotes included) and the raw value
// of every member of the JSON object obj, in order, stopping at the first
// error fn returns. obj must be valid JSON (singer.Reader validates every
// line): EachMember checks structure and bounds but not every detail, so it
// never panics, and on invalid input it may return ErrMalformed or values
// that are not valid JSON. This lets a record be decoded once, straight
// into what the caller needs. key and value are sub-slices of obj.
func EachMember(obj []byte, fn func(key, value []byte) error) error {
	i := SkipSpace(obj, 0)
	if i >= len(obj) || obj[i] != '{' {
		return ErrMalformed
	}
	i = SkipSpace(obj, i+1)
	if i < len(obj) && obj[i] == '}' {
		return nil
	}
	for {
		if i >= len(obj) || obj[i] != '"' {
			return ErrMalformed
		}
		kEnd := StringEnd(obj, i)
		if kEnd < 0 {
			return ErrMalformed
		}
		key := obj[i:kEnd]
		i = SkipSpace(obj, kEnd)
		if i >= len(obj) || obj[i] != ':' {
			return ErrMalformed
		}
		i = SkipSpace(obj, i+1)
		vEnd, ok := ValueEnd(obj, i)
		if !ok {
			return ErrMalformed
		}
		if err := fn(key, obj[i:vEnd]); err != nil {
			return err
		}
		i = SkipSpace(obj, vEnd)
		if i >= len(obj) {
			return ErrMalformed
		}
		switch obj[i] {
		case ',':
			i = SkipSpace(obj, i+1)
		case '}':
			return nil
		default:
			return ErrMalformed
		}
	}
}
