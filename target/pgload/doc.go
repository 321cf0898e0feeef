// Package pgload is the PostgreSQL [target.Loader] behind target-postgres.
// It is the only package (besides the test harness) that imports pgx.
//
// Guarantees:
//   - Load commits a batch in one transaction. With keys it COPYs the rows
//     (binary COPY through pgx, so every byte of a string arrives as sent)
//     into a temporary table and merges them with INSERT ... ON CONFLICT DO
//     UPDATE, so loading the same batch twice leaves the same rows and a
//     retry after a crash is harmless. Without keys it COPYs straight into
//     the table (append).
//   - EnsureTable creates the schema and table, adds missing columns and
//     widens a column whose type changed (bigint -> numeric, anything ->
//     text or jsonb), keeping its data. It never drops or narrows a column.
//   - Identifiers always go through pgx.Identifier.Sanitize; values are
//     never spliced into SQL.
//   - Retryable tells transient failures (connection lost, server
//     restarting) from permanent ones; the pool reconnects by itself.
//     DataError tells failures caused by the rows (SQLSTATE classes 21, 22,
//     23, 54), which the core splits the batch on.
//   - Several processes may load one table: EnsureTable runs under an
//     advisory lock on the table and reads its columns after taking it;
//     Load checks the column types under the table's lock, so a batch made
//     before another process widened a column is reported
//     (target.ErrTableChanged) instead of encoded for the old types.
//
// Usage:
//
//	l, err := pgload.Open(ctx, pgload.Config{DSN: dsn, Schema: "public"}, log)
//	tbl, err := l.EnsureTable(ctx, target.Table{Name: "data", Columns: cols, Keys: []string{"event_id"}})
//	err = l.Load(ctx, &target.Batch{Table: "data", Columns: names, Keys: tbl.Keys, Rows: rows})
//	if err != nil && l.Retryable(err) { /* back off and load the same batch again */ }
package pgload
