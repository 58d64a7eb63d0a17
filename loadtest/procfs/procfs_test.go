package procfs

import (
	"errors"
	"os"
	"testing"
	"time"
)

func TestParseStat(t *testing.T) {
	tests := []struct {
		name    string
		give    string
		want    Stat
		wantErr bool
	}{
		{
			name: "go service",
			give: "4242 (edge-forwarder) S 1 4242 4242 0 -1 4194560 2000 0 0 0 150 37 0 0 20 0 9 0 123456 1300000000 5120 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n",
			want: Stat{PID: 4242, Comm: "edge-forwarder", State: 'S', UTimeTicks: 150, STimeTicks: 37, StartTicks: 123456, RSSPages: 5120},
		},
		{
			name: "comm with spaces and parens",
			give: "7 (a) b (c)) R 1 7 7 0 -1 0 0 0 0 0 3 4 0 0 20 0 1 0 99 0 12 0",
			want: Stat{PID: 7, Comm: "a) b (c)", State: 'R', UTimeTicks: 3, STimeTicks: 4, StartTicks: 99, RSSPages: 12},
		},
		{name: "truncated", give: "7 (x) S 1 2 3", wantErr: true},
		{name: "no comm", give: "7 x S 1 2 3", wantErr: true},
		{name: "bad number", give: "7 (x) S 1 7 7 0 -1 0 0 0 0 0 zz 4 0 0 20 0 1 0 99 0 12 0", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseStat([]byte(tt.give))
			if tt.wantErr {
				if !errors.Is(err, ErrFormat) {
					t.Errorf("ParseStat(%q) error = %v, want ErrFormat", tt.give, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("ParseStat(%q) = %+v, %v, want %+v", tt.give, got, err, tt.want)
			}
		})
	}
}

func TestStatCPU(t *testing.T) {
	s := Stat{UTimeTicks: 150, STimeTicks: 50}
	if got, want := s.CPU(), 2*time.Second; got != want {
		t.Errorf("CPU() = %v, want %v", got, want)
	}
}

func TestParseStatus(t *testing.T) {
	tests := []struct {
		name    string
		give    string
		want    Status
		wantErr bool
	}{
		{
			name: "running",
			give: "Name:\tcamera-producer\nState:\tS (sleeping)\nVmHWM:\t   30000 kB\nVmRSS:\t   25000 kB\nThreads:\t12\n",
			want: Status{RSSBytes: 25000 * 1024, HWMBytes: 30000 * 1024, Threads: 12, HaveRSSField: true},
		},
		{
			name: "zombie has no Vm lines",
			give: "Name:\tjava\nState:\tZ (zombie)\nThreads:\t1\n",
			want: Status{Threads: 1},
		},
		{name: "bad unit", give: "VmRSS:\t25 MB\n", wantErr: true},
		{name: "bad number", give: "VmRSS:\tx kB\n", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseStatus([]byte(tt.give))
			if tt.wantErr {
				if !errors.Is(err, ErrFormat) {
					t.Errorf("ParseStatus(%q) error = %v, want ErrFormat", tt.give, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("ParseStatus(%q) = %+v, %v, want %+v", tt.give, got, err, tt.want)
			}
		})
	}
}

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

func TestParseMemTotal(t *testing.T) {
	got, err := ParseMemTotal([]byte("MemTotal:       24589728 kB\nMemFree:  1 kB\n"))
	if err != nil || got != 24589728*1024 {
		t.Errorf("ParseMemTotal() = %d, %v, want %d", got, err, 24589728*1024)
	}
	if _, err := ParseMemTotal([]byte("MemFree: 1 kB\n")); !errors.Is(err, ErrFormat) {
		t.Errorf("ParseMemTotal(no MemTotal) error = %v, want ErrFormat", err)
	}
}

func TestParseLoadAvg(t *testing.T) {
	got, err := ParseLoadAvg([]byte("14.45 12.46 9.15 3/1034 24479\n"))
	if err != nil || got != [3]float64{14.45, 12.46, 9.15} {
		t.Errorf("ParseLoadAvg() = %v, %v", got, err)
	}
	if _, err := ParseLoadAvg([]byte("1.0\n")); !errors.Is(err, ErrFormat) {
		t.Errorf("ParseLoadAvg(short) error = %v, want ErrFormat", err)
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

func TestReadGone(t *testing.T) {
	// pid_max is at most 2^22 on Linux.
	if _, err := Read(1 << 23); !errors.Is(err, ErrGone) {
		t.Errorf("Read(no such pid) error = %v, want ErrGone", err)
	}
}
