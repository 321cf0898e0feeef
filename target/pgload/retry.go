package pgload

import (
	"context"
	"errors"
	"io"
	"net"
	"syscall"

	"github.com/jackc/pgx/v5/pgconn"
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
