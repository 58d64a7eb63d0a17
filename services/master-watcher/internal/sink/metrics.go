package sink

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sensornode/sensornode/libs/svc"
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
	f := svc.NewMetricFactory(reg)
	return &Metrics{
		ProxyConnections: f.Gauge("sensornode_master_watcher_forwarder_connections",
			"Connections the local forwarder currently carries."),
		ProxyAccepted: f.CounterVec("sensornode_master_watcher_forwarder_connections_total",
			"Connections accepted by the local forwarder, by result: forwarded, fallback (to a live master other than the active one, which refused or fails its probes), rejected_full (connection limit), no_master (none chosen yet), dial_error, switched (the active master changed while dialling).",
			svc.Label("result", "forwarded", "fallback", "rejected_full", "no_master", "dial_error", "switched")),
		ProxyClosedOnSwitch: f.Counter("sensornode_master_watcher_forwarder_closed_on_switch_total",
			"Forwarded connections closed because the active master changed."),
		ProxyBytes: f.CounterVec("sensornode_master_watcher_forwarder_bytes_total",
			"Bytes carried by the forwarder, counted when a connection ends; direction: to_master or from_master.",
			svc.Label("direction", "to_master", "from_master")),
		KubeconfigWrites: f.CounterVec("sensornode_master_watcher_kubeconfig_writes_total",
			"Kubeconfig updates by result: written, unchanged, error.",
			svc.Label("result", "written", "unchanged", "error")),
		HookRuns: f.CounterVec("sensornode_master_watcher_hook_runs_total",
			"Hook command runs by result: ok, exit_error (non-zero exit), timeout, start_error.",
			svc.Label("result", "ok", "exit_error", "timeout", "start_error")),
		HookDuration: f.Histogram("sensornode_master_watcher_hook_duration_seconds",
			"Run time of the hook command.", prometheus.ExponentialBuckets(0.01, 4, 8)),
	}
}
