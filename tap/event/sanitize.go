package event

import (
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/cio-singer/tap-customerio-webhook/internal/jsonlex"
)

// Loadable JSON. Targets store strings as PostgreSQL text or jsonb, which
// refuse \u0000 ("unsupported Unicode escape sequence"); jsonb also
// refuses lone UTF-16 surrogate escapes, and Python targets cannot write a
// lone surrogate out as UTF-8. Duplicate member names mean different
// things to different readers. One such body in a batch stops a target for
// good, so the tap emits none: see Sanitize.

// maxDepth is encoding/json's nesting limit, so that Sanitize accepts
// exactly what the decoder that classifies bodies accepts.
const maxDepth = jsonlex.MaxDepth

// replacement is U+FFFD in UTF-8.
const replacement = jsonlex.Replacement

// Sanitize returns the JSON text src (one value, whitespace around it
// allowed) compacted onto one line with every string, member names and
// values, loadable: a \u0000 escape, a lone surrogate escape (a high one
// not followed by a low one, or a low one alone) and each byte that is not
// UTF-8 become U+FFFD; of an object's members whose names are equal after
// that, only the last is kept, where it stands. Everything else stays byte
// for byte: number literals, other escapes, member order. changed reports
// whether anything beyond whitespace changed. It fails when src is not JSON.
func Sanitize(src []byte) (out []byte, changed bool, err error) {
	s := sanitizer{src: src, out: make([]byte, 0, len(src))}
	s.skipSpace()
	if err := s.value(0); err != nil {
		return nil, false, err
	}
	s.skipSpace()
	if s.pos < len(src) {
		return nil, false, s.errorf("data after the JSON value")
	}
	return s.out, s.changed, nil
}

type sanitizer struct {
	src     []byte
	pos     int
	out     []byte
	changed bool
	name    []byte // scratch: the decoded name of the member being read
}

var errEnd = errors.New("unexpected end of JSON")

func (s *sanitizer) errorf(format string, args ...any) error {
	return fmt.Errorf("invalid JSON at byte %d: %s", s.pos, fmt.Sprintf(format, args...))
}

func (s *sanitizer) skipSpace() { s.pos = jsonlex.SkipSpace(s.src, s.pos) }

func (s *sanitizer) value(depth int) error {
	if s.pos >= len(s.src) {
		return errEnd
	}
	switch c := s.src[s.pos]; {
	case c == '{':
		return s.object(depth + 1)
	case c == '[':
		return s.array(depth + 1)
	case c == '"':
		return s.string(false)
	case c == '-' || (c >= '0' && c <= '9'):
		return s.number()
	case c == 't':
		return s.literal("true")
	case c == 'f':
		return s.literal("false")
	case c == 'n':
		return s.literal("null")
	default:
		return s.errorf("unexpected %q", c)
	}
}

// member is where one object member was written in out.
type member struct {
	name       string
	start, end int
}

func (s *sanitizer) object(depth int) error {
	objStart := len(s.out)
	if empty, err := s.open(depth, '}'); empty || err != nil {
		return err
	}
	var members []member
	for {
		if s.pos >= len(s.src) || s.src[s.pos] != '"' {
			return s.errorf("expected a member name")
		}
		start := len(s.out)
		s.name = s.name[:0]
		if err := s.string(true); err != nil {
			return err
		}
		name := string(s.name)
		s.skipSpace()
		if s.pos >= len(s.src) || s.src[s.pos] != ':' {
			return s.errorf("expected ':' after a member name")
		}
		s.out = append(s.out, ':')
		s.pos++
		s.skipSpace()
		if err := s.value(depth); err != nil {
			return err
		}
		members = append(members, member{name: name, start: start, end: len(s.out)})
		if more, err := s.next('}'); !more || err != nil {
			if err == nil {
				s.out = s.lastOfEachName(objStart, members)
				s.out = append(s.out, '}')
			}
			return err
		}
	}
}

// lastOfEachName drops the members of the object written from objStart
// whose name a later member repeats, and returns out up to the last kept
// member (without the closing brace).
func (s *sanitizer) lastOfEachName(objStart int, members []member) []byte {
	if len(members) < 2 {
		return s.out
	}
	last := make(map[string]int, len(members))
	for i, m := range members {
		last[m.name] = i
	}
	if len(last) == len(members) {
		return s.out
	}
	s.changed = true
	w := objStart + 1
	for i, m := range members {
		if last[m.name] != i {
			continue
		}
		if w > objStart+1 {
			s.out[w] = ','
			w++
		}
		w += copy(s.out[w:], s.out[m.start:m.end]) // moves left: w <= m.start
	}
	return s.out[:w]
}

func (s *sanitizer) array(depth int) error {
	if empty, err := s.open(depth, ']'); empty || err != nil {
		return err
	}
	for {
		if err := s.value(depth); err != nil {
			return err
		}
		if more, err := s.next(']'); !more || err != nil {
			if err == nil {
				s.out = append(s.out, ']')
			}
			return err
		}
	}
}

// open copies the '{' or '[' at pos, checking depth, and reports whether
// closer follows at once (empty: copied too).
func (s *sanitizer) open(depth int, closer byte) (empty bool, err error) {
	if depth > maxDepth {
		return false, s.errorf("nested deeper than %d", maxDepth)
	}
	s.out = append(s.out, s.src[s.pos])
	s.pos++
	s.skipSpace()
	if s.pos < len(s.src) && s.src[s.pos] == closer {
		s.out = append(s.out, closer)
		s.pos++
		return true, nil
	}
	return false, nil
}

// next reads what follows an element: ',' (copied; more) or closer (not
// copied: an object still drops duplicates before closing).
func (s *sanitizer) next(closer byte) (more bool, err error) {
	s.skipSpace()
	if s.pos >= len(s.src) {
		return false, errEnd
	}
	switch s.src[s.pos] {
	case ',':
		s.out = append(s.out, ',')
		s.pos++
		s.skipSpace()
		return true, nil
	case closer:
		s.pos++
		return false, nil
	default:
		return false, s.errorf("expected ',' or '%c'", closer)
	}
}

// string copies the string at pos, replacing what is not loadable. With
// isName it also decodes the string into s.name.
func (s *sanitizer) string(isName bool) error {
	s.out = append(s.out, '"')
	s.pos++
	for s.pos < len(s.src) {
		c := s.src[s.pos]
		switch {
		case c == '"':
			s.out = append(s.out, '"')
			s.pos++
			return nil
		case c < 0x20:
			return s.errorf("control character in a string")
		case c == '\\':
			if err := s.escape(isName); err != nil {
				return err
			}
		case c < utf8.RuneSelf:
			s.out = append(s.out, c)
			if isName {
				s.name = append(s.name, c)
			}
			s.pos++
		default:
			r, size := utf8.DecodeRune(s.src[s.pos:])
			if r == utf8.RuneError && size == 1 {
				s.replace(isName)
			} else {
				s.out = append(s.out, s.src[s.pos:s.pos+size]...)
				if isName {
					s.name = append(s.name, s.src[s.pos:s.pos+size]...)
				}
			}
			s.pos += size
		}
	}
	return errEnd
}

func (s *sanitizer) replace(isName bool) {
	s.out = append(s.out, replacement...)
	if isName {
		s.name = append(s.name, replacement...)
	}
	s.changed = true
}

// escape copies the escape sequence at pos, or writes U+FFFD for \u0000
// and a lone surrogate.
func (s *sanitizer) escape(isName bool) error {
	if s.pos+1 >= len(s.src) {
		return errEnd
	}
	e := s.src[s.pos+1]
	if e != 'u' {
		c := jsonlex.Unescape(e)
		if c == 0 {
			return s.errorf("invalid escape \\%c", e)
		}
		s.out = append(s.out, '\\', e)
		if isName {
			s.name = append(s.name, c)
		}
		s.pos += 2
		return nil
	}
	n, r, unloadable, ok := jsonlex.UEscape(s.src[s.pos:])
	switch {
	case !ok:
		return s.errorf("invalid \\u escape")
	case unloadable:
		s.replace(isName)
	default:
		s.out = append(s.out, s.src[s.pos:s.pos+n]...)
		if isName {
			s.name = utf8.AppendRune(s.name, r)
		}
	}
	s.pos += n
	return nil
}

// number copies a number literal, checking its grammar.
func (s *sanitizer) number() error {
	end, ok := jsonlex.ScanNumber(s.src, s.pos)
	if !ok {
		s.pos = end
		return s.errorf("invalid number")
	}
	s.out = append(s.out, s.src[s.pos:end]...)
	s.pos = end
	return nil
}

func (s *sanitizer) literal(word string) error {
	if len(s.src)-s.pos < len(word) || string(s.src[s.pos:s.pos+len(word)]) != word {
		return s.errorf("invalid literal")
	}
	s.out = append(s.out, word...)
	s.pos += len(word)
	return nil
}

// compactScan appends src, a JSON text known to be valid, to dst without
// insignificant whitespace, and reports how many object members it holds
// (its colons outside strings) and whether a string holds a \u0000 or lone
// surrogate escape. It is the cheap test that lets a clean body skip
// Sanitize: fewer members in the decoded body than here means duplicate
// names.
func compactScan(dst, src []byte) (out []byte, members int, unloadable bool) {
	inString := false
	for i := 0; i < len(src); i++ {
		c := src[i]
		if inString {
			switch c {
			case '"':
				inString = false
			case '\\':
				n := 2
				if src[i+1] == 'u' {
					var bad, ok bool
					n, _, bad, ok = jsonlex.UEscape(src[i:])
					unloadable = unloadable || bad || !ok
				}
				dst = append(dst, src[i:i+n]...)
				i += n - 1
				continue
			}
			dst = append(dst, c)
			continue
		}
		switch c {
		case ' ', '\t', '\n', '\r':
			continue
		case '"':
			inString = true
		case ':':
			members++
		}
		dst = append(dst, c)
	}
	return dst, members, unloadable
}
