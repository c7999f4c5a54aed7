package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// clockTick is the unit of the CPU times in /proc (USER_HZ, 100 on Linux).
const clockTick = 10 * time.Millisecond

// cpuSample is the CPU time used so far by the processes a benchmark
// shares the machine with, read from /proc (zero elsewhere).
type cpuSample struct {
	server, postgres, self, machine time.Duration
}

// sampleCPU reads the CPU time of the server child, of its private
// Postgres (the postmaster, its live backends and those it reaped), of
// this process (the load generator) and of the whole machine.
func sampleCPU(s *benchServer) cpuSample {
	c := cpuSample{server: procCPU(s.cmd.Process.Pid, false), self: procCPU(os.Getpid(), false)}
	if pm := postmasterPID(s.dir); pm > 0 {
		c.postgres = procCPU(pm, true)
		for _, pid := range childrenOf(pm) {
			c.postgres += procCPU(pid, false)
		}
	}
	if b, err := os.ReadFile("/proc/stat"); err == nil {
		line, _, _ := strings.Cut(string(b), "\n")
		f := strings.Fields(line) // cpu user nice system idle iowait irq softirq
		for _, i := range []int{1, 2, 3, 6, 7} {
			if i < len(f) {
				n, _ := strconv.ParseInt(f[i], 10, 64)
				c.machine += time.Duration(n) * clockTick
			}
		}
	}
	return c
}

// per describes where the CPU between two samples went, per unit of work
// (what: "request", "delivery").
func (c cpuSample) per(later cpuSample, n int, what string) string {
	each := func(a, b time.Duration) time.Duration { return (b - a) / time.Duration(max(n, 1)) }
	round := func(d time.Duration) time.Duration { return d.Round(100 * time.Nanosecond) }
	return fmt.Sprintf("CPU per %s: server %s, postgres %s, load generator %s; the whole machine %s", what,
		round(each(c.server, later.server)), round(each(c.postgres, later.postgres)),
		round(each(c.self, later.self)), round(each(c.machine, later.machine)))
}

// procCPU is the user and system time of a process, with that of its
// reaped children when withChildren is set.
func procCPU(pid int, withChildren bool) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The fields after the command name, which is in parentheses.
	_, rest, ok := strings.Cut(string(b), ") ")
	if !ok {
		return 0
	}
	f := strings.Fields(rest) // state ppid ... utime(12) stime(13) cutime(14) cstime(15)
	sum := func(idx ...int) (d time.Duration) {
		for _, i := range idx {
			if i < len(f) {
				n, _ := strconv.ParseInt(f[i], 10, 64)
				d += time.Duration(n) * clockTick
			}
		}
		return d
	}
	if withChildren {
		return sum(11, 12, 13, 14)
	}
	return sum(11, 12)
}

// postmasterPID reads the pid of the private Postgres under a data dir.
func postmasterPID(dataDir string) int {
	b, err := os.ReadFile(filepath.Join(dataDir, "postgres", "data", "postmaster.pid"))
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	pid, _ := strconv.Atoi(strings.TrimSpace(line))
	return pid
}

// childrenOf lists the live child processes of pid.
func childrenOf(pid int) []int {
	entries, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		_, rest, ok := strings.Cut(string(b), ") ")
		if f := strings.Fields(rest); ok && len(f) > 1 && f[1] == strconv.Itoa(pid) {
			out = append(out, child)
		}
	}
	return out
}
