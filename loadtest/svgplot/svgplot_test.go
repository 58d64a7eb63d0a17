package svgplot

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"testing"
)

// wellFormed decodes the whole document and returns its element names.
func wellFormed(t *testing.T, doc []byte) []string {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(doc))
	var names []string
	for {
		tok, err := d.Token()
		if err == io.EOF {
			return names
		}
		if err != nil {
			t.Fatalf("SVG is not well-formed XML: %v\n%s", err, doc)
		}
		if se, ok := tok.(xml.StartElement); ok {
			names = append(names, se.Name.Local)
		}
	}
}

func count(names []string, want string) int {
	n := 0
	for _, s := range names {
		if s == want {
			n++
		}
	}
	return n
}

func TestLineChartRender(t *testing.T) {
	tests := []struct {
		name          string
		chart         LineChart
		wantPolylines int
		wantCircles   int
		wantText      []string
	}{
		{
			name: "two series with escaping",
			chart: LineChart{Title: "latency <p99> & co", XLabel: "ms", YLabel: "fraction", Series: []Series{
				{Name: "320x188", X: []float64{1, 2, 3}, Y: []float64{0.3, 0.6, 1}, Step: true},
				{Name: "640x480", X: []float64{2, 4}, Y: []float64{0.5, 1}},
			}},
			wantPolylines: 2,
			wantText:      []string{"latency &lt;p99&gt; &amp; co", "320x188", "640x480"},
		},
		{
			name: "NaN breaks a line, lone point becomes a dot",
			chart: LineChart{Series: []Series{
				{Name: "a", X: []float64{1, 2, 3, 4}, Y: []float64{1, 2, math.NaN(), 4}},
			}},
			wantPolylines: 1,
			wantCircles:   1,
		},
		{
			name:     "empty",
			chart:    LineChart{Title: "nothing"},
			wantText: []string{"no data"},
		},
		{
			name: "log x skips non-positive",
			chart: LineChart{LogX: true, Series: []Series{
				{Name: "a", X: []float64{0, 1, 10, 1000}, Y: []float64{0, 0.1, 0.5, 1}},
			}},
			wantPolylines: 1,
			wantText:      []string{">1000<", ">10<"},
		},
		{
			name:          "single constant point",
			chart:         LineChart{Series: []Series{{Name: "a", X: []float64{5}, Y: []float64{5}}}},
			wantCircles:   1,
			wantPolylines: 0,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := tt.chart.Render(&buf); err != nil {
				t.Fatalf("Render() error = %v", err)
			}
			names := wellFormed(t, buf.Bytes())
			if names[0] != "svg" {
				t.Errorf("root element = %q, want svg", names[0])
			}
			if got := count(names, "polyline"); got != tt.wantPolylines {
				t.Errorf("polylines = %d, want %d", got, tt.wantPolylines)
			}
			if got := count(names, "circle"); got != tt.wantCircles {
				t.Errorf("circles = %d, want %d", got, tt.wantCircles)
			}
			for _, s := range tt.wantText {
				if !strings.Contains(buf.String(), s) {
					t.Errorf("SVG lacks %q", s)
				}
			}
		})
	}
}

func TestStepDoublesPoints(t *testing.T) {
	var buf bytes.Buffer
	c := LineChart{Series: []Series{{X: []float64{0, 1, 2}, Y: []float64{0, 1, 2}, Step: true}}}
	if err := c.Render(&buf); err != nil {
		t.Fatal(err)
	}
	i := strings.Index(buf.String(), `points="`)
	pts := strings.Fields(strings.SplitN(buf.String()[i+8:], `"`, 2)[0])
	if len(pts) != 5 {
		t.Errorf("step line has %d points, want 5 (3 + 2 corners): %v", len(pts), pts)
	}
}

func TestBarChartRender(t *testing.T) {
	var buf bytes.Buffer
	c := BarChart{Title: "RSS", YLabel: "MiB", Keys: []string{"confluent", "franz"}, Groups: []Group{
		{Name: "camera-producer", Values: []float64{30, 12}},
		{Name: "edge-forwarder", Values: []float64{45, math.NaN()}},
	}}
	if err := c.Render(&buf); err != nil {
		t.Fatal(err)
	}
	names := wellFormed(t, buf.Bytes())
	// 3 bars plus the white background and the plot frame.
	if got := count(names, "rect"); got != 3+2+2 {
		t.Errorf("rects = %d, want 7 (3 bars, background, frame, 2 legend swatches)", got)
	}
	for _, s := range []string{"camera-producer", "edge-forwarder", "confluent", "franz"} {
		if !strings.Contains(buf.String(), s) {
			t.Errorf("bar chart lacks %q", s)
		}
	}
	var empty bytes.Buffer
	if err := (BarChart{Title: "x"}).Render(&empty); err != nil || !strings.Contains(empty.String(), "no data") {
		t.Errorf("empty bar chart = %q, %v", empty.String(), err)
	}
}

func TestNiceTicks(t *testing.T) {
	tests := []struct {
		lo, hi   float64
		n        int
		want     []float64
		from, to float64
	}{
		{0, 1, 6, []float64{0, 0.2, 0.4, 0.6, 0.8, 1}, 0, 1},
		{3, 97, 6, []float64{0, 20, 40, 60, 80, 100}, 0, 100},
		{5, 5, 6, []float64{4.4, 4.6, 4.8, 5, 5.2, 5.4, 5.6}, 4.4, 5.6},
		{0, 0, 6, []float64{0, 0.2, 0.4, 0.6, 0.8, 1}, 0, 1},
	}
	for _, tt := range tests {
		got, from, to := niceTicks(tt.lo, tt.hi, tt.n)
		if len(got) != len(tt.want) || math.Abs(from-tt.from) > 1e-9 || math.Abs(to-tt.to) > 1e-9 {
			t.Errorf("niceTicks(%v, %v, %d) = %v [%v, %v], want %v [%v, %v]", tt.lo, tt.hi, tt.n, got, from, to, tt.want, tt.from, tt.to)
			continue
		}
		for i := range got {
			if math.Abs(got[i]-tt.want[i]) > 1e-9 {
				t.Errorf("niceTicks(%v, %v, %d) = %v, want %v", tt.lo, tt.hi, tt.n, got, tt.want)
				break
			}
		}
	}
}

func TestTickLabel(t *testing.T) {
	got := []string{tickLabel(0), tickLabel(0.25), tickLabel(250), tickLabel(2e6), tickLabel(1e-4), tickLabel(4.6000000000000005)}
	want := []string{"0", "0.25", "250", "2e+06", "0.0001", "4.6"}
	if !slices.Equal(got, want) {
		t.Errorf("tickLabel = %v, want %v", got, want)
	}
}

func TestLineChartSpans(t *testing.T) {
	series := []Series{{Name: "rss", X: []float64{0, 50, 100}, Y: []float64{10, 20, 15}}}
	tests := []struct {
		name      string
		logX      bool
		spans     []Span
		wantRects int
		wantText  []string
	}{
		{"inside and clipped", false, []Span{{"drain 640x480", 10, 20}, {"drain 1280x720", 90, 150}}, 2, []string{"drain 640x480", "drain 1280x720"}},
		{"outside the axis: not drawn", false, []Span{{"late", 200, 300}}, 0, nil},
		{"empty or reversed: not drawn", false, []Span{{"", 30, 30}, {"", 40, 35}}, 0, nil},
		{"label escaped", false, []Span{{"a<b", 10, 20}}, 1, []string{"a&lt;b"}},
		{"log axis: no spans", true, []Span{{"drain", 10, 20}}, 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			c := LineChart{Series: series, Spans: tt.spans, LogX: tt.logX}
			if err := c.Render(&buf); err != nil {
				t.Fatalf("Render() error = %v", err)
			}
			wellFormed(t, buf.Bytes())
			doc := buf.String()
			if got := strings.Count(doc, `class="span"`); got != tt.wantRects {
				t.Errorf("span rects = %d, want %d", got, tt.wantRects)
			}
			for _, s := range tt.wantText {
				if !strings.Contains(doc, s) {
					t.Errorf("SVG lacks %q", s)
				}
			}
			// Spans lie within the plot area and behind the lines.
			if i, j := strings.LastIndex(doc, `class="span"`), strings.Index(doc, "<polyline"); i >= 0 && j < i {
				t.Errorf("a span is drawn after the series")
			}
			f := frame{w: 760, h: 420}
			_, f.x0, f.x1 = niceTicks(0, 100, 8)
			for _, m := range strings.Split(doc, `<rect class="span" x="`)[1:] {
				var x, w float64
				if _, err := fmt.Sscanf(strings.ReplaceAll(m, `" y="`, " "), "%f", &x); err != nil {
					t.Fatal(err)
				}
				wi := strings.Index(m, `width="`)
				if _, err := fmt.Sscanf(m[wi+7:], "%f", &w); err != nil {
					t.Fatal(err)
				}
				if x < f.px(f.x0)-0.1 || x+w > f.px(f.x1)+0.1 {
					t.Errorf("span [%.1f, %.1f] px outside the plot area [%.1f, %.1f]", x, x+w, f.px(f.x0), f.px(f.x1))
				}
			}
		})
	}
}
