package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// How the cores were split during the load: CPU seconds of each process
// from /proc/<pid>/stat (utime+stime, in USER_HZ ticks: 100 per second on
// Linux), and the machine's busy time from /proc/stat, so what the other
// jobs on a shared machine took shows as the rest.

const ticksPerSecond = 100

// procTimes reads a process's own CPU seconds and those of its reaped
// children.
func procTimes(pid int) (self, children float64, ok bool) {
	f, ok := procStatFields(pid)
	if !ok || len(f) < 15 {
		return 0, 0, false
	}
	tick := func(i int) float64 { v, _ := strconv.ParseFloat(f[i], 64); return v / ticksPerSecond }
	return tick(11) + tick(12), tick(13) + tick(14), true
}

// procStatFields returns the fields of /proc/<pid>/stat after the command
// name: [0] is the state, [1] the parent's pid, [11] utime.
func procStatFields(pid int) ([]string, bool) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil, false
	}
	i := bytes.LastIndexByte(raw, ')')
	if i < 0 {
		return nil, false
	}
	return strings.Fields(string(raw[i+1:])), true
}

// postmaster finds the PostgreSQL server listening on port (pg_ctl starts
// it with "-p <port>"); 0 when there is none.
func postmaster(port int) int {
	want := []byte("\x00-p\x00" + strconv.Itoa(port) + "\x00")
	dirs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, d := range dirs {
		raw, err := os.ReadFile(d)
		if err != nil || !bytes.Contains(raw, want) {
			continue
		}
		argv0, _, _ := bytes.Cut(raw, []byte{0})
		if filepath.Base(string(argv0)) == "postgres" {
			pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(d)))
			return pid
		}
	}
	return 0
}

// postgresSeconds is the CPU time of a server and its processes: the
// postmaster, its live children, and (through its children's time) those
// that exited. The difference of two readings counts each backend once.
func postgresSeconds(pid int) float64 {
	self, children, ok := procTimes(pid)
	if !ok {
		return 0
	}
	total := self + children
	want := strconv.Itoa(pid)
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		child, err := strconv.Atoi(filepath.Base(d))
		if err != nil {
			continue
		}
		if f, ok := procStatFields(child); ok && len(f) > 1 && f[1] == want {
			s, _, _ := procTimes(child)
			total += s
		}
	}
	return total
}

// machineSeconds returns the busy and total CPU seconds of the machine,
// all cores summed.
func machineSeconds() (busy, total float64) {
	raw, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0
	}
	line, _, _ := strings.Cut(string(raw), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return 0, 0
	}
	v := func(i int) float64 { x, _ := strconv.ParseFloat(f[i], 64); return x / ticksPerSecond }
	busy = v(1) + v(2) + v(3) + v(6) + v(7) + v(8) // user nice system irq softirq steal
	return busy, busy + v(4) + v(5)                // + idle iowait
}

// cpuSnapshot is one reading of every process of the pipeline.
type cpuSnapshot struct {
	at                time.Time
	tap, target, pg   float64
	self              float64 // pipebench: sampler and state reader
	busy, machineSecs float64
}

func takeCPU(tapPID, targetPID, pgPID int) cpuSnapshot {
	s := cpuSnapshot{at: time.Now()}
	s.tap, _, _ = procTimes(tapPID)
	s.target, _, _ = procTimes(targetPID)
	if pgPID != 0 {
		s.pg = postgresSeconds(pgPID)
	}
	s.self, _, _ = procTimes(os.Getpid())
	s.busy, s.machineSecs = machineSeconds()
	return s
}

// cpuSplit is where the cores went between two snapshots, in cores (CPU
// seconds per second of wall time).
type cpuSplit struct {
	wall                                      time.Duration
	client, tap, target, pg, self, rest, idle float64
}

// split compares two snapshots; client is the load generator's CPU
// seconds over the same window (from its rusage).
func split(a, b cpuSnapshot, client float64) cpuSplit {
	wall := b.at.Sub(a.at)
	sec := wall.Seconds()
	c := cpuSplit{wall: wall, client: client / sec, tap: (b.tap - a.tap) / sec, target: (b.target - a.target) / sec,
		pg: (b.pg - a.pg) / sec, self: (b.self - a.self) / sec}
	busy := (b.busy - a.busy) / sec
	c.rest = max(0, busy-c.client-c.tap-c.target-c.pg-c.self)
	c.idle = max(0, (b.machineSecs-a.machineSecs)/sec-busy)
	return c
}

func (c cpuSplit) String() string {
	return fmt.Sprintf("client %.2f, tap %.2f, target-postgres %.2f, postgres %.2f, pipebench %.2f, other jobs %.2f, idle %.2f",
		c.client, c.tap, c.target, c.pg, c.self, c.rest, c.idle)
}
