package svc

import (
	"errors"
	"slices"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// NewRegistry returns a fresh registry (never the global one) with the Go
// runtime, process and sensornode_build_info collectors.
func NewRegistry(bi BuildInfo) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	labels := prometheus.Labels{
		"service":   bi.Service,
		"version":   bi.Version,
		"revision":  bi.Revision,
		"goversion": bi.GoVersion,
		"platform":  bi.Platform,
	}
	for k, v := range bi.Extra {
		labels[k] = v
	}
	promauto.With(reg).NewGauge(prometheus.GaugeOpts{
		Name:        "sensornode_build_info",
		Help:        "Build information of the running service; always 1.",
		ConstLabels: labels,
	}).Set(1)
	return reg
}

// MetricFactory declares each metric in one call (name, help, then buckets
// and labels) and registers it on one registerer; a nil registerer leaves
// the metrics unregistered (for tests). Like promauto, it panics when a
// registration fails: a duplicate or invalid metric is a programming error.
type MetricFactory struct {
	reg    prometheus.Registerer
	shared bool
}

// NewMetricFactory returns a factory registering on reg (nil: nowhere).
func NewMetricFactory(reg prometheus.Registerer) MetricFactory {
	return MetricFactory{reg: reg}
}

// Shared returns a factory for metric families that several users of one
// registry declare alike, told apart by a label (bus.NewMetrics per Kafka
// client): a metric identical to one already registered (same name, help
// and labels) is not registered again, the registered one is returned.
func (f MetricFactory) Shared() MetricFactory {
	f.shared = true
	return f
}

// LabelSpec is a label of a vector metric: its name and the values whose
// series exist from the start (see Label).
type LabelSpec struct {
	name   string
	values []string
}

// Label declares label name of a vector metric, with the values known in
// advance. The vector's series for every combination of its labels' values
// are created at once, so that they are exported as 0 before their first
// use; when a label lists no values, none are created up front.
func Label(name string, values ...string) LabelSpec {
	return LabelSpec{name: name, values: values}
}

// Counter declares a counter.
func (f MetricFactory) Counter(name, help string) prometheus.Counter {
	return register(f, prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help}))
}

// Gauge declares a gauge.
func (f MetricFactory) Gauge(name, help string) prometheus.Gauge {
	return register(f, prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: help}))
}

// GaugeFunc declares a gauge whose value fn returns at each scrape.
func (f MetricFactory) GaugeFunc(name, help string, fn func() float64) prometheus.GaugeFunc {
	return register(f, prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, fn))
}

// Histogram declares a histogram with the given bucket upper bounds.
func (f MetricFactory) Histogram(name, help string, buckets []float64) prometheus.Histogram {
	return register(f, prometheus.NewHistogram(prometheus.HistogramOpts{Name: name, Help: help, Buckets: buckets}))
}

// CounterVec declares a counter with labels.
func (f MetricFactory) CounterVec(name, help string, labels ...LabelSpec) *prometheus.CounterVec {
	v := register(f, prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labelNames(labels)))
	precreate(labels, func(lvs []string) { v.WithLabelValues(lvs...) })
	return v
}

// GaugeVec declares a gauge with labels.
func (f MetricFactory) GaugeVec(name, help string, labels ...LabelSpec) *prometheus.GaugeVec {
	v := register(f, prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, labelNames(labels)))
	precreate(labels, func(lvs []string) { v.WithLabelValues(lvs...) })
	return v
}

// HistogramVec declares a histogram with labels and the given bucket upper
// bounds.
func (f MetricFactory) HistogramVec(name, help string, buckets []float64, labels ...LabelSpec) *prometheus.HistogramVec {
	v := register(f, prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: name, Help: help, Buckets: buckets}, labelNames(labels)))
	precreate(labels, func(lvs []string) { v.WithLabelValues(lvs...) })
	return v
}

// register registers c on f's registerer and returns it, or, for a shared
// factory, the identical collector registered before. Other registration
// errors panic, as MustRegister does.
func register[T prometheus.Collector](f MetricFactory, c T) T {
	if f.reg == nil {
		return c
	}
	err := f.reg.Register(c)
	if err == nil {
		return c
	}
	var are prometheus.AlreadyRegisteredError
	if f.shared && errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(T); ok {
			return existing
		}
	}
	panic(err)
}

func labelNames(labels []LabelSpec) []string {
	names := make([]string, len(labels))
	for i, l := range labels {
		names[i] = l.name
	}
	return names
}

// precreate calls create with every combination of the labels' values, in
// label order.
func precreate(labels []LabelSpec, create func(lvs []string)) {
	combos := [][]string{{}}
	for _, l := range labels {
		next := make([][]string, 0, len(combos)*len(l.values))
		for _, c := range combos {
			for _, v := range l.values {
				next = append(next, append(slices.Clip(c), v))
			}
		}
		combos = next
	}
	for _, c := range combos {
		create(c)
	}
}
