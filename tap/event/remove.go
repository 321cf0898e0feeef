package event

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// removePath returns the JSON object obj without the member at path (a
// list of property names), keeping every other member, its order and its
// bytes. A path that is absent, or that crosses a value that is not an
// object, leaves obj as it is.
func removePath(obj json.RawMessage, path []string) (json.RawMessage, error) {
	if len(path) == 0 {
		return obj, nil
	}
	dec := json.NewDecoder(bytes.NewReader(obj))
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return obj, nil // not an object: nothing to remove
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
		if key == path[0] {
			if len(path) == 1 {
				changed = true
				continue
			}
			inner, err := removePath(value, path[1:])
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
