package sqliteload_test

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/cio-singer/tap-customerio-webhook/target"
	"github.com/cio-singer/tap-customerio-webhook/target/sqliteload"
)

// numberedBatch returns rows with event_ids first..first+n-1 and a payload
// of about 1 KB each, the size of a Customer.io event.
func numberedBatch(first, n int) *target.Batch {
	b := &target.Batch{Table: "data", Keys: []string{"event_id"},
		Columns: []string{"event_id", "metric", "timestamp", "received_at", "data"}}
	payload := `{"customer_id":"user-7781","subject":"` + strings.Repeat("x", 900) + `"}`
	for i := first; i < first+n; i++ {
		b.Rows = append(b.Rows, []any{fmt.Sprintf("ev-%08d", i), "sent", int64(1727712043 + i),
			time.Unix(int64(1727712043+i), 0).UTC(), jsonRaw(payload)})
	}
	return b
}

func TestLoad_ReadersSeeCommittedSnapshots(t *testing.T) {
	l, db := newDB(t)
	ensure(t, l, eventsTable)
	const n = 100
	load(t, l, numberedBatch(0, n))

	// A reader in the middle of a read transaction does not stop a load
	// (WAL), and keeps seeing its snapshot until it ends.
	tx, err := db.BeginTx(t.Context(), &sql.TxOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	var before int
	if err := tx.QueryRow(`SELECT count(*) FROM data`).Scan(&before); err != nil || before != n {
		t.Fatalf("count in reader = %d (%v), want %d", before, err, n)
	}
	load(t, l, numberedBatch(n, n))
	var during int
	if err := tx.QueryRow(`SELECT count(*) FROM data`).Scan(&during); err != nil || during != n {
		t.Fatalf("count in the same read transaction = %d (%v), want %d", during, err, n)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if got := count(t, db, "data"); got != 2*n {
		t.Fatalf("count after the reader's transaction = %d, want %d", got, 2*n)
	}

	// A reader polling while batches load only ever sees whole batches.
	done := make(chan struct{})
	seen := make(chan error, 1)
	go func() {
		last := 0
		for {
			select {
			case <-done:
				seen <- nil
				return
			default:
			}
			var c int
			if err := db.QueryRow(`SELECT count(*) FROM data`).Scan(&c); err != nil {
				seen <- err
				return
			}
			if c%n != 0 || c < last {
				seen <- fmt.Errorf("reader saw %d rows after %d: not whole batches", c, last)
				return
			}
			last = c
		}
	}()
	for k := 2; k < 12; k++ {
		load(t, l, numberedBatch(k*n, n))
	}
	close(done)
	if err := <-seen; err != nil {
		t.Fatal(err)
	}
}

func TestLoad_FailedBatchLeavesNothing(t *testing.T) {
	l, db := newDB(t)
	ensure(t, l, eventsTable)
	load(t, l, numberedBatch(0, 10))
	b := numberedBatch(10, 10)
	b.Rows[7][0] = nil // a NULL key violates NOT NULL after 7 rows went in
	err := l.Load(t.Context(), b)
	if err == nil {
		t.Fatal("Load with a NULL key succeeded")
	}
	if l.Retryable(err) {
		t.Fatalf("constraint violation reported retryable: %v", err)
	}
	if got := count(t, db, "data"); got != 10 {
		t.Fatalf("count = %d after a failed batch, want the 10 committed before", got)
	}
}

func TestRetryable(t *testing.T) {
	path := filepath.Join(t.TempDir(), "busy.db")
	l := openLoader(t, path)
	ensure(t, l, eventsTable)

	// Another connection holds the write lock; a writer that will not wait
	// gets SQLITE_BUSY.
	holder := openReader(t, path)
	conn, err := holder.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(t.Context(), "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	impatient, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(0)")
	if err != nil {
		t.Fatal(err)
	}
	defer impatient.Close()
	_, busy := impatient.Exec(`INSERT INTO data (event_id) VALUES ('x')`)
	if busy == nil {
		t.Fatal("insert while another connection holds the write lock succeeded")
	}
	if !l.Retryable(busy) || !l.Retryable(fmt.Errorf("loading: %w", busy)) {
		t.Fatalf("SQLITE_BUSY not retryable: %v", busy)
	}
	if _, err := conn.ExecContext(t.Context(), "ROLLBACK"); err != nil {
		t.Fatal(err)
	}

	_, syntax := impatient.Exec(`INSERT INTO nowhere VALUES (1)`)
	for _, err := range []error{syntax, context.Canceled, errors.New("other")} {
		if err == nil || l.Retryable(err) {
			t.Errorf("Retryable(%v) = true, want false", err)
		}
	}
}

const crashEnv = "SQLITELOAD_CRASH_DB"

// TestCrashChild is the process TestLoad_CrashKeepsOnlyCommittedBatches
// kills: it loads batches until killed, printing each committed one.
func TestCrashChild(t *testing.T) {
	path := os.Getenv(crashEnv)
	if path == "" {
		t.Skip("run by TestLoad_CrashKeepsOnlyCommittedBatches")
	}
	l, err := sqliteload.Open(context.Background(), path, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.EnsureTable(context.Background(), eventsTable); err != nil {
		t.Fatal(err)
	}
	for k := 0; ; k++ {
		if err := l.Load(context.Background(), numberedBatch(k*crashBatch, crashBatch)); err != nil {
			t.Fatal(err)
		}
		fmt.Printf("committed %d\n", k)
	}
}

const crashBatch = 500

func TestLoad_CrashKeepsOnlyCommittedBatches(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a child process")
	}
	path := filepath.Join(t.TempDir(), "crash.db")
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.v")
	cmd.Env = append(os.Environ(), crashEnv+"="+path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	committed := -1
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if _, err := fmt.Sscanf(sc.Text(), "committed %d", &committed); err == nil && committed >= 3 {
			break
		}
	}
	// SIGKILL: no deferred code, no rollback, no checkpoint. The child is
	// almost always inside its next Load's transaction now.
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait() //nolint:errcheck // killed on purpose
	if committed < 3 {
		t.Fatalf("child committed %d batches before dying", committed+1)
	}

	l := openLoader(t, path) // recovers the WAL
	db := openReader(t, path)
	var check string
	if err := db.QueryRow(`PRAGMA integrity_check`).Scan(&check); err != nil || check != "ok" {
		t.Fatalf("integrity_check = %q (%v)", check, err)
	}
	got := count(t, db, "data")
	t.Logf("child reported %d batches committed; %d rows survived the kill", committed+1, got)
	if got%crashBatch != 0 || got < (committed+1)*crashBatch {
		t.Fatalf("after the crash %d rows, want whole batches of %d and at least the %d reported committed",
			got, crashBatch, committed+1)
	}
	// Every row of every committed batch is there, and loading resumes.
	var maxID string
	if err := db.QueryRow(`SELECT max(event_id) FROM data`).Scan(&maxID); err != nil || maxID != fmt.Sprintf("ev-%08d", got-1) {
		t.Fatalf("max event_id = %q (%v), want ev-%08d", maxID, err, got-1)
	}
	load(t, l, numberedBatch(got, crashBatch))
	if n := count(t, db, "data"); n != got+crashBatch {
		t.Fatalf("count after resuming = %d, want %d", n, got+crashBatch)
	}
}
