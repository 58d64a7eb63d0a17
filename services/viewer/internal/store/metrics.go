package store

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sensornode/sensornode/libs/svc"
)

// metrics are the store's; bytes served are the web package's.
type metrics struct {
	listings   *prometheus.CounterVec // result: hit, miss
	hdfsOps    *prometheus.CounterVec // op: readdir, stat, open
	hdfsErrors *prometheus.CounterVec // op: readdir, stat, open, read
	thumbs     *prometheus.CounterVec // result: hit, made
	evicted    prometheus.Counter
	skipped    *prometheus.CounterVec // kind: picture, readings, bundle_index
}

// RegisterMetrics registers the store's metrics on reg (New does).
func RegisterMetrics(reg prometheus.Registerer) { newMetrics(reg) }

func newMetrics(reg prometheus.Registerer) *metrics {
	f := svc.NewMetricFactory(reg)
	return &metrics{
		listings: f.CounterVec("sensornode_viewer_listing_cache_requests_total",
			"HDFS directory listings asked of the listing cache, by result (hit, miss).", svc.Label("result", "hit", "miss")),
		hdfsOps: f.CounterVec("sensornode_viewer_hdfs_operations_total",
			"HDFS calls made, by operation (readdir, stat, open); all of them read.", svc.Label("op", "readdir", "stat", "open")),
		hdfsErrors: f.CounterVec("sensornode_viewer_hdfs_errors_total",
			"Failed HDFS calls (a missing file or directory is no error), by operation.", svc.Label("op", "readdir", "stat", "open", "read")),
		thumbs: f.CounterVec("sensornode_viewer_thumbnails_total",
			"Thumbnails asked for, by result (hit: from the thumbnail directory, made: scaled now).", svc.Label("result", "hit", "made")),
		evicted: f.Counter("sensornode_viewer_thumbnails_evicted_total",
			"Thumbnails removed from the thumbnail directory to keep it under its size bound."),
		skipped: f.CounterVec("sensornode_viewer_skipped_files_total",
			"Files in picture or readings directories that are not pictures of the camera or do not parse as readings, and bundle indexes that do not parse, by kind (picture, readings, bundle_index).",
			svc.Label("kind", "picture", "readings", "bundle_index")),
	}
}
