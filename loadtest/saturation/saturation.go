// Package saturation decides, from what a steady phase measured, whether
// the machine kept up with the offered load and, if not, where it
// saturated: which processes were CPU-bound, at which stage the backlog
// grew, whether the machine as a whole was out of CPU.
//
// The rules (all thresholds are constants below):
//
//   - a process is CPU-bound when its mean CPU over the window is at least
//     CPUBound cores (one thread's worth: the pipeline's hot loops are
//     sequential per partition);
//   - the machine is out of CPU when the 1-minute load average at the end
//     of the window is at least its logical CPUs;
//   - the backlog of a stage (pictures that reached the stage before it
//     but not this one) grows when its mean over the last quarter of the
//     window exceeds that of the first quarter by more than GrowthSeconds
//     of the offered rate: a stage that keeps up holds a backlog that
//     stays level (a bundle store's backlog rises and falls with each roll,
//     by up to its roll age, hence a quarter of at least one roll and a
//     margin of GrowthSeconds).
//
// Delivered pictures per second is not a criterion: with bundles, pictures
// become durable a roll at a time, and a phase's last bundle, rolled up to
// a roll age after the writing ended, would make a machine that kept up
// look short (a stage that does not keep up shows as its growing backlog).
//
// The phase saturated when any of these holds; the verdict lists each
// finding with its figures.
package saturation

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Thresholds.
const (
	CPUBound      = 0.9
	GrowthSeconds = 20.0
)

// Process is one process's mean CPU over the window.
type Process struct {
	Name     string
	CPUCores float64
}

// Backlog is a stage's backlog (pictures) sampled at even intervals over
// the window.
type Backlog struct {
	Stage   string
	Samples []float64
}

// Input is what a phase measured.
type Input struct {
	Cores     int     // logical CPUs of the machine
	Load1     float64 // 1-minute load average at the end of the window
	Processes []Process
	Backlogs  []Backlog
	// Offered is pictures per second.
	Offered float64
}

// Verdict is the finding.
type Verdict struct {
	Saturated bool     `json:"saturated"`
	CPUBound  []string `json:"cpu_bound,omitempty"`   // "cloud-ingest-hdfs (0.97 cores)"
	Growing   []string `json:"lag_growing,omitempty"` // "ingest: 12 -> 340 pictures"
	Reasons   []string `json:"reasons,omitempty"`     // every finding, one sentence each
}

// Judge decides.
func Judge(in Input) Verdict {
	var v Verdict
	procs := slices.Clone(in.Processes)
	slices.SortStableFunc(procs, func(a, b Process) int {
		switch {
		case a.CPUCores > b.CPUCores:
			return -1
		case a.CPUCores < b.CPUCores:
			return 1
		}
		return 0
	})
	for _, p := range procs {
		if p.CPUCores >= CPUBound {
			v.CPUBound = append(v.CPUBound, fmt.Sprintf("%s (%.2f cores)", p.Name, p.CPUCores))
		}
	}
	if len(v.CPUBound) > 0 {
		v.Reasons = append(v.Reasons, fmt.Sprintf("CPU-bound (at least %.1f cores): %s", CPUBound, strings.Join(v.CPUBound, ", ")))
	}
	if in.Cores > 0 && in.Load1 >= float64(in.Cores) {
		v.Reasons = append(v.Reasons, fmt.Sprintf("machine out of CPU: load average %.2f on %d logical CPUs", in.Load1, in.Cores))
	}
	for _, b := range in.Backlogs {
		first, last, ok := Quarters(b.Samples)
		if ok && last-first > GrowthSeconds*in.Offered {
			g := fmt.Sprintf("%s: %.0f -> %.0f pictures", b.Stage, first, last)
			v.Growing = append(v.Growing, g)
		}
	}
	if len(v.Growing) > 0 {
		v.Reasons = append(v.Reasons, fmt.Sprintf("lag growing (backlog, first -> last quarter, by more than %.0f s of the offered rate): %s", GrowthSeconds, strings.Join(v.Growing, ", ")))
	}
	v.Saturated = len(v.Reasons) > 0
	return v
}

// Quarters are the means of the first and the last quarter of samples; ok
// is false with fewer than 4 samples.
func Quarters(samples []float64) (first, last float64, ok bool) {
	n := len(samples) / 4
	if n == 0 {
		return 0, 0, false
	}
	return mean(samples[:n]), mean(samples[len(samples)-n:]), true
}

func mean(xs []float64) float64 {
	var s float64
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}

// Queue samples, at from, from+step, ... up to to, how many items had
// arrived at the previous stage (prev) but not yet at this one (cur): the
// stage's backlog. Zero times are items that never arrived.
func Queue(prev, cur []time.Time, from, to time.Time, step time.Duration) []float64 {
	if step <= 0 || to.Before(from) {
		return nil
	}
	p, c := sorted(prev), sorted(cur)
	var out []float64
	var i, j int
	for t := from; !t.After(to); t = t.Add(step) {
		for i < len(p) && !p[i].After(t) {
			i++
		}
		for j < len(c) && !c[j].After(t) {
			j++
		}
		out = append(out, float64(i-j))
	}
	return out
}

func sorted(ts []time.Time) []time.Time {
	out := make([]time.Time, 0, len(ts))
	for _, t := range ts {
		if !t.IsZero() {
			out = append(out, t)
		}
	}
	slices.SortFunc(out, func(a, b time.Time) int { return a.Compare(b) })
	return out
}
