package reliability_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cio-singer/tap-customerio-webhook/internal/loadgen"
)

// dirBytes sums the sizes of the files in dir.
func dirBytes(t *testing.T, dir string) int64 {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, e := range entries {
		if info, err := e.Info(); err == nil && !e.IsDir() {
			n += info.Size()
		}
	}
	return n
}

// TestIntegrationWarehouseOutage stops PostgreSQL under load and starts it
// again: the tap keeps acknowledging (its spool grows), the target retries
// and catches up, nothing acknowledged is lost. The acknowledgement
// latency while PostgreSQL is down is measured and reported, not asserted.
func TestIntegrationWarehouseOutage(t *testing.T) {
	dsn := pg.NewDatabase(t)
	if pg.External() {
		t.Skip("the server from $TARGET_POSTGRES_TEST_DSN cannot be stopped by the test")
	}
	bins := buildBinaries(t)
	p := newPipeline(t, bins, dsn)
	p.start()
	spoolDir := filepath.Join(p.dir, "spool")
	phase := pick(2*time.Second, 5*time.Second)
	outage := pick(3*time.Second, 20*time.Second)
	const conns, rate = 8, 300

	run := func(d time.Duration) (loadgen.Result, []string) {
		t.Helper()
		l := startLoad(p.url(), conns, rate)
		select {
		case <-time.After(d): // load duration, not synchronisation
		case <-p.tap.done:
			t.Fatalf("tap exited (code %d) under load", p.tap.exitCode())
		}
		return l.stop(t)
	}
	res1, acked := run(phase)

	if err := pg.StopServer(); err != nil {
		t.Fatal(err)
	}
	restarted := false
	t.Cleanup(func() {
		if !restarted {
			_ = pg.StartServer() // other tests need it
		}
	})
	before := dirBytes(t, spoolDir)
	resDown, ackedDown := run(outage)
	grown := dirBytes(t, spoolDir) - before
	if !p.target.alive() {
		t.Fatalf("target exited (code %d) during the outage: it must retry", p.target.exitCode())
	}
	if err := pg.StartServer(); err != nil {
		t.Fatal(err)
	}
	restarted = true
	res3, acked3 := run(phase)
	p.stop()

	acked = append(append(acked, ackedDown...), acked3...)
	if len(ackedDown) == 0 {
		t.Fatal("nothing was acknowledged while PostgreSQL was down")
	}
	figure(t, "outage", outage)
	figure(t, "acknowledged_during_outage", len(ackedDown))
	figure(t, "status_during_outage", resDown.Status)
	figure(t, "rps_during_outage", int(resDown.RPS))
	figure(t, "p50_ack_ms_during_outage", resDown.Latency.P50)
	figure(t, "p99_ack_ms_during_outage", resDown.Latency.P99)
	figure(t, "max_ack_ms_during_outage", resDown.Latency.Max)
	figure(t, "p99_ack_ms_before_outage", res1.Latency.P99)
	figure(t, "p99_ack_ms_after_outage", res3.Latency.P99)
	figure(t, "spool_growth_bytes_during_outage", grown)
	if grown <= 0 {
		t.Errorf("spool did not grow while PostgreSQL was down (%d bytes)", grown)
	}
	if resDown.Non2xx != 0 {
		t.Errorf("%d requests not answered 2xx while PostgreSQL was down: %v", resDown.Non2xx, resDown.Status)
	}
	compare(acked, warehouseIDs(t, dsn)).check(t, res1.Errors+resDown.Errors+res3.Errors)
}
