// Package perfparse parses the output of Kafka's ProducerPerformance tool
// (kafka-producer-perf-test.sh, org.apache.kafka.tools.ProducerPerformance).
package perfparse

import (
	"bufio"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Window is one periodic progress line (every 5 s by default):
// "177 records sent, 35.2 records/sec (2.01 MB/sec), 2650.0 ms avg latency, 4014.0 ms max latency."
type Window struct {
	Records       int64   `json:"records"`
	RecordsPerSec float64 `json:"records_per_sec"`
	MBPerSec      float64 `json:"mb_per_sec"` // the tool's MB: 1024*1024 bytes
	AvgLatencyMs  float64 `json:"avg_latency_ms"`
	MaxLatencyMs  float64 `json:"max_latency_ms"`
}

// Result is the final summary line plus the progress windows:
// "300 records sent, 46.082949 records/sec (2.64 MB/sec), 3479.77 ms avg latency,
// 5437.00 ms max latency, 3519 ms 50th, 5186 ms 95th, 5388 ms 99th, 5437 ms 99.9th."
type Result struct {
	Window
	P50Ms   float64  `json:"p50_ms"`
	P95Ms   float64  `json:"p95_ms"`
	P99Ms   float64  `json:"p99_ms"`
	P999Ms  float64  `json:"p999_ms"`
	Windows []Window `json:"windows,omitempty"`
}

const num = `([0-9]+(?:\.[0-9]+)?)`

var (
	windowRE = regexp.MustCompile(`^([0-9]+) records sent, ` + num + ` records/sec \(` + num + ` MB/sec\), ` +
		num + ` ms avg latency, ` + num + ` ms max latency\.?$`)
	totalRE = regexp.MustCompile(`^([0-9]+) records sent, ` + num + ` records/sec \(` + num + ` MB/sec\), ` +
		num + ` ms avg latency, ` + num + ` ms max latency, ` + num + ` ms 50th, ` + num + ` ms 95th, ` +
		num + ` ms 99th, ` + num + ` ms 99\.9th\.?$`)
)

// ErrNoSummary means the output holds no final summary line (the tool
// failed or was stopped early).
var ErrNoSummary = errors.New("no ProducerPerformance summary line")

// Parse reads the tool's standard output; other lines (warnings) are
// ignored.
func Parse(out string) (Result, error) {
	var r Result
	found := false
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if m := totalRE.FindStringSubmatch(line); m != nil {
			f, err := floats(m[1:])
			if err != nil {
				return Result{}, fmt.Errorf("summary %q: %w", line, err)
			}
			r.Window = Window{Records: int64(f[0]), RecordsPerSec: f[1], MBPerSec: f[2], AvgLatencyMs: f[3], MaxLatencyMs: f[4]}
			r.P50Ms, r.P95Ms, r.P99Ms, r.P999Ms = f[5], f[6], f[7], f[8]
			found = true
			continue
		}
		if m := windowRE.FindStringSubmatch(line); m != nil {
			f, err := floats(m[1:])
			if err != nil {
				return Result{}, fmt.Errorf("window %q: %w", line, err)
			}
			r.Windows = append(r.Windows, Window{Records: int64(f[0]), RecordsPerSec: f[1], MBPerSec: f[2], AvgLatencyMs: f[3], MaxLatencyMs: f[4]})
		}
	}
	if err := sc.Err(); err != nil {
		return Result{}, err
	}
	if !found {
		return r, ErrNoSummary
	}
	return r, nil
}

func floats(ss []string) ([]float64, error) {
	out := make([]float64, len(ss))
	for i, s := range ss {
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return nil, err
		}
		out[i] = v
	}
	return out, nil
}
