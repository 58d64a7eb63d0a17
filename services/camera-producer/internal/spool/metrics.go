package spool

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sensornode/sensornode/libs/messages"
	"github.com/sensornode/sensornode/libs/svc"
)

// Metrics of the directory pipeline.
type Metrics struct {
	Detected     prometheus.Counter
	Sent         prometheus.Counter
	SentBytes    prometheus.Counter
	Quarantined  *prometheus.CounterVec
	Retries      *prometheus.CounterVec
	Dropped      *prometheus.CounterVec
	BacklogFiles prometheus.Gauge
	BacklogBytes prometheus.Gauge
	GuardTripped prometheus.Gauge
	SendDuration prometheus.Histogram
	Rescans      prometheus.Counter
	Errors       *prometheus.CounterVec
	Heartbeat    prometheus.Gauge
}

// QuarantineReasons are the reason label values, pre-initialised.
func QuarantineReasons() []string { return messages.Reasons() }

// NewMetrics registers the metrics on reg (nil: unregistered, for tests).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	f := svc.NewMetricFactory(reg)
	return &Metrics{
		Detected: f.Counter("sensornode_camera_pictures_detected_total",
			"Complete files found in the watched directory and queued for sending."),
		Sent: f.Counter("sensornode_camera_pictures_sent_total",
			"Pictures whose delivery was acknowledged (acks=all); the file was then deleted or archived."),
		SentBytes: f.Counter("sensornode_camera_sent_bytes_total", "JPEG bytes of acknowledged pictures."),
		Quarantined: f.CounterVec("sensornode_camera_pictures_quarantined_total",
			"Files moved to the quarantine directory, by reason.", svc.Label("reason", QuarantineReasons()...)),
		Retries: f.CounterVec("sensornode_camera_send_retries_total",
			"Failed send attempts that will be retried, by reason.", svc.Label("reason")),
		Dropped: f.CounterVec("sensornode_camera_pictures_dropped_total",
			"Pictures deleted unsent by the disk guard, by reason.", svc.Label("reason", "disk-guard")),
		BacklogFiles: f.Gauge("sensornode_camera_backlog_files",
			"Files in the watched directory not yet acknowledged."),
		BacklogBytes: f.Gauge("sensornode_camera_backlog_bytes",
			"Bytes of files in the watched directory not yet acknowledged."),
		GuardTripped: f.Gauge("sensornode_camera_disk_guard_tripped",
			"1 while the backlog exceeds the disk guard's file or byte limit."),
		SendDuration: f.Histogram("sensornode_camera_send_duration_seconds",
			"Time from a file found complete to its delivery acknowledgement (acks=all), retries included.",
			prometheus.ExponentialBuckets(0.001, 2, 18)),
		Rescans: f.Counter("sensornode_camera_rescans_total",
			"Full directory rescans (periodic, after an inotify overflow or a lost watch)."),
		Errors: f.CounterVec("sensornode_camera_spool_errors_total",
			"File system errors in the watched, quarantine or archive directory, by operation.", svc.Label("op")),
		Heartbeat: f.Gauge("sensornode_camera_heartbeat_timestamp_seconds",
			"When the watched directory was last listed (Unix time): at start and every SENSORNODE_RESCAN_INTERVAL. It stands still when the service hangs or cannot list the directory; pictures may be hours apart, this is not."),
	}
}
