package svc

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// Each kind of metric is exported with its name, help, type, buckets and
// the series its labels' values call for.
func TestMetricFactory(t *testing.T) {
	tests := []struct {
		name    string
		declare func(f MetricFactory)
		want    string
	}{
		{
			name:    "counter",
			declare: func(f MetricFactory) { f.Counter("c_total", "A counter.") },
			want: `
# HELP c_total A counter.
# TYPE c_total counter
c_total 0
`,
		},
		{
			name:    "gauge",
			declare: func(f MetricFactory) { f.Gauge("g", "A gauge.").Set(-1) },
			want: `
# HELP g A gauge.
# TYPE g gauge
g -1
`,
		},
		{
			name:    "gauge func",
			declare: func(f MetricFactory) { f.GaugeFunc("gf", "A gauge func.", func() float64 { return 7 }) },
			want: `
# HELP gf A gauge func.
# TYPE gf gauge
gf 7
`,
		},
		{
			name:    "histogram",
			declare: func(f MetricFactory) { f.Histogram("h_seconds", "A histogram.", []float64{0.5, 1}) },
			want: `
# HELP h_seconds A histogram.
# TYPE h_seconds histogram
h_seconds_bucket{le="0.5"} 0
h_seconds_bucket{le="1"} 0
h_seconds_bucket{le="+Inf"} 0
h_seconds_sum 0
h_seconds_count 0
`,
		},
		{
			name: "counter vec, every combination of values",
			declare: func(f MetricFactory) {
				f.CounterVec("cv_total", "A counter vec.", Label("kind", "a", "b"), Label("result", "ok", "error"))
			},
			want: `
# HELP cv_total A counter vec.
# TYPE cv_total counter
cv_total{kind="a",result="error"} 0
cv_total{kind="a",result="ok"} 0
cv_total{kind="b",result="error"} 0
cv_total{kind="b",result="ok"} 0
`,
		},
		{
			name: "counter vec, a label without values: no series",
			declare: func(f MetricFactory) {
				f.CounterVec("cv_total", "A counter vec.", Label("kind", "a", "b"), Label("result"))
			},
			want: ``,
		},
		{
			name: "counter vec, used",
			declare: func(f MetricFactory) {
				f.CounterVec("cv_total", "A counter vec.", Label("op")).WithLabelValues("create").Inc()
			},
			want: `
# HELP cv_total A counter vec.
# TYPE cv_total counter
cv_total{op="create"} 1
`,
		},
		{
			name:    "gauge vec",
			declare: func(f MetricFactory) { f.GaugeVec("gv", "A gauge vec.", Label("master", "0", "1")) },
			want: `
# HELP gv A gauge vec.
# TYPE gv gauge
gv{master="0"} 0
gv{master="1"} 0
`,
		},
		{
			name: "histogram vec",
			declare: func(f MetricFactory) {
				f.HistogramVec("hv_seconds", "A histogram vec.", []float64{1}, Label("kind", "a"))
			},
			want: `
# HELP hv_seconds A histogram vec.
# TYPE hv_seconds histogram
hv_seconds_bucket{kind="a",le="1"} 0
hv_seconds_bucket{kind="a",le="+Inf"} 0
hv_seconds_sum{kind="a"} 0
hv_seconds_count{kind="a"} 0
`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg := prometheus.NewPedanticRegistry()
			tt.declare(NewMetricFactory(reg))
			if err := testutil.GatherAndCompare(reg, strings.NewReader(tt.want)); err != nil {
				t.Error(err)
			}
			// Without a registerer the same declarations work, unregistered.
			tt.declare(NewMetricFactory(nil))
		})
	}
}

// Declaring a metric twice on one registry is a programming error, unless
// the factory is shared: then the first declaration's metric is returned
// and both users' series show.
func TestMetricFactoryShared(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	f := NewMetricFactory(reg)
	a := f.Shared().CounterVec("errors_total", "Errors.", Label("client"), Label("kind"))
	b := f.Shared().CounterVec("errors_total", "Errors.", Label("client"), Label("kind"))
	if a != b {
		t.Errorf("Shared().CounterVec twice = %p, %p, want the same vector", a, b)
	}
	a.WithLabelValues("edge-consumer", "fetch").Inc()
	b.WithLabelValues("cloud-producer", "delivery").Inc()
	want := `
# HELP errors_total Errors.
# TYPE errors_total counter
errors_total{client="cloud-producer",kind="delivery"} 1
errors_total{client="edge-consumer",kind="fetch"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want)); err != nil {
		t.Error(err)
	}

	panics := []struct {
		name    string
		declare func()
	}{
		{"not shared", func() { f.CounterVec("errors_total", "Errors.", Label("client"), Label("kind")) }},
		{"shared, other help", func() { f.Shared().CounterVec("errors_total", "Other.", Label("client"), Label("kind")) }},
		{"shared, other type", func() { f.Shared().GaugeVec("errors_total", "Errors.", Label("client"), Label("kind")) }},
		{"no name", func() { f.Counter("", "No name.") }},
	}
	for _, tt := range panics {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic, want one", tt.name)
				}
			}()
			tt.declare()
		})
	}
}
