package procfs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
	"time"
)

// stat is a /proc/PID/stat line of a 6.x kernel (52 fields) with the
// fields the package reads filled in: state (3), utime (14), stime (15),
// num_threads (20).
func stat(pid int, comm string, state byte, utime, stime, threads int) string {
	return fmt.Sprintf("%d (%s) %c 1 %d %d 0 -1 4194560 2000 0 0 0 %d %d 0 0 20 0 %d 0 123456 1300000000 5120 "+
		"18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0 0 0 0 0 0 0 0\n",
		pid, comm, state, pid, pid, utime, stime, threads)
}

// fakeProc writes files (paths relative to the mount point) into a
// directory and returns it as a /proc tree.
func fakeProc(t *testing.T, files map[string]string) fsys {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	f, err := newFS(dir)
	if err != nil {
		t.Fatalf("newFS(%s) error = %v", dir, err)
	}
	return f
}

func TestRead(t *testing.T) {
	const status = "Name:\tcamera-producer\nState:\tS (sleeping)\nVmHWM:\t   30000 kB\nVmRSS:\t   25000 kB\n" +
		"RssAnon:\t   15000 kB\nRssFile:\t    9000 kB\nRssShmem:\t    1000 kB\nThreads:\t12\n"
	tests := []struct {
		name    string
		stat    string
		status  string
		want    Sample
		wantErr error // ErrGone, or errAny for any other error
	}{
		{
			name:   "go service",
			stat:   stat(4242, "edge-forwarder", 'S', 150, 37, 12),
			status: status,
			want: Sample{CPU: 1870 * time.Millisecond, RSSBytes: 25000 * 1024, RSSAnonBytes: 15000 * 1024, RSSFileBytes: 9000 * 1024,
				HWMBytes: 30000 * 1024, Threads: 12},
		},
		{
			name:   "comm with spaces and parens",
			stat:   stat(4242, "a) b (c)", 'R', 3, 4, 1),
			status: status,
			want: Sample{CPU: 70 * time.Millisecond, RSSBytes: 25000 * 1024, RSSAnonBytes: 15000 * 1024, RSSFileBytes: 9000 * 1024,
				HWMBytes: 30000 * 1024, Threads: 1},
		},
		{name: "zombie", stat: stat(4242, "java", 'Z', 1, 1, 1), status: "Name:\tjava\nState:\tZ (zombie)\nThreads:\t1\n", wantErr: ErrGone},
		{name: "dead", stat: stat(4242, "java", 'X', 1, 1, 1), status: status, wantErr: ErrGone},
		{name: "exited between the reads", stat: stat(4242, "java", 'S', 1, 1, 1), status: "Name:\tjava\nState:\tZ (zombie)\nThreads:\t1\n", wantErr: ErrGone},
		{name: "reaped between the reads", stat: stat(4242, "java", 'S', 1, 1, 1), wantErr: ErrGone},
		{name: "no such process", wantErr: ErrGone},
		{name: "truncated stat", stat: "4242 (x) S 1 2 3", status: status, wantErr: errAny},
		{name: "stat without comm", stat: "4242 x S 1 2 3", status: status, wantErr: errAny},
		{name: "bad number in stat", stat: strings.Replace(stat(4242, "x", 'S', 150, 37, 1), " 150 ", " zz ", 1), status: status, wantErr: errAny},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			files := map[string]string{}
			if tt.stat != "" {
				files["4242/stat"] = tt.stat
			}
			if tt.status != "" {
				files["4242/status"] = tt.status
			}
			got, err := fakeProc(t, files).read(4242)
			switch {
			case tt.wantErr == errAny:
				if err == nil || errors.Is(err, ErrGone) {
					t.Errorf("read() error = %v, want an error other than ErrGone", err)
				}
				return
			case tt.wantErr != nil:
				if !errors.Is(err, tt.wantErr) {
					t.Errorf("read() error = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil || got.At.IsZero() {
				t.Fatalf("read() = %+v, %v, want a timestamped sample", got, err)
			}
			got.At = time.Time{}
			if got != tt.want {
				t.Errorf("read() = %+v, want %+v", got, tt.want)
			}
		})
	}
}

// errAny stands for any error but ErrGone in TestRead.
var errAny = errors.New("any error")

func TestParseCPUInfo(t *testing.T) {
	tests := []struct {
		name string
		give string
		want CPUInfo
	}{
		{"x86", "processor\t: 0\nmodel name\t: Intel(R) Xeon(R) CPU @ 2.20GHz\n\nprocessor\t: 1\nmodel name\t: Intel(R) Xeon(R) CPU @ 2.20GHz\n",
			CPUInfo{Model: "Intel(R) Xeon(R) CPU @ 2.20GHz", CPUs: 2}},
		{"raspberry pi 2", "processor\t: 0\nmodel name\t: ARMv7 Processor rev 5 (v7l)\nprocessor\t: 1\nHardware\t: BCM2835\nModel\t: Raspberry Pi 2 Model B Rev 1.1\n",
			CPUInfo{Model: "ARMv7 Processor rev 5 (v7l)", CPUs: 2}},
		{"arm64 without model name", "processor\t: 0\nCPU implementer\t: 0x41\nModel\t: Raspberry Pi 4\n", CPUInfo{Model: "Raspberry Pi 4", CPUs: 1}},
		{"empty", "", CPUInfo{Model: "unknown"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ParseCPUInfo([]byte(tt.give)); got != tt.want {
				t.Errorf("ParseCPUInfo() = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestMemTotal(t *testing.T) {
	f := fakeProc(t, map[string]string{"meminfo": "MemTotal:       24589728 kB\nMemFree:  1 kB\n"})
	got, err := f.memTotal()
	if err != nil || got != 24589728*1024 {
		t.Errorf("memTotal() = %d, %v, want %d", got, err, 24589728*1024)
	}
	if _, err := fakeProc(t, map[string]string{"meminfo": "MemFree: 1 kB\n"}).memTotal(); err == nil {
		t.Error("memTotal(no MemTotal) error = nil, want an error")
	}
	if _, err := fakeProc(t, map[string]string{"meminfo": "MemTotal: 1 MB\n"}).memTotal(); err == nil {
		t.Error("memTotal(unit MB) error = nil, want an error")
	}
}

func TestLoadAvg(t *testing.T) {
	got, err := fakeProc(t, map[string]string{"loadavg": "14.45 12.46 9.15 3/1034 24479\n"}).loadAvg()
	if err != nil || got != [3]float64{14.45, 12.46, 9.15} {
		t.Errorf("loadAvg() = %v, %v, want [14.45 12.46 9.15]", got, err)
	}
	if _, err := fakeProc(t, map[string]string{"loadavg": "1.0\n"}).loadAvg(); err == nil {
		t.Error("loadAvg(short) error = nil, want an error")
	}
}

func TestReadSelf(t *testing.T) {
	s, err := Read(os.Getpid())
	if err != nil {
		t.Fatalf("Read(self) error = %v", err)
	}
	if s.RSSBytes <= 0 || s.Threads <= 0 || s.HWMBytes < s.RSSBytes {
		t.Errorf("Read(self) = %+v, want positive RSS and threads, HWM >= RSS", s)
	}
}

// TestResetPeak: after 64 MiB were touched and given back to the OS, the
// peak still counts them until ResetPeak brings it down to about the RSS.
func TestResetPeak(t *testing.T) {
	b := make([]byte, 64<<20)
	for i := range b {
		b[i] = 1
	}
	runtime.KeepAlive(b)
	b = nil
	debug.FreeOSMemory()
	before, err := Read(os.Getpid())
	if err != nil {
		t.Fatalf("Read(self) error = %v", err)
	}
	if before.HWMBytes < before.RSSBytes+32<<20 {
		t.Fatalf("before reset: HWM %d, RSS %d, want HWM at least 32 MiB above RSS", before.HWMBytes, before.RSSBytes)
	}
	if err := ResetPeak(os.Getpid()); err != nil {
		t.Fatalf("ResetPeak(self) error = %v", err)
	}
	after, err := Read(os.Getpid())
	if err != nil {
		t.Fatalf("Read(self) error = %v", err)
	}
	if after.HWMBytes > before.HWMBytes-32<<20 {
		t.Errorf("after reset: HWM %d, want at least 32 MiB below %d", after.HWMBytes, before.HWMBytes)
	}
	if err := ResetPeak(1 << 23); !errors.Is(err, ErrGone) {
		t.Errorf("ResetPeak(no such pid) error = %v, want ErrGone", err)
	}
}

func TestReadGone(t *testing.T) {
	// pid_max is at most 2^22 on Linux.
	if _, err := Read(1 << 23); !errors.Is(err, ErrGone) {
		t.Errorf("Read(no such pid) error = %v, want ErrGone", err)
	}
}

func TestMachineSelf(t *testing.T) {
	if n, err := MemTotal(); err != nil || n <= 0 {
		t.Errorf("MemTotal() = %d, %v, want > 0", n, err)
	}
	if _, err := LoadAvg(); err != nil {
		t.Errorf("LoadAvg() error = %v", err)
	}
}
