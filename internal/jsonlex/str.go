package jsonlex

import (
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// Replacement is U+FFFD in UTF-8: what NUL, a lone surrogate and a byte
// that is not UTF-8 become, in decoded strings and in loadable JSON.
const Replacement = "\uFFFD"

// escapes maps the character after a backslash to what it stands for; 0
// means it is not a one-character escape ('u' is not).
var escapes = [256]byte{'"': '"', '\\': '\\', '/': '/', 'b': '\b', 'f': '\f', 'n': '\n', 'r': '\r', 't': '\t'}

// Unescape returns the byte the escape \e stands for, or 0 when \e is not
// a one-character escape (\u is not one).
func Unescape(e byte) byte { return escapes[e] }

// Hex4 decodes the four hex digits at the start of b.
func Hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// UEscape reads the \u escape at the start of b (b[0:2] is `\u`). It
// returns its length, 12 for a surrogate pair written as two escapes and 6
// otherwise; the character it stands for, U+FFFD for a lone surrogate (a
// high one not followed by an escaped low one, or a low one alone), as
// encoding/json decodes it; and whether it is unloadable: \u0000, which
// PostgreSQL text and jsonb refuse, or a lone surrogate, which jsonb
// refuses and UTF-8 cannot hold. ok is false when four hex digits do not
// follow.
func UEscape(b []byte) (n int, r rune, unloadable, ok bool) {
	if len(b) < 2 {
		return 6, 0, false, false
	}
	r, ok = Hex4(b[2:])
	switch {
	case !ok:
		return 6, 0, false, false
	case r == 0:
		return 6, 0, true, true
	case !utf16.IsSurrogate(r):
		return 6, r, false, true
	}
	if r < 0xDC00 && len(b) >= 12 && b[6] == '\\' && b[7] == 'u' {
		if low, ok := Hex4(b[8:]); ok && low >= 0xDC00 && low <= 0xDFFF {
			return 12, utf16.DecodeRune(r, low), false, true
		}
	}
	return 6, utf8.RuneError, true, true
}

// ParseString decodes the JSON string that starts at b[i] == '"' exactly
// as encoding/json does (an invalid UTF-8 byte or a lone surrogate escape
// becomes U+FFFD, a control character or an unknown escape is an error),
// and returns it with the index after its closing quote. ok is false when
// it is not a valid JSON string.
func ParseString(b []byte, i int) (s string, end int, ok bool) {
	var high byte
	for j := i + 1; j < len(b); j++ {
		c := b[j]
		switch {
		case c == '"':
			raw := b[i+1 : j]
			if high >= utf8.RuneSelf && !utf8.Valid(raw) {
				out, _, _ := appendUnquoted(make([]byte, 0, len(raw)+8), b, i+1)
				return string(out), j + 1, true
			}
			return string(raw), j + 1, true
		case c == '\\':
			out, from := append(make([]byte, 0, j-i+16), b[i+1:j]...), j
			if high >= utf8.RuneSelf { // the part before may hold invalid UTF-8
				out, from = out[:0], i+1
			}
			out, end, ok := appendUnquoted(out, b, from)
			if !ok {
				return "", 0, false
			}
			return string(out), end, true
		case c < 0x20:
			return "", 0, false
		}
		high |= c
	}
	return "", 0, false
}

// appendUnquoted decodes the rest of a string from b[j] onwards, up to and
// including its closing quote, onto out.
func appendUnquoted(out, b []byte, j int) ([]byte, int, bool) {
	for j < len(b) {
		c := b[j]
		switch {
		case c == '"':
			return out, j + 1, true
		case c < 0x20:
			return nil, 0, false
		case c == '\\':
			if j+1 >= len(b) {
				return nil, 0, false
			}
			if e := b[j+1]; e != 'u' {
				if escapes[e] == 0 {
					return nil, 0, false
				}
				out = append(out, escapes[e])
				j += 2
				continue
			}
			n, r, _, ok := UEscape(b[j:])
			if !ok {
				return nil, 0, false
			}
			out = utf8.AppendRune(out, r)
			j += n
		case c < utf8.RuneSelf:
			out = append(out, c)
			j++
		default:
			var size int
			out, size = appendRune(out, b[j:])
			j += size
		}
	}
	return nil, 0, false
}

// LoadableString decodes the JSON string raw (quotes included) as
// ParseString does and replaces NUL, which PostgreSQL text cannot hold,
// with U+FFFD.
func LoadableString(raw []byte) (string, bool) {
	s, end, ok := ParseString(raw, 0)
	if !ok || end != len(raw) {
		return "", false
	}
	return ReplaceNUL(s), true
}

// ReplaceNUL returns s with every NUL byte replaced by U+FFFD: PostgreSQL
// text cannot hold NUL. It returns s itself when s has none.
func ReplaceNUL(s string) string {
	if strings.IndexByte(s, 0) < 0 {
		return s
	}
	return strings.ReplaceAll(s, "\x00", Replacement)
}

// AppendLoadableString appends the JSON string s (quotes included) to out
// with \u0000, lone surrogate escapes and invalid UTF-8 replaced by U+FFFD
// (written as the escape \ufffd where it replaces an escape). Other escapes
// are kept as written.
func AppendLoadableString(out, s []byte) []byte {
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '\\' && i+1 < len(s):
			if s[i+1] != 'u' || i+6 > len(s) {
				out = append(out, s[i], s[i+1])
				i += 2
				continue
			}
			n, _, unloadable, ok := UEscape(s[i:])
			switch {
			case !ok:
				out = append(out, s[i:i+6]...)
			case unloadable:
				out = append(out, `\ufffd`...)
			default:
				out = append(out, s[i:i+n]...)
			}
			i += n
		case c < utf8.RuneSelf:
			out = append(out, c)
			i++
		default:
			var size int
			out, size = appendRune(out, s[i:])
			i += size
		}
	}
	return out
}

// appendRune appends the UTF-8 character at the start of b, or U+FFFD for
// a byte that does not start one, and says how many bytes it read.
func appendRune(out, b []byte) ([]byte, int) {
	r, size := utf8.DecodeRune(b)
	if r == utf8.RuneError && size <= 1 {
		return append(out, Replacement...), 1
	}
	return append(out, b[:size]...), size
}
