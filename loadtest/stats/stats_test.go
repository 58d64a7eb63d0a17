package stats

import (
	"math"
	"slices"
	"testing"
)

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 || (math.IsNaN(a) && math.IsNaN(b)) }

func TestPercentile(t *testing.T) {
	tests := []struct {
		name string
		give []float64
		p    float64
		want float64
	}{
		{"empty", nil, 50, math.NaN()},
		{"one", []float64{7}, 99, 7},
		{"median odd", []float64{1, 2, 3}, 50, 2},
		{"median even", []float64{1, 2, 3, 4}, 50, 2.5},
		{"p0", []float64{1, 2, 3, 4}, 0, 1},
		{"p100", []float64{1, 2, 3, 4}, 100, 4},
		{"p95 of 1..100", seq(100), 95, 95.05},
		{"p99 of 1..100", seq(100), 99, 99.01},
		{"p99 of 1..10", seq(10), 99, 9.91},
		{"p below 0", []float64{3, 4}, -5, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Percentile(tt.give, tt.p); !near(got, tt.want) {
				t.Errorf("Percentile(%v, %v) = %v, want %v", tt.give, tt.p, got, tt.want)
			}
		})
	}
}

func seq(n int) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = float64(i + 1)
	}
	return out
}

func TestSummarize(t *testing.T) {
	tests := []struct {
		name string
		give []float64
		want Summary
	}{
		{"empty", nil, Summary{}},
		{"only NaN", []float64{math.NaN()}, Summary{}},
		{"one", []float64{5}, Summary{N: 1, Mean: 5, Min: 5, Max: 5, P50: 5, P95: 5, P99: 5}},
		{"unsorted with NaN", []float64{4, math.NaN(), 2, 6}, Summary{N: 3, Mean: 4, Stddev: 2, Min: 2, Max: 6, P50: 4, P95: 5.8, P99: 5.96}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Summarize(tt.give)
			if got.N != tt.want.N || !near(got.Mean, tt.want.Mean) || !near(got.Stddev, tt.want.Stddev) ||
				!near(got.Min, tt.want.Min) || !near(got.Max, tt.want.Max) || !near(got.P50, tt.want.P50) ||
				!near(got.P95, tt.want.P95) || !near(got.P99, tt.want.P99) {
				t.Errorf("Summarize(%v) = %+v, want %+v", tt.give, got, tt.want)
			}
		})
	}
}

func TestSummarizeDoesNotReorderInput(t *testing.T) {
	in := []float64{3, 1, 2}
	Summarize(in)
	if !slices.Equal(in, []float64{3, 1, 2}) {
		t.Errorf("Summarize reordered its input: %v", in)
	}
}

func TestMean(t *testing.T) {
	tests := []struct {
		give []float64
		want float64
	}{
		{nil, math.NaN()},
		{[]float64{1, 2, 3, 4}, 2.5},
		{[]float64{math.NaN(), 2}, 2},
	}
	for _, tt := range tests {
		if got := Mean(tt.give); !near(got, tt.want) {
			t.Errorf("Mean(%v) = %v, want %v", tt.give, got, tt.want)
		}
	}
}

func TestCDF(t *testing.T) {
	tests := []struct {
		name  string
		give  []float64
		wantX []float64
		wantY []float64
	}{
		{"empty", nil, nil, nil},
		{"distinct", []float64{3, 1, 2, 4}, []float64{1, 2, 3, 4}, []float64{0.25, 0.5, 0.75, 1}},
		{"ties collapse", []float64{1, 1, 2, 2}, []float64{1, 2}, []float64{0.5, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			x, y := CDF(tt.give)
			if !slices.Equal(x, tt.wantX) || !slices.Equal(y, tt.wantY) {
				t.Errorf("CDF(%v) = %v, %v, want %v, %v", tt.give, x, y, tt.wantX, tt.wantY)
			}
		})
	}
}

func TestHistogram(t *testing.T) {
	tests := []struct {
		name  string
		give  []float64
		width float64
		want  []int
	}{
		{"empty", nil, 1, nil},
		{"zero width", []float64{1}, 0, nil},
		{"buckets", []float64{0, 0.5, 1, 2.5, -1, math.NaN()}, 1, []int{2, 1, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Histogram(tt.give, tt.width); !slices.Equal(got, tt.want) {
				t.Errorf("Histogram(%v, %v) = %v, want %v", tt.give, tt.width, got, tt.want)
			}
		})
	}
}
