// Package procfs reads what the load test needs from Linux /proc: a
// process's CPU time and resident memory, and the machine's CPU model,
// core count, memory and load.
package procfs

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// ClockTicks is USER_HZ, the unit of the CPU times in /proc/PID/stat. It is
// 100 on every Linux architecture Go supports (the kernel fixes the
// user-visible value independently of CONFIG_HZ).
const ClockTicks = 100

// Stat is what the load test uses from /proc/PID/stat.
type Stat struct {
	PID        int
	Comm       string
	State      byte
	UTimeTicks uint64 // field 14
	STimeTicks uint64 // field 15
	StartTicks uint64 // field 22, since boot
	RSSPages   int64  // field 24
}

// CPU is the process's user + system CPU time.
func (s Stat) CPU() time.Duration {
	return time.Duration(s.UTimeTicks+s.STimeTicks) * time.Second / ClockTicks
}

// ErrFormat reports unparsable /proc content.
var ErrFormat = errors.New("unexpected /proc format")

// ParseStat parses the content of /proc/PID/stat. The command name is in
// parentheses and may itself contain spaces and parentheses, so fields are
// counted from the last ')'.
func ParseStat(b []byte) (Stat, error) {
	open := bytes.IndexByte(b, '(')
	end := bytes.LastIndexByte(b, ')')
	if open < 1 || end < open {
		return Stat{}, fmt.Errorf("%w: stat without (comm)", ErrFormat)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b[:open])))
	if err != nil {
		return Stat{}, fmt.Errorf("%w: stat pid: %v", ErrFormat, err)
	}
	rest := strings.Fields(string(b[end+1:]))
	// rest[0] is field 3 (state); field n is rest[n-3].
	if len(rest) < 22 {
		return Stat{}, fmt.Errorf("%w: stat has %d fields after comm, want >= 22", ErrFormat, len(rest))
	}
	s := Stat{PID: pid, Comm: string(b[open+1 : end])}
	if len(rest[0]) != 1 {
		return Stat{}, fmt.Errorf("%w: stat state %q", ErrFormat, rest[0])
	}
	s.State = rest[0][0]
	for _, f := range []struct {
		n   int
		dst *uint64
	}{{14, &s.UTimeTicks}, {15, &s.STimeTicks}, {22, &s.StartTicks}} {
		v, err := strconv.ParseUint(rest[f.n-3], 10, 64)
		if err != nil {
			return Stat{}, fmt.Errorf("%w: stat field %d: %v", ErrFormat, f.n, err)
		}
		*f.dst = v
	}
	if s.RSSPages, err = strconv.ParseInt(rest[24-3], 10, 64); err != nil {
		return Stat{}, fmt.Errorf("%w: stat field 24: %v", ErrFormat, err)
	}
	return s, nil
}

// Status is what the load test uses from /proc/PID/status.
type Status struct {
	RSSBytes     int64 // VmRSS: resident set size now
	HWMBytes     int64 // VmHWM: peak resident set size
	Threads      int
	HaveRSSField bool // false for zombies and kernel threads
}

// ParseStatus parses /proc/PID/status.
func ParseStatus(b []byte) (Status, error) {
	var s Status
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		key, val, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		val = strings.TrimSpace(val)
		switch key {
		case "VmRSS", "VmHWM":
			n, err := parseKB(val)
			if err != nil {
				return Status{}, fmt.Errorf("%w: %s %q: %v", ErrFormat, key, val, err)
			}
			if key == "VmRSS" {
				s.RSSBytes, s.HaveRSSField = n, true
			} else {
				s.HWMBytes = n
			}
		case "Threads":
			n, err := strconv.Atoi(val)
			if err != nil {
				return Status{}, fmt.Errorf("%w: Threads %q: %v", ErrFormat, val, err)
			}
			s.Threads = n
		}
	}
	return s, sc.Err()
}

// parseKB parses "1234 kB" into bytes.
func parseKB(v string) (int64, error) {
	num, unit, _ := strings.Cut(v, " ")
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil {
		return 0, err
	}
	if strings.TrimSpace(unit) != "kB" {
		return 0, fmt.Errorf("unit %q, want kB", unit)
	}
	return n * 1024, nil
}

// Sample is one reading of a process.
type Sample struct {
	At       time.Time
	CPU      time.Duration // user + system since the process started
	RSSBytes int64
	HWMBytes int64
	Threads  int
}

// ErrGone reports a process that no longer exists (or is a zombie).
var ErrGone = errors.New("process gone")

// Read samples process pid from /proc.
func Read(pid int) (Sample, error) {
	at := time.Now()
	sb, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return Sample{}, ErrGone
		}
		return Sample{}, err
	}
	st, err := ParseStat(sb)
	if err != nil {
		return Sample{}, err
	}
	if st.State == 'Z' || st.State == 'X' {
		return Sample{}, ErrGone
	}
	ub, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return Sample{}, ErrGone
		}
		return Sample{}, err
	}
	us, err := ParseStatus(ub)
	if err != nil {
		return Sample{}, err
	}
	if !us.HaveRSSField {
		return Sample{}, ErrGone
	}
	return Sample{At: at, CPU: st.CPU(), RSSBytes: us.RSSBytes, HWMBytes: us.HWMBytes, Threads: us.Threads}, nil
}

// CPUInfo is the machine's processor model and logical CPU count.
type CPUInfo struct {
	Model string
	CPUs  int
}

// ParseCPUInfo parses /proc/cpuinfo (x86 "model name", arm "Model" or
// "Hardware" lines; one "processor" line per logical CPU).
func ParseCPUInfo(b []byte) CPUInfo {
	var ci CPUInfo
	var fallback string
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		key, val, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		key, val = strings.TrimSpace(key), strings.TrimSpace(val)
		switch key {
		case "processor":
			ci.CPUs++
		case "model name":
			if ci.Model == "" {
				ci.Model = val
			}
		case "Model", "Hardware", "cpu model", "uarch":
			if fallback == "" {
				fallback = val
			}
		}
	}
	if ci.Model == "" {
		ci.Model = fallback
	}
	if ci.Model == "" {
		ci.Model = "unknown"
	}
	return ci
}

// ParseMemTotal returns MemTotal from /proc/meminfo in bytes.
func ParseMemTotal(b []byte) (int64, error) {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		key, val, ok := strings.Cut(sc.Text(), ":")
		if ok && key == "MemTotal" {
			return parseKB(strings.TrimSpace(val))
		}
	}
	return 0, fmt.Errorf("%w: no MemTotal", ErrFormat)
}

// ParseLoadAvg returns the 1, 5 and 15 minute load averages of
// /proc/loadavg.
func ParseLoadAvg(b []byte) ([3]float64, error) {
	var out [3]float64
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return out, fmt.Errorf("%w: loadavg %q", ErrFormat, b)
	}
	for i := range out {
		v, err := strconv.ParseFloat(f[i], 64)
		if err != nil {
			return out, fmt.Errorf("%w: loadavg %q: %v", ErrFormat, f[i], err)
		}
		out[i] = v
	}
	return out, nil
}

// LoadAvg reads /proc/loadavg.
func LoadAvg() ([3]float64, error) {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return [3]float64{}, err
	}
	return ParseLoadAvg(b)
}
