package pgtest

import (
	"bufio"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cio-singer/tap-customerio-webhook/internal/poll"
)

var pg *Server

func TestMain(m *testing.M) { Main(m, &pg) }

func query(t *testing.T, dsn, sql string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("connecting: %v", err)
	}
	defer conn.Close(ctx)
	var got string
	if err := conn.QueryRow(ctx, sql).Scan(&got); err != nil {
		t.Fatalf("querying %q: %v", sql, err)
	}
	return got
}

func TestIntegrationNewDatabase(t *testing.T) {
	t.Parallel()
	a, b := pg.NewDatabase(t), pg.NewDatabase(t)
	nameA := query(t, a, "SELECT current_database()")
	nameB := query(t, b, "SELECT current_database()")
	if !strings.HasPrefix(nameA, "t_") || nameA == nameB {
		t.Fatalf("databases %q and %q: want two distinct t_ names", nameA, nameB)
	}
	if got := query(t, a, "SHOW server_encoding"); got != "UTF8" {
		t.Fatalf("server_encoding = %q, want UTF8", got)
	}
}

func TestIntegrationDatabaseDroppedAfterTest(t *testing.T) {
	t.Parallel()
	var name string
	t.Run("inner", func(t *testing.T) {
		name = query(t, pg.NewDatabase(t), "SELECT current_database()")
	})
	if got := query(t, pg.DSN(), "SELECT count(*)::text FROM pg_database WHERE datname = '"+name+"'"); got != "0" {
		t.Fatalf("database %s still exists after its test (count %s)", name, got)
	}
}

func TestIntegrationStopStartServer(t *testing.T) {
	pg.Require(t)
	if pg.External() {
		t.Skip("external server: cannot stop it")
	}
	dsn := pg.NewDatabase(t)
	query(t, dsn, "SELECT 1::text")
	if err := pg.StopServer(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	_, err := pgx.Connect(ctx, dsn)
	cancel()
	if err == nil {
		t.Fatal("connected to a stopped server")
	}
	if err := pg.StartServer(); err != nil {
		t.Fatal(err)
	}
	if got := query(t, dsn, "SELECT 42::text"); got != "42" {
		t.Fatalf("after restart got %q", got)
	}
}

func TestWithDatabase(t *testing.T) {
	tests := []struct{ name, dsn, want string }{
		{"keyword", "host=h port=5 user=u dbname=postgres", "host=h port=5 user=u dbname=postgres dbname=x"},
		{"url", "postgres://u:p@h:5/postgres?sslmode=disable", "postgres://u:p@h:5/x?sslmode=disable"},
		{"url no path", "postgresql://h", "postgresql://h/x"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := withDatabase(tc.dsn, "x")
			if err != nil || got != tc.want {
				t.Fatalf("withDatabase(%q) = %q, %v; want %q", tc.dsn, got, err, tc.want)
			}
		})
	}
}

// TestIntegrationWatchdogCleansUpAfterKill runs a child test binary that
// starts a cluster and is then SIGKILLed: the watchdog must stop the cluster
// and remove its directory.
func TestIntegrationWatchdogCleansUpAfterKill(t *testing.T) {
	t.Parallel()
	pg.Require(t)
	if pg.External() {
		t.Skip("external server")
	}
	if os.Getenv("PGTEST_CHILD") == "1" {
		t.Skip("already the child")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestChildHoldsCluster$", "-test.v")
	cmd.Env = append(os.Environ(), "PGTEST_CHILD=1")
	stdin, err := cmd.StdinPipe() // held open so the child blocks reading it
	if err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var dir string
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if d, ok := strings.CutPrefix(sc.Text(), "PGTEST_DIR="); ok {
			dir = d
			break
		}
	}
	if dir == "" {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		t.Fatal("child printed no cluster dir")
	}
	if _, err := os.Stat(dir); err != nil {
		t.Fatalf("child's cluster dir: %v", err)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	poll.Within(t, 30*time.Second, "the watchdog to remove the killed owner's cluster dir "+dir, func() bool {
		_, err := os.Stat(dir)
		return errors.Is(err, os.ErrNotExist)
	})
}

// TestChildHoldsCluster is the child of the watchdog test; it waits to be killed.
func TestChildHoldsCluster(t *testing.T) {
	if os.Getenv("PGTEST_CHILD") != "1" {
		t.Skip("only run as the watchdog test's child")
	}
	s, err := Start()
	if err != nil {
		t.Fatal(err)
	}
	os.Stdout.WriteString("PGTEST_DIR=" + s.dir + "\n")
	_, _ = io.Copy(io.Discard, os.Stdin) // blocks until the parent kills us
}

func TestFindBinDir(t *testing.T) {
	t.Setenv("PATH", t.TempDir()) // no initdb on PATH
	root := t.TempDir()
	if _, err := findBinDir(root); !errors.Is(err, ErrNotInstalled) {
		t.Fatalf("empty root: %v, want ErrNotInstalled", err)
	}
	if !strings.Contains(ErrNotInstalled.Error(), "apt-get install -y postgresql") {
		t.Fatalf("the error does not say how to install: %v", ErrNotInstalled)
	}
	for _, v := range []string{"9", "15", "13"} {
		bin := filepath.Join(root, v, "bin")
		if err := os.MkdirAll(bin, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, tool := range []string{"initdb", "pg_ctl"} {
			if err := os.WriteFile(filepath.Join(bin, tool), []byte("#!/bin/sh\n"), 0o755); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := os.MkdirAll(filepath.Join(root, "16", "bin"), 0o755); err != nil { // newer but incomplete
		t.Fatal(err)
	}
	got, err := findBinDir(root)
	if want := filepath.Join(root, "15", "bin"); err != nil || got != want {
		t.Fatalf("findBinDir = %q, %v; want %q (the newest complete version)", got, err, want)
	}
}
