// Package svgplot draws the load test's charts as standalone SVG files:
// line charts (latency CDFs, throughput and memory over time) and grouped
// bar charts, with axes, ticks and a legend. No dependencies.
//
// Why not gonum.org/v1/plot (checked at v0.17.0, which the module proxy
// serves): it would draw the same charts (step lines, log x axis, grouped
// bars, legends, deterministic SVG), but not better ones, at a price this
// one file does not pay:
//   - weight: seven modules new to the workspace (golang.org/x/image, a
//     LaTeX renderer, a PDF writer, a raster canvas, freetype, svgo, the
//     Liberation fonts) and about 9 MB more in the loadtest binary (a
//     minimal program grows from 2.4 to 11.2 MB), for a report step;
//   - text: it measures labels with the embedded Liberation fonts and names
//     that family in the SVG, so viewers without it lay the labels out
//     differently; here text is the viewer's own sans-serif;
//   - fit: the harness marks gaps with NaN (a break in a line, a bar for a
//     size a backend did not run), which this package skips; gonum's
//     plotters reject NaN and infinite values (plotter.ErrNaN,
//     ErrInfinity), so the harness would need code to split lines into
//     segments and drop bars before every chart.
//
// The charts are committed with the load reports (loadtest/results), so a
// switch would also restyle every future report's figures for no gain in
// what they show. The chaos reports draw their timeline themselves
// (e2e/chaos/report.go) and do not use this package.
package svgplot

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// Palette is the series colours, in order (colour-blind friendly).
var Palette = []string{"#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"}

// Series is one line: points (X[i], Y[i]). NaN and infinite points are
// skipped (they break the line).
type Series struct {
	Name string
	X, Y []float64
	// Step draws a staircase (for CDFs and per-second counts).
	Step bool
}

// LineChart is a chart of series over a shared x axis.
type LineChart struct {
	Title, XLabel, YLabel string
	Series                []Series
	// LogX uses a base-10 logarithmic x axis (non-positive x are skipped).
	LogX bool
	// YFrom0 starts the y axis at 0 even when all values are larger.
	YFrom0 bool
	// LegendBottom puts the legend in the lower right corner (CDFs)
	// instead of the upper right.
	LegendBottom bool
	// Spans are shaded x intervals drawn behind the series (phases of a
	// run), each labelled at its bottom left (clear of the legend);
	// ignored on a log x axis.
	Spans []Span
	// Width and Height in pixels; 0 means 760x420.
	Width, Height int
}

// Span is a shaded interval [From, To] of the x axis.
type Span struct {
	Label    string
	From, To float64
}

const (
	marginLeft   = 70
	marginRight  = 20
	marginTop    = 40
	marginBottom = 55
)

type frame struct {
	w, h           int
	x0, x1, y0, y1 float64 // data ranges (x in log10 units when logX)
	logX           bool
}

func (f frame) px(x float64) float64 {
	if f.logX {
		x = math.Log10(x)
	}
	return marginLeft + (x-f.x0)/(f.x1-f.x0)*float64(f.w-marginLeft-marginRight)
}

func (f frame) py(y float64) float64 {
	return float64(f.h-marginBottom) - (y-f.y0)/(f.y1-f.y0)*float64(f.h-marginTop-marginBottom)
}

func usable(x, y float64, logX bool) bool {
	if math.IsNaN(x) || math.IsNaN(y) || math.IsInf(x, 0) || math.IsInf(y, 0) {
		return false
	}
	return !logX || x > 0
}

// Render writes the chart as an SVG document.
func (c LineChart) Render(w io.Writer) error {
	width, height := c.Width, c.Height
	if width <= 0 || height <= 0 {
		width, height = 760, 420
	}
	xmin, xmax, ymin, ymax := math.Inf(1), math.Inf(-1), math.Inf(1), math.Inf(-1)
	points := 0
	for _, s := range c.Series {
		for i := 0; i < len(s.X) && i < len(s.Y); i++ {
			x, y := s.X[i], s.Y[i]
			if !usable(x, y, c.LogX) {
				continue
			}
			if c.LogX {
				x = math.Log10(x)
			}
			xmin, xmax = math.Min(xmin, x), math.Max(xmax, x)
			ymin, ymax = math.Min(ymin, y), math.Max(ymax, y)
			points++
		}
	}
	b := bufio.NewWriter(w)
	header(b, width, height, c.Title)
	if points == 0 {
		fmt.Fprintf(b, `<text x="%d" y="%d" text-anchor="middle" class="note">no data</text>`+"\n", width/2, height/2)
		b.WriteString("</svg>\n")
		return b.Flush()
	}
	if c.YFrom0 && ymin > 0 {
		ymin = 0
	}
	if ymax > ymin {
		ymax += (ymax - ymin) * 0.04 // keep lines off the frame
	}
	f := frame{w: width, h: height, logX: c.LogX}
	var xt, yt []float64
	if c.LogX {
		f.x0, f.x1 = math.Floor(xmin), math.Ceil(xmax)
		if f.x1 == f.x0 {
			f.x1 = f.x0 + 1
		}
		for e := f.x0; e <= f.x1; e++ {
			xt = append(xt, math.Pow(10, e))
		}
	} else {
		xt, f.x0, f.x1 = niceTicks(xmin, xmax, 8)
	}
	yt, f.y0, f.y1 = niceTicks(ymin, ymax, 6)
	axes(b, f, xt, yt, c.XLabel, c.YLabel)
	if !c.LogX {
		spans(b, f, c.Spans)
	}
	for i, s := range c.Series {
		color := Palette[i%len(Palette)]
		var pts []string
		flush := func() {
			if len(pts) > 1 {
				fmt.Fprintf(b, `<polyline fill="none" stroke="%s" stroke-width="1.6" points="%s"/>`+"\n", color, strings.Join(pts, " "))
			} else if len(pts) == 1 {
				xy := strings.Split(pts[0], ",")
				fmt.Fprintf(b, `<circle cx="%s" cy="%s" r="2.5" fill="%s"/>`+"\n", xy[0], xy[1], color)
			}
			pts = pts[:0]
		}
		prevY := math.NaN()
		for j := 0; j < len(s.X) && j < len(s.Y); j++ {
			x, y := s.X[j], s.Y[j]
			if !usable(x, y, c.LogX) {
				flush()
				prevY = math.NaN()
				continue
			}
			if s.Step && !math.IsNaN(prevY) {
				pts = append(pts, coord(f.px(x), f.py(prevY)))
			}
			pts = append(pts, coord(f.px(x), f.py(y)))
			prevY = y
		}
		flush()
	}
	top := marginTop + 14
	if c.LegendBottom {
		top = height - marginBottom - 8 - 15*(len(c.Series)-1)
	}
	legend(b, width, top, c.Series)
	b.WriteString("</svg>\n")
	return b.Flush()
}

// spans shades each span, clipped to the x range, with its label at the
// bottom (the series are drawn over them).
func spans(b *bufio.Writer, f frame, ss []Span) {
	for _, s := range ss {
		from, to := math.Max(s.From, f.x0), math.Min(s.To, f.x1)
		if math.IsNaN(from) || math.IsNaN(to) || to <= from {
			continue
		}
		x0, x1 := f.px(from), f.px(to)
		fmt.Fprintf(b, `<rect class="span" x="%.1f" y="%d" width="%.1f" height="%d" fill="#999999" fill-opacity="0.18"/>`+"\n",
			x0, marginTop, x1-x0, f.h-marginTop-marginBottom)
		if s.Label != "" {
			fmt.Fprintf(b, `<text x="%.1f" y="%d" class="note" font-size="10">%s</text>`+"\n", x0+2, f.h-marginBottom-4, esc(s.Label))
		}
	}
}

// Group is one cluster of bars in a BarChart, one bar per BarChart.Keys.
type Group struct {
	Name   string
	Values []float64 // NaN: no bar
}

// BarChart is a grouped bar chart: for example RSS per service (groups)
// and Kafka backend (keys).
type BarChart struct {
	Title, YLabel string
	Keys          []string
	Groups        []Group
	Width, Height int
}

// Render writes the chart as an SVG document.
func (c BarChart) Render(w io.Writer) error {
	width, height := c.Width, c.Height
	if width <= 0 || height <= 0 {
		width, height = 760, 420
	}
	ymax := math.Inf(-1)
	for _, g := range c.Groups {
		for _, v := range g.Values {
			if !math.IsNaN(v) && !math.IsInf(v, 0) {
				ymax = math.Max(ymax, v)
			}
		}
	}
	b := bufio.NewWriter(w)
	header(b, width, height, c.Title)
	if math.IsInf(ymax, -1) || len(c.Keys) == 0 {
		fmt.Fprintf(b, `<text x="%d" y="%d" text-anchor="middle" class="note">no data</text>`+"\n", width/2, height/2)
		b.WriteString("</svg>\n")
		return b.Flush()
	}
	f := frame{w: width, h: height, x0: 0, x1: float64(len(c.Groups))}
	var yt []float64
	yt, f.y0, f.y1 = niceTicks(math.Min(0, ymax), ymax, 6)
	axes(b, f, nil, yt, "", c.YLabel)
	slot := float64(width-marginLeft-marginRight) / float64(len(c.Groups))
	barW := slot * 0.8 / float64(len(c.Keys))
	for gi, g := range c.Groups {
		left := marginLeft + float64(gi)*slot + slot*0.1
		for ki := range c.Keys {
			if ki >= len(g.Values) || math.IsNaN(g.Values[ki]) || math.IsInf(g.Values[ki], 0) {
				continue
			}
			v := g.Values[ki]
			top, base := f.py(math.Max(v, 0)), f.py(math.Min(v, 0))
			fmt.Fprintf(b, `<rect x="%s" y="%s" width="%s" height="%s" fill="%s"><title>%s %s: %s</title></rect>`+"\n",
				num(left+float64(ki)*barW), num(top), num(barW*0.95), num(base-top), Palette[ki%len(Palette)],
				esc(g.Name), esc(c.Keys[ki]), num(v))
		}
		fmt.Fprintf(b, `<text x="%s" y="%d" text-anchor="middle" class="tick">%s</text>`+"\n",
			num(marginLeft+(float64(gi)+0.5)*slot), height-marginBottom+16, esc(g.Name))
	}
	series := make([]Series, len(c.Keys))
	for i, k := range c.Keys {
		series[i] = Series{Name: k}
	}
	legend(b, width, marginTop+14, series)
	b.WriteString("</svg>\n")
	return b.Flush()
}

func header(b *bufio.Writer, width, height int, title string) {
	fmt.Fprintf(b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif">`+"\n",
		width, height, width, height)
	b.WriteString(`<style>.tick{font-size:11px;fill:#333}.label{font-size:12px;fill:#111}.title{font-size:14px;font-weight:bold;fill:#111}.note{font-size:13px;fill:#777}</style>` + "\n")
	fmt.Fprintf(b, `<rect width="%d" height="%d" fill="white"/>`+"\n", width, height)
	fmt.Fprintf(b, `<text x="%d" y="22" text-anchor="middle" class="title">%s</text>`+"\n", width/2, esc(title))
}

func axes(b *bufio.Writer, f frame, xt, yt []float64, xlabel, ylabel string) {
	left, right := marginLeft, f.w-marginRight
	top, bottom := marginTop, f.h-marginBottom
	for _, y := range yt {
		p := f.py(y)
		fmt.Fprintf(b, `<line x1="%d" x2="%d" y1="%s" y2="%s" stroke="#ddd"/>`+"\n", left, right, num(p), num(p))
		fmt.Fprintf(b, `<text x="%d" y="%s" text-anchor="end" class="tick">%s</text>`+"\n", left-6, num(p+4), tickLabel(y))
	}
	for _, x := range xt {
		p := f.px(x)
		fmt.Fprintf(b, `<line x1="%s" x2="%s" y1="%d" y2="%d" stroke="#ddd"/>`+"\n", num(p), num(p), top, bottom)
		fmt.Fprintf(b, `<text x="%s" y="%d" text-anchor="middle" class="tick">%s</text>`+"\n", num(p), bottom+16, tickLabel(x))
	}
	fmt.Fprintf(b, `<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#555"/>`+"\n", left, top, right-left, bottom-top)
	if xlabel != "" {
		fmt.Fprintf(b, `<text x="%d" y="%d" text-anchor="middle" class="label">%s</text>`+"\n", (left+right)/2, f.h-12, esc(xlabel))
	}
	if ylabel != "" {
		fmt.Fprintf(b, `<text transform="translate(16,%d) rotate(-90)" text-anchor="middle" class="label">%s</text>`+"\n", (top+bottom)/2, esc(ylabel))
	}
}

func legend(b *bufio.Writer, width, top int, series []Series) {
	y := top
	for i, s := range series {
		if s.Name == "" {
			continue
		}
		x := width - marginRight - 10
		fmt.Fprintf(b, `<rect x="%d" y="%d" width="12" height="3" fill="%s"/>`+"\n", x-190, y-4, Palette[i%len(Palette)])
		fmt.Fprintf(b, `<text x="%d" y="%d" class="tick">%s</text>`+"\n", x-174, y, esc(s.Name))
		y += 15
	}
}

// niceTicks returns about n round tick values covering [lo, hi] and the
// axis range they span.
func niceTicks(lo, hi float64, n int) (ticks []float64, from, to float64) {
	if hi < lo {
		lo, hi = hi, lo
	}
	if hi == lo {
		if lo == 0 {
			hi = 1
		} else {
			d := math.Abs(lo) * 0.1
			lo, hi = lo-d, hi+d
		}
	}
	step := niceNum((hi-lo)/float64(max(n-1, 1)), true)
	from = math.Floor(lo/step) * step
	to = math.Ceil(hi/step) * step
	for v := from; v <= to+step/2; v += step {
		ticks = append(ticks, math.Round(v/step)*step)
	}
	return ticks, from, to
}

// niceNum rounds x to 1, 2, 5 or 10 times a power of ten (Heckbert).
func niceNum(x float64, round bool) float64 {
	exp := math.Floor(math.Log10(x))
	f := x / math.Pow(10, exp)
	var nf float64
	switch {
	case round && f < 1.5, !round && f <= 1:
		nf = 1
	case round && f < 3, !round && f <= 2:
		nf = 2
	case round && f < 7, !round && f <= 5:
		nf = 5
	default:
		nf = 10
	}
	return nf * math.Pow(10, exp)
}

func tickLabel(v float64) string {
	if v == 0 {
		return "0"
	}
	a := math.Abs(v)
	switch {
	case a >= 1e6 || a < 1e-3:
		return strconv.FormatFloat(v, 'g', 3, 64)
	case a >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	// Drop float noise such as 4.6000000000000005.
	r, _ := strconv.ParseFloat(strconv.FormatFloat(v, 'g', 6, 64), 64)
	return strconv.FormatFloat(r, 'f', -1, 64)
}

func coord(x, y float64) string { return num(x) + "," + num(y) }

func num(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }

func esc(s string) string {
	r := strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;", "'", "&apos;")
	return r.Replace(s)
}
