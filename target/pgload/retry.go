package pgload

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/cio-singer/tap-customerio-webhook/target"
)

// Retryable reports whether loading the same batch again may succeed.
//
// Transient: the connection broke or could not be made (server restarting,
// network blip, backend terminated), a timeout, and the SQLSTATE classes
// that mean "try again" (see the PostgreSQL errcodes appendix):
// 08 connection exception, 40 transaction rollback (serialization failure,
// deadlock), 53 insufficient resources (disk full, too many connections),
// 57P01-57P03 admin/crash shutdown and cannot-connect-now.
//
// Everything else is permanent: a bad value, a missing privilege or a
// wrong password will fail the same way on every try, and retrying it
// forever would stall every stream behind it. A lost connection during
// COMMIT is retried even though the commit may have happened: Load is
// idempotent, so loading the batch again is harmless.
func Retryable(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) {
		return false // we were told to stop
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return retryableSQLState(pgErr.Code)
	}
	if pgconn.SafeToRetry(err) || pgconn.Timeout(err) {
		return true
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return dnsErr.IsTemporary || dnsErr.IsTimeout // a host that does not exist stays so
	}
	var connectErr *pgconn.ConnectError
	var netErr net.Error
	switch {
	case errors.As(err, &connectErr), errors.As(err, &netErr):
		return true
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, pgconn.ErrConnClosed),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return true
	}
	return false
}

func retryableSQLState(code string) bool {
	if len(code) < 2 {
		return false
	}
	switch code[:2] {
	case "08", "40", "53": // connection exception, transaction rollback, insufficient resources
		return true
	}
	switch code {
	case "57P01", "57P02", "57P03": // admin_shutdown, crash_shutdown, cannot_connect_now
		return true
	}
	return false
}

// DataError reports whether a permanent error was caused by the rows being
// loaded, so that loading fewer of them may succeed, and the column it
// names. Data errors are the SQLSTATE classes 21 cardinality violation (two
// rows of a batch equal for PostgreSQL though not byte for byte), 22 data
// exception (a value the type refuses), 23 integrity constraint violation
// and 54 program limit exceeded (a row or index entry too big), and a value
// pgload itself could not convert. Everything else (privileges, a missing
// table, the connection) is not: splitting would only repeat it.
func DataError(err error) (column string, ok bool) {
	var ve *target.ValueError
	if errors.As(err, &ve) {
		return ve.Column, true
	}
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || len(pgErr.Code) < 2 {
		return "", false
	}
	switch pgErr.Code[:2] {
	case "21", "22", "23", "54":
		if pgErr.ColumnName != "" {
			return pgErr.ColumnName, true
		}
		return copyColumn(pgErr.Where), true
	}
	return "", false
}

// copyColumn finds the column in the context of a COPY error:
// "COPY _pgload_staging, line 1, column data: ...".
func copyColumn(where string) string {
	_, after, ok := strings.Cut(where, ", column ")
	if !ok {
		return ""
	}
	if i := strings.IndexAny(after, ": \n"); i >= 0 {
		after = after[:i]
	}
	return after
}
