package saturation

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// ramp is n samples from a to b.
func ramp(a, b float64, n int) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = a + (b-a)*float64(i)/float64(n-1)
	}
	return out
}

// saw is a bundle store's backlog: it rises for period samples, then the
// roll empties it.
func saw(peak float64, period, n int) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = peak * float64(i%period) / float64(period)
	}
	return out
}

func TestJudge(t *testing.T) {
	level := func(x float64) []float64 { return ramp(x, x, 300) }
	tests := []struct {
		name      string
		give      Input
		saturated bool
		cpuBound  []string
		growing   []string
		reasons   []string // substrings, in order
	}{
		{
			name: "keeps up",
			give: Input{Cores: 2, Load1: 1.2, Offered: 100,
				Processes: []Process{{"cloud-ingest-hdfs", 0.3}, {"edge-forwarder", 0.2}},
				Backlogs:  []Backlog{{"producer", level(3)}, {"forwarder", level(5)}, {"ingest", saw(6000, 60, 300)}}},
		},
		{
			name: "ingest CPU-bound and falling behind",
			give: Input{Cores: 2, Load1: 1.5, Offered: 100,
				Processes: []Process{{"edge-forwarder", 0.4}, {"cloud-ingest-hdfs", 0.97}},
				Backlogs:  []Backlog{{"forwarder", level(5)}, {"ingest", ramp(10, 12000, 300)}}},
			saturated: true,
			cpuBound:  []string{"cloud-ingest-hdfs (0.97 cores)"},
			growing:   []string{"ingest: "},
			reasons:   []string{"CPU-bound", "lag growing"},
		},
		{
			name: "machine out of CPU, nobody bound alone",
			give: Input{Cores: 2, Load1: 2.4, Offered: 100,
				Processes: []Process{{"camera-producer-1", 0.2}, {"edge-kafka-1", 0.6}}},
			saturated: true,
			reasons:   []string{"machine out of CPU: load average 2.40 on 2"},
		},
		{
			name: "slow growth within the margin",
			give: Input{Cores: 2, Offered: 10, Backlogs: []Backlog{{"forwarder", ramp(0, 150, 300)}}},
		},
		{
			name:      "growth past the margin at a low rate",
			give:      Input{Cores: 2, Offered: 10, Backlogs: []Backlog{{"forwarder", ramp(0, 400, 300)}}},
			saturated: true,
			growing:   []string{"forwarder: "},
			reasons:   []string{"lag growing"},
		},
		{
			name: "too few samples to tell",
			give: Input{Cores: 2, Offered: 10, Backlogs: []Backlog{{"ingest", []float64{0, 1000, 5000}}}},
		},
		{
			name:      "two bound, busiest first",
			give:      Input{Cores: 8, Offered: 1, Processes: []Process{{"a", 0.95}, {"b", 1.6}, {"c", 0.1}}},
			saturated: true,
			cpuBound:  []string{"b (1.60 cores)", "a (0.95 cores)"},
			reasons:   []string{"CPU-bound"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Judge(tt.give)
			if got.Saturated != tt.saturated {
				t.Errorf("Judge().Saturated = %v, want %v (reasons %q)", got.Saturated, tt.saturated, got.Reasons)
			}
			if !slices.Equal(got.CPUBound, tt.cpuBound) {
				t.Errorf("Judge().CPUBound = %q, want %q", got.CPUBound, tt.cpuBound)
			}
			if len(got.Growing) != len(tt.growing) {
				t.Errorf("Judge().Growing = %q, want %q", got.Growing, tt.growing)
			}
			for i := range min(len(got.Growing), len(tt.growing)) {
				if !strings.HasPrefix(got.Growing[i], tt.growing[i]) {
					t.Errorf("Judge().Growing[%d] = %q, want prefix %q", i, got.Growing[i], tt.growing[i])
				}
			}
			if len(got.Reasons) != len(tt.reasons) {
				t.Fatalf("Judge().Reasons = %q, want %d like %q", got.Reasons, len(tt.reasons), tt.reasons)
			}
			for i, r := range tt.reasons {
				if !strings.Contains(got.Reasons[i], r) {
					t.Errorf("Judge().Reasons[%d] = %q, want it to contain %q", i, got.Reasons[i], r)
				}
			}
		})
	}
}

func TestQueue(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 13, 0, 0, 0, time.UTC)
	s := func(n float64) time.Time { return t0.Add(time.Duration(n * float64(time.Second))) }
	tests := []struct {
		name      string
		prev, cur []time.Time
		want      []float64
	}{
		{"nothing", nil, nil, []float64{0, 0, 0, 0}},
		{"one through in under a second", []time.Time{s(0.5)}, []time.Time{s(0.9)}, []float64{0, 0, 0, 0}},
		{"piling up", []time.Time{s(0), s(0.5), s(1.5), s(2.5)}, []time.Time{s(0.2), {}, {}, {}}, []float64{1, 1, 2, 3}},
		{"caught up at the end", []time.Time{s(0), s(1), s(2)}, []time.Time{s(2.5), s(2.6), s(3)}, []float64{1, 2, 3, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Queue(tt.prev, tt.cur, t0, s(3), time.Second); !slices.Equal(got, tt.want) {
				t.Errorf("Queue() = %v, want %v", got, tt.want)
			}
		})
	}
}
