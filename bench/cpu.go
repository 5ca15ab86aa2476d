package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// clkTck is USER_HZ, 100 on Linux (x86-64 and arm64).
const clkTck = 100

// groupCPU returns the CPU time (user+system) used so far by the live
// processes of process group pgid (a gcloud emulator's java child included).
func groupCPU(pgid int) time.Duration {
	paths, _ := filepath.Glob("/proc/[0-9]*/stat")
	var ticks int64
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		// The command name (field 2) may hold spaces: parse after its ')'.
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		// After ')': state(3) ppid(4) pgrp(5) ... utime(14) stime(15).
		if len(f) < 13 {
			continue
		}
		if g, _ := strconv.Atoi(f[2]); g != pgid {
			continue
		}
		u, _ := strconv.ParseInt(f[11], 10, 64)
		st, _ := strconv.ParseInt(f[12], 10, 64)
		ticks += u + st
	}
	return time.Duration(ticks) * time.Second / clkTck
}

func groupCPUOfPID(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(u+st) * time.Second / clkTck
}

// cpuMeter measures the cores each named process group used over a phase.
type cpuMeter struct {
	names  []string
	pgids  []int
	start  []time.Duration
	self   time.Duration
	t0     time.Time
	system time.Duration
}

func startCPU(names []string, pgids []int) *cpuMeter {
	m := &cpuMeter{names: names, pgids: pgids, t0: time.Now(), self: groupCPUOfPID(os.Getpid()), system: systemCPU()}
	for _, g := range pgids {
		m.start = append(m.start, groupCPU(g))
	}
	return m
}

// stop returns "name=cores ..." for the phase, the load generator, and the
// cores the rest of the machine used (other people's work): the noise.
func (m *cpuMeter) stop() string {
	wall := time.Since(m.t0).Seconds()
	var parts []string
	ours := 0.0
	for i, g := range m.pgids {
		c := (groupCPU(g) - m.start[i]).Seconds() / wall
		ours += c
		parts = append(parts, fmt.Sprintf("%s %.2f", m.names[i], c))
	}
	self := (groupCPUOfPID(os.Getpid()) - m.self).Seconds() / wall
	ours += self
	parts = append(parts, fmt.Sprintf("load generator %.2f", self))
	others := (systemCPU()-m.system).Seconds()/wall - ours
	parts = append(parts, fmt.Sprintf("| others %.2f", max(0, others)))
	return strings.Join(parts, ", ")
}

// systemCPU is the busy time of all CPUs from /proc/stat.
func systemCPU() time.Duration {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	var busy int64
	for i, v := range f[1:] {
		n, _ := strconv.ParseInt(v, 10, 64)
		if i == 3 || i == 4 { // idle, iowait
			continue
		}
		if i >= 7 { // steal, guest, guest_nice: guest is already in user
			break
		}
		busy += n
	}
	return time.Duration(busy) * time.Second / clkTck
}
