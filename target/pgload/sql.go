package pgload

import (
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/cio-singer/tap-customerio-webhook/target"
)

// stagingName is the temporary table each keyed Load copies into. It lives
// for one transaction (ON COMMIT DROP), so one fixed name is enough.
const stagingName = "_pgload_staging"

// sqlType is the PostgreSQL type we create for a logical column type.
func sqlType(t target.ColumnType) string {
	switch t {
	case target.TypeBigint:
		return "bigint"
	case target.TypeNumeric:
		return "numeric"
	case target.TypeBoolean:
		return "boolean"
	case target.TypeTimestamp:
		return "timestamptz"
	case target.TypeJSON:
		return "jsonb"
	default:
		return "text"
	}
}

// columnType maps an existing column's type (pg_type.typname) to the
// logical type the core must convert values to. Types we never create are
// read as their nearest logical type; anything unknown is text.
func columnType(typname string) target.ColumnType {
	switch typname {
	case "int2", "int4", "int8":
		return target.TypeBigint
	case "numeric", "float4", "float8":
		return target.TypeNumeric
	case "bool":
		return target.TypeBoolean
	case "timestamptz", "timestamp":
		return target.TypeTimestamp
	case "json", "jsonb":
		return target.TypeJSON
	default:
		return target.TypeText
	}
}

func quote(name string) string { return pgx.Identifier{name}.Sanitize() }

func quoteList(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = quote(n)
	}
	return strings.Join(q, ", ")
}

// createTableSQL creates t in schema with a primary key on t.Keys.
func createTableSQL(schema string, t target.Table) string {
	var b strings.Builder
	fmt.Fprintf(&b, "CREATE TABLE IF NOT EXISTS %s (", pgx.Identifier{schema, t.Name}.Sanitize())
	for i, c := range t.Columns {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(quote(c.Name) + " " + sqlType(c.Type))
	}
	if len(t.Keys) > 0 {
		b.WriteString(", PRIMARY KEY (" + quoteList(t.Keys) + ")")
	}
	b.WriteString(")")
	return b.String()
}

// widening is a column whose type must change From -> To.
type widening struct {
	Column   string
	From, To target.ColumnType
}

// alterTableSQL adds columns and widens others in one statement, so the
// table is rewritten at most once. It returns "" when there is nothing to do.
func alterTableSQL(schema, table string, add []target.Column, widen []widening) string {
	var actions []string
	for _, c := range add {
		actions = append(actions, "ADD COLUMN IF NOT EXISTS "+quote(c.Name)+" "+sqlType(c.Type))
	}
	for _, w := range widen {
		actions = append(actions, fmt.Sprintf("ALTER COLUMN %s TYPE %s USING %s", quote(w.Column), sqlType(w.To), usingExpr(w)))
	}
	if len(actions) == 0 {
		return ""
	}
	return "ALTER TABLE " + pgx.Identifier{schema, table}.Sanitize() + " " + strings.Join(actions, ", ")
}

// usingExpr converts the old values of a widened column so they keep their
// meaning: numbers stay numbers in jsonb, timestamps become ISO 8601 text
// rather than DateStyle-dependent text.
func usingExpr(w widening) string {
	col := quote(w.Column)
	switch {
	case w.To == target.TypeJSON:
		return "to_jsonb(" + col + ")"
	case w.To == target.TypeText && w.From == target.TypeTimestamp:
		return "to_jsonb(" + col + ") #>> '{}'"
	default:
		return col + "::" + sqlType(w.To)
	}
}

// createStagingSQL creates the per-transaction staging table shaped like
// the target (LIKE copies NOT NULL, so a NULL key fails at COPY).
func createStagingSQL(schema, table string) string {
	return fmt.Sprintf("CREATE TEMP TABLE %s (LIKE %s INCLUDING DEFAULTS) ON COMMIT DROP",
		quote(stagingName), pgx.Identifier{schema, table}.Sanitize())
}

// upsertSQL merges the staging rows into the target on keys: every non-key
// column of the batch is overwritten; with only key columns there is
// nothing to update. Rows in a batch are unique per key (the core keeps the
// last one), which INSERT ... ON CONFLICT requires.
func upsertSQL(schema, table string, columns, keys []string) string {
	cols := quoteList(columns)
	var b strings.Builder
	fmt.Fprintf(&b, "INSERT INTO %s (%s) SELECT %s FROM %s ON CONFLICT (%s) DO ",
		pgx.Identifier{schema, table}.Sanitize(), cols, cols, quote(stagingName), quoteList(keys))
	isKey := make(map[string]bool, len(keys))
	for _, k := range keys {
		isKey[k] = true
	}
	var sets []string
	for _, c := range columns {
		if !isKey[c] {
			sets = append(sets, quote(c)+" = EXCLUDED."+quote(c))
		}
	}
	if len(sets) == 0 {
		b.WriteString("NOTHING")
	} else {
		b.WriteString("UPDATE SET " + strings.Join(sets, ", "))
	}
	return b.String()
}

// Catalog queries take the table as a regclass parameter (a value, not SQL).
const (
	columnsSQL = `SELECT a.attname, t.typname
FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attnum`
	primaryKeySQL = `SELECT a.attname
FROM pg_catalog.pg_index i
JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
WHERE i.indrelid = to_regclass($1) AND i.indisprimary
ORDER BY array_position(i.indkey::int2[], a.attnum)`
	// usedColumnsSQL counts the column slots of a table: dropped columns
	// count towards PostgreSQL's 1600 too.
	usedColumnsSQL  = `SELECT count(*) FROM pg_catalog.pg_attribute WHERE attrelid = to_regclass($1) AND attnum > 0`
	schemaExistsSQL = `SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = $1)`
	// lockTableSQL serialises EnsureTable across processes loading the same
	// table (N tap replicas feed one warehouse): concurrent CREATE TABLE IF
	// NOT EXISTS can otherwise fail on a unique violation in pg_type.
	lockTableSQL = `SELECT pg_advisory_xact_lock(hashtext($1))`
)
