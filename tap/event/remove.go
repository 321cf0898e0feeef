package event

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
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

// removePath returns the JSON object obj without the member at path (a
// list of property names), keeping every other member, its order and its
// bytes. A path that is absent, or that meets null, leaves obj as it is; a
// path that crosses any other value that is not an object, or an obj that
// is not an object, is an errShape.
func removePath(obj json.RawMessage, path []string) (json.RawMessage, error) {
	return removeAt(obj, path, 0)
}

// removeAt removes path[depth:] from obj, the value at path[:depth].
func removeAt(obj json.RawMessage, path []string, depth int) (json.RawMessage, error) {
	if len(path) == depth {
		return obj, nil
	}
	dec := json.NewDecoder(bytes.NewReader(obj))
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	if tok == nil {
		return obj, nil // null: nothing to remove
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, errShape{at: path[:depth]}
	}
	var out bytes.Buffer
	out.Grow(len(obj))
	out.WriteByte('{')
	changed := false
	first := true
	for dec.More() {
		keyTok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		key, ok := keyTok.(string)
		if !ok {
			return nil, errors.New("object key is not a string")
		}
		var value json.RawMessage
		if err := dec.Decode(&value); err != nil {
			return nil, err
		}
		if key == path[depth] {
			if len(path) == depth+1 {
				changed = true
				continue
			}
			inner, err := removeAt(value, path, depth+1)
			if err != nil {
				return nil, err
			}
			changed = changed || !bytes.Equal(inner, value)
			value = inner
		}
		if !first {
			out.WriteByte(',')
		}
		first = false
		if err := writeKey(&out, key); err != nil {
			return nil, err
		}
		out.WriteByte(':')
		out.Write(value)
	}
	if !changed {
		return obj, nil
	}
	out.WriteByte('}')
	return out.Bytes(), nil
}

func writeKey(out *bytes.Buffer, key string) error {
	enc := json.NewEncoder(out)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(key); err != nil {
		return fmt.Errorf("encoding key: %w", err)
	}
	out.Truncate(out.Len() - 1) // Encode appends a newline
	return nil
}
