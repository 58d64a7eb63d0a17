package forwarder

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sensornode/sensornode/libs/bus"
	"github.com/sensornode/sensornode/libs/messages"
	"github.com/sensornode/sensornode/libs/svc"
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
	f := svc.NewMetricFactory(reg)
	return &Metrics{
		forwarded: f.CounterVec("sensornode_forwarder_messages_forwarded_total",
			"Messages sent to the cloud cluster, by cloud topic and result (ok: acknowledged, error: failed and sent again later).",
			svc.Label("topic"), svc.Label("result")),
		bytes: f.CounterVec("sensornode_forwarder_bytes_forwarded_total",
			"Bytes (key, value, headers) sent to the cloud cluster, by cloud topic and result.",
			svc.Label("topic"), svc.Label("result")),
		latency: f.Histogram("sensornode_forwarder_cloud_produce_duration_seconds",
			"Time from handing a message to the cloud producer to its acknowledgement (acks=all).",
			prometheus.ExponentialBuckets(0.0005, 2, 20)),
		deadLettered: f.CounterVec("sensornode_forwarder_dead_lettered_total",
			"Messages sent to the cloud dead-letter topic (not transcodable, or too large for the cloud after transcoding), by reason; counted on each send attempt.",
			svc.Label("reason", messages.Reasons()...)),
		rewinds: f.Counter("sensornode_forwarder_rewinds_total",
			"Partitions rewound to their oldest unacknowledged message after a failed delivery."),
		disconnected: f.Counter("sensornode_forwarder_disconnected_seconds_total",
			"Seconds during which the cloud cluster did not answer."),
		inflightBytes: f.Gauge("sensornode_forwarder_inflight_bytes",
			"Bytes sent to the cloud and not yet acknowledged."),
		inflightMsgs: f.Gauge("sensornode_forwarder_inflight_messages",
			"Messages sent to the cloud and not yet acknowledged."),
		paused: f.Gauge("sensornode_forwarder_backpressure_paused",
			"1 while fetching is paused because too much is in flight to the cloud."),
		commits: f.CounterVec("sensornode_forwarder_commits_total",
			"Offset commits on the edge cluster, by result.", svc.Label("result", "ok", "error")),
		topicErrors: f.CounterVec("sensornode_forwarder_topic_errors_total",
			"Failed topic administration calls on the cloud cluster, by operation (create: SENSORNODE_CREATE_TOPICS, retried).",
			svc.Label("op", "create")),
		partitionsStopped: f.Gauge("sensornode_forwarder_partitions_stopped",
			"Edge partitions stopped because a message can be neither forwarded nor dead-lettered (e.g. the cloud dead-letter topic is missing); retried every SENSORNODE_RETRY_MAX_INTERVAL. Alert when above 0."),
		partitionStops: f.CounterVec("sensornode_forwarder_partition_stops_total",
			"Times an edge partition stopped, by reason (dead-letter-topic-missing, dead-letter-too-large, dead-letter-refused, topic-missing).",
			svc.Label("reason", stopReasons()...)),
	}
}

// newMetrics registers everything Run exports on reg: the forwarder's own
// metrics, the readiness probe's and the Kafka clients' (the edge
// consumer's families are the cloud producer's, told apart by client).
func newMetrics(reg prometheus.Registerer) (*Metrics, *svc.Probe, *bus.Metrics) {
	return NewMetrics(reg), svc.NewProbe(reg), bus.NewMetrics(reg, "cloud-producer")
}

// RegisterMetrics registers on reg every metric Run registers, through the
// same constructors (deploy/monitoring checks the alerts and dashboards
// against it).
func RegisterMetrics(reg prometheus.Registerer) { newMetrics(reg) }
