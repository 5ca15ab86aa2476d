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

// cpuUse is the CPU each process used over one measurement.
type cpuUse struct {
	wall   float64   // seconds
	names  []string  // process names, then "load generator"
	secs   []float64 // CPU seconds of each
	others float64   // cores the rest of the machine used (the noise)
}

// stop ends the measurement.
func (m *cpuMeter) stop() *cpuUse {
	u := &cpuUse{wall: time.Since(m.t0).Seconds()}
	ours := 0.0
	for i, g := range m.pgids {
		s := (groupCPU(g) - m.start[i]).Seconds()
		ours += s
		u.names, u.secs = append(u.names, m.names[i]), append(u.secs, s)
	}
	self := (groupCPUOfPID(os.Getpid()) - m.self).Seconds()
	ours += self
	u.names, u.secs = append(u.names, "load generator"), append(u.secs, self)
	u.others = max(0, ((systemCPU()-m.system).Seconds()-ours)/u.wall)
	return u
}

// secsOf returns the CPU seconds process name used (0 when it did not run).
func (u *cpuUse) secsOf(name string) (float64, bool) {
	if u == nil {
		return 0, false
	}
	for i, n := range u.names {
		if n == name {
			return u.secs[i], true
		}
	}
	return 0, false
}

// cores returns "name cores, ..., | others cores".
func (u *cpuUse) cores() string {
	var parts []string
	for i, n := range u.names {
		parts = append(parts, fmt.Sprintf("%s %.2f", n, u.secs[i]/u.wall))
	}
	return strings.Join(parts, ", ") + fmt.Sprintf(", | others %.2f", u.others)
}

// perUnit returns "name µs, ..." per unit of work (requests or records),
// leaving out processes that used (almost) nothing.
func (u *cpuUse) perUnit(units int64) string {
	if units <= 0 {
		return ""
	}
	var parts []string
	for i, n := range u.names {
		if us := u.secs[i] / float64(units) * 1e6; us >= 0.5 {
			parts = append(parts, fmt.Sprintf("%s %.0f", n, us))
		}
	}
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
