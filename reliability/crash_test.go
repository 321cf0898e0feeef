package reliability_test

import (
	"math/rand/v2"
	"testing"
	"time"
)

// TestIntegrationCrashLoop runs tap | target-postgres under continuous signed
// load and kills the tap, the target or both with SIGKILL at random moments,
// restarting each time from the last state the target printed. At the end
// every acknowledged event_id must be in PostgreSQL exactly once.
func TestIntegrationCrashLoop(t *testing.T) {
	dsn := pg.NewDatabase(t)
	bins := buildBinaries(t)
	cycles := pick(3, 30)
	maxUp := pick(1500*time.Millisecond, 4*time.Second)
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 0))

	p := newPipeline(t, bins, dsn)
	p.start()
	ld := startLoad(p.url(), 8, float64(pick(300, 500)))
	t.Cleanup(func() { ld.cancel(); <-ld.done })

	kills := map[string]int{}
	for cycle := range cycles {
		// Run for a random while, then kill at that random moment.
		up := time.Duration(200+rng.IntN(int(maxUp/time.Millisecond))) * time.Millisecond
		select {
		case <-time.After(up):
		case <-p.tap.done:
			t.Fatalf("cycle %d: tap exited on its own (code %d)", cycle, p.tap.exitCode())
		case <-p.target.done:
			t.Fatalf("cycle %d: target exited on its own (code %d)", cycle, p.target.exitCode())
		}
		victim := []string{"tap", "target", "both"}[rng.IntN(3)]
		kills[victim]++
		switch victim {
		case "tap":
			p.tap.kill()
		case "target":
			p.target.kill()
		default:
			p.tap.kill()
			p.target.kill()
		}
		// Tap killed: the target reads EOF, commits and prints its last
		// state. Target killed: the tap's next write fails (EPIPE) and it
		// exits. It may be idle for a moment; kill it if it lingers.
		if !p.target.exited(2 * time.Minute) {
			t.Fatalf("cycle %d: target still running after the tap was killed", cycle)
		}
		if !p.tap.exited(30 * time.Second) {
			p.tap.kill()
			<-p.tap.done
		}
		if victim == "tap" && p.target.exitCode() != 0 {
			t.Fatalf("cycle %d: target exited %d at end of input, want 0", cycle, p.target.exitCode())
		}
		p.start()
	}

	res, acked := ld.stop(t)
	p.stop()
	figure(t, "cycles", cycles)
	figure(t, "kills", kills)
	figure(t, "requests", res.Requests)
	figure(t, "status", res.Status)
	compare(acked, warehouseIDs(t, dsn)).check(t, res.Errors)
}
