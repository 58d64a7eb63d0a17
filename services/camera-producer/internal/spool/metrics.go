package spool

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/sensornode/sensornode/libs/messages"
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
}

// QuarantineReasons are the reason label values, pre-initialised.
func QuarantineReasons() []string { return messages.Reasons() }

// NewMetrics registers the metrics on reg (nil: unregistered, for tests).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	f := promauto.With(reg)
	m := &Metrics{
		Detected: f.NewCounter(prometheus.CounterOpts{
			Name: "sensornode_camera_pictures_detected_total",
			Help: "Complete files found in the watched directory and queued for sending.",
		}),
		Sent: f.NewCounter(prometheus.CounterOpts{
			Name: "sensornode_camera_pictures_sent_total",
			Help: "Pictures whose delivery was acknowledged (acks=all); the file was then deleted or archived.",
		}),
		SentBytes: f.NewCounter(prometheus.CounterOpts{
			Name: "sensornode_camera_sent_bytes_total",
			Help: "JPEG bytes of acknowledged pictures.",
		}),
		Quarantined: f.NewCounterVec(prometheus.CounterOpts{
			Name: "sensornode_camera_pictures_quarantined_total",
			Help: "Files moved to the quarantine directory, by reason.",
		}, []string{"reason"}),
		Retries: f.NewCounterVec(prometheus.CounterOpts{
			Name: "sensornode_camera_send_retries_total",
			Help: "Failed send attempts that will be retried, by reason.",
		}, []string{"reason"}),
		Dropped: f.NewCounterVec(prometheus.CounterOpts{
			Name: "sensornode_camera_pictures_dropped_total",
			Help: "Pictures deleted unsent by the disk guard, by reason.",
		}, []string{"reason"}),
		BacklogFiles: f.NewGauge(prometheus.GaugeOpts{
			Name: "sensornode_camera_backlog_files",
			Help: "Files in the watched directory not yet acknowledged.",
		}),
		BacklogBytes: f.NewGauge(prometheus.GaugeOpts{
			Name: "sensornode_camera_backlog_bytes",
			Help: "Bytes of files in the watched directory not yet acknowledged.",
		}),
		GuardTripped: f.NewGauge(prometheus.GaugeOpts{
			Name: "sensornode_camera_disk_guard_tripped",
			Help: "1 while the backlog exceeds the disk guard's file or byte limit.",
		}),
		SendDuration: f.NewHistogram(prometheus.HistogramOpts{
			Name:    "sensornode_camera_send_duration_seconds",
			Help:    "Time from a file found complete to its delivery acknowledgement (acks=all), retries included.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 18),
		}),
		Rescans: f.NewCounter(prometheus.CounterOpts{
			Name: "sensornode_camera_rescans_total",
			Help: "Full directory rescans (periodic, after an inotify overflow or a lost watch).",
		}),
		Errors: f.NewCounterVec(prometheus.CounterOpts{
			Name: "sensornode_camera_spool_errors_total",
			Help: "File system errors in the watched, quarantine or archive directory, by operation.",
		}, []string{"op"}),
	}
	for _, r := range QuarantineReasons() {
		m.Quarantined.WithLabelValues(r)
	}
	m.Dropped.WithLabelValues("disk-guard")
	return m
}
