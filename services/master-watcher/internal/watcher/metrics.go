package watcher

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/sensornode/sensornode/services/master-watcher/internal/masters"
)

// Metrics of the probe loop. The master label is the master's index in
// the configured list (bounded by masters.MaxMasters).
type Metrics struct {
	ActiveIndex   prometheus.Gauge
	Failovers     *prometheus.CounterVec
	ProbeDuration *prometheus.HistogramVec
	Probes        *prometheus.CounterVec
	MasterUp      *prometheus.GaugeVec
	Rounds        prometheus.Counter
	HoldDown      prometheus.Gauge
}

// NewMetrics registers the metrics on reg, with every label combination of
// ms present from the start.
func NewMetrics(reg prometheus.Registerer, ms []masters.Master) *Metrics {
	f := promauto.With(reg)
	m := &Metrics{
		ActiveIndex: f.NewGauge(prometheus.GaugeOpts{
			Name: "sensornode_master_watcher_active_master_index",
			Help: "Index (0 = primary) of the active master in the configured list; -1 before the first choice.",
		}),
		Failovers: f.NewCounterVec(prometheus.CounterOpts{
			Name: "sensornode_master_watcher_failovers_total",
			Help: "Changes of the active master after the initial choice; reason failover (active master down) or failback (higher-priority master back).",
		}, []string{"reason"}),
		ProbeDuration: f.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "sensornode_master_watcher_probe_duration_seconds",
			Help:    "Duration of a probe of a master, whatever its result.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"master"}),
		Probes: f.NewCounterVec(prometheus.CounterOpts{
			Name: "sensornode_master_watcher_probes_total",
			Help: "Probes of a master by result: ok, status (health answer not 200), refused, timeout, tls, error, slow (answered slower than SENSORNODE_PROBE_SLOW_THRESHOLD).",
		}, []string{"master", "result"}),
		MasterUp: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "sensornode_master_watcher_master_up",
			Help: "1 when the master's latest probe succeeded, else 0.",
		}, []string{"master"}),
		Rounds: f.NewCounter(prometheus.CounterOpts{
			Name: "sensornode_master_watcher_probe_rounds_total",
			Help: "Probe rounds (every master probed once).",
		}),
		HoldDown: f.NewGauge(prometheus.GaugeOpts{
			Name: "sensornode_master_watcher_failback_hold_down_seconds",
			Help: "Fail-back hold-down now in force: the minimum time from a failover to the next fail back; doubles per flap, up to SENSORNODE_FAILBACK_HOLD_DOWN_MAX.",
		}),
	}
	m.ActiveIndex.Set(-1)
	for _, r := range []string{"failover", "failback"} {
		m.Failovers.WithLabelValues(r)
	}
	for _, ms := range ms {
		m.ProbeDuration.WithLabelValues(ms.Label())
		m.MasterUp.WithLabelValues(ms.Label())
		for _, r := range []string{"ok", "status", "refused", "timeout", "tls", "error", "slow"} {
			m.Probes.WithLabelValues(ms.Label(), r)
		}
	}
	return m
}
