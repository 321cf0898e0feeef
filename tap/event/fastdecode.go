package event

import (
	"encoding/json"

	"github.com/cio-singer/tap-customerio-webhook/internal/jsonlex"
)

// fastDecode parses body, one JSON object between optional whitespace, into
// what encoding/json's Decoder with UseNumber makes of it (map[string]any,
// []any, string, json.Number, bool, nil), in one pass and several times
// faster. body must be valid UTF-8. It reports ok=false for anything it
// does not accept, and decode then asks encoding/json, whose verdict and
// messages stand: it never accepts what encoding/json rejects, or decodes
// anything differently (FuzzFastDecode checks both).
func fastDecode(body []byte) (doc map[string]any, ok bool) {
	p := decoder{b: body}
	p.skipSpace()
	if p.i >= len(p.b) || p.b[p.i] != '{' {
		return nil, false
	}
	v, ok := p.value(0)
	if !ok {
		return nil, false
	}
	p.skipSpace()
	if p.i != len(p.b) {
		return nil, false
	}
	return v.(map[string]any), true
}

// maxFastDepth is encoding/json's nesting limit; deeper documents are left
// to it.
const maxFastDepth = jsonlex.MaxDepth

type decoder struct {
	b []byte
	i int
}

func (p *decoder) skipSpace() { p.i = jsonlex.SkipSpace(p.b, p.i) }

// next consumes what follows a member or element: a comma (more follow) or
// the closing bracket (done).
func (p *decoder) next(closing byte) (more, ok bool) {
	p.skipSpace()
	if p.i >= len(p.b) {
		return false, false
	}
	switch p.b[p.i] {
	case ',':
		p.i++
		p.skipSpace()
		return true, true
	case closing:
		p.i++
		return false, true
	}
	return false, false
}

func (p *decoder) value(depth int) (any, bool) {
	if p.i >= len(p.b) {
		return nil, false
	}
	switch c := p.b[p.i]; {
	case c == '{':
		return p.object(depth + 1)
	case c == '[':
		return p.array(depth + 1)
	case c == '"':
		s, ok := p.str()
		return s, ok
	case c == 't':
		return true, p.literal("true")
	case c == 'f':
		return false, p.literal("false")
	case c == 'n':
		return nil, p.literal("null")
	case c == '-' || c >= '0' && c <= '9':
		return p.number()
	}
	return nil, false
}

func (p *decoder) literal(word string) bool {
	if len(p.b)-p.i < len(word) || string(p.b[p.i:p.i+len(word)]) != word {
		return false
	}
	p.i += len(word)
	return true
}

func (p *decoder) object(depth int) (any, bool) {
	if depth > maxFastDepth {
		return nil, false
	}
	p.i++ // {
	m := make(map[string]any)
	p.skipSpace()
	if p.i < len(p.b) && p.b[p.i] == '}' {
		p.i++
		return m, true
	}
	for {
		if p.i >= len(p.b) || p.b[p.i] != '"' {
			return nil, false
		}
		k, ok := p.str()
		if !ok {
			return nil, false
		}
		p.skipSpace()
		if p.i >= len(p.b) || p.b[p.i] != ':' {
			return nil, false
		}
		p.i++
		p.skipSpace()
		v, ok := p.value(depth)
		if !ok {
			return nil, false
		}
		m[k] = v // a repeated key: the last wins, as in encoding/json
		if more, ok := p.next('}'); !more {
			return m, ok
		}
	}
}

func (p *decoder) array(depth int) (any, bool) {
	if depth > maxFastDepth {
		return nil, false
	}
	p.i++               // [
	a := make([]any, 0) // never nil, as in encoding/json
	p.skipSpace()
	if p.i < len(p.b) && p.b[p.i] == ']' {
		p.i++
		return a, true
	}
	for {
		v, ok := p.value(depth)
		if !ok {
			return nil, false
		}
		a = append(a, v)
		if more, ok := p.next(']'); !more {
			return a, ok
		}
	}
}

// str parses the string at p.i (its opening quote) as encoding/json does.
func (p *decoder) str() (string, bool) {
	s, end, ok := jsonlex.ParseString(p.b, p.i)
	p.i = end
	return s, ok
}

// number parses the number at p.i; encoding/json's Decoder with UseNumber
// keeps its literal.
func (p *decoder) number() (any, bool) {
	start := p.i
	end, ok := jsonlex.ScanNumber(p.b, p.i)
	p.i = end
	return json.Number(p.b[start:end]), ok
}
