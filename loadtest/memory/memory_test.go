package memory

import (
	"math"
	"reflect"
	"testing"
	"time"
)

var t0 = time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)

func at(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }

// samples makes one sample per second from second from, RSS as given,
// heap = RSS/2, Kafka = RSS/4 (NaN where rss is negative: not scraped).
func samples(from int, rss ...float64) []Sample {
	out := make([]Sample, len(rss))
	for i, r := range rss {
		h, k := r/2, r/4
		if r < 0 {
			r, h, k = -r, math.NaN(), math.NaN()
		}
		out[i] = Sample{At: at(from + i), RSS: r, Heap: h, Kafka: k}
	}
	return out
}

func nan() Stat { return Stat{Mean: math.NaN(), Peak: math.NaN()} }

// eq compares stats, NaN equal to NaN.
func eq(a, b Stat) bool {
	f := func(x, y float64) bool { return x == y || (math.IsNaN(x) && math.IsNaN(y)) }
	return f(a.Mean, b.Mean) && f(a.Peak, b.Peak) && a.N == b.N
}

func TestTable(t *testing.T) {
	windows := []Window{
		{PhaseRest, at(0), at(2), "", false},
		{PhaseSteady, at(10), at(13), "", false},
		{PhaseDrain, at(20), at(21), "", false}, // two drains (two sizes) pool
		{PhaseDrain, at(30), at(30), "", false},
		{PhaseDrain, at(40), at(42), "", true}, // peaks reset at its start
	}
	withHWM := func(ss []Sample, hwm ...float64) []Sample {
		for i := range ss {
			ss[i].HWM = hwm[i]
		}
		return ss
	}
	tests := []struct {
		name     string
		give     []Proc
		services []string
		want     []Row
	}{
		{
			name:     "one instance: mean and peak per phase, samples between phases left out",
			give:     []Proc{{Name: "fw", Service: "fw", Samples: append(append(samples(0, 10, 20, 30, 99), samples(10, 40, 40, 40, 80)...), samples(20, 100, 200)...)}},
			services: []string{"fw"},
			want: []Row{
				{Service: "fw", Phase: PhaseRest, Instances: 1, RSS: Stat{20, 30, 3}, Heap: Stat{10, 15, 3}, Kafka: Stat{5, 7.5, 3}},
				{Service: "fw", Phase: PhaseSteady, Instances: 1, RSS: Stat{50, 80, 4}, Heap: Stat{25, 40, 4}, Kafka: Stat{12.5, 20, 4}},
				{Service: "fw", Phase: PhaseDrain, Instances: 1, RSS: Stat{150, 200, 2}, Heap: Stat{75, 100, 2}, Kafka: Stat{37.5, 50, 2}},
			},
		},
		{
			name: "instances: mean of the means, peak of any; drains pooled",
			give: []Proc{
				{Name: "cam-1", Service: "cam", Samples: append(samples(20, 10, 30), samples(30, 50)...)}, // mean 30, peak 50
				{Name: "cam-2", Service: "cam", Samples: samples(20, 10, 10)},                             // mean 10
			},
			services: []string{"cam"},
			want:     []Row{{Service: "cam", Phase: PhaseDrain, Instances: 2, RSS: Stat{20, 50, 5}, Heap: Stat{10, 25, 5}, Kafka: Stat{5, 12.5, 5}}},
		},
		{
			name:     "metrics not scraped: RSS only",
			give:     []Proc{{Name: "x", Service: "x", Samples: samples(0, -10, -20)}},
			services: []string{"x"},
			want:     []Row{{Service: "x", Phase: PhaseRest, Instances: 1, RSS: Stat{15, 20, 2}, Heap: nan(), Kafka: nan()}},
		},
		{
			name:     "metrics partly scraped: heap over the scraped samples",
			give:     []Proc{{Name: "x", Service: "x", Samples: append(samples(0, -100), samples(1, 20)...)}},
			services: []string{"x"},
			want:     []Row{{Service: "x", Phase: PhaseRest, Instances: 1, RSS: Stat{60, 100, 2}, Heap: Stat{10, 10, 1}, Kafka: Stat{5, 5, 1}}},
		},
		{
			name: "order of services given; unlisted services left out",
			give: []Proc{
				{Name: "a", Service: "a", Samples: samples(0, 1)},
				{Name: "b", Service: "b", Samples: samples(0, 2)},
				{Name: "mm2", Service: "mirrormaker2", Samples: samples(0, 3)},
			},
			services: []string{"b", "a"},
			want: []Row{
				{Service: "b", Phase: PhaseRest, Instances: 1, RSS: Stat{2, 2, 1}, Heap: Stat{1, 1, 1}, Kafka: Stat{0.5, 0.5, 1}},
				{Service: "a", Phase: PhaseRest, Instances: 1, RSS: Stat{1, 1, 1}, Heap: Stat{0.5, 0.5, 1}, Kafka: Stat{0.25, 0.25, 1}},
			},
		},
		{
			name: "peaks reset in a window: its samples' HWM raise the peak; elsewhere HWM is left out",
			give: []Proc{{Name: "fw", Service: "fw", Samples: append(
				withHWM(samples(10, 40, 40), 500, 500),             // steady: HWM from before, not counted
				withHWM(samples(40, 30, 50, 20), 30, 90, 95)...)}}, // drain: peak 95 between samples
			services: []string{"fw"},
			want: []Row{
				{Service: "fw", Phase: PhaseSteady, Instances: 1, RSS: Stat{40, 40, 2}, Heap: Stat{20, 20, 2}, Kafka: Stat{10, 10, 2}},
				{Service: "fw", Phase: PhaseDrain, Instances: 1, RSS: Stat{100.0 / 3, 95, 3}, Heap: Stat{50.0 / 3, 25, 3}, Kafka: Stat{25.0 / 3, 12.5, 3}},
			},
		},
		{
			name:     "no samples in any phase: no row",
			give:     []Proc{{Name: "a", Service: "a", Samples: samples(5, 1, 1)}},
			services: []string{"a"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Table(tt.give, windows, tt.services)
			if len(got) != len(tt.want) {
				t.Fatalf("Table() = %+v, want %+v", got, tt.want)
			}
			for i := range got {
				g, w := got[i], tt.want[i]
				if g.Service != w.Service || g.Phase != w.Phase || g.Instances != w.Instances ||
					!eq(g.RSS, w.RSS) || !eq(g.Heap, w.Heap) || !eq(g.Kafka, w.Kafka) {
					t.Errorf("Table()[%d] = %+v, want %+v", i, g, w)
				}
			}
		})
	}
}

func TestSumMeanRSS(t *testing.T) {
	rows := []Row{
		{Service: "cam", Phase: PhaseRest, RSS: Stat{Mean: 20}},
		{Service: "temp", Phase: PhaseRest, RSS: Stat{Mean: 15}},
		{Service: "temp", Phase: PhaseSteady, RSS: Stat{Mean: 99}},
		{Service: "watch", Phase: PhaseRest, RSS: nan()},
	}
	tests := []struct {
		name     string
		services []string
		want     float64
		wantOK   bool
	}{
		{"sum at rest", []string{"cam", "temp"}, 35, true},
		{"a service without a row", []string{"cam", "temp", "absent"}, math.NaN(), false},
		{"a service without samples", []string{"cam", "watch"}, math.NaN(), false},
		{"no services", nil, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := SumMeanRSS(rows, PhaseRest, tt.services)
			if ok != tt.wantOK || !(got == tt.want || math.IsNaN(got) && math.IsNaN(tt.want)) {
				t.Errorf("SumMeanRSS(%v) = %v, %v, want %v, %v", tt.services, got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func TestRatio(t *testing.T) {
	tests := []struct {
		name string
		a, b float64
		want float64
	}{
		{"forwarder at a tenth", 40, 400, 0.1},
		{"equal", 5, 5, 1},
		{"unknown numerator", math.NaN(), 400, math.NaN()},
		{"unknown denominator", 40, math.NaN(), math.NaN()},
		{"zero denominator", 40, 0, math.NaN()},
		{"negative", -1, 400, math.NaN()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Ratio(tt.a, tt.b)
			if !(got == tt.want || math.IsNaN(got) && math.IsNaN(tt.want)) {
				t.Errorf("Ratio(%v, %v) = %v, want %v", tt.a, tt.b, got, tt.want)
			}
		})
	}
}

func TestSpans(t *testing.T) {
	windows := []Window{
		{PhaseDrain, at(30), at(40), "", false},
		{PhaseSteady, at(5), at(25), "steady 640x480", false},
		{PhaseDrain, at(10), at(20), "", false},
		{PhaseDrain, at(-10), at(2), "", false},  // starts before the origin: clipped
		{PhaseDrain, at(90), at(120), "", false}, // ends after the end: clipped
		{PhaseDrain, at(-5), at(-1), "", false},  // before: left out
		{PhaseDrain, at(101), at(110), "", false},
		{PhaseDrain, at(50), at(50), "", false}, // empty: left out
	}
	tests := []struct {
		name  string
		phase string
		end   int
		want  []Span
	}{
		{"drains in time order, clipped", PhaseDrain, 100, []Span{
			{PhaseDrain, 0, 2}, {PhaseDrain, 10, 20}, {PhaseDrain, 30, 40}, {PhaseDrain, 90, 100}}},
		{"labels", PhaseSteady, 100, []Span{{"steady 640x480", 5, 25}}},
		{"no such phase", PhaseRest, 100, nil},
		{"window after the end", PhaseDrain, 1, []Span{{PhaseDrain, 0, 1}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Spans(windows, tt.phase, t0, at(tt.end))
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Spans(%s) = %v, want %v", tt.phase, got, tt.want)
			}
		})
	}
}

func TestAttribute(t *testing.T) {
	const mib = 1 << 20
	windows := []Window{{Phase: PhaseDrain, From: at(0), To: at(10), PeaksReset: true}}
	// s is a sample at second i: RSS, file, Go sys, heap in use, idle,
	// released (MiB), Kafka buffered 1 MiB, HWM hwm.
	s := func(i int, rss, file, sys, inuse, idle, released, hwm float64) Sample {
		return Sample{At: at(i), RSS: rss * mib, File: file * mib, GoSys: sys * mib, Heap: inuse * mib, HeapIdle: idle * mib,
			HeapReleased: released * mib, Kafka: mib, HWM: hwm * mib}
	}
	unscraped := Sample{At: at(3), RSS: 90 * mib, HWM: 90 * mib, Heap: math.NaN(), GoSys: math.NaN(), HeapIdle: math.NaN(), HeapReleased: math.NaN(), Kafka: math.NaN()}
	tests := []struct {
		name string
		give []Proc
		want []Attribution
	}{
		{
			name: "confluent-like: C memory outside Go's; the highest scraped sample, the peak from HWM",
			give: []Proc{
				{Name: "fw-1", Service: "fw", Samples: []Sample{s(1, 50, 20, 30, 10, 12, 4, 55), unscraped}},
				{Name: "fw-2", Service: "fw", Samples: []Sample{s(1, 70, 20, 30, 12, 10, 4, 72)}},
			},
			want: []Attribution{{Service: "fw", Instance: "fw-2", Peak: 90 * mib, RSS: 70 * mib, File: 20 * mib,
				GoRuntime: 8 * mib, HeapInuse: 12 * mib, HeapFree: 6 * mib, Other: 24 * mib, Kafka: mib}},
		},
		{
			name: "franz-like: Go accounts for more than the anonymous RSS: Other 0",
			give: []Proc{{Name: "fw", Service: "fw", Samples: []Sample{s(2, 40, 15, 30, 20, 6, 0, 41)}}},
			want: []Attribution{{Service: "fw", Instance: "fw", Peak: 41 * mib, RSS: 40 * mib, File: 15 * mib,
				GoRuntime: 4 * mib, HeapInuse: 20 * mib, HeapFree: 6 * mib, Other: 0, Kafka: mib}},
		},
		{
			name: "no scraped sample in the phase: left out",
			give: []Proc{{Name: "fw", Service: "fw", Samples: []Sample{unscraped, s(20, 50, 20, 30, 10, 12, 4, 55)}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Attribute(tt.give, windows, []string{"fw"}, PhaseDrain)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Attribute() = %+v, want %+v", got, tt.want)
			}
		})
	}
	a := Attribution{File: 15 * mib, GoRuntime: 5 * mib, HeapInuse: 20 * mib, HeapFree: 6 * mib}
	if a.Floor() != 20*mib || a.GoHeap() != 26*mib {
		t.Errorf("Floor(), GoHeap() = %v, %v, want 20 and 26 MiB", a.Floor(), a.GoHeap())
	}
}
