package catalog

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/cio-singer/tap-customerio-webhook/schemas"
)

// Selection is what the emitter needs of one selected stream.
type Selection struct {
	Stream        string
	Schema        json.RawMessage // compact; the catalog's schema without deselected fields
	KeyProperties []string
	// Drop lists the deselected fields as paths of property names, e.g.
	// {"data", "recipient"}; the emitter removes them from every record.
	Drop [][]string
}

// Select resolves which streams and fields c selects, following the rules
// the Singer SDK implements: no metadata selects everything; a deselected
// parent deselects its children; "automatic" fields (the keys) are always
// kept and "unsupported" ones never; otherwise "selected", then
// "selected-by-default", then the parent decides. Streams this tap does not
// produce are ignored.
func (c Catalog) Select() (map[string]Selection, error) {
	known := map[string]bool{schemas.Data: true, schemas.Rejected: true}
	for _, name := range schemas.AppAPIStreams() {
		known[name] = true
	}
	out := map[string]Selection{}
	for _, s := range c.Streams {
		if !known[s.Stream] {
			continue
		}
		md := indexMetadata(s.Metadata)
		if !selected(md, nil, true) {
			continue
		}
		var schema map[string]any
		if err := json.Unmarshal(s.Schema, &schema); err != nil {
			return nil, fmt.Errorf("catalog stream %s: decoding schema: %w", s.Stream, err)
		}
		keys := keyProperties(s, md)
		isKey := map[string]bool{}
		for _, k := range keys {
			isKey[k] = true
		}
		if rk := replication(s.Stream).key; rk != "" {
			isKey[rk] = true // the replication key is automatic too
		}
		var drop [][]string
		prune(schema, nil, nil, md, isKey, &drop)
		raw, err := marshalCompact(schema)
		if err != nil {
			return nil, fmt.Errorf("catalog stream %s: encoding schema: %w", s.Stream, err)
		}
		out[s.Stream] = Selection{Stream: s.Stream, Schema: raw, KeyProperties: keys, Drop: drop}
	}
	return out, nil
}

// Default is the selection without a --catalog: both streams, every field.
func Default() (map[string]Selection, error) { return DefaultFor(false) }

// DefaultFor is Default, with the App API streams when appAPI is true.
func DefaultFor(appAPI bool) (map[string]Selection, error) {
	c, err := DiscoverFor(appAPI)
	if err != nil {
		return nil, err
	}
	return c.Select()
}

func keyProperties(s Stream, md map[string]map[string]any) []string {
	if root := md[""]; root != nil {
		if raw, ok := root["table-key-properties"].([]any); ok {
			keys := make([]string, 0, len(raw))
			for _, k := range raw {
				if ks, ok := k.(string); ok {
					keys = append(keys, ks)
				}
			}
			if len(keys) > 0 {
				return keys
			}
		}
	}
	if len(s.KeyProperties) > 0 {
		return s.KeyProperties
	}
	return schemas.KeyProperties(s.Stream)
}

// prune removes deselected properties from schema node n (whose breadcrumb
// is crumb and whose path of property names is path), recording each.
func prune(n map[string]any, crumb, path []string, md map[string]map[string]any, isKey map[string]bool, drop *[][]string) {
	props, _ := n["properties"].(map[string]any)
	parentSelected := selected(md, crumb, true)
	for name, sub := range props {
		childCrumb := append(append([]string{}, crumb...), "properties", name)
		childPath := append(append([]string{}, path...), name)
		keep := selected(md, childCrumb, parentSelected) || (len(path) == 0 && isKey[name])
		if !keep {
			delete(props, name)
			*drop = append(*drop, childPath)
			continue
		}
		if subNode, ok := sub.(map[string]any); ok {
			prune(subNode, childCrumb, childPath, md, isKey, drop)
		}
	}
}

func selected(md map[string]map[string]any, crumb []string, parentSelected bool) bool {
	if len(md) == 0 {
		return true
	}
	m := md[strings.Join(crumb, "\x00")]
	if !parentSelected {
		return false
	}
	switch m["inclusion"] {
	case "unsupported":
		return false
	case "automatic":
		return true
	}
	if v, ok := m["selected"].(bool); ok {
		return v
	}
	if v, ok := m["selected-by-default"].(bool); ok {
		return v
	}
	return parentSelected
}

func indexMetadata(list []Metadata) map[string]map[string]any {
	md := make(map[string]map[string]any, len(list))
	for _, m := range list {
		md[strings.Join(m.Breadcrumb, "\x00")] = m.Metadata
	}
	return md
}

// marshalCompact encodes v on one line without HTML escaping, so
// descriptions such as "<spool id>" stay readable.
func marshalCompact(v any) (json.RawMessage, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(b.Bytes(), "\n"), nil
}
