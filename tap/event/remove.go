package event

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"unicode/utf8"

	"github.com/cio-singer/tap-customerio-webhook/internal/jsonlex"
)

// errShape means a deselected field cannot be found safely: the document,
// or a value on the field's path, is neither an object nor null, so the
// field's value may be inside it in some other form.
type errShape struct{ at []string }

func (e errShape) Error() string {
	if len(e.at) == 0 {
		return "the body is not a JSON object"
	}
	return strings.Join(e.at, ".") + " is not an object"
}

// errNotJSON is removePath's answer to text that is not one JSON value.
var errNotJSON = errors.New("not valid JSON")

// removePath returns the JSON object obj without the members at path (a
// list of property names, compared decoded), and without one comma next
// to each, keeping every other byte as it was: names and values arrive as
// sent. A path that is absent, or that meets null, leaves obj as it is; a
// path that crosses any other value that is not an object, or an obj that
// is not an object, is an errShape. The one pass removes fields the same
// way while it reads a body (onePass.cuts).
func removePath(obj json.RawMessage, path []string) (json.RawMessage, error) {
	if !jsonlex.Valid(obj) {
		return nil, errNotJSON
	}
	if len(path) == 0 {
		return obj, nil // no field
	}
	out, _, err := removeAt(obj, path, 0)
	return out, err
}

// removeAt removes path[depth:] from obj, the valid JSON value at
// path[:depth], and reports whether anything was removed.
func removeAt(obj []byte, path []string, depth int) (out []byte, changed bool, err error) {
	i := jsonlex.SkipSpace(obj, 0)
	if obj[i] == 'n' {
		return obj, false, nil // null: nothing to remove
	}
	if obj[i] != '{' {
		return nil, false, errShape{at: path[:depth]}
	}
	if i = jsonlex.SkipSpace(obj, i+1); obj[i] == '}' {
		return obj, false, nil
	}
	copied := 0       // obj[:copied] is in out
	kept := false     // a member of obj stays before the current one
	commaBefore := -1 // where the comma before the current member lies
	for {
		keyEnd := jsonlex.StringEnd(obj, i)
		match := nameIs(obj[i:keyEnd], path[depth])
		valueStart := jsonlex.SkipSpace(obj, jsonlex.SkipSpace(obj, keyEnd)+1)
		valueEnd, _ := jsonlex.ValueEnd(obj, valueStart)
		after := jsonlex.SkipSpace(obj, valueEnd)
		more := obj[after] == ','
		switch {
		case match && len(path) == depth+1:
			from, to := memberCut(commaBefore, i, valueEnd, after, kept, more)
			out, copied, changed = append(out, obj[copied:from]...), to, true
		case match:
			inner, innerChanged, err := removeAt(obj[valueStart:valueEnd], path, depth+1)
			if err != nil {
				return nil, false, err
			}
			if innerChanged {
				out = append(append(out, obj[copied:valueStart]...), inner...)
				copied, changed = valueEnd, true
			}
			kept = true
		default:
			kept = true
		}
		if !more {
			break
		}
		commaBefore, i = after, jsonlex.SkipSpace(obj, after+1)
	}
	if !changed {
		return obj, false, nil
	}
	return append(out, obj[copied:]...), true, nil
}

// memberCut is the part of its object's text that removing the member
// from key to valueEnd takes away: the comma before it when a member
// stays before it, else the comma after it (at after) when more follow.
func memberCut(commaBefore, key, valueEnd, after int, kept, more bool) (from, to int) {
	switch {
	case kept:
		return commaBefore, valueEnd
	case more:
		return key, after + 1
	}
	return key, valueEnd
}

// nameIs reports whether the raw member name (quotes included) decodes to
// name.
func nameIs(raw []byte, name string) bool {
	inner := raw[1 : len(raw)-1]
	if bytes.IndexByte(inner, '\\') < 0 && utf8.Valid(inner) {
		return string(inner) == name
	}
	s, _, ok := jsonlex.ParseString(raw, 0)
	return ok && s == name
}
