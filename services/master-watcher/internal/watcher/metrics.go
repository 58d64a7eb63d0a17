package watcher

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sensornode/sensornode/libs/svc"
	"github.com/sensornode/sensornode/services/master-watcher/internal/masters"
	"github.com/sensornode/sensornode/services/master-watcher/internal/sink"
	"github.com/sensornode/sensornode/services/master-watcher/internal/zkview"
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
	f := svc.NewMetricFactory(reg)
	labels := make([]string, len(ms))
	for i, master := range ms {
		labels[i] = master.Label()
	}
	byMaster := svc.Label("master", labels...)
	m := &Metrics{
		ActiveIndex: f.Gauge("sensornode_master_watcher_active_master_index",
			"Index (0 = primary) of the active master in the configured list; -1 before the first choice."),
		Failovers: f.CounterVec("sensornode_master_watcher_failovers_total",
			"Changes of the active master after the initial choice; reason failover (active master down) or failback (higher-priority master back).",
			svc.Label("reason", "failover", "failback")),
		ProbeDuration: f.HistogramVec("sensornode_master_watcher_probe_duration_seconds",
			"Duration of a probe of a master, whatever its result.",
			[]float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5}, byMaster),
		Probes: f.CounterVec("sensornode_master_watcher_probes_total",
			"Probes of a master by result: ok, status (health answer not 200), refused, timeout, tls, error, slow (answered slower than SENSORNODE_PROBE_SLOW_THRESHOLD).",
			byMaster, svc.Label("result", "ok", "status", "refused", "timeout", "tls", "error", "slow")),
		MasterUp: f.GaugeVec("sensornode_master_watcher_master_up",
			"1 when the master's latest probe succeeded, else 0.", byMaster),
		Rounds: f.Counter("sensornode_master_watcher_probe_rounds_total", "Probe rounds (every master probed once)."),
		HoldDown: f.Gauge("sensornode_master_watcher_failback_hold_down_seconds",
			"Fail-back hold-down now in force: the minimum time from a failover to the next fail back; doubles per flap, up to SENSORNODE_FAILBACK_HOLD_DOWN_MAX."),
	}
	m.ActiveIndex.Set(-1)
	return m
}

// RegisterMetrics registers on reg every metric a watcher may register,
// through the constructors New uses (New registers the ZooKeeper view's
// only with SENSORNODE_ZOOKEEPER_SERVERS); deploy/monitoring checks the
// alerts and dashboards against it.
func RegisterMetrics(reg prometheus.Registerer) {
	NewMetrics(reg, nil)
	sink.NewMetrics(reg)
	zkview.NewMetrics(reg)
}
