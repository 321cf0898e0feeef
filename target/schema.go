package target

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
)

// Metadata column names, added after the stream's own columns.
const (
	colExtractedAt  = "_sdc_extracted_at"
	colReceivedAt   = "_sdc_received_at"
	colBatchedAt    = "_sdc_batched_at"
	colSequence     = "_sdc_sequence"
	colTableVersion = "_sdc_table_version"
	// ColErrors holds, per row, the values the warehouse could not take in
	// their columns: {"<property path>": {"value": <JSON>, "error": "..."}}.
	ColErrors = "_sdc_errors"
)

// metadataColumns are the metadata columns in table order. Rows get their
// values by name (metaCols), so reordering this list is safe.
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

// MaxNameBytes is the longest table or column name: PostgreSQL's
// NAMEDATALEN-1 (it silently truncates longer names). SQLite takes the same
// bound so that both warehouses get the same columns.
const MaxNameBytes = 63

// hashedPrefixBytes leaves room for "_" and 8 hex digits in MaxNameBytes.
const hashedPrefixBytes = MaxNameBytes - 9

// ColumnName returns the column of the property at path (its names as
// sent, outermost first) in a stream whose key properties are keys. The rule
// depends only on the property's own path and the keys, never on which other
// names exist or in which order they came, so every replica of a target
// builds the same columns:
//
//   - s is the sanitised path: each name lower-cased, every byte outside
//     [a-z0-9_] replaced by "_", the names joined with "__".
//   - The name is plain when every name of the path is non-empty and made
//     only of [A-Za-z0-9_], len(s) <= MaxNameBytes, s does not start with
//     "_sdc_" (the metadata columns), s is not a system column of either
//     warehouse (systemColumns), and s is not the sanitised name of a key
//     property other than this one. A plain name's column is s.
//   - Any other name's column is the first 54 bytes of s, "_", and the first
//     8 hex digits of the SHA-256 of the path as sent, names joined with
//     "__": long, non-ASCII, punctuated and empty names, "_sdc_" names,
//     system column names and names that collide with a key.
//
// Plain names that differ only in case (Metric and metric) share the column
// s; see layout for which of them fills it.
func ColumnName(path []string, keys []string) string {
	parts := make([]string, len(path))
	plain := true
	for i, name := range path {
		parts[i] = SanitizeName(name)
		plain = plain && name != "" && isPlainName(name)
	}
	s := strings.Join(parts, "__")
	if plain && len(s) <= MaxNameBytes && !strings.HasPrefix(s, "_sdc_") && !systemColumns[s] && !collidesWithKey(s, path, keys) {
		return s
	}
	return hashedName(s, strings.Join(path, "__"))
}

// systemColumns are names a table cannot have as ordinary columns in one of
// the warehouses: PostgreSQL's system columns (CREATE TABLE refuses them)
// and SQLite's rowid aliases (ALTER TABLE ADD COLUMN refuses them). Both
// warehouses avoid all of them, so both get the same columns.
var systemColumns = map[string]bool{
	"tableoid": true, "xmin": true, "cmin": true, "xmax": true, "cmax": true, "ctid": true,
	"rowid": true, "_rowid_": true, "oid": true,
}

// isPlainName reports whether name is made only of [A-Za-z0-9_], so that
// sanitising it only lower-cases it.
func isPlainName(name string) bool {
	for i := 0; i < len(name); i++ {
		c := name[i]
		if (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') && (c < '0' || c > '9') && c != '_' {
			return false
		}
	}
	return true
}

// collidesWithKey reports whether s is the sanitised name of a key property
// other than the property at path.
func collidesWithKey(s string, path []string, keys []string) bool {
	for _, k := range keys {
		if len(path) == 1 && path[0] == k {
			continue
		}
		if SanitizeName(k) == s {
			return true
		}
	}
	return false
}

// TableName returns the table of a stream: SanitizeName(stream), as it
// always was, unless that is empty, longer than MaxNameBytes or starts with
// "_sdc_" (the target's own tables); then, as for columns, its first 54
// bytes, "_" and 8 hex digits of the SHA-256 of the stream name.
func TableName(stream string) string {
	s := SanitizeName(stream)
	if s != "" && len(s) <= MaxNameBytes && !strings.HasPrefix(s, "_sdc_") {
		return s
	}
	return hashedName(s, stream)
}

// hashedName is the name of something whose sanitised name s cannot be
// used as it is: s cut to 54 bytes, "_", and the first 8 hex digits of the
// SHA-256 of orig.
func hashedName(s, orig string) string {
	sum := sha256.Sum256([]byte(orig))
	return s[:min(len(s), hashedPrefixBytes)] + "_" + hex.EncodeToString(sum[:4])
}

// field is where one property of a record goes: a column, or, for a
// flattened object, its own properties.
type field struct {
	col      int               // index into layout.table.Columns; colFlattened or colAside
	children map[string]*field // the properties of a flattened object
	path     string            // the property path as sent, names joined with "__"
	rank     int               // precedence among properties sharing col: 0 fills it first
}

const (
	colFlattened = -1 // an object whose properties are columns of their own
	colAside     = -2 // no column (the table is at its column limit): values go to _sdc_errors
	colDead      = -3 // a property declared again later in the same object
)

// layout is what a stream's SCHEMA turns into: the table to ensure and how
// each record property maps onto its columns.
type layout struct {
	table   Table
	fields  map[string]*field // top-level properties by name as sent
	keyCols []int             // columns of table.Keys, in order
	meta    metaCols          // the metadata columns, by name
	errCol  int               // index of _sdc_errors
	// paths names, per column, the property whose values it holds (the
	// first of case twins), for values the loader sets aside.
	paths []string
	twins bool // some column is shared by several properties
	// twinPaths lists, for each shared column, its properties by rank.
	twinPaths map[int][]string
	aside     int // properties without a column
}

// propSchema is the part of a JSON Schema property the type map reads.
type propSchema struct {
	Type       json.RawMessage `json:"type"`
	Format     string          `json:"format"`
	Properties json.RawMessage `json:"properties"`
	AnyOf      []propSchema    `json:"anyOf"`
	OneOf      []propSchema    `json:"oneOf"`
}

// leaf is a property that became a column, before columns are shared.
type leaf struct {
	f     *field
	parts []string
	col   string
	typ   ColumnType
	isKey bool
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
	l := &layout{table: Table{Name: TableName(stream)}, fields: map[string]*field{}}
	isKey := map[string]bool{}
	for _, k := range keys {
		isKey[k] = true
	}
	var leaves []*leaf
	if err := addProperties(top.Properties, nil, l.fields, flattenLevels, keys, isKey, &leaves); err != nil {
		return nil, fmt.Errorf("schema of stream %q: %w", stream, err)
	}
	l.placeColumns(leaves)
	for _, k := range keys {
		f, ok := l.fields[k]
		if !ok || f.col < 0 {
			return nil, fmt.Errorf("key property %q is not a property of stream %q", k, stream)
		}
		l.keyCols = append(l.keyCols, f.col)
		l.table.Keys = append(l.table.Keys, l.table.Columns[f.col].Name)
	}
	if metadata {
		l.table.Columns = append(l.table.Columns, metadataColumns...)
		l.paths = append(l.paths, make([]string, len(metadataColumns))...)
	}
	l.errCol = len(l.table.Columns)
	l.table.Columns = append(l.table.Columns, Column{Name: ColErrors, Type: TypeJSON})
	l.paths = append(l.paths, "")
	l.meta = findMetaCols(l.table.Columns)
	return l, nil
}

// placeColumns gives every leaf its column, in schema order of each
// column's first property. Properties with the same column (case twins)
// share it; its type is the widening of all their types, and the key
// property, then the one whose path equals the column, then the byte-wise
// smallest path fills it first: an order that does not depend on the order
// of the schema.
func (l *layout) placeColumns(leaves []*leaf) {
	byCol := map[string][]*leaf{}
	var order []string
	for _, lf := range leaves {
		if lf.f.col == colDead {
			continue
		}
		if byCol[lf.col] == nil {
			order = append(order, lf.col)
		}
		byCol[lf.col] = append(byCol[lf.col], lf)
	}
	for _, name := range order {
		group := byCol[name]
		sort.SliceStable(group, func(i, j int) bool { return fillsFirst(group[i], group[j]) })
		typ := group[0].typ
		for i, lf := range group {
			typ = Widen(typ, lf.typ)
			lf.f.col, lf.f.rank = len(l.table.Columns), i
		}
		if len(group) > 1 {
			l.twins = true
			if l.twinPaths == nil {
				l.twinPaths = map[int][]string{}
			}
			for _, lf := range group {
				l.twinPaths[lf.f.col] = append(l.twinPaths[lf.f.col], lf.f.path)
			}
		}
		l.table.Columns = append(l.table.Columns, Column{Name: name, Type: typ})
		l.paths = append(l.paths, group[0].f.path)
	}
}

func fillsFirst(a, b *leaf) bool {
	if a.isKey != b.isKey {
		return a.isKey
	}
	if ae, be := a.f.path == a.col, b.f.path == b.col; ae != be {
		return ae
	}
	if a.f.path != b.f.path {
		return a.f.path < b.f.path
	}
	if len(a.parts) != len(b.parts) {
		return len(a.parts) < len(b.parts)
	}
	return slices.Compare(a.parts, b.parts) < 0
}

// addProperties collects the leaves of one properties object, in the order
// the schema declares them. A name declared twice keeps its last
// declaration, as JSON decoders do.
func addProperties(props json.RawMessage, parent []string, into map[string]*field, flattenLevels int, keys []string, isKey map[string]bool, leaves *[]*leaf) error {
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
		path := append(slices.Clip(parent), name)
		var ps propSchema
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return err
		}
		if err := json.Unmarshal(raw, &ps); err != nil {
			return fmt.Errorf("property %q: %w", strings.Join(path, "."), err)
		}
		if old := into[name]; old != nil {
			old.kill() // declared twice: the last declaration counts, as in JSON decoders
		}
		typ, isObject := columnType(ps)
		topKey := len(parent) == 0 && isKey[name]
		f := &field{col: colFlattened, path: strings.Join(path, "__")}
		into[name] = f
		if isObject && len(parent) < flattenLevels && len(ps.Properties) > 0 && ps.Properties[0] == '{' && !topKey {
			f.children = map[string]*field{}
			if err := addProperties(ps.Properties, path, f.children, flattenLevels, keys, isKey, leaves); err != nil {
				return err
			}
			continue
		}
		*leaves = append(*leaves, &leaf{f: f, parts: path, col: ColumnName(path, keys), typ: typ, isKey: topKey})
	}
	return nil
}

// kill marks f and everything under it as replaced by a later declaration.
func (f *field) kill() {
	f.col = colDead
	for _, c := range f.children {
		c.kill()
	}
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

// bind fits the layout to the table as the loader left it (got) and
// returns the actual type of each column. Columns the table lacks (it hit
// its column limit) leave the layout: their properties' values go to
// _sdc_errors. Key and metadata columns must be there.
func (l *layout) bind(got Table) ([]ColumnType, error) {
	byName := make(map[string]ColumnType, len(got.Columns))
	for _, c := range got.Columns {
		byName[c.Name] = c.Type
	}
	renumber := make([]int, len(l.table.Columns))
	missing := 0
	for i, c := range l.table.Columns {
		if _, ok := byName[c.Name]; ok {
			renumber[i] = i - missing
			continue
		}
		if IsReservedColumn(c.Name, l.table.Keys) {
			return nil, fmt.Errorf("loader returned table %s without column %s", l.table.Name, c.Name)
		}
		renumber[i] = colAside
		missing++
	}
	if missing > 0 {
		l.table.Columns = slices.DeleteFunc(l.table.Columns, func(c Column) bool { _, ok := byName[c.Name]; return !ok })
		n := 0
		for i, p := range l.paths {
			if renumber[i] >= 0 {
				l.paths[n] = p
				n++
			}
		}
		l.paths = l.paths[:n]
		for i, c := range l.keyCols {
			l.keyCols[i] = renumber[c]
		}
		l.meta = findMetaCols(l.table.Columns)
		l.errCol = renumber[l.errCol]
		l.aside += renumberFields(l.fields, renumber)
		twins := map[int][]string{}
		for c, p := range l.twinPaths {
			if renumber[c] >= 0 {
				twins[renumber[c]] = p
			}
		}
		l.twinPaths = twins
	}
	types := make([]ColumnType, len(l.table.Columns))
	for i, c := range l.table.Columns {
		types[i] = byName[c.Name]
	}
	return types, nil
}

// renumberFields points fields at their columns' new positions and returns
// how many lost their column.
func renumberFields(fields map[string]*field, renumber []int) int {
	lost := 0
	for _, f := range fields {
		switch {
		case f.col == colFlattened:
			lost += renumberFields(f.children, renumber)
		case f.col >= 0:
			f.col = renumber[f.col]
			if f.col == colAside {
				lost++
			}
		}
	}
	return lost
}
