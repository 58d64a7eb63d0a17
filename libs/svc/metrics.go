package svc

import (
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
