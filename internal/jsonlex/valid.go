package jsonlex

import (
	"encoding/binary"
	"math/bits"
)

// MaxDepth is encoding/json's nesting limit: Valid refuses what
// encoding/json refuses.
const MaxDepth = 10000

// Valid reports whether b is one JSON value between optional whitespace,
// exactly as json.Valid does (which, like it, does not check that strings
// are UTF-8), in one pass and several times faster.
func Valid(b []byte) bool {
	end, ok := validValue(b, SkipSpace(b, 0), 0)
	return ok && SkipSpace(b, end) == len(b)
}

// A Member is where one member of a JSON object lies, as offsets into the
// object's text: the key, quotes included, is obj[KeyStart:KeyEnd] and the
// value obj[ValueStart:ValueEnd]. KeyEscaped, and ValueEscaped when the
// value is a string, tell whether the text holds a backslash escape;
// without one, the text between the quotes is the string (as bytes, which
// may be invalid UTF-8), so it needs no decoding.
type Member struct {
	KeyStart, KeyEnd, ValueStart, ValueEnd int
	KeyEscaped, ValueEscaped               bool
}

// Key returns the member's raw key (quotes included) in obj.
func (m Member) Key(obj []byte) []byte { return obj[m.KeyStart:m.KeyEnd] }

// Value returns the member's raw value in obj.
func (m Member) Value(obj []byte) []byte { return obj[m.ValueStart:m.ValueEnd] }

// EachValidMember is EachMember for input not known to be valid: obj must
// be one JSON object between optional whitespace, checked as Valid checks
// it while the members are found, so a line is validated and taken apart
// in one pass. When a member's value is an object, fn also gets, in inner,
// where that object's own members lie (offsets into value), found in the
// same pass, so the caller can take it apart without scanning it again;
// inner is nil exactly for other values. The inner lists are appended to buf,
// which is returned for reuse; they stay valid until buf is reused. It
// returns ErrMalformed when obj is not valid JSON; fn may have been called
// for the members before the fault.
func EachValidMember(obj []byte, buf []Member, fn func(key, value []byte, inner []Member) error) ([]Member, error) {
	i := SkipSpace(obj, 0)
	if i >= len(obj) || obj[i] != '{' {
		return buf, ErrMalformed
	}
	from := len(buf)
	end, err := members(obj, i, 1, func(m Member) error {
		var inner []Member
		if obj[m.ValueStart] == '{' {
			inner = buf[from:len(buf):len(buf)]
			if inner == nil {
				inner = []Member{}
			}
			for k := range inner {
				inner[k].shift(-m.ValueStart)
			}
		}
		from = len(buf)
		return fn(m.Key(obj), m.Value(obj), inner)
	}, func(m Member) error {
		buf = append(buf, m)
		return nil
	})
	if err != nil {
		return buf, err
	}
	if SkipSpace(obj, end) != len(obj) {
		return buf, ErrMalformed
	}
	return buf, nil
}

func (m *Member) shift(by int) {
	m.KeyStart += by
	m.KeyEnd += by
	m.ValueStart += by
	m.ValueEnd += by
}

func validValue(b []byte, i, depth int) (int, bool) {
	if i >= len(b) {
		return 0, false
	}
	switch c := b[i]; {
	case c == '"':
		end, _, ok := validString(b, i)
		return end, ok
	case c == '{':
		end, err := members(b, i, depth+1, nil, nil)
		return end, err == nil
	case c == '[':
		return validArray(b, i, depth+1)
	case c == 't':
		return literal(b, i, "true")
	case c == 'f':
		return literal(b, i, "false")
	case c == 'n':
		return literal(b, i, "null")
	case c == '-' || isDigit(c):
		return ScanNumber(b, i)
	}
	return 0, false
}

func literal(b []byte, i int, word string) (int, bool) {
	if len(b)-i < len(word) || string(b[i:i+len(word)]) != word {
		return 0, false
	}
	return i + len(word), true
}

// ScanString checks the JSON string that starts at b[i] == '"' without
// decoding it: control characters, escapes and \u digits as encoding/json
// checks them, but not UTF-8 (utf8.Valid the whole text once). It returns
// the index after the closing quote and whether the string holds an
// escape; ok is false when it is not a valid JSON string.
func ScanString(b []byte, i int) (end int, escaped, ok bool) { return validString(b, i) }

// validString returns the index after the valid JSON string at b[i], and
// whether it holds an escape.
func validString(b []byte, i int) (end int, escaped, ok bool) {
	j := i + 1
	for {
		j = plainEnd(b, j)
		if j >= len(b) || b[j] < 0x20 {
			return 0, false, false
		}
		if b[j] == '"' {
			return j + 1, escaped, true
		}
		escaped = true // b[j] is a backslash
		if j+1 >= len(b) {
			return 0, false, false
		}
		if e := b[j+1]; e != 'u' {
			if escapes[e] == 0 {
				return 0, false, false
			}
			j += 2
			continue
		}
		if _, ok := Hex4(b[j+2:]); !ok {
			return 0, false, false
		}
		j += 6
	}
}

// plainEnd returns the index of the first byte at or after j that a JSON
// string cannot hold as it is (a quote, a backslash or a control
// character), or len(b). It tests eight bytes at a time: strings are most
// of what a line holds, so this loop is most of what validating costs.
func plainEnd(b []byte, j int) int {
	for ; j+8 <= len(b); j += 8 {
		w := binary.LittleEndian.Uint64(b[j:])
		if m := zeroBytes(w^(ones*'"')) | zeroBytes(w^(ones*'\\')) | bytesBelow(w, 0x20); m != 0 {
			return j + bits.TrailingZeros64(m)/8
		}
	}
	for ; j < len(b); j++ {
		if c := b[j]; c == '"' || c == '\\' || c < 0x20 {
			return j
		}
	}
	return j
}

// ones has every byte 1: ones*c has every byte c.
const ones = 0x0101010101010101

// zeroBytes has the high bit of the lowest zero byte of w set, and no
// lower bit; it is 0 when w has none. (Bytes above that one may be
// flagged wrongly.)
func zeroBytes(w uint64) uint64 { return (w - ones) &^ w & (ones * 0x80) }

// bytesBelow is zeroBytes for the bytes below n (n <= 0x80).
func bytesBelow(w uint64, n byte) uint64 { return (w - ones*uint64(n)) &^ w & (ones * 0x80) }

func validArray(b []byte, i, depth int) (int, bool) {
	if depth > MaxDepth {
		return 0, false
	}
	i = SkipSpace(b, i+1)
	if i < len(b) && b[i] == ']' {
		return i + 1, true
	}
	for {
		end, ok := validValue(b, i, depth)
		if !ok {
			return 0, false
		}
		i = SkipSpace(b, end)
		if i >= len(b) {
			return 0, false
		}
		switch b[i] {
		case ',':
			i = SkipSpace(b, i+1)
		case ']':
			return i + 1, true
		default:
			return 0, false
		}
	}
}

// members checks the object at b[i] and returns the index after it. When
// found is not nil it is called with where each member lies in b; when
// inner is not nil, it is called so with the members of each member's
// value that is an object, before found is called with that member. The
// error is ErrMalformed or a callback's.
func members(b []byte, i, depth int, found, inner func(Member) error) (int, error) {
	if depth > MaxDepth {
		return 0, ErrMalformed
	}
	i = SkipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		return i + 1, nil
	}
	for {
		if i >= len(b) || b[i] != '"' {
			return 0, ErrMalformed
		}
		kEnd, kEscaped, ok := validString(b, i)
		if !ok {
			return 0, ErrMalformed
		}
		j := SkipSpace(b, kEnd)
		if j >= len(b) || b[j] != ':' {
			return 0, ErrMalformed
		}
		j = SkipSpace(b, j+1)
		var vEnd int
		var vEscaped bool
		switch {
		case j < len(b) && b[j] == '"':
			vEnd, vEscaped, ok = validString(b, j)
		case j < len(b) && b[j] == '{' && inner != nil:
			var err error
			if vEnd, err = members(b, j, depth+1, inner, nil); err != nil {
				return 0, err
			}
		default:
			vEnd, ok = validValue(b, j, depth)
		}
		if !ok {
			return 0, ErrMalformed
		}
		if found != nil {
			if err := found(Member{i, kEnd, j, vEnd, kEscaped, vEscaped}); err != nil {
				return 0, err
			}
		}
		i = SkipSpace(b, vEnd)
		if i >= len(b) {
			return 0, ErrMalformed
		}
		switch b[i] {
		case ',':
			i = SkipSpace(b, i+1)
		case '}':
			return i + 1, nil
		default:
			return 0, ErrMalformed
		}
	}
}
