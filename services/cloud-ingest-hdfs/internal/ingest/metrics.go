package ingest

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sensornode/sensornode/libs/bus"
	"github.com/sensornode/sensornode/libs/messages"
	"github.com/sensornode/sensornode/libs/svc"
)

// Kinds and results used as label values.
const (
	kindPicture     = "picture"
	kindTemperature = "temperature"
	kindUnknown     = "unknown"

	resultStored     = "stored"
	resultDuplicate  = "duplicate"
	resultDeadLetter = "dead_letter"

	offsetsBackStored  = "stored"
	offsetsBackSkipped = "skipped"
)

// Metrics are the ingest service's own metrics.
type Metrics struct {
	messages     *prometheus.CounterVec
	storedByNode *prometheus.CounterVec
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
	offsetsBack  *prometheus.CounterVec

	bundlesCommitted prometheus.Counter
	bundlesAbandoned *prometheus.CounterVec
	bundleBytes      prometheus.Counter
	bundleAge        prometheus.Gauge
	bundleNoIndex    prometheus.Counter
}

// NewMetrics creates the metrics on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	f := svc.NewMetricFactory(reg)
	kinds := svc.Label("kind", kindPicture, kindTemperature)
	return &Metrics{
		messages: f.CounterVec("sensornode_ingest_messages_total",
			"Consumed messages by kind (picture, temperature, unknown) and result (stored, duplicate, dead_letter).",
			kinds, svc.Label("result", resultStored, resultDuplicate, resultDeadLetter)),
		storedByNode: f.CounterVec("sensornode_ingest_stored_by_node_total",
			"Messages stored in HDFS (durable, renamed into place), by kind and the node they came from (source_node: the picture's or reading's node id; unknown for a picture in the thesis JSON form, which names none). Not \"node\": that is the scrape target's label.",
			kinds, svc.Label("source_node")),
		files: f.CounterVec("sensornode_ingest_files_written_total", "Files made durable in HDFS, by kind.", kinds),
		bytes: f.CounterVec("sensornode_ingest_bytes_written_total", "Bytes made durable in HDFS, by kind.", kinds),
		writeLatency: f.HistogramVec("sensornode_ingest_hdfs_write_duration_seconds",
			"Time to write one file durably: create, write, close (acknowledged by the DataNodes, completed by the NameNode), rename.",
			prometheus.ExponentialBuckets(0.001, 2, 16), svc.Label("kind")),
		deadLettered: f.CounterVec("sensornode_ingest_dead_lettered_total",
			"Malformed messages sent to the dead-letter topic, by reason.", svc.Label("reason", messages.Reasons()...)),
		hdfsErrors: f.CounterVec("sensornode_ingest_hdfs_errors_total",
			"Failed HDFS operations, by operation; the work is retried.", svc.Label("op")),
		conflicts: f.Counter("sensornode_ingest_picture_conflicts_total",
			"Pictures whose file already existed with a different size (kept as it was)."),
		fileClashes: f.Counter("sensornode_ingest_reading_file_conflicts_total",
			"Readings files whose offset name was taken by a file holding other readings (topic recreated); written under a name with a content hash."),
		tmpRemoved: f.Counter("sensornode_ingest_tmp_files_removed_total",
			"Temporary files left by an earlier crash and removed."),
		fenced: f.Counter("sensornode_ingest_fenced_writes_total",
			"HDFS writes not renamed into place because they outlasted the work deadline (half the Kafka session timeout since the last poll): the member may have been removed from the group; retried while the partition is still assigned."),
		pending: f.Gauge("sensornode_ingest_pending_readings",
			"Temperature readings buffered, not yet written to HDFS."),
		unreadable: f.Counter("sensornode_ingest_unreadable_reading_files_total",
			"Files in a readings directory that do not parse as readings (counted each time the directory is indexed); kept, left out of duplicate detection."),
		stopped: f.Gauge("sensornode_ingest_stopped_partitions",
			"Partitions stopped on a permanent error (a message that can be neither stored nor dead-lettered); retried every minute, see the ERROR log."),
		blocked: f.Gauge("sensornode_ingest_blocked",
			"1 while consumption is paused because HDFS (or the dead-letter topic) fails; it is retried with backoff."),
		commits: f.CounterVec("sensornode_ingest_commits_total", "Offset commits, by result.", svc.Label("result")),
		topicErrors: f.CounterVec("sensornode_ingest_topic_errors_total",
			"Failed topic administration calls, by operation (create: SENSORNODE_CREATE_TOPICS, retried).",
			svc.Label("op", "create")),
		offsetsBack: f.CounterVec("sensornode_ingest_offsets_back_total",
			"Records below their partition's processed offset that no seek explains (the topic deleted and recreated, or its log truncated, while this member kept the partition), by action: stored (readings, picture files: duplicates are found by identity or name) or skipped (the bundle store: see the WARN log).",
			svc.Label("action", offsetsBackStored, offsetsBackSkipped)),
		bundlesCommitted: f.Counter("sensornode_ingest_bundles_committed_total",
			"Picture bundles renamed into place (SENSORNODE_PICTURE_STORE=avro); their offsets are committed after."),
		bundlesAbandoned: f.CounterVec("sensornode_ingest_bundles_abandoned_total",
			"Picture bundles given up before the rename, by reason (fenced: past the work deadline; error: HDFS failed; overlap: a committed bundle holds its offsets; revoked, shutdown); nothing of them is committed, their records are consumed again.",
			svc.Label("reason", abandonFenced, abandonError, abandonOverlap, abandonRevoked, abandonShutdown)),
		bundleBytes: f.Counter("sensornode_ingest_bundle_bytes_total", "Bytes of committed picture bundles."),
		bundleAge: f.Gauge("sensornode_ingest_open_bundle_age_seconds",
			"Age of the oldest open picture bundle (since its first picture was read); 0 when none is open. Rolled at SENSORNODE_PICTURE_BUNDLE_MAX_AGE."),
		bundleNoIndex: f.Counter("sensornode_ingest_bundles_without_index_total",
			"Committed bundles found without a readable index file when their partition is recovered (written by something else, or the index was removed): their keys are outside the duplicate key index."),
	}
}

// newMetrics registers everything Run exports on reg: the service's own
// metrics, the readiness probe's and the Kafka clients' (the consumer's
// families are the dead-letter producer's, told apart by client).
func newMetrics(reg prometheus.Registerer) (*Metrics, *svc.Probe, *bus.Metrics) {
	return NewMetrics(reg), svc.NewProbe(reg), bus.NewMetrics(reg, "dlq-producer")
}

// RegisterMetrics registers on reg every metric Run registers, through the
// same constructors (deploy/monitoring checks the alerts and dashboards
// against it).
func RegisterMetrics(reg prometheus.Registerer) { newMetrics(reg) }

// stored counts n messages of kind from node as stored.
func (m *Metrics) stored(kind, node string, n int) {
	if node == "" {
		node = "unknown"
	}
	m.messages.WithLabelValues(kind, resultStored).Add(float64(n))
	m.storedByNode.WithLabelValues(kind, node).Add(float64(n))
}
