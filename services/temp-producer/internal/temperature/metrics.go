package temperature

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
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
	f := promauto.With(reg)
	m := &Metrics{
		LastCelsius: f.NewGauge(prometheus.GaugeOpts{
			Name: "sensornode_temp_last_reading_celsius",
			Help: "The last plausible reading taken, in degrees Celsius.",
		}),
		LastTimestamp: f.NewGauge(prometheus.GaugeOpts{
			Name: "sensornode_temp_last_reading_timestamp_seconds",
			Help: "When the last plausible reading was measured (Unix time).",
		}),
		Taken: f.NewCounter(prometheus.CounterOpts{
			Name: "sensornode_temp_readings_taken_total",
			Help: "Plausible readings taken and queued for sending.",
		}),
		Rejected: f.NewCounterVec(prometheus.CounterOpts{
			Name: "sensornode_temp_readings_rejected_total",
			Help: "Readings not sent, by reason (unparsable, implausible, source-error, unchanged).",
		}, []string{"reason"}),
		Sent: f.NewCounter(prometheus.CounterOpts{
			Name: "sensornode_temp_readings_sent_total",
			Help: "Readings acknowledged by the brokers (acks=all).",
		}),
		Failed: f.NewCounterVec(prometheus.CounterOpts{
			Name: "sensornode_temp_readings_failed_total",
			Help: "Failed send attempts (retried), by reason.",
		}, []string{"reason"}),
		Dropped: f.NewCounterVec(prometheus.CounterOpts{
			Name: "sensornode_temp_readings_dropped_total",
			Help: "Readings given up unsent, by reason (buffer-full, spool-full).",
		}, []string{"reason"}),
		Buffered: f.NewGauge(prometheus.GaugeOpts{
			Name: "sensornode_temp_buffered_readings",
			Help: "Readings taken and not yet acknowledged.",
		}),
		SpoolBytes: f.NewGauge(prometheus.GaugeOpts{
			Name: "sensornode_temp_spool_bytes",
			Help: "Bytes of the on-disk spool (0 without SENSORNODE_SPOOL_DIR).",
		}),
		SendDuration: f.NewHistogram(prometheus.HistogramOpts{
			Name:    "sensornode_temp_send_duration_seconds",
			Help:    "Time from a reading taken to its acknowledgement, retries included.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 20),
		}),
		TopicErrors: f.NewCounterVec(prometheus.CounterOpts{
			Name: "sensornode_temp_topic_errors_total",
			Help: "Failed topic administration calls, by operation (create: SENSORNODE_CREATE_TOPICS, retried).",
		}, []string{"op"}),
	}
	for _, r := range []string{ReasonUnparsable, ReasonImplausible, ReasonSource, ReasonUnchanged} {
		m.Rejected.WithLabelValues(r)
	}
	for _, r := range []string{"buffer-full", "spool-full"} {
		m.Dropped.WithLabelValues(r)
	}
	m.Failed.WithLabelValues("delivery")
	m.TopicErrors.WithLabelValues("create")
	return m
}
