package sqliteload

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"

	"github.com/rs/zerolog"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/cio-singer/tap-customerio-webhook/target"
)

// busyTimeoutMillis is how long a statement waits for another connection's
// lock (a reader checkpointing, a second writer) before failing with
// SQLITE_BUSY, which [Loader.Retryable] then reports as transient.
const busyTimeoutMillis = 10000

// Loader loads batches into one SQLite database file through a single
// connection. It implements [target.Loader] and, like that interface, is
// not safe for concurrent use.
type Loader struct {
	db   *sql.DB
	log  zerolog.Logger
	path string
}

var _ target.Loader = (*Loader)(nil)

// Open opens (creating if missing) the database file at path.
//
// synchronous=FULL rather than NORMAL: in WAL mode NORMAL skips the fsync
// at commit, so the last transactions may vanish on power loss or an OS
// crash even though COMMIT returned. The core reports a Singer state as
// soon as Load returns, and the tap may then delete its spool, so a lost
// commit would be lost data. FULL costs one fsync per batch, which is
// negligible next to a 1,000-row batch.
//
// _txlock=immediate makes every transaction take the write lock at BEGIN,
// so a concurrent writer makes us wait (busy_timeout) instead of failing
// halfway through a batch when a read lock cannot be upgraded.
func Open(ctx context.Context, path string, log zerolog.Logger) (*Loader, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("resolving database path: %w", err)
	}
	// A file: URI, so the path may hold '?' or '#' without being mistaken
	// for DSN parameters.
	dsn := "file:" + (&url.URL{Path: abs}).EscapedPath() +
		fmt.Sprintf("?_pragma=busy_timeout(%d)&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_txlock=immediate", busyTimeoutMillis)
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", abs, err)
	}
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	l := &Loader{db: db, log: log.With().Str("component", "sqliteload").Logger(), path: abs}
	if err := l.init(ctx); err != nil {
		db.Close() //nolint:errcheck // the init error is the one worth reporting
		return nil, fmt.Errorf("opening %s: %w", abs, err)
	}
	return l, nil
}

func (l *Loader) init(ctx context.Context) error {
	var mode string
	if err := l.db.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		return fmt.Errorf("reading journal mode: %w", err)
	}
	if mode != "wal" {
		// Some file systems (network mounts) cannot do WAL; loads stay
		// correct, only readers block while a batch commits.
		l.log.Warn().Str("journal_mode", mode).Msg("database is not in WAL mode")
	}
	if _, err := l.db.ExecContext(ctx, createColumnsTable); err != nil {
		return fmt.Errorf("creating %s: %w", columnsTable, err)
	}
	l.log.Info().Str("path", l.path).Msg("database opened")
	return nil
}

// Path returns the absolute path of the database file.
func (l *Loader) Path() string { return l.path }

// Close closes the connection. A WAL checkpoint runs as the last
// connection closes, folding the log back into the database file.
func (l *Loader) Close() error {
	if err := l.db.Close(); err != nil {
		return fmt.Errorf("closing %s: %w", l.path, err)
	}
	return nil
}

// DataError reports whether err was caused by the rows: a value sqliteload
// could not convert, or SQLite refusing a row (a constraint, a value too
// big, a type mismatch). Splitting the batch may then load the others.
func (l *Loader) DataError(err error) (column string, ok bool) {
	var ve *target.ValueError
	if errors.As(err, &ve) {
		return ve.Column, true
	}
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return "", false
	}
	switch se.Code() & 0xff {
	case sqlite3.SQLITE_CONSTRAINT, sqlite3.SQLITE_TOOBIG, sqlite3.SQLITE_MISMATCH, sqlite3.SQLITE_RANGE:
		return "", true
	}
	return "", false
}

// Retryable reports whether err is SQLITE_BUSY or SQLITE_LOCKED: another
// connection held a lock longer than busy_timeout, and the same call may
// succeed once it lets go. Everything else (constraint violations, a full
// disk, a corrupt file, SQL errors) is permanent: retrying would stall every
// stream behind a batch that cannot land.
func (l *Loader) Retryable(err error) bool {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return false
	}
	switch se.Code() & 0xff { // the primary code; extended codes add bits above
	case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
		return true
	}
	return false
}
