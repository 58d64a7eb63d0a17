// Package stats summarises samples: mean, percentiles and empirical
// distributions for the load test report.
package stats

import (
	"math"
	"slices"
)

// Summary describes a sample. Percentiles interpolate linearly between
// the closest ranks (the "linear" method of numpy and R's type 7), so the
// p99 of 100 values lies between the 99th and 100th smallest.
type Summary struct {
	N      int     `json:"n"`
	Mean   float64 `json:"mean"`
	Stddev float64 `json:"stddev"` // sample standard deviation (n-1)
	Min    float64 `json:"min"`
	P50    float64 `json:"p50"`
	P95    float64 `json:"p95"`
	P99    float64 `json:"p99"`
	Max    float64 `json:"max"`
}

// Summarize computes the summary of xs; NaNs are ignored. An empty sample
// gives a zero Summary (N = 0).
func Summarize(xs []float64) Summary {
	s := clean(xs)
	if len(s) == 0 {
		return Summary{}
	}
	slices.Sort(s)
	sum := 0.0
	for _, x := range s {
		sum += x
	}
	mean := sum / float64(len(s))
	sd := 0.0
	if len(s) > 1 {
		ss := 0.0
		for _, x := range s {
			ss += (x - mean) * (x - mean)
		}
		sd = math.Sqrt(ss / float64(len(s)-1))
	}
	return Summary{
		N: len(s), Mean: mean, Stddev: sd, Min: s[0], Max: s[len(s)-1],
		P50: Percentile(s, 50), P95: Percentile(s, 95), P99: Percentile(s, 99),
	}
}

// Percentile returns the p-th percentile (0..100) of sorted, which must be
// sorted ascending and free of NaN. It returns NaN for an empty slice.
func Percentile(sorted []float64, p float64) float64 {
	n := len(sorted)
	switch {
	case n == 0:
		return math.NaN()
	case p <= 0:
		return sorted[0]
	case p >= 100:
		return sorted[n-1]
	}
	rank := p / 100 * float64(n-1)
	lo := int(math.Floor(rank))
	hi := min(lo+1, n-1)
	frac := rank - float64(lo)
	return sorted[lo] + frac*(sorted[hi]-sorted[lo])
}

// Mean is the arithmetic mean of xs without NaNs; NaN when there are none.
func Mean(xs []float64) float64 {
	s := clean(xs)
	if len(s) == 0 {
		return math.NaN()
	}
	sum := 0.0
	for _, x := range s {
		sum += x
	}
	return sum / float64(len(s))
}

// CDF returns the empirical distribution of xs as points (x, fraction of
// values <= x), one per distinct value, ascending. NaNs are ignored.
func CDF(xs []float64) (x, y []float64) {
	s := clean(xs)
	slices.Sort(s)
	n := float64(len(s))
	for i, v := range s {
		if i+1 < len(s) && s[i+1] == v {
			continue
		}
		x = append(x, v)
		y = append(y, float64(i+1)/n)
	}
	return x, y
}

// Histogram counts xs into buckets of the given width starting at 0:
// counts[i] holds values in [i*width, (i+1)*width). Negative values and
// NaNs are ignored; width must be positive.
func Histogram(xs []float64, width float64) []int {
	var counts []int
	if width <= 0 {
		return nil
	}
	for _, v := range xs {
		if math.IsNaN(v) || v < 0 {
			continue
		}
		i := int(v / width)
		for len(counts) <= i {
			counts = append(counts, 0)
		}
		counts[i]++
	}
	return counts
}

func clean(xs []float64) []float64 {
	out := make([]float64, 0, len(xs))
	for _, x := range xs {
		if !math.IsNaN(x) {
			out = append(out, x)
		}
	}
	return out
}
