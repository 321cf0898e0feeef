package main

import (
	"fmt"
	"runtime"
	"slices"
	"strings"
	"time"
)

// runResult is what one run measured.
type runResult struct {
	loadavg    string
	noop, load loadResult

	accepted uint64 // the tap's webhooks_accepted_total at the end
	durable  uint64 // the spool's end offset at the end
	// metricsDurable is /metrics' spool_durable_offset at the end.
	metricsDurable uint64
	stated         uint64 // the offset in the target's final state
	rows           uint64
	distinct       uint64 // distinct event_id in the table
	drain          time.Duration
	tapRSS         int // KiB
	targetRSS      int
	cpu            cpuSplit

	fresh, freshLower []time.Duration // p50, p99, max
	windows           []time.Duration // p99 of each 10 s of the run
	readP50, readMax  time.Duration
	rowFresh          string // from _sdc_batched_at - _sdc_extracted_at
	batches           string // the target's loads, from its log

	problems []string
}

// check compares the end figures: every acknowledged webhook must be in
// the target's final state and in the table, once.
func (r *runResult) check(o options) {
	add := func(format string, a ...any) { r.problems = append(r.problems, fmt.Sprintf(format, a...)) }
	if r.stated != r.durable {
		add("target's final state %d != spool end offset %d", r.stated, r.durable)
	}
	if r.metricsDurable != r.durable {
		add("/metrics says the spool ends at %d, the samples %d", r.metricsDurable, r.durable)
	}
	if r.durable != r.accepted {
		add("spool end offset %d != webhooks the tap accepted %d", r.durable, r.accepted)
	}
	if r.load.acked() > r.accepted {
		add("client saw %d answered 2xx, the tap accepted only %d", r.load.acked(), r.accepted)
	}
	// A request the client wrote but did not wait for when its time was up
	// may still be accepted: at most one per connection.
	if r.accepted > r.load.acked()+uint64(o.conns)+r.load.Errors {
		add("the tap accepted %d, more than the client's %d 2xx plus one in flight per connection", r.accepted, r.load.acked())
	}
	if r.rows != r.accepted || r.distinct != r.rows {
		add("%d rows (%d distinct event_id) for %d accepted webhooks", r.rows, r.distinct, r.accepted)
	}
}

func ms(d time.Duration) string { return fmt.Sprintf("%.0f", float64(d)/float64(time.Millisecond)) }

func (r runResult) ratio() float64 {
	if r.noop.RPS == 0 {
		return 0
	}
	return r.load.RPS / r.noop.RPS
}

func (r runResult) print(i int, o options) {
	fmt.Printf("\nrun %d (load average at its start %s)\n", i, r.loadavg)
	if r.noop.Requests > 0 {
		fmt.Printf("  no-op server: %.0f req/s, ack ms p50 %.2f p99 %.2f; %d non-2xx, %d socket errors\n",
			r.noop.RPS, r.noop.P50, r.noop.P99, r.noop.Non2xx, r.noop.Errors)
	}
	l := r.load
	fmt.Printf("  pipeline: %d answered in %s, %d non-2xx, %d socket errors: %.0f events/s acknowledged", l.Requests, o.duration, l.Non2xx, l.Errors, l.RPS)
	if r.noop.RPS > 0 {
		fmt.Printf(" (%.2fx no-op)", r.ratio())
	}
	fmt.Printf("; ack ms p50 %.2f p99 %.2f max %.2f\n", l.P50, l.P99, l.Max)
	verdict := "nothing lost, no duplicate"
	if len(r.problems) > 0 {
		verdict = "PROBLEM: " + strings.Join(r.problems, "; ")
	}
	fmt.Printf("  end: tap accepted %d (client's 2xx %d, +%d in flight when it stopped); spool end offset %d; target's final state %d; %d rows, %d distinct event_id: %s\n",
		r.accepted, l.acked(), r.accepted-min(r.accepted, l.acked()), r.durable, r.stated, r.rows, r.distinct, verdict)
	fmt.Printf("  freshness ms (spool reached offset N -> target's state covers N), over all %d offsets: p50 %s p99 %s max %s (upper bound; lower bound p50 %s p99 %s max %s)\n",
		r.durable, ms(r.fresh[0]), ms(r.fresh[1]), ms(r.fresh[2]), ms(r.freshLower[0]), ms(r.freshLower[1]), ms(r.freshLower[2]))
	win := make([]string, len(r.windows))
	for i, w := range r.windows {
		win[i] = ms(w)
	}
	fmt.Printf("    p99 of each 10 s of the run, by when the offsets became durable: %s\n", strings.Join(win, " "))
	fmt.Printf("    resolution: spool end offset read from %s every %s, each read took p50 %.2f ms, max %.1f ms; state follows commits within state_interval %s\n",
		o.source, o.sample, float64(r.readP50)/1e6, float64(r.readMax)/1e6, o.stateInterval)
	fmt.Printf("    per row, _sdc_batched_at - _sdc_extracted_at, ms: %s\n", r.rowFresh)
	fmt.Printf("  target-postgres: %s\n", r.batches)
	fmt.Printf("  drain: the target's state covered the spool's end %.2f s after the load stopped\n", r.drain.Seconds())
	fmt.Printf("  peak RSS: tap %d MB, target-postgres %d MB\n", r.tapRSS/1024, r.targetRSS/1024)
	fmt.Printf("  cores used during the load (of %d): %s\n", runtime.NumCPU(), r.cpu)
	if l.RPS > 0 {
		us := r.perEvent()
		fmt.Printf("  CPU per acknowledged event, µs: client %.0f, tap %.0f, target-postgres %.0f, postgres %.0f; "+
			"at this cost %d cores carry at most %.0f events/s with this client, %.0f without it\n",
			us[0], us[1], us[2], us[3], runtime.NumCPU(), float64(runtime.NumCPU())*1e6/(us[0]+us[1]+us[2]+us[3]),
			float64(runtime.NumCPU())*1e6/(us[1]+us[2]+us[3]))
	}
}

// perEvent is the CPU microseconds per acknowledged event of the client,
// the tap, the target and PostgreSQL during the load.
func (r runResult) perEvent() [4]float64 {
	if r.load.RPS == 0 {
		return [4]float64{}
	}
	us := func(cores float64) float64 { return cores * 1e6 / r.load.RPS }
	return [4]float64{us(r.cpu.client), us(r.cpu.tap), us(r.cpu.target), us(r.cpu.pg)}
}

// printTable prints the runs as a Markdown table, with medians when there
// are several.
func printTable(rs []runResult, o options) {
	fmt.Printf("\n| run | load avg | no-op req/s | acked events/s | x no-op | ack p50 ms | ack p99 ms | non-2xx + errors | fresh p50 ms | fresh p99 ms | fresh max ms | lost / duplicated | RSS tap / target MB | cores: client / tap / target / postgres / other jobs | CPU µs per event: client / tap / target / postgres |\n")
	fmt.Printf("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for i, r := range rs {
		lost := "0 / 0"
		if len(r.problems) > 0 {
			lost = fmt.Sprintf("**%d** / %d", r.accepted-min(r.accepted, r.stated), r.rows-min(r.rows, r.distinct))
		}
		us := r.perEvent()
		fmt.Printf("| %d | %s | %.0f | %.0f | %.2f | %.2f | %.2f | %d | %s | %s | %s | %s | %d / %d | %.2f / %.2f / %.2f / %.2f / %.2f | %.0f / %.0f / %.0f / %.0f |\n",
			i+1, r.loadavg, r.noop.RPS, r.load.RPS, r.ratio(), r.load.P50, r.load.P99, r.load.Non2xx+r.load.Errors,
			ms(r.fresh[0]), ms(r.fresh[1]), ms(r.fresh[2]), lost, r.tapRSS/1024, r.targetRSS/1024,
			r.cpu.client, r.cpu.tap, r.cpu.target, r.cpu.pg, r.cpu.rest, us[0], us[1], us[2], us[3])
	}
	if len(rs) < 2 {
		return
	}
	med := func(f func(runResult) float64) float64 {
		v := make([]float64, len(rs))
		for i, r := range rs {
			v[i] = f(r)
		}
		slices.Sort(v)
		if len(v)%2 == 1 {
			return v[len(v)/2]
		}
		return (v[len(v)/2-1] + v[len(v)/2]) / 2
	}
	msOf := func(i int) func(runResult) float64 {
		return func(r runResult) float64 { return float64(r.fresh[i]) / 1e6 }
	}
	usOf := func(i int) func(runResult) float64 { return func(r runResult) float64 { return r.perEvent()[i] } }
	fmt.Printf("| median | | %.0f | %.0f | %.2f | %.2f | %.2f | | %.0f | %.0f | %.0f | | | %.2f / %.2f / %.2f / %.2f / %.2f | %.0f / %.0f / %.0f / %.0f |\n",
		med(func(r runResult) float64 { return r.noop.RPS }), med(func(r runResult) float64 { return r.load.RPS }),
		med(runResult.ratio), med(func(r runResult) float64 { return r.load.P50 }), med(func(r runResult) float64 { return r.load.P99 }),
		med(msOf(0)), med(msOf(1)), med(msOf(2)),
		med(func(r runResult) float64 { return r.cpu.client }), med(func(r runResult) float64 { return r.cpu.tap }),
		med(func(r runResult) float64 { return r.cpu.target }), med(func(r runResult) float64 { return r.cpu.pg }),
		med(func(r runResult) float64 { return r.cpu.rest }),
		med(usOf(0)), med(usOf(1)), med(usOf(2)), med(usOf(3)))
}
