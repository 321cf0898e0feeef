package jsonlex

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

// EachValidMember is EachMember for input not known to be valid: obj must
// be one JSON object between optional whitespace, checked as Valid checks
// it while the members are found, so a line is validated and taken apart
// in one pass. It returns ErrMalformed when obj is not valid JSON; fn may
// have been called for the members before the fault.
func EachValidMember(obj []byte, fn func(key, value []byte) error) error {
	i := SkipSpace(obj, 0)
	if i >= len(obj) || obj[i] != '{' {
		return ErrMalformed
	}
	end, err := members(obj, i, 1, fn)
	if err != nil {
		return err
	}
	if SkipSpace(obj, end) != len(obj) {
		return ErrMalformed
	}
	return nil
}

func validValue(b []byte, i, depth int) (int, bool) {
	if i >= len(b) {
		return 0, false
	}
	switch c := b[i]; {
	case c == '"':
		return validString(b, i)
	case c == '{':
		end, err := members(b, i, depth+1, nil)
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

// validString returns the index after the valid JSON string at b[i].
func validString(b []byte, i int) (int, bool) {
	for j := i + 1; j < len(b); j++ {
		switch c := b[j]; {
		case c == '"':
			return j + 1, true
		case c < 0x20:
			return 0, false
		case c == '\\':
			if j+1 >= len(b) {
				return 0, false
			}
			if e := b[j+1]; e != 'u' {
				if escapes[e] == 0 {
					return 0, false
				}
				j++
				continue
			}
			if _, ok := Hex4(b[j+2:]); !ok {
				return 0, false
			}
			j += 5
		}
	}
	return 0, false
}

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

// members checks the object at b[i] and returns the index after it,
// calling fn, when not nil, with each member. The error is ErrMalformed or
// fn's.
func members(b []byte, i, depth int, fn func(key, value []byte) error) (int, error) {
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
		kEnd, ok := validString(b, i)
		if !ok {
			return 0, ErrMalformed
		}
		j := SkipSpace(b, kEnd)
		if j >= len(b) || b[j] != ':' {
			return 0, ErrMalformed
		}
		j = SkipSpace(b, j+1)
		vEnd, ok := validValue(b, j, depth)
		if !ok {
			return 0, ErrMalformed
		}
		if fn != nil {
			if err := fn(b[i:kEnd], b[j:vEnd]); err != nil {
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
