// Package sqliteload is the SQLite [target.Loader] behind target-sqlite: the
// zero-setup default that loads Singer streams into one database file with
// the same semantics as target-postgres. It is the only package that imports
// modernc.org/sqlite (pure Go, no cgo).
//
// Guarantees:
//   - Durability: the database runs in WAL mode with synchronous=FULL, so a
//     batch whose Load returned nil survives a crash or power loss, and the
//     core may report the state that covers it.
//   - Atomicity: each Load is one transaction; a crash mid-Load leaves none
//     of that batch's rows.
//   - Idempotence: with keys, Load upserts (INSERT ... ON CONFLICT DO
//     UPDATE), so replaying a batch leaves the same rows.
//   - Readers are never blocked: WAL lets other connections (sqlite3 CLI,
//     dashboards) read the last committed state while a batch loads.
//   - Exactness: strings, int64, timestamps and JSON read back as sent; see
//     [numericValue] for numbers.
//
// SQLite fixes a column's affinity when the column is created, so the
// logical type of every column (text, bigint, numeric, boolean, timestamp,
// json) is recorded in the table _sdc_columns. Widening a column
// ([target.Widen]) updates that record; when the wider type needs a
// different affinity (an INTEGER column becoming text, say, where "007"
// must not turn into 7) the table is rebuilt once, inside the same
// transaction. Columns are never dropped.
//
// Usage:
//
//	l, err := sqliteload.Open(ctx, "customerio.db", log)
//	if err != nil { ... }
//	defer l.Close()
//	tbl, err := l.EnsureTable(ctx, target.Table{Name: "data", Columns: cols, Keys: []string{"event_id"}})
//	err = l.Load(ctx, &target.Batch{Table: "data", Columns: names, Keys: tbl.Keys, Rows: rows})
package sqliteload
