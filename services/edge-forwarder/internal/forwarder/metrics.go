package forwarder

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/sensornode/sensornode/libs/messages"
)

// Metrics are the forwarder's own metrics (the Kafka clients export theirs
// through bus.NewMetrics).
type Metrics struct {
	forwarded     *prometheus.CounterVec
	bytes         *prometheus.CounterVec
	latency       prometheus.Histogram
	deadLettered  *prometheus.CounterVec
	rewinds       prometheus.Counter
	disconnected  prometheus.Counter
	inflightBytes prometheus.Gauge
	inflightMsgs  prometheus.Gauge
	paused        prometheus.Gauge
	commits       *prometheus.CounterVec
	topicErrors   *prometheus.CounterVec

	partitionsStopped prometheus.Gauge
	partitionStops    *prometheus.CounterVec
}

// NewMetrics creates the metrics on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	f := promauto.With(reg)
	m := &Metrics{
		forwarded: f.NewCounterVec(prometheus.CounterOpts{
			Name: "sensornode_forwarder_messages_forwarded_total",
			Help: "Messages sent to the cloud cluster, by cloud topic and result (ok: acknowledged, error: failed and sent again later).",
		}, []string{"topic", "result"}),
		bytes: f.NewCounterVec(prometheus.CounterOpts{
			Name: "sensornode_forwarder_bytes_forwarded_total",
			Help: "Bytes (key, value, headers) sent to the cloud cluster, by cloud topic and result.",
		}, []string{"topic", "result"}),
		latency: f.NewHistogram(prometheus.HistogramOpts{
			Name:    "sensornode_forwarder_cloud_produce_duration_seconds",
			Help:    "Time from handing a message to the cloud producer to its acknowledgement (acks=all).",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 20),
		}),
		deadLettered: f.NewCounterVec(prometheus.CounterOpts{
			Name: "sensornode_forwarder_dead_lettered_total",
			Help: "Messages sent to the cloud dead-letter topic (not transcodable, or too large for the cloud after transcoding), by reason; counted on each send attempt.",
		}, []string{"reason"}),
		rewinds: f.NewCounter(prometheus.CounterOpts{
			Name: "sensornode_forwarder_rewinds_total",
			Help: "Partitions rewound to their oldest unacknowledged message after a failed delivery.",
		}),
		disconnected: f.NewCounter(prometheus.CounterOpts{
			Name: "sensornode_forwarder_disconnected_seconds_total",
			Help: "Seconds during which the cloud cluster did not answer.",
		}),
		inflightBytes: f.NewGauge(prometheus.GaugeOpts{
			Name: "sensornode_forwarder_inflight_bytes",
			Help: "Bytes sent to the cloud and not yet acknowledged.",
		}),
		inflightMsgs: f.NewGauge(prometheus.GaugeOpts{
			Name: "sensornode_forwarder_inflight_messages",
			Help: "Messages sent to the cloud and not yet acknowledged.",
		}),
		paused: f.NewGauge(prometheus.GaugeOpts{
			Name: "sensornode_forwarder_backpressure_paused",
			Help: "1 while fetching is paused because too much is in flight to the cloud.",
		}),
		commits: f.NewCounterVec(prometheus.CounterOpts{
			Name: "sensornode_forwarder_commits_total",
			Help: "Offset commits on the edge cluster, by result.",
		}, []string{"result"}),
		topicErrors: f.NewCounterVec(prometheus.CounterOpts{
			Name: "sensornode_forwarder_topic_errors_total",
			Help: "Failed topic administration calls on the cloud cluster, by operation (create: SENSORNODE_CREATE_TOPICS, retried).",
		}, []string{"op"}),
		partitionsStopped: f.NewGauge(prometheus.GaugeOpts{
			Name: "sensornode_forwarder_partitions_stopped",
			Help: "Edge partitions stopped because a message can be neither forwarded nor dead-lettered (e.g. the cloud dead-letter topic is missing); retried every SENSORNODE_RETRY_MAX_INTERVAL. Alert when above 0.",
		}),
		partitionStops: f.NewCounterVec(prometheus.CounterOpts{
			Name: "sensornode_forwarder_partition_stops_total",
			Help: "Times an edge partition stopped, by reason (dead-letter-topic-missing, dead-letter-too-large, dead-letter-refused, topic-missing).",
		}, []string{"reason"}),
	}
	for _, r := range stopReasons() {
		m.partitionStops.WithLabelValues(r)
	}
	for _, r := range messages.Reasons() {
		m.deadLettered.WithLabelValues(r)
	}
	for _, r := range []string{"ok", "error"} {
		m.commits.WithLabelValues(r)
	}
	m.topicErrors.WithLabelValues("create")
	return m
}
