package web

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/sensornode/sensornode/services/viewer/internal/store"
)

// maxChartPoints bounds the points drawn; above it each of
// maxChartPoints/2 buckets keeps its lowest and highest reading, so
// spikes survive the downsampling.
const maxChartPoints = 2000

// Chart geometry (SVG user units; the SVG scales to the page width).
const (
	chartW, chartH                     = 800, 320
	padLeft, padRight, padTop, padBott = 56, 16, 12, 40
)

type tick struct {
	Pos   string // x or y in SVG units
	Label string
}

type point struct{ X, Y string }

// chart is a server-rendered line chart of one node's readings.
type chart struct {
	Node                   string
	Width, Height          int
	Left, Right, Top, Bott int // plot area edges
	Points                 []point
	Line                   string // polyline points
	XTicks, YTicks         []tick
	Total                  int // readings in the range
	Shown                  int // points drawn
	Downsampled            bool
	Min, Max, Mean         float64
	MinAt, MaxAt           time.Time
	Label                  string // aria-label of the SVG
}

func buildChart(node string, rs []store.Reading, from, to time.Time) chart {
	c := chart{
		Node: node, Width: chartW, Height: chartH,
		Left: padLeft, Right: chartW - padRight, Top: padTop, Bott: chartH - padBott,
		Total: len(rs),
	}
	if len(rs) == 0 {
		c.Label = fmt.Sprintf("Temperature of %s from %s to %s: no readings", node, fmtTime(from), fmtTime(to))
		c.XTicks = timeTicks(from, to, c)
		return c
	}
	sum := 0.0
	c.Min, c.Max = math.Inf(1), math.Inf(-1)
	for _, r := range rs {
		sum += r.Celsius
		if r.Celsius < c.Min {
			c.Min, c.MinAt = r.Celsius, r.ReadAt
		}
		if r.Celsius > c.Max {
			c.Max, c.MaxAt = r.Celsius, r.ReadAt
		}
	}
	c.Mean = sum / float64(len(rs))
	shown := downsample(rs, maxChartPoints)
	c.Shown, c.Downsampled = len(shown), len(shown) < len(rs)

	lo, hi := c.Min, c.Max
	if hi-lo < 1 {
		mid := (hi + lo) / 2
		lo, hi = mid-0.5, mid+0.5
	}
	step := niceStep((hi - lo) / 5)
	lo, hi = math.Floor(lo/step)*step, math.Ceil(hi/step)*step
	span := float64(to.Sub(from))
	x := func(t time.Time) float64 {
		return float64(c.Left) + float64(c.Right-c.Left)*float64(t.Sub(from))/span
	}
	y := func(v float64) float64 {
		return float64(c.Bott) - float64(c.Bott-c.Top)*(v-lo)/(hi-lo)
	}
	var line strings.Builder
	c.Points = make([]point, len(shown))
	for i, r := range shown {
		p := point{X: coord(x(r.ReadAt)), Y: coord(y(r.Celsius))}
		c.Points[i] = p
		if i > 0 {
			line.WriteByte(' ')
		}
		line.WriteString(p.X + "," + p.Y)
	}
	c.Line = line.String()
	for v := lo; v <= hi+step/2; v += step {
		c.YTicks = append(c.YTicks, tick{Pos: coord(y(v)), Label: strconv.FormatFloat(v, 'f', decimals(step), 64) + " °C"})
	}
	c.XTicks = timeTicks(from, to, c)
	c.Label = fmt.Sprintf("Temperature of %s from %s to %s: %d readings, min %.1f °C, max %.1f °C, mean %.1f °C",
		node, fmtTime(from), fmtTime(to), len(rs), c.Min, c.Max, c.Mean)
	return c
}

func fmtTime(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") }

func coord(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }

// downsample keeps at most n of rs (in time order): the lowest and the
// highest reading of each of n/2 equal buckets.
func downsample(rs []store.Reading, n int) []store.Reading {
	if len(rs) <= n {
		return rs
	}
	buckets := n / 2
	out := make([]store.Reading, 0, n)
	for b := 0; b < buckets; b++ {
		start, end := b*len(rs)/buckets, (b+1)*len(rs)/buckets
		if start >= end {
			continue
		}
		lo, hi := start, start
		for i := start; i < end; i++ {
			if rs[i].Celsius < rs[lo].Celsius {
				lo = i
			}
			if rs[i].Celsius > rs[hi].Celsius {
				hi = i
			}
		}
		switch {
		case lo == hi:
			out = append(out, rs[lo])
		case lo < hi:
			out = append(out, rs[lo], rs[hi])
		default:
			out = append(out, rs[hi], rs[lo])
		}
	}
	return out
}

// niceStep rounds raw up to 1, 2 or 5 times a power of ten.
func niceStep(raw float64) float64 {
	if raw <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	switch f := raw / p; {
	case f <= 1:
		return p
	case f <= 2:
		return 2 * p
	case f <= 5:
		return 5 * p
	default:
		return 10 * p
	}
}

func decimals(step float64) int {
	if step >= 1 {
		return 0
	}
	return int(math.Ceil(-math.Log10(step)))
}

// timeTicks are six labels along the time axis, with dates when the range
// is longer than a day.
func timeTicks(from, to time.Time, c chart) []tick {
	layout := "15:04"
	if to.Sub(from) > 24*time.Hour {
		layout = "01-02 15:04"
	}
	const n = 5
	out := make([]tick, 0, n+1)
	for i := 0; i <= n; i++ {
		t := from.Add(time.Duration(int64(to.Sub(from)) * int64(i) / n))
		out = append(out, tick{
			Pos:   coord(float64(c.Left) + float64(c.Right-c.Left)*float64(i)/n),
			Label: t.UTC().Format(layout),
		})
	}
	return out
}
