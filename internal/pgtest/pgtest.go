// Package pgtest starts a throwaway PostgreSQL cluster for tests, or uses the
// server named by $TARGET_POSTGRES_TEST_DSN.
//
// The cluster lives in a temporary directory (initdb + pg_ctl, fsync off,
// listening on a free 127.0.0.1 port and a unix socket in that directory).
// As root the tools run as user postgres, because PostgreSQL refuses to run
// as root. A watchdog process stops the cluster and removes the directory
// when the test binary exits, however it exits (failed test, panic, timeout,
// SIGKILL), so no cluster outlives its tests.
//
// One cluster serves a whole package; each test gets its own database:
//
//	var pg *pgtest.Server
//
//	func TestMain(m *testing.M) { pgtest.Main(m, &pg) }
//
//	func TestIntegrationSomething(t *testing.T) {
//		dsn := pg.NewDatabase(t) // skips when PostgreSQL is not installed (fails when CI=true)
//		...
//	}
//
// When PostgreSQL is not installed, Main fails the run if $CI is "true" and
// otherwise lets tests that need it skip with a message on how to install it.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// EnvDSN names the environment variable that points the tests at an existing
// server instead of a private cluster. The role needs CREATEDB.
const EnvDSN = "TARGET_POSTGRES_TEST_DSN"

// ErrNotInstalled means no initdb/pg_ctl was found.
var ErrNotInstalled = errors.New("pgtest: PostgreSQL server binaries (initdb, pg_ctl) not found on PATH or in /usr/lib/postgresql/*/bin; " +
	"install them (Debian/Ubuntu: apt-get install -y postgresql) or set " + EnvDSN)

// ErrExternal is returned by StopServer and StartServer on a server the
// harness did not start.
var ErrExternal = errors.New("pgtest: server given by " + EnvDSN + " cannot be stopped or started")

// debianBinRoot is where the Debian package puts the server binaries.
const debianBinRoot = "/usr/lib/postgresql"

// Server is a running PostgreSQL: a private cluster or the one in EnvDSN.
// Its methods are safe for concurrent use by parallel tests, except Stop,
// StopServer and StartServer, which the caller must not overlap.
type Server struct {
	dsn     string
	binDir  string
	dir     string   // temp dir holding data/, the socket and the log; "" for an external server
	port    int      // listening port of a private cluster
	runAs   []string // command prefix to run tools as user postgres (when we are root)
	watch   *exec.Cmd
	watchIn io.WriteCloser
	skip    string // set by Main when PostgreSQL is missing: tests skip with this
}

// Start connects to $TARGET_POSTGRES_TEST_DSN or starts a private cluster.
// The error wraps ErrNotInstalled when the binaries are missing, and carries
// the tool's output when initdb or pg_ctl fails.
func Start() (*Server, error) {
	if dsn := os.Getenv(EnvDSN); dsn != "" {
		return &Server{dsn: dsn}, nil
	}
	binDir, err := findBinDir(debianBinRoot)
	if err != nil {
		return nil, err
	}
	s := &Server{binDir: binDir}
	if err := s.prepareDir(); err != nil {
		return nil, err
	}
	if err := s.initCluster(); err != nil {
		s.Stop()
		return nil, err
	}
	// A free port can be taken by someone else between our probe and
	// postmaster's bind (other clusters start on this machine too): try a few.
	for attempt := 0; ; attempt++ {
		if s.port, err = freePort(); err == nil {
			err = s.StartServer()
		}
		if err == nil {
			break
		}
		if attempt == 2 {
			s.Stop()
			return nil, err
		}
	}
	s.dsn = fmt.Sprintf("host=127.0.0.1 port=%d user=postgres dbname=postgres sslmode=disable", s.port)
	return s, nil
}

// Main runs the tests of a package against one server and exits: it starts
// the server into *srv, runs m, stops the server and removes its files. Call
// it from TestMain. When PostgreSQL is missing, the run fails if $CI is
// "true"; otherwise *srv is a server whose NewDatabase and Require skip.
func Main(m *testing.M, srv **Server) { os.Exit(Run(m, srv)) }

// Run is Main without the exit: it returns the exit code, so that a
// TestMain can remove what its tests left (os.Exit skips deferred calls).
func Run(m *testing.M, srv **Server) int {
	s, err := Start()
	switch {
	case errors.Is(err, ErrNotInstalled) && os.Getenv("CI") != "true":
		s = &Server{skip: err.Error()}
	case errors.Is(err, ErrNotInstalled):
		fmt.Fprintln(os.Stderr, err.Error()+" (CI=true: a missing PostgreSQL is a failure)")
		return 1
	case err != nil:
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	*srv = s
	code := m.Run()
	s.Stop()
	return code
}

// Require skips t when the server is unavailable (PostgreSQL not installed
// and not in CI).
func (s *Server) Require(t testing.TB) {
	t.Helper()
	if s == nil {
		t.Fatal("pgtest: no server; call pgtest.Main from TestMain")
	}
	if s.skip != "" {
		t.Skip(s.skip)
	}
}

// DSN returns the connection string of the server's maintenance database.
func (s *Server) DSN() string { return s.dsn }

// External reports whether the server came from EnvDSN, so it cannot be
// stopped and started by the tests.
func (s *Server) External() bool { return s.dir == "" }

// NewDatabase creates an empty database t_<random> and returns its DSN. The
// database is dropped, with its connections, when t ends.
func (s *Server) NewDatabase(t testing.TB) string {
	t.Helper()
	s.Require(t)
	var rnd [6]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		t.Fatalf("pgtest: naming database: %v", err)
	}
	name := "t_" + hex.EncodeToString(rnd[:])
	if err := s.exec(context.Background(), "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		t.Fatalf("pgtest: creating database: %v", err)
	}
	t.Cleanup(func() {
		if err := s.exec(context.Background(), "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			t.Errorf("pgtest: dropping database %s: %v", name, err)
		}
	})
	dsn, err := s.DatabaseDSN(name)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	return dsn
}

// DatabaseDSN returns the server's DSN pointed at database name (which the
// caller creates), for programs such as benchmarks that have no testing.TB.
func (s *Server) DatabaseDSN(name string) (string, error) { return withDatabase(s.dsn, name) }

// StopServer shuts the private cluster down (fast mode: clients are
// disconnected), keeping its data, to simulate an outage.
func (s *Server) StopServer() error {
	if s.External() {
		return ErrExternal
	}
	return s.run("pg_ctl", "-D", s.dataDir(), "-m", "fast", "-w", "stop")
}

// StartServer starts the private cluster again on the same port and waits
// until it accepts connections.
func (s *Server) StartServer() error {
	if s.External() {
		return ErrExternal
	}
	opts := fmt.Sprintf("-c listen_addresses=127.0.0.1 -p %d -k %s -c fsync=off -c full_page_writes=off -c synchronous_commit=off -c max_connections=200",
		s.port, s.dir)
	return s.run("pg_ctl", "-D", s.dataDir(), "-o", opts, "-l", filepath.Join(s.dir, "log"), "-w", "-t", "60", "start")
}

// Stop stops a private cluster and removes its directory. It is a no-op for
// an external server and safe to call more than once.
func (s *Server) Stop() {
	if s == nil || s.dir == "" {
		return
	}
	_ = s.run("pg_ctl", "-D", s.dataDir(), "-m", "immediate", "-w", "stop") // fails harmlessly when not running
	_ = os.RemoveAll(s.dir)
	if s.watchIn != nil {
		_ = s.watchIn.Close() // the watchdog finds nothing left to do and exits
		_ = s.watch.Wait()
		s.watchIn = nil
	}
}

// Port returns the port of a private cluster (0 for an external server).
func (s *Server) Port() int { return s.port }

// Tool returns the path of a PostgreSQL program such as psql: from the
// installation the cluster runs from, else from PATH (an external server).
func (s *Server) Tool(name string) (string, error) {
	if s.binDir != "" {
		if p := filepath.Join(s.binDir, name); isExecutable(p) {
			return p, nil
		}
	}
	return exec.LookPath(name)
}

func (s *Server) dataDir() string { return filepath.Join(s.dir, "data") }

// prepareDir makes the temp dir (owned by postgres when we are root) and
// starts the watchdog that cleans it up when this process dies.
func (s *Server) prepareDir() error {
	dir, err := os.MkdirTemp("", "pgtest-")
	if err != nil {
		return fmt.Errorf("pgtest: making temp dir: %w", err)
	}
	s.dir = dir
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			os.RemoveAll(dir)
			return fmt.Errorf("pgtest: running as root needs user postgres to run the server: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			os.RemoveAll(dir)
			return fmt.Errorf("pgtest: handing temp dir to postgres: %w", err)
		}
		s.runAs = []string{"runuser", "-u", "postgres", "--"}
	}
	return s.startWatchdog()
}

// startWatchdog starts a shell that waits for EOF on its stdin, which
// happens when this process exits for any reason, then stops the cluster and
// removes the directory. It sits in its own process group so a ^C or a
// test-timeout kill of ours does not take it down first.
func (s *Server) startWatchdog() error {
	stop := shellQuote(append(append([]string{}, s.runAs...),
		filepath.Join(s.binDir, "pg_ctl"), "-D", s.dataDir(), "-m", "immediate", "-w", "stop"))
	script := "cat >/dev/null; " + stop + " >/dev/null 2>&1; rm -rf " + shellQuote([]string{s.dir})
	cmd := exec.Command("/bin/sh", "-c", script)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	in, err := cmd.StdinPipe()
	if err != nil {
		return fmt.Errorf("pgtest: starting watchdog: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("pgtest: starting watchdog: %w", err)
	}
	s.watch, s.watchIn = cmd, in
	return nil
}

func (s *Server) initCluster() error {
	return s.run("initdb", "-D", s.dataDir(), "-A", "trust", "-U", "postgres",
		"-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions")
}

// run runs a server tool (as postgres when root) and returns its combined
// output inside the error, so a failed initdb explains itself.
func (s *Server) run(tool string, args ...string) error {
	argv := append(append(append([]string{}, s.runAs...), filepath.Join(s.binDir, tool)), args...)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = s.dir // postgres may not be allowed into the caller's cwd
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("pgtest: running %s: %w\n%s", strings.Join(argv, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

func (s *Server) exec(ctx context.Context, sql string) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, s.dsn)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, sql)
	return err
}

// findBinDir looks for initdb and pg_ctl on PATH, then in the newest
// <root>/<version>/bin (Debian keeps them off PATH, in /usr/lib/postgresql).
func findBinDir(root string) (string, error) {
	if initdb, err := exec.LookPath("initdb"); err == nil {
		if _, err := exec.LookPath("pg_ctl"); err == nil {
			if real, err := filepath.EvalSymlinks(initdb); err == nil {
				initdb = real
			}
			return filepath.Dir(initdb), nil
		}
	}
	entries, err := os.ReadDir(root)
	if err != nil {
		return "", ErrNotInstalled
	}
	var versions []int
	for _, e := range entries {
		if v, err := strconv.Atoi(e.Name()); err == nil {
			versions = append(versions, v)
		}
	}
	sort.Sort(sort.Reverse(sort.IntSlice(versions)))
	for _, v := range versions {
		dir := filepath.Join(root, strconv.Itoa(v), "bin")
		if isExecutable(filepath.Join(dir, "initdb")) && isExecutable(filepath.Join(dir, "pg_ctl")) {
			return dir, nil
		}
	}
	return "", ErrNotInstalled
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pgtest: finding a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// withDatabase returns dsn pointing at database name instead.
func withDatabase(dsn, name string) (string, error) {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return "", fmt.Errorf("parsing %s: %w", EnvDSN, err)
		}
		u.Path = "/" + name
		return u.String(), nil
	}
	// In a keyword/value string a later keyword overrides an earlier one.
	return dsn + " dbname=" + name, nil
}

func shellQuote(args []string) string {
	quoted := make([]string, len(args))
	for i, a := range args {
		quoted[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return strings.Join(quoted, " ")
}
