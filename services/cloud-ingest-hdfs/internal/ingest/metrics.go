package ingest

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/sensornode/sensornode/libs/messages"
)

// Kinds and results used as label values.
const (
	kindPicture     = "picture"
	kindTemperature = "temperature"
	kindUnknown     = "unknown"

	resultStored     = "stored"
	resultDuplicate  = "duplicate"
	resultDeadLetter = "dead_letter"
)

// Metrics are the ingest service's own metrics.
type Metrics struct {
	messages     *prometheus.CounterVec
	files        *prometheus.CounterVec
	bytes        *prometheus.CounterVec
	writeLatency *prometheus.HistogramVec
	deadLettered *prometheus.CounterVec
	hdfsErrors   *prometheus.CounterVec
	conflicts    prometheus.Counter
	fileClashes  prometheus.Counter
	tmpRemoved   prometheus.Counter
	fenced       prometheus.Counter
	pending      prometheus.Gauge
	blocked      prometheus.Gauge
	stopped      prometheus.Gauge
	unreadable   prometheus.Counter
	commits      *prometheus.CounterVec
	topicErrors  *prometheus.CounterVec
}

// NewMetrics creates the metrics on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	f := promauto.With(reg)
	m := &Metrics{
		messages: f.NewCounterVec(prometheus.CounterOpts{
			Name: "sensornode_ingest_messages_total",
			Help: "Consumed messages by kind (picture, temperature, unknown) and result (stored, duplicate, dead_letter).",
		}, []string{"kind", "result"}),
		files: f.NewCounterVec(prometheus.CounterOpts{
			Name: "sensornode_ingest_files_written_total",
			Help: "Files made durable in HDFS, by kind.",
		}, []string{"kind"}),
		bytes: f.NewCounterVec(prometheus.CounterOpts{
			Name: "sensornode_ingest_bytes_written_total",
			Help: "Bytes made durable in HDFS, by kind.",
		}, []string{"kind"}),
		writeLatency: f.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "sensornode_ingest_hdfs_write_duration_seconds",
			Help:    "Time to write one file durably: create, write, close (acknowledged by the DataNodes, completed by the NameNode), rename.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 16),
		}, []string{"kind"}),
		deadLettered: f.NewCounterVec(prometheus.CounterOpts{
			Name: "sensornode_ingest_dead_lettered_total",
			Help: "Malformed messages sent to the dead-letter topic, by reason.",
		}, []string{"reason"}),
		hdfsErrors: f.NewCounterVec(prometheus.CounterOpts{
			Name: "sensornode_ingest_hdfs_errors_total",
			Help: "Failed HDFS operations, by operation; the work is retried.",
		}, []string{"op"}),
		conflicts: f.NewCounter(prometheus.CounterOpts{
			Name: "sensornode_ingest_picture_conflicts_total",
			Help: "Pictures whose file already existed with a different size (kept as it was).",
		}),
		fileClashes: f.NewCounter(prometheus.CounterOpts{
			Name: "sensornode_ingest_reading_file_conflicts_total",
			Help: "Readings files whose offset name was taken by a file holding other readings (topic recreated); written under a name with a content hash.",
		}),
		tmpRemoved: f.NewCounter(prometheus.CounterOpts{
			Name: "sensornode_ingest_tmp_files_removed_total",
			Help: "Temporary files left by an earlier crash and removed.",
		}),
		fenced: f.NewCounter(prometheus.CounterOpts{
			Name: "sensornode_ingest_fenced_writes_total",
			Help: "HDFS writes not renamed into place because they outlasted the work deadline (half the Kafka session timeout since the last poll): the member may have been removed from the group; retried while the partition is still assigned.",
		}),
		pending: f.NewGauge(prometheus.GaugeOpts{
			Name: "sensornode_ingest_pending_readings",
			Help: "Temperature readings buffered, not yet written to HDFS.",
		}),
		unreadable: f.NewCounter(prometheus.CounterOpts{
			Name: "sensornode_ingest_unreadable_reading_files_total",
			Help: "Files in a readings directory that do not parse as readings (counted each time the directory is indexed); kept, left out of duplicate detection.",
		}),
		stopped: f.NewGauge(prometheus.GaugeOpts{
			Name: "sensornode_ingest_stopped_partitions",
			Help: "Partitions stopped on a permanent error (a message that can be neither stored nor dead-lettered); retried every minute, see the ERROR log.",
		}),
		blocked: f.NewGauge(prometheus.GaugeOpts{
			Name: "sensornode_ingest_blocked",
			Help: "1 while consumption is paused because HDFS (or the dead-letter topic) fails; it is retried with backoff.",
		}),
		commits: f.NewCounterVec(prometheus.CounterOpts{
			Name: "sensornode_ingest_commits_total",
			Help: "Offset commits, by result.",
		}, []string{"result"}),
		topicErrors: f.NewCounterVec(prometheus.CounterOpts{
			Name: "sensornode_ingest_topic_errors_total",
			Help: "Failed topic administration calls, by operation (create: SENSORNODE_CREATE_TOPICS, retried).",
		}, []string{"op"}),
	}
	for _, r := range messages.Reasons() {
		m.deadLettered.WithLabelValues(r)
	}
	m.topicErrors.WithLabelValues("create")
	for _, k := range []string{kindPicture, kindTemperature} {
		m.files.WithLabelValues(k)
		m.bytes.WithLabelValues(k)
		for _, r := range []string{resultStored, resultDuplicate, resultDeadLetter} {
			m.messages.WithLabelValues(k, r)
		}
	}
	return m
}
