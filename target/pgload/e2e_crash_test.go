package pgload_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cio-singer/tap-customerio-webhook/internal/poll"
)

const genSchema = `{"type":"SCHEMA","stream":"data","key_properties":["event_id"],"schema":{"type":"object","properties":{"event_id":{"type":"string"},"n":{"type":"integer"},"body":{"type":["null","string"]}}}}`

// genLines returns the Singer lines for records [from, to): each record n
// is followed by STATE {"n": n} every stateEvery records, as a tap does.
func genLines(from, to, stateEvery int) []string {
	var lines []string
	for n := from; n < to; n++ {
		lines = append(lines, fmt.Sprintf(`{"type":"RECORD","stream":"data","record":{"event_id":"e%06d","n":%d,"body":"line\n%d\t\"q\""}}`, n, n, n))
		if (n+1)%stateEvery == 0 || n == to-1 {
			lines = append(lines, fmt.Sprintf(`{"type":"STATE","value":{"n":%d}}`, n))
		}
	}
	return lines
}

func feed(w io.Writer, lines []string) error {
	bw := bufio.NewWriter(w)
	for _, l := range lines {
		if _, err := bw.WriteString(l + "\n"); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// lastState returns the n of the last state line printed, or -1.
func lastState(t *testing.T, stdout string) int {
	t.Helper()
	st := states(t, stdout)
	if len(st) == 0 {
		return -1
	}
	var v struct{ N int }
	if err := json.Unmarshal([]byte(st[len(st)-1]), &v); err != nil {
		t.Fatal(err)
	}
	return v.N
}

func count(t *testing.T, dsn, where string) string {
	t.Helper()
	return queryStrings(t, dsn, `SELECT count(*)::text FROM cio.data `+where)[0]
}

func testKillAndResume(t *testing.T, bin string) {
	const total, half = 20000, 10000
	dsn := pg.NewDatabase(t)
	config := writeConfig(t, dsn, `,"batch_size_rows":1000,"max_batch_age":"50ms"`)

	r := startTarget(t, bin, config, nil)
	go func() {
		// Only half the input: the target cannot reach its end before the kill.
		_ = feed(r.stdin, append([]string{genSchema}, genLines(0, half, 100)...))
	}()
	poll.Within(t, time.Minute, "a state from the first run", func() bool { return strings.Contains(r.stdout.String(), "\n") })
	if err := r.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = r.wait(t)
	last := lastState(t, r.stdout.String())
	if last < 0 {
		t.Fatal("no state before the kill")
	}
	// The state must not be ahead of the commit: every record up to it is in.
	if got, want := count(t, dsn, fmt.Sprintf("WHERE n <= %d", last)), fmt.Sprint(last+1); got != want {
		t.Fatalf("state n=%d printed but only %s of its %s records are committed", last, got, want)
	}

	// The tap resumes after the state: records last+1 onwards.
	rest := append([]string{genSchema}, genLines(last+1, total, 100)...)
	r2 := startTarget(t, bin, config, strings.NewReader(strings.Join(rest, "\n")+"\n"))
	if code := r2.wait(t); code != 0 {
		t.Fatalf("rerun exit %d", code)
	}
	if got := lastState(t, r2.stdout.String()); got != total-1 {
		t.Fatalf("rerun's last state n=%d, want %d", got, total-1)
	}
	if got := count(t, dsn, ""); got != fmt.Sprint(total) {
		t.Fatalf("%s rows after the rerun, want %d", got, total)
	}
	if got := queryStrings(t, dsn, `SELECT body FROM cio.data WHERE event_id = 'e012345'`); len(got) != 1 || got[0] != "line\n12345\t\"q\"" {
		t.Fatalf("row e012345 body %q", got)
	}
	t.Logf("killed after state n=%d; rerun loaded the rest", last)
}

func testOutage(t *testing.T, bin string) {
	if pg.External() {
		t.Skip("external server: cannot stop it")
	}
	const total, first = 6000, 1000
	dsn := pg.NewDatabase(t)
	config := writeConfig(t, dsn, `,"batch_size_rows":500,"max_batch_age":"50ms"`)
	r := startTarget(t, bin, config, nil)
	lines := genLines(0, total, 100)
	split := first + first/100 // records and their states
	if err := feed(r.stdin, append([]string{genSchema}, lines[:split]...)); err != nil {
		t.Fatal(err)
	}
	poll.Within(t, time.Minute, "a first commit", func() bool { return strings.Contains(r.stdout.String(), "\n") })

	if err := pg.StopServer(); err != nil {
		t.Fatal(err)
	}
	running := false
	t.Cleanup(func() {
		if !running {
			_ = pg.StartServer()
		}
	})
	// The target stops reading while it cannot load (memory stays bounded),
	// so the rest is fed from a goroutine.
	fed := make(chan error, 1)
	go func() {
		err := feed(r.stdin, lines[split:])
		r.stdin.Close()
		fed <- err
	}()
	// Stay down for at least two failed attempts.
	poll.Within(t, time.Minute, "the target to report a second retry", func() bool {
		return strings.Contains(r.stderr.String(), `"attempt":2`)
	})
	if err := pg.StartServer(); err != nil {
		t.Fatal(err)
	}
	running = true
	if code := r.wait(t); code != 0 {
		t.Fatalf("exit %d after the outage", code)
	}
	if err := <-fed; err != nil {
		t.Fatalf("feeding the target: %v", err)
	}
	if got := lastState(t, r.stdout.String()); got != total-1 {
		t.Fatalf("last state n=%d, want %d", got, total-1)
	}
	if got := count(t, dsn, ""); got != fmt.Sprint(total) {
		t.Fatalf("%s rows, want %d", got, total)
	}
}
