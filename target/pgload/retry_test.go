package pgload_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/cio-singer/tap-customerio-webhook/internal/poll"
	"github.com/cio-singer/tap-customerio-webhook/target"
	"github.com/cio-singer/tap-customerio-webhook/target/pgload"
)

func TestRetryable(t *testing.T) {
	pgErr := func(code string) error { return fmt.Errorf("merging rows into data: %w", &pgconn.PgError{Code: code}) }
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"connection failure 08006", pgErr("08006"), true},
		{"serialization failure 40001", pgErr("40001"), true},
		{"deadlock 40P01", pgErr("40P01"), true},
		{"disk full 53100", pgErr("53100"), true},
		{"too many connections 53300", pgErr("53300"), true},
		{"admin shutdown 57P01", pgErr("57P01"), true},
		{"crash shutdown 57P02", pgErr("57P02"), true},
		{"cannot connect now 57P03", pgErr("57P03"), true},
		{"query canceled 57014", pgErr("57014"), false},
		{"unique violation 23505", pgErr("23505"), false},
		{"not null violation 23502", pgErr("23502"), false},
		{"bad text representation 22P02", pgErr("22P02"), false},
		{"undefined table 42P01", pgErr("42P01"), false},
		{"wrong password 28P01", pgErr("28P01"), false},
		{"unexpected EOF", fmt.Errorf("copying: %w", io.ErrUnexpectedEOF), true},
		{"connection reset", &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}, true},
		{"connection refused", fmt.Errorf("x: %w", syscall.ECONNREFUSED), true},
		{"conn closed", pgconn.ErrConnClosed, true},
		{"unknown host", &net.DNSError{Err: "no such host", Name: "nope", IsNotFound: true}, false},
		{"canceled", fmt.Errorf("loading: %w", context.Canceled), false},
		{"unknown error", errors.New("unable to encode"), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := pgload.Retryable(tc.err); got != tc.want {
				t.Fatalf("Retryable(%v) = %v, want %v", tc.err, got, tc.want)
			}
		})
	}
}

// TestIntegrationRetryableTerminatedBackend kills the loader's backend with
// pg_terminate_backend while a Load waits on a lock: the error is retryable
// and the same Load then succeeds on a fresh connection.
func TestIntegrationRetryableTerminatedBackend(t *testing.T) {
	t.Parallel()
	l, conn := open(t)
	ensure(t, l, dataTable)
	b := &target.Batch{Table: "data", Keys: []string{"event_id"}, Columns: []string{"event_id", "metric"},
		Rows: [][]any{{"e1", "sent"}, {"e2", "opened"}}}

	tx, err := conn.Begin(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(t.Context(), "LOCK TABLE cio.data IN ACCESS EXCLUSIVE MODE"); err != nil {
		t.Fatal(err)
	}
	loadErr := make(chan error, 1)
	go func() { loadErr <- l.Load(context.Background(), b) }()

	poll.Until(t, "the Load to wait on the lock (its backend is then terminated)", func() bool {
		// tx's own connection runs this, so it is never the one waiting.
		var killed bool
		err := tx.QueryRow(t.Context(), `SELECT coalesce(bool_or(pg_terminate_backend(pid)), false) FROM pg_stat_activity
			WHERE datname = current_database() AND pid <> pg_backend_pid() AND wait_event_type = 'Lock'`).Scan(&killed)
		if err != nil {
			t.Fatal(err)
		}
		return killed
	})
	err = <-loadErr
	if err == nil {
		t.Fatal("Load succeeded although its backend was terminated")
	}
	if !l.Retryable(err) {
		t.Fatalf("terminated backend classed permanent: %v", err)
	}
	if err := tx.Rollback(t.Context()); err != nil {
		t.Fatal(err)
	}
	load(t, l, b)
	if got := rows(t, conn); len(got) != 2 {
		t.Fatalf("after retry: %v", got)
	}
}

// TestIntegrationLoadAfterServerRestart stops the cluster: Load fails
// retryably while it is down and succeeds once it is back, without a new
// Loader.
func TestIntegrationLoadAfterServerRestart(t *testing.T) {
	pg.Require(t)
	if pg.External() {
		t.Skip("external server: cannot restart it")
	}
	l, conn := open(t)
	ensure(t, l, dataTable)
	cols := []string{"event_id", "metric"}
	load(t, l, &target.Batch{Table: "data", Keys: []string{"event_id"}, Columns: cols, Rows: [][]any{{"before", "sent"}}})
	dsn := conn.Config().ConnString()

	if err := pg.StopServer(); err != nil {
		t.Fatal(err)
	}
	restarted := false
	t.Cleanup(func() {
		if !restarted {
			_ = pg.StartServer() // leave the cluster running for the next test
		}
	})
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	err := l.Load(ctx, &target.Batch{Table: "data", Keys: []string{"event_id"}, Columns: cols, Rows: [][]any{{"down", "x"}}})
	cancel()
	if err == nil {
		t.Fatal("Load succeeded with the server stopped")
	}
	if !l.Retryable(err) {
		t.Fatalf("server down classed permanent: %v", err)
	}
	if err := pg.StartServer(); err != nil {
		t.Fatal(err)
	}
	restarted = true
	load(t, l, &target.Batch{Table: "data", Keys: []string{"event_id"}, Columns: cols, Rows: [][]any{{"after", "sent"}}})

	fresh, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.Close(context.Background())
	if got := rows(t, fresh); len(got) != 2 || got[0].id != "after" || got[1].id != "before" {
		t.Fatalf("rows after restart: %v", got)
	}
}

func TestIntegrationPermanentErrorNotRetryable(t *testing.T) {
	t.Parallel()
	l, _ := open(t)
	ensure(t, l, dataTable)
	// A string where the table has bigint fails to encode: retrying cannot help.
	err := l.Load(t.Context(), &target.Batch{Table: "data", Keys: []string{"event_id"}, Columns: []string{"event_id", "timestamp"},
		Rows: [][]any{{"e1", "not a number"}}})
	if err == nil || l.Retryable(err) {
		t.Fatalf("Load of a bad value: err %v, retryable %v; want a permanent error", err, err != nil && l.Retryable(err))
	}
	// So is a table that does not exist.
	err = l.Load(t.Context(), &target.Batch{Table: "missing", Columns: []string{"a"}, Rows: [][]any{{"x"}}})
	if err == nil || l.Retryable(err) {
		t.Fatalf("Load into a missing table: err %v; want a permanent error", err)
	}
}
