package temperature

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sensornode/sensornode/libs/bus"
	"github.com/sensornode/sensornode/libs/svc"
)

// Metrics of the temperature producer (the Kafka client adds
// sensornode_kafka_* with client="temp-producer").
type Metrics struct {
	LastCelsius   prometheus.Gauge
	LastTimestamp prometheus.Gauge
	Taken         prometheus.Counter
	Rejected      *prometheus.CounterVec
	Sent          prometheus.Counter
	Failed        *prometheus.CounterVec
	Dropped       *prometheus.CounterVec
	Buffered      prometheus.Gauge
	SpoolBytes    prometheus.Gauge
	SendDuration  prometheus.Histogram
	TopicErrors   *prometheus.CounterVec
}

// Rejection reasons.
const (
	ReasonUnparsable  = "unparsable"
	ReasonImplausible = "implausible"
	ReasonSource      = "source-error"
	ReasonUnchanged   = "unchanged"
)

// NewMetrics registers the metrics on reg (nil: unregistered).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	f := svc.NewMetricFactory(reg)
	return &Metrics{
		LastCelsius: f.Gauge("sensornode_temp_last_reading_celsius",
			"The last plausible reading taken, in degrees Celsius."),
		LastTimestamp: f.Gauge("sensornode_temp_last_reading_timestamp_seconds",
			"When the last plausible reading was measured (Unix time)."),
		Taken: f.Counter("sensornode_temp_readings_taken_total", "Plausible readings taken and queued for sending (with a spool, once written to it)."),
		Rejected: f.CounterVec("sensornode_temp_readings_rejected_total",
			"Readings not sent, by reason (unparsable, implausible, source-error, unchanged).",
			svc.Label("reason", ReasonUnparsable, ReasonImplausible, ReasonSource, ReasonUnchanged)),
		Sent: f.Counter("sensornode_temp_readings_sent_total", "Readings acknowledged by the brokers (acks=all)."),
		Failed: f.CounterVec("sensornode_temp_readings_failed_total",
			"Failed send attempts (retried), by reason.", svc.Label("reason", "delivery")),
		Dropped: f.CounterVec("sensornode_temp_readings_dropped_total",
			"Readings given up unsent, by reason (buffer-full, spool-full).",
			svc.Label("reason", "buffer-full", "spool-full")),
		Buffered: f.Gauge("sensornode_temp_buffered_readings", "Readings taken and not yet acknowledged."),
		SpoolBytes: f.Gauge("sensornode_temp_spool_bytes",
			"Bytes of the on-disk spool (0 without SENSORNODE_SPOOL_DIR)."),
		SendDuration: f.Histogram("sensornode_temp_send_duration_seconds",
			"Time from a reading taken to its acknowledgement, retries included.",
			prometheus.ExponentialBuckets(0.001, 2, 20)),
		TopicErrors: f.CounterVec("sensornode_temp_topic_errors_total",
			"Failed topic administration calls, by operation (create: SENSORNODE_CREATE_TOPICS, retried).",
			svc.Label("op", "create")),
	}
}

// newMetrics registers everything Run exports on reg: the service's own
// metrics, the readiness probe's and the Kafka client's.
func newMetrics(reg prometheus.Registerer) (*Metrics, *svc.Probe, *bus.Metrics) {
	return NewMetrics(reg), svc.NewProbe(reg), bus.NewMetrics(reg, "temp-producer")
}

// RegisterMetrics registers on reg every metric Run registers, through the
// same constructors (deploy/monitoring checks the alerts and dashboards
// against it).
func RegisterMetrics(reg prometheus.Registerer) { newMetrics(reg) }
