package target

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// Metadata column names, added after the stream's own columns.
const (
	colExtractedAt  = "_sdc_extracted_at"
	colReceivedAt   = "_sdc_received_at"
	colBatchedAt    = "_sdc_batched_at"
	colSequence     = "_sdc_sequence"
	colTableVersion = "_sdc_table_version"
)

var metadataColumns = []Column{
	{Name: colExtractedAt, Type: TypeTimestamp},
	{Name: colReceivedAt, Type: TypeTimestamp},
	{Name: colBatchedAt, Type: TypeTimestamp},
	{Name: colSequence, Type: TypeBigint},
	{Name: colTableVersion, Type: TypeBigint},
}

// SanitizeName lower-cases name and replaces every character other than
// [a-z0-9_] with "_": the rule for table and column names.
func SanitizeName(name string) string {
	b := []byte(strings.ToLower(name))
	for i, c := range b {
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '_' {
			b[i] = '_'
		}
	}
	return string(b)
}

// field is where one property of a record goes: a column, or, for a
// flattened object, its own properties.
type field struct {
	col      int               // index into layout.columns; -1 when flattened
	children map[string]*field // the properties of a flattened object
}

// layout is what a stream's SCHEMA turns into: the table to ensure and how
// each record property maps onto its columns.
type layout struct {
	table   Table
	fields  map[string]*field // top-level properties by name as sent
	keyCols []int             // columns of table.Keys, in order
	meta    int               // index of the first metadata column; -1 without
}

// propSchema is the part of a JSON Schema property the type map reads.
type propSchema struct {
	Type       json.RawMessage `json:"type"`
	Format     string          `json:"format"`
	Properties json.RawMessage `json:"properties"`
	AnyOf      []propSchema    `json:"anyOf"`
	OneOf      []propSchema    `json:"oneOf"`
}

// newLayout derives the table of stream from its schema. flattenLevels > 0
// turns declared object properties into parent__child columns that deep.
func newLayout(stream string, schema json.RawMessage, keys []string, flattenLevels int, metadata bool) (*layout, error) {
	var top propSchema
	if err := json.Unmarshal(schema, &top); err != nil {
		return nil, fmt.Errorf("reading schema of %s: %w", stream, err)
	}
	if len(bytes.TrimSpace(top.Properties)) == 0 || top.Properties[0] != '{' {
		return nil, fmt.Errorf("schema of stream %q has no properties object", stream)
	}
	l := &layout{table: Table{Name: SanitizeName(stream)}, fields: map[string]*field{}, meta: -1}
	if l.table.Name == "" {
		return nil, fmt.Errorf("stream name %q gives an empty table name", stream)
	}
	isKey := map[string]bool{}
	for _, k := range keys {
		isKey[k] = true
	}
	seen := map[string]string{} // column name -> property path, to catch collisions
	if err := l.addProperties(top.Properties, "", l.fields, 0, flattenLevels, isKey, seen); err != nil {
		return nil, fmt.Errorf("schema of stream %q: %w", stream, err)
	}
	for _, k := range keys {
		f, ok := l.fields[k]
		if !ok || f.col < 0 {
			return nil, fmt.Errorf("key property %q is not a property of stream %q", k, stream)
		}
		l.keyCols = append(l.keyCols, f.col)
		l.table.Keys = append(l.table.Keys, l.table.Columns[f.col].Name)
	}
	if metadata {
		l.meta = len(l.table.Columns)
		for _, m := range metadataColumns {
			if path, ok := seen[m.Name]; ok {
				return nil, fmt.Errorf("property %q of stream %q collides with metadata column %s; set add_metadata_columns false", path, stream, m.Name)
			}
			l.table.Columns = append(l.table.Columns, m)
		}
	}
	return l, nil
}

// addProperties adds the columns of one properties object, in the order
// the schema declares them.
func (l *layout) addProperties(props json.RawMessage, prefix string, into map[string]*field, depth, flattenLevels int, isKey map[string]bool, seen map[string]string) error {
	dec := json.NewDecoder(bytes.NewReader(props))
	if _, err := dec.Token(); err != nil { // {
		return err
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		name, _ := tok.(string) // object keys are always strings
		var ps propSchema
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return err
		}
		if err := json.Unmarshal(raw, &ps); err != nil {
			return fmt.Errorf("property %q: %w", prefix+name, err)
		}
		colName := SanitizeName(prefix + name)
		typ, isObject := columnType(ps)
		if isObject && depth < flattenLevels && len(ps.Properties) > 0 && ps.Properties[0] == '{' && !(depth == 0 && isKey[name]) {
			f := &field{col: -1, children: map[string]*field{}}
			into[name] = f
			if err := l.addProperties(ps.Properties, colName+"__", f.children, depth+1, flattenLevels, isKey, seen); err != nil {
				return err
			}
			continue
		}
		if prev, ok := seen[colName]; ok {
			return fmt.Errorf("properties %q and %q both become column %s", prev, prefix+name, colName)
		}
		seen[colName] = prefix + name
		into[name] = &field{col: len(l.table.Columns)}
		l.table.Columns = append(l.table.Columns, Column{Name: colName, Type: typ})
	}
	return nil
}

// columnType maps a property's JSON Schema to a column type. isObject
// reports a plain object type, which flattening may split into columns.
func columnType(ps propSchema) (t ColumnType, isObject bool) {
	types, err := typeList(ps.Type)
	if err != nil {
		return TypeJSON, false
	}
	if len(types) == 0 {
		// anyOf/oneOf with one non-null alternative is that alternative
		// (SDK taps write nullable types that way); anything else is JSON.
		alts := append(append([]propSchema{}, ps.AnyOf...), ps.OneOf...)
		var nonNull []propSchema
		for _, a := range alts {
			if at, _ := typeList(a.Type); len(at) == 0 && len(a.AnyOf)+len(a.OneOf) == 0 && isNullOnly(a.Type) {
				continue
			}
			nonNull = append(nonNull, a)
		}
		if len(nonNull) == 1 && len(ps.AnyOf)+len(ps.OneOf) > 0 {
			return columnType(nonNull[0])
		}
		return TypeJSON, false
	}
	if len(types) > 1 {
		return TypeJSON, false
	}
	switch types[0] {
	case "string":
		if ps.Format == "date-time" {
			return TypeTimestamp, false
		}
		return TypeText, false
	case "integer":
		return TypeBigint, false
	case "number":
		return TypeNumeric, false
	case "boolean":
		return TypeBoolean, false
	case "object":
		return TypeJSON, true
	default: // array, or a type name JSON Schema does not have
		return TypeJSON, false
	}
}

// typeList returns the non-null type names of a "type" keyword.
func typeList(raw json.RawMessage) ([]string, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	var list []string
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, err
		}
		list = []string{s}
	} else if err := json.Unmarshal(raw, &list); err != nil {
		return nil, errors.New("type is neither a string nor a list of strings")
	}
	out := list[:0]
	for _, t := range list {
		if t != "null" {
			out = append(out, t)
		}
	}
	return out, nil
}

func isNullOnly(raw json.RawMessage) bool {
	types, err := typeList(raw)
	return err == nil && len(raw) > 0 && len(types) == 0
}
