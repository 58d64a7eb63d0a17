// Package procfs reads what the load test needs from Linux /proc: a
// process's CPU time and resident memory, and the machine's CPU model,
// core count, memory and load.
//
// github.com/prometheus/procfs reads and parses the files. ParseCPUInfo
// stays hand-written: that library picks its /proc/cpuinfo parser by
// GOARCH at build time, and its ARM parser keeps only "model name" (a
// 64-bit Raspberry Pi has none; the board is on the "Model" line, which
// ParseCPUInfo falls back to) and fails on a file without a "Features"
// line. ParseCPUInfo reads any architecture's format on any machine, so its
// tests cover x86 and ARM content everywhere.
package procfs

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	promfs "github.com/prometheus/procfs"
)

// userHZ is the unit of the CPU times in /proc/PID/stat. It is 100 on
// every Linux architecture Go supports (the kernel fixes the user-visible
// value independently of CONFIG_HZ); prometheus/procfs assumes the same.
const userHZ = 100

// Sample is one reading of a process.
type Sample struct {
	At       time.Time
	CPU      time.Duration // user + system since the process started
	RSSBytes int64
	// RSSAnonBytes and RSSFileBytes split RSSBytes (with shared memory,
	// not counted here): anonymous memory (heaps) and mapped files (the
	// binary and its libraries).
	RSSAnonBytes, RSSFileBytes int64
	HWMBytes                   int64
	Threads                    int
}

// ErrGone reports a process that no longer exists (or is a zombie).
var ErrGone = errors.New("process gone")

// fsys is a /proc tree: the real one, or a fixture in tests.
type fsys struct{ fs promfs.FS }

func newFS(mountPoint string) (fsys, error) {
	fs, err := promfs.NewFS(mountPoint)
	return fsys{fs}, err
}

func defaultFS() (fsys, error) { return newFS(promfs.DefaultMountPoint) }

// Read samples process pid from /proc.
func Read(pid int) (Sample, error) {
	f, err := defaultFS()
	if err != nil {
		return Sample{}, err
	}
	return f.read(pid)
}

func (f fsys) read(pid int) (Sample, error) {
	at := time.Now()
	p, err := f.fs.Proc(pid)
	if err != nil {
		return Sample{}, gone(err)
	}
	st, err := p.Stat()
	if err != nil {
		return Sample{}, gone(err)
	}
	if st.State == "Z" || st.State == "X" {
		return Sample{}, ErrGone
	}
	us, err := p.NewStatus()
	if err != nil {
		return Sample{}, gone(err)
	}
	// Zombies and kernel threads have no VmRSS line; a process that exits
	// between the two reads is caught here.
	if us.VmRSS == 0 {
		return Sample{}, ErrGone
	}
	return Sample{
		At:           at,
		CPU:          time.Duration(st.UTime+st.STime) * time.Second / userHZ,
		RSSBytes:     int64(us.VmRSS),
		RSSAnonBytes: int64(us.RssAnon),
		RSSFileBytes: int64(us.RssFile),
		HWMBytes:     int64(us.VmHWM),
		Threads:      st.NumThreads,
	}, nil
}

// ResetPeak resets process pid's peak resident memory (VmHWM, Sample's
// HWMBytes) to its current RSS: writing 5 to /proc/PID/clear_refs (Linux
// 4.0 and later; the caller must own the process). A window's peak is then
// the highest HWMBytes read after the reset, however short the window
// compared with the sampling interval.
func ResetPeak(pid int) error {
	err := os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0)
	if err != nil {
		return gone(err)
	}
	return nil
}

// gone turns "no such file" (the process was reaped) into ErrGone.
func gone(err error) error {
	if errors.Is(err, os.ErrNotExist) {
		return ErrGone
	}
	return err
}

// LoadAvg returns the 1, 5 and 15 minute load averages of /proc/loadavg.
func LoadAvg() ([3]float64, error) {
	f, err := defaultFS()
	if err != nil {
		return [3]float64{}, err
	}
	return f.loadAvg()
}

func (f fsys) loadAvg() ([3]float64, error) {
	la, err := f.fs.LoadAvg()
	if err != nil {
		return [3]float64{}, err
	}
	return [3]float64{la.Load1, la.Load5, la.Load15}, nil
}

// MemTotal returns MemTotal from /proc/meminfo in bytes.
func MemTotal() (int64, error) {
	f, err := defaultFS()
	if err != nil {
		return 0, err
	}
	return f.memTotal()
}

func (f fsys) memTotal() (int64, error) {
	mi, err := f.fs.Meminfo()
	if err != nil {
		return 0, err
	}
	if mi.MemTotalBytes == nil {
		return 0, fmt.Errorf("%w: meminfo without MemTotal", promfs.ErrFileParse)
	}
	return int64(*mi.MemTotalBytes), nil
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
