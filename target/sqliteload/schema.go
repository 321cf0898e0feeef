package sqliteload

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"

	"github.com/cio-singer/tap-customerio-webhook/target"
)

// columnsTable records the logical type of every column the loader manages,
// because SQLite's declared column types cannot express them (NUMERIC,
// timestamp and JSON have no type of their own) nor change after creation.
const columnsTable = "_sdc_columns"

var createColumnsTable = `CREATE TABLE IF NOT EXISTS ` + quoteIdent(columnsTable) + ` (
	table_name   TEXT NOT NULL,
	column_name  TEXT NOT NULL,
	logical_type TEXT NOT NULL,
	PRIMARY KEY (table_name, column_name)
)`

// logicalNames are the names stored in _sdc_columns.logical_type.
var logicalNames = map[target.ColumnType]string{
	target.TypeText:      "text",
	target.TypeBigint:    "bigint",
	target.TypeNumeric:   "numeric",
	target.TypeBoolean:   "boolean",
	target.TypeTimestamp: "timestamp",
	target.TypeJSON:      "json",
}

func logicalType(name string) (target.ColumnType, bool) {
	for t, n := range logicalNames {
		if n == name {
			return t, true
		}
	}
	return 0, false
}

// declaredType is the SQL type a column of logical type t is created with.
// Values are always bound with the storage class they should keep, so the
// declared type matters only through its affinity:
//   - numeric has no declared type (affinity BLOB): NUMERIC affinity would
//     turn a TEXT literal of 20 digits into a 15-digit REAL;
//   - a bigint key column is BIGINT, not INTEGER: a sole "INTEGER" primary
//     key becomes an alias of the rowid, which would refuse text after a
//     widening and invent keys for NULLs.
func declaredType(t target.ColumnType, key bool) string {
	switch t {
	case target.TypeBigint:
		if key {
			return "BIGINT"
		}
		return "INTEGER"
	case target.TypeBoolean:
		return "INTEGER"
	case target.TypeNumeric:
		return ""
	default: // text, timestamp (RFC 3339 text) and JSON (compact text)
		return "TEXT"
	}
}

// affinity applies SQLite's rules for a declared type
// (https://sqlite.org/datatype3.html#determination_of_column_affinity).
func affinity(declared string) string {
	d := strings.ToUpper(declared)
	switch {
	case strings.Contains(d, "INT"):
		return "INTEGER"
	case strings.Contains(d, "CHAR"), strings.Contains(d, "CLOB"), strings.Contains(d, "TEXT"):
		return "TEXT"
	case d == "", strings.Contains(d, "BLOB"):
		return "BLOB"
	case strings.Contains(d, "REAL"), strings.Contains(d, "FLOA"), strings.Contains(d, "DOUB"):
		return "REAL"
	default:
		return "NUMERIC"
	}
}

// guessType gives the logical type of a column that _sdc_columns does not
// know (a table created by someone else), from its affinity.
func guessType(declared string) target.ColumnType {
	switch affinity(declared) {
	case "INTEGER":
		return target.TypeBigint
	case "TEXT":
		return target.TypeText
	default:
		return target.TypeNumeric
	}
}

// quoteIdent quotes a SQL identifier, doubling any double quote inside.
func quoteIdent(name string) string {
	return `"` + strings.ReplaceAll(name, `"`, `""`) + `"`
}

func quoteIdents(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = quoteIdent(n)
	}
	return strings.Join(q, ", ")
}

// existingColumn is a column as the database has it.
type existingColumn struct {
	name     string
	declared string
	pk       int // position in the primary key, from 1; 0 when not a key
	typ      target.ColumnType
}

// EnsureTable creates t if missing, adds the columns it lacks and widens
// the logical type of columns whose type differs, all in one transaction.
// It returns the table as it then exists: every column, including ones t
// does not mention, with its logical type. A table whose primary key
// differs from t.Keys is an error: upserting on other columns would either
// fail or duplicate rows.
func (l *Loader) EnsureTable(ctx context.Context, t target.Table) (target.Table, error) {
	if err := checkTable(t); err != nil {
		return target.Table{}, err
	}
	tx, err := l.db.BeginTx(ctx, nil)
	if err != nil {
		return target.Table{}, fmt.Errorf("beginning transaction for %s: %w", t.Name, err)
	}
	defer tx.Rollback() //nolint:errcheck // a no-op once committed

	got, err := ensureTable(ctx, tx, t, l)
	if err != nil {
		return target.Table{}, err
	}
	if err := tx.Commit(); err != nil {
		return target.Table{}, fmt.Errorf("committing schema of %s: %w", t.Name, err)
	}
	return got, nil
}

func checkTable(t target.Table) error {
	if t.Name == "" {
		return fmt.Errorf("ensuring table: empty table name")
	}
	if t.Name == columnsTable {
		return fmt.Errorf("ensuring table: %s is reserved for column types", columnsTable)
	}
	for _, k := range t.Keys {
		if !slices.ContainsFunc(t.Columns, func(c target.Column) bool { return c.Name == k }) {
			return fmt.Errorf("ensuring table %s: key %s is not a column", t.Name, k)
		}
	}
	for _, c := range t.Columns {
		if _, ok := logicalNames[c.Type]; !ok {
			return fmt.Errorf("ensuring table %s: column %s has unknown type %d", t.Name, c.Name, c.Type)
		}
	}
	return nil
}

func ensureTable(ctx context.Context, tx *sql.Tx, t target.Table, l *Loader) (target.Table, error) {
	cols, err := readColumns(ctx, tx, t.Name)
	if err != nil {
		return target.Table{}, err
	}
	add, left := target.ColumnsToAdd(t, func(name string) bool {
		return slices.ContainsFunc(cols, func(c existingColumn) bool { return c.name == name })
	}, len(cols), target.MaxColumnsSQLite)
	if left > 0 {
		l.log.Debug().Str("table", t.Name).Int("columns_left_out", left).Msg("table at its column limit")
	}
	if len(cols) == 0 {
		if err := createTable(ctx, tx, t.Name, add, t.Keys); err != nil {
			return target.Table{}, err
		}
		if err := recordTypes(ctx, tx, t.Name, add); err != nil {
			return target.Table{}, err
		}
		l.log.Info().Str("table", t.Name).Int("columns", len(add)).Msg("created table")
		return copyTable(target.Table{Name: t.Name, Columns: add, Keys: t.Keys}), nil
	}
	if have := primaryKey(cols); !slices.Equal(have, t.Keys) {
		return target.Table{}, fmt.Errorf("ensuring table %s: it has primary key (%s) but the stream's key is (%s)",
			t.Name, strings.Join(have, ", "), strings.Join(t.Keys, ", "))
	}

	rebuild := false
	var changed []target.Column // columns whose logical type is new or wider
	for _, want := range t.Columns {
		i := slices.IndexFunc(cols, func(c existingColumn) bool { return c.name == want.Name })
		if i < 0 && !slices.Contains(add, want) {
			continue // no room left
		}
		if i < 0 {
			decl := declaredType(want.Type, false)
			q := fmt.Sprintf("ALTER TABLE %s ADD COLUMN %s %s", quoteIdent(t.Name), quoteIdent(want.Name), decl)
			if _, err := tx.ExecContext(ctx, q); err != nil {
				return target.Table{}, fmt.Errorf("adding column %s to %s: %w", want.Name, t.Name, err)
			}
			cols = append(cols, existingColumn{name: want.Name, declared: decl, typ: want.Type})
			changed = append(changed, want)
			l.log.Info().Str("table", t.Name).Str("column", want.Name).Str("type", logicalNames[want.Type]).Msg("added column")
			continue
		}
		c := &cols[i]
		wider := target.Widen(c.typ, want.Type)
		if wider == c.typ {
			continue
		}
		l.log.Info().Str("table", t.Name).Str("column", c.name).Str("from", logicalNames[c.typ]).
			Str("to", logicalNames[wider]).Msg("widened column")
		if q := reencodeSQL(t.Name, c.name, c.typ, wider); q != "" {
			if _, err := tx.ExecContext(ctx, q); err != nil {
				return target.Table{}, fmt.Errorf("widening %s.%s: %w", t.Name, c.name, err)
			}
		}
		c.typ = wider
		changed = append(changed, target.Column{Name: c.name, Type: wider})
		if affinity(c.declared) != affinity(declaredType(wider, c.pk > 0)) {
			rebuild = true
		}
	}
	if err := recordTypes(ctx, tx, t.Name, changed); err != nil {
		return target.Table{}, err
	}
	got := target.Table{Name: t.Name, Keys: primaryKey(cols)}
	for _, c := range cols {
		got.Columns = append(got.Columns, target.Column{Name: c.name, Type: c.typ})
	}
	if rebuild {
		if err := rebuildTable(ctx, tx, got); err != nil {
			return target.Table{}, err
		}
		l.log.Info().Str("table", t.Name).Msg("rebuilt table for new column affinities")
	}
	return got, nil
}

func copyTable(t target.Table) target.Table {
	return target.Table{Name: t.Name, Columns: slices.Clone(t.Columns), Keys: slices.Clone(t.Keys)}
}

// readColumns lists the columns of table in their order, with their logical
// types; it returns none when the table does not exist.
func readColumns(ctx context.Context, tx *sql.Tx, table string) ([]existingColumn, error) {
	types := map[string]target.ColumnType{}
	rows, err := tx.QueryContext(ctx, `SELECT column_name, logical_type FROM `+quoteIdent(columnsTable)+` WHERE table_name = ?`, table)
	if err != nil {
		return nil, fmt.Errorf("reading column types of %s: %w", table, err)
	}
	for rows.Next() {
		var name, logical string
		if err := rows.Scan(&name, &logical); err != nil {
			rows.Close() //nolint:errcheck // the scan error is the one to report
			return nil, fmt.Errorf("reading column types of %s: %w", table, err)
		}
		if t, ok := logicalType(logical); ok {
			types[name] = t
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading column types of %s: %w", table, err)
	}

	rows, err = tx.QueryContext(ctx, `SELECT name, type, pk FROM pragma_table_info(?) ORDER BY cid`, table)
	if err != nil {
		return nil, fmt.Errorf("reading columns of %s: %w", table, err)
	}
	defer rows.Close()
	var cols []existingColumn
	for rows.Next() {
		var c existingColumn
		if err := rows.Scan(&c.name, &c.declared, &c.pk); err != nil {
			return nil, fmt.Errorf("reading columns of %s: %w", table, err)
		}
		t, ok := types[c.name]
		if !ok {
			t = guessType(c.declared)
		}
		c.typ = t
		cols = append(cols, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading columns of %s: %w", table, err)
	}
	return cols, nil
}

func primaryKey(cols []existingColumn) []string {
	var keyed []existingColumn
	for _, c := range cols {
		if c.pk > 0 {
			keyed = append(keyed, c)
		}
	}
	slices.SortFunc(keyed, func(a, b existingColumn) int { return a.pk - b.pk })
	keys := make([]string, len(keyed))
	for i, c := range keyed {
		keys[i] = c.name
	}
	return keys
}

// createTableSQL returns the CREATE TABLE statement for name. Key columns
// are NOT NULL: SQLite would otherwise accept NULL keys, each a new row.
func createTableSQL(name string, cols []target.Column, keys []string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "CREATE TABLE %s (", quoteIdent(name))
	for i, c := range cols {
		if i > 0 {
			b.WriteString(", ")
		}
		key := slices.Contains(keys, c.Name)
		b.WriteString(quoteIdent(c.Name))
		if decl := declaredType(c.Type, key); decl != "" {
			b.WriteString(" " + decl)
		}
		if key {
			b.WriteString(" NOT NULL")
		}
	}
	if len(keys) > 0 {
		fmt.Fprintf(&b, ", PRIMARY KEY (%s)", quoteIdents(keys))
	}
	b.WriteString(")")
	return b.String()
}

func createTable(ctx context.Context, tx *sql.Tx, name string, cols []target.Column, keys []string) error {
	if _, err := tx.ExecContext(ctx, createTableSQL(name, cols, keys)); err != nil {
		return fmt.Errorf("creating table %s: %w", name, err)
	}
	return nil
}

func recordTypes(ctx context.Context, tx *sql.Tx, table string, cols []target.Column) error {
	if len(cols) == 0 {
		return nil
	}
	stmt, err := tx.PrepareContext(ctx, `INSERT INTO `+quoteIdent(columnsTable)+
		` (table_name, column_name, logical_type) VALUES (?, ?, ?)
		ON CONFLICT (table_name, column_name) DO UPDATE SET logical_type = excluded.logical_type`)
	if err != nil {
		return fmt.Errorf("recording column types of %s: %w", table, err)
	}
	defer stmt.Close()
	for _, c := range cols {
		if _, err := stmt.ExecContext(ctx, table, c.Name, logicalNames[c.Type]); err != nil {
			return fmt.Errorf("recording type of %s.%s: %w", table, c.Name, err)
		}
	}
	return nil
}

// reencodeSQL returns the statement that rewrites the values already in
// a column widened from one logical type to another, so that they read as
// the same values under the new type (as PostgreSQL's ALTER ... USING
// does), or "" when their stored form already does. A JSON column holds
// JSON text: the text "true" must become the JSON string "\"true\"", not
// the boolean true; booleans are stored as 0 and 1 and become true and
// false, in a JSON or a text column alike. Numbers read the same as JSON.
func reencodeSQL(table, column string, from, to target.ColumnType) string {
	col := quoteIdent(column)
	switch {
	case to == target.TypeJSON && (from == target.TypeText || from == target.TypeTimestamp):
		return fmt.Sprintf("UPDATE %s SET %s = json_quote(%s) WHERE %s IS NOT NULL", quoteIdent(table), col, col, col)
	case (to == target.TypeJSON || to == target.TypeText) && from == target.TypeBoolean:
		return fmt.Sprintf("UPDATE %s SET %s = CASE WHEN %s THEN 'true' ELSE 'false' END WHERE %s IS NOT NULL",
			quoteIdent(table), col, col, col)
	}
	return ""
}

// rebuildTable recreates t with the declared types of its (widened)
// logical types, following https://sqlite.org/lang_altertable.html#otheralter:
// create the new table, copy every row, drop the old one, rename. Copying
// applies the new affinity, so an INTEGER 7 becomes the TEXT '7' in a
// column widened to text, as new rows will be. It runs inside the caller's
// transaction, so a crash leaves the old table intact.
func rebuildTable(ctx context.Context, tx *sql.Tx, t target.Table) error {
	tmp := "_sdc_rebuild_" + t.Name
	names := make([]string, len(t.Columns))
	for i, c := range t.Columns {
		names[i] = c.Name
	}
	cols := quoteIdents(names)
	steps := []string{
		createTableSQL(tmp, t.Columns, t.Keys),
		fmt.Sprintf("INSERT INTO %s (%s) SELECT %s FROM %s", quoteIdent(tmp), cols, cols, quoteIdent(t.Name)),
		fmt.Sprintf("DROP TABLE %s", quoteIdent(t.Name)),
		fmt.Sprintf("ALTER TABLE %s RENAME TO %s", quoteIdent(tmp), quoteIdent(t.Name)),
	}
	for _, q := range steps {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("rebuilding table %s: %w", t.Name, err)
		}
	}
	return nil
}
