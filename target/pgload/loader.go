package pgload

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/rs/zerolog"

	"github.com/cio-singer/tap-customerio-webhook/target"
)

// maxIdentifierBytes is PostgreSQL's NAMEDATALEN-1: longer names are
// silently truncated by the server, so we refuse them instead.
const maxIdentifierBytes = 63

// Loader loads batches into one PostgreSQL schema through a small pool. It
// is meant for one goroutine at a time, as target.Loader says.
type Loader struct {
	pool   *pgxpool.Pool
	schema string
	log    zerolog.Logger
	// copyTypes remembers, per connection and COPY destination, the column
	// types the connection's cached COPY description was made for.
	copyTypes map[*pgx.Conn]map[string]string
}

var _ target.Loader = (*Loader)(nil)

// Open connects to the database in cfg and checks the connection. It does
// not create anything yet: the schema is created by the first EnsureTable.
func Open(ctx context.Context, cfg Config, log zerolog.Logger) (*Loader, error) {
	pc, err := cfg.poolConfig()
	if err != nil {
		return nil, &target.ConfigError{Key: "dsn", Err: err}
	}
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("creating connection pool: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("connecting to PostgreSQL: %w", err)
	}
	log = log.With().Str("component", "pgload").Logger()
	log.Info().Str("host", pc.ConnConfig.Host).Uint16("port", pc.ConnConfig.Port).
		Str("database", pc.ConnConfig.Database).Str("schema", cfg.Schema).Msg("connected to PostgreSQL")
	return &Loader{pool: pool, schema: cfg.Schema, log: log, copyTypes: map[*pgx.Conn]map[string]string{}}, nil
}

// Close closes the pool's connections.
func (l *Loader) Close() error {
	l.pool.Close()
	return nil
}

// Retryable reports whether err is transient; see the package function.
func (l *Loader) Retryable(err error) bool { return Retryable(err) }

// DataError reports whether err is about the rows; see the package function.
func (l *Loader) DataError(err error) (string, bool) { return DataError(err) }

// EnsureTable creates the schema and table if missing, adds missing columns
// and widens columns with target.Widen, all in one transaction, and returns
// the table as it then exists (every column, in table order).
func (l *Loader) EnsureTable(ctx context.Context, want target.Table) (target.Table, error) {
	if err := checkNames(want); err != nil {
		return target.Table{}, err
	}
	tx, err := l.pool.Begin(ctx)
	if err != nil {
		return target.Table{}, fmt.Errorf("beginning transaction for table %s: %w", want.Name, err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // a no-op once committed

	qualified := pgx.Identifier{l.schema, want.Name}.Sanitize()
	if _, err := tx.Exec(ctx, lockTableSQL, qualified); err != nil {
		return target.Table{}, fmt.Errorf("locking table %s: %w", want.Name, err)
	}
	if err := l.ensureSchema(ctx, tx); err != nil {
		return target.Table{}, err
	}
	// Read under the lock: another process may have just changed the table.
	have, err := readColumns(ctx, tx, qualified)
	if err != nil {
		return target.Table{}, fmt.Errorf("reading columns of %s: %w", want.Name, err)
	}
	var got target.Table
	if len(have) == 0 {
		cols, left := target.ColumnsToAdd(want, func(string) bool { return false }, 0, target.MaxColumnsPostgres)
		create := target.Table{Name: want.Name, Columns: cols, Keys: want.Keys}
		if _, err := tx.Exec(ctx, createTableSQL(l.schema, create)); err != nil {
			return target.Table{}, fmt.Errorf("creating table %s: %w", want.Name, err)
		}
		l.log.Info().Str("table", want.Name).Int("columns", len(cols)).Int("columns_left_out", left).Msg("created table")
		got = target.Table{Name: want.Name, Columns: slices.Clone(cols), Keys: slices.Clone(want.Keys)}
	} else if got, err = l.evolve(ctx, tx, want, have); err != nil {
		return target.Table{}, err
	}
	if err := tx.Commit(ctx); err != nil {
		return target.Table{}, fmt.Errorf("committing table %s: %w", want.Name, err)
	}
	return got, nil
}

// ensureSchema creates the schema unless it exists; checking first means a
// user without CREATE on the database can still load into a schema made
// for it.
func (l *Loader) ensureSchema(ctx context.Context, tx pgx.Tx) error {
	var exists bool
	if err := tx.QueryRow(ctx, schemaExistsSQL, l.schema).Scan(&exists); err != nil {
		return fmt.Errorf("looking up schema %s: %w", l.schema, err)
	}
	if exists {
		return nil
	}
	// Two processes creating the schema at once would both try to insert it
	// into pg_namespace (one failing on a unique violation): serialise, then
	// IF NOT EXISTS sees the other's.
	if _, err := tx.Exec(ctx, lockTableSQL, "schema "+quote(l.schema)); err != nil {
		return fmt.Errorf("locking schema %s: %w", l.schema, err)
	}
	if _, err := tx.Exec(ctx, "CREATE SCHEMA IF NOT EXISTS "+quote(l.schema)); err != nil {
		return fmt.Errorf("creating schema %s: %w", l.schema, err)
	}
	l.log.Info().Str("schema", l.schema).Msg("created schema")
	return nil
}

// evolve adds the columns want has and the table lacks and widens the
// columns whose types differ, then reports the table as it now is.
func (l *Loader) evolve(ctx context.Context, tx pgx.Tx, want target.Table, have []target.Column) (target.Table, error) {
	index := make(map[string]int, len(have))
	for i, c := range have {
		index[c.Name] = i
	}
	var used int
	if err := tx.QueryRow(ctx, usedColumnsSQL, pgx.Identifier{l.schema, want.Name}.Sanitize()).Scan(&used); err != nil {
		return target.Table{}, fmt.Errorf("counting columns of %s: %w", want.Name, err)
	}
	add, left := target.ColumnsToAdd(want, func(name string) bool { _, ok := index[name]; return ok }, used, target.MaxColumnsPostgres)
	var widen []widening
	for _, c := range want.Columns {
		i, ok := index[c.Name]
		if !ok {
			continue
		}
		if to := target.Widen(have[i].Type, c.Type); to != have[i].Type {
			widen = append(widen, widening{Column: c.Name, From: have[i].Type, To: to})
			have[i].Type = to
		}
	}
	if sql := alterTableSQL(l.schema, want.Name, add, widen); sql != "" {
		if _, err := tx.Exec(ctx, sql); err != nil {
			return target.Table{}, fmt.Errorf("altering table %s: %w", want.Name, err)
		}
		for _, w := range widen {
			l.log.Warn().Str("table", want.Name).Str("column", w.Column).
				Str("from", sqlType(w.From)).Str("to", sqlType(w.To)).Msg("widened column")
		}
		if len(add) > 0 {
			l.log.Info().Str("table", want.Name).Int("columns", len(add)).Msg("added columns")
		}
	}
	if left > 0 {
		l.log.Debug().Str("table", want.Name).Int("columns_left_out", left).Msg("table at its column limit")
	}
	keys, err := readPrimaryKey(ctx, tx, pgx.Identifier{l.schema, want.Name}.Sanitize())
	if err != nil {
		return target.Table{}, fmt.Errorf("reading primary key of %s: %w", want.Name, err)
	}
	if !slices.Equal(keys, want.Keys) && (len(want.Keys) > 0 || len(keys) > 0) {
		return target.Table{}, fmt.Errorf("table %s has primary key %v but the stream's key_properties are %v: %w",
			want.Name, keys, want.Keys, errKeyMismatch)
	}
	return target.Table{Name: want.Name, Columns: append(have, add...), Keys: keys}, nil
}

// errKeyMismatch: an existing table's primary key differs from the stream's
// keys. Upserting on other columns is impossible and changing a key is not
// ours to do, so this is permanent.
var errKeyMismatch = errors.New("pgload: primary key differs from key_properties")

func readColumns(ctx context.Context, tx pgx.Tx, qualified string) ([]target.Column, error) {
	rows, err := tx.Query(ctx, columnsSQL, qualified)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (target.Column, error) {
		var name, typname string
		err := r.Scan(&name, &typname)
		return target.Column{Name: name, Type: columnType(typname)}, err
	})
}

func readPrimaryKey(ctx context.Context, tx pgx.Tx, qualified string) ([]string, error) {
	rows, err := tx.Query(ctx, primaryKeySQL, qualified)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// checkNames refuses names PostgreSQL would truncate: a truncated column
// would look missing on every run. The core's naming rule never makes them
// (target.ColumnName); this guards other callers.
func checkNames(t target.Table) error {
	if len(t.Name) > maxIdentifierBytes {
		return fmt.Errorf("table name %q is longer than %d bytes", t.Name, maxIdentifierBytes)
	}
	for _, c := range t.Columns {
		if len(c.Name) > maxIdentifierBytes {
			return fmt.Errorf("column name %q of table %s is longer than %d bytes", c.Name, t.Name, maxIdentifierBytes)
		}
	}
	return nil
}

// Load commits b in one transaction. With keys: COPY into a temporary
// table, then INSERT ... ON CONFLICT (keys) DO UPDATE, so loading the same
// batch twice leaves the same rows. Without keys: COPY into the table.
func (l *Loader) Load(ctx context.Context, b *target.Batch) error {
	if len(b.Rows) == 0 {
		return nil
	}
	start := time.Now()
	tx, err := l.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("beginning transaction for %s: %w", b.Table, err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // a no-op once committed

	dest := pgx.Identifier{l.schema, b.Table}
	if len(b.Keys) > 0 {
		// LIKE also locks the table until commit, so its types hold.
		if _, err := tx.Exec(ctx, createStagingSQL(l.schema, b.Table)); err != nil {
			return fmt.Errorf("creating staging table for %s: %w", b.Table, err)
		}
		dest = pgx.Identifier{stagingName}
	} else if _, err := tx.Exec(ctx, "LOCK TABLE "+dest.Sanitize()+" IN ROW EXCLUSIVE MODE"); err != nil {
		return fmt.Errorf("locking %s: %w", b.Table, err)
	}
	if err := l.freshTypes(ctx, tx, dest, b); err != nil {
		return fmt.Errorf("checking column types of %s: %w", b.Table, err)
	}
	src := newRowSource(b.Rows, b.Columns)
	if _, err := tx.CopyFrom(ctx, dest, b.Columns, src); err != nil {
		return fmt.Errorf("copying %d rows for %s: %w", len(b.Rows), b.Table, err)
	}
	if len(b.Keys) > 0 {
		if _, err := tx.Exec(ctx, upsertSQL(l.schema, b.Table, b.Columns, b.Keys)); err != nil {
			return fmt.Errorf("merging rows into %s: %w", b.Table, err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("committing %s: %w", b.Table, err)
	}
	l.log.Debug().Str("table", b.Table).Int("rows", len(b.Rows)).Dur("took", time.Since(start)).Msg("loaded batch")
	return nil
}

// freshTypes makes sure the COPY into dest encodes values for the column
// types dest has now, and that they are the types the batch was made for.
// pgx caches, per connection, the column types of a COPY destination;
// after a column is widened (by us or by another process) the cache would
// encode an int64 for a numeric column as int8 bytes, which the server may
// read as a wrong number. So the types are read (the caller holds a lock
// on the table), the connection's caches are dropped when they changed
// since its last COPY there, and a batch made for other types gets
// target.ErrTableChanged.
func (l *Loader) freshTypes(ctx context.Context, tx pgx.Tx, dest pgx.Identifier, b *target.Batch) error {
	rows, err := tx.Query(ctx, columnsSQL, dest.Sanitize())
	if err != nil {
		return err
	}
	var sig strings.Builder
	have := map[string]target.ColumnType{}
	var name, typname string
	if _, err := pgx.ForEachRow(rows, []any{&name, &typname}, func() error {
		sig.WriteString(name + " " + typname + ",")
		have[name] = columnType(typname)
		return nil
	}); err != nil {
		return err
	}
	conn := tx.Conn()
	seen := l.copyTypes[conn]
	if seen == nil {
		if len(l.copyTypes) > 64 {
			clear(l.copyTypes) // connections come and go; forget the closed ones
		}
		seen = map[string]string{}
		l.copyTypes[conn] = seen
	}
	key := dest.Sanitize()
	old, known := seen[key]
	seen[key] = sig.String()
	if known && old != sig.String() {
		// Drops the cached descriptions; allowed in a transaction.
		if err := conn.DeallocateAll(ctx); err != nil {
			return err
		}
	}
	return target.CheckTypes(b, have)
}
