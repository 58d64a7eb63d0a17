package sink

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Metrics of the sinks.
type Metrics struct {
	ProxyConnections    prometheus.Gauge
	ProxyAccepted       *prometheus.CounterVec
	ProxyClosedOnSwitch prometheus.Counter
	ProxyBytes          *prometheus.CounterVec
	KubeconfigWrites    *prometheus.CounterVec
	HookRuns            *prometheus.CounterVec
	HookDuration        prometheus.Histogram
}

// NewMetrics registers the sink metrics on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	f := promauto.With(reg)
	m := &Metrics{
		ProxyConnections: f.NewGauge(prometheus.GaugeOpts{
			Name: "sensornode_master_watcher_forwarder_connections",
			Help: "Connections the local forwarder currently carries.",
		}),
		ProxyAccepted: f.NewCounterVec(prometheus.CounterOpts{
			Name: "sensornode_master_watcher_forwarder_connections_total",
			Help: "Connections accepted by the local forwarder, by result: forwarded, fallback (to a live master other than the active one, which refused or fails its probes), rejected_full (connection limit), no_master (none chosen yet), dial_error, switched (the active master changed while dialling).",
		}, []string{"result"}),
		ProxyClosedOnSwitch: f.NewCounter(prometheus.CounterOpts{
			Name: "sensornode_master_watcher_forwarder_closed_on_switch_total",
			Help: "Forwarded connections closed because the active master changed.",
		}),
		ProxyBytes: f.NewCounterVec(prometheus.CounterOpts{
			Name: "sensornode_master_watcher_forwarder_bytes_total",
			Help: "Bytes carried by the forwarder, counted when a connection ends; direction: to_master or from_master.",
		}, []string{"direction"}),
		KubeconfigWrites: f.NewCounterVec(prometheus.CounterOpts{
			Name: "sensornode_master_watcher_kubeconfig_writes_total",
			Help: "Kubeconfig updates by result: written, unchanged, error.",
		}, []string{"result"}),
		HookRuns: f.NewCounterVec(prometheus.CounterOpts{
			Name: "sensornode_master_watcher_hook_runs_total",
			Help: "Hook command runs by result: ok, exit_error (non-zero exit), timeout, start_error.",
		}, []string{"result"}),
		HookDuration: f.NewHistogram(prometheus.HistogramOpts{
			Name:    "sensornode_master_watcher_hook_duration_seconds",
			Help:    "Run time of the hook command.",
			Buckets: prometheus.ExponentialBuckets(0.01, 4, 8),
		}),
	}
	for _, r := range []string{"forwarded", "fallback", "rejected_full", "no_master", "dial_error", "switched"} {
		m.ProxyAccepted.WithLabelValues(r)
	}
	for _, d := range []string{"to_master", "from_master"} {
		m.ProxyBytes.WithLabelValues(d)
	}
	for _, r := range []string{"written", "unchanged", "error"} {
		m.KubeconfigWrites.WithLabelValues(r)
	}
	for _, r := range []string{"ok", "exit_error", "timeout", "start_error"} {
		m.HookRuns.WithLabelValues(r)
	}
	return m
}
