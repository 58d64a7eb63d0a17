package producer

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sensornode/sensornode/libs/bus"
	"github.com/sensornode/sensornode/libs/svc"
	"github.com/sensornode/sensornode/services/camera-producer/internal/capture"
	"github.com/sensornode/sensornode/services/camera-producer/internal/spool"
)

// Metrics are the camera producer's own metrics (the Kafka client adds
// sensornode_kafka_* with client="camera-producer").
type Metrics struct {
	Spool            *spool.Metrics
	Capture          *capture.Metrics
	TopicMaxBytes    prometheus.Gauge
	MaxPictureBytes  prometheus.Gauge
	TopicErrors      *prometheus.CounterVec
	inflightPictures prometheus.GaugeFunc
}

// NewMetrics registers every metric on reg.
func NewMetrics(reg prometheus.Registerer, inflight func() float64) *Metrics {
	f := svc.NewMetricFactory(reg)
	return &Metrics{
		Spool:   spool.NewMetrics(reg),
		Capture: capture.NewMetrics(reg),
		TopicMaxBytes: f.Gauge("sensornode_camera_topic_max_message_bytes",
			"The topic's max.message.bytes as last read from the brokers (0: not known yet)."),
		MaxPictureBytes: f.Gauge("sensornode_camera_max_picture_bytes",
			"Largest JPEG file accepted; larger ones are quarantined as too-large."),
		TopicErrors: f.CounterVec("sensornode_camera_topic_errors_total",
			"Failed topic administration calls, by operation (create, describe).",
			svc.Label("op", "create", "describe")),
		inflightPictures: f.GaugeFunc("sensornode_camera_inflight_pictures",
			"Pictures handed to the Kafka client and not yet acknowledged or failed.", inflight),
	}
}

// newMetrics registers everything Run exports on reg: the service's own
// metrics, the readiness probe's and the Kafka client's.
func newMetrics(reg prometheus.Registerer, inflight func() float64) (*Metrics, *svc.Probe, *bus.Metrics) {
	return NewMetrics(reg, inflight), svc.NewProbe(reg), bus.NewMetrics(reg, "camera-producer")
}

// RegisterMetrics registers on reg every metric Run registers, through the
// same constructors (deploy/monitoring checks the alerts and dashboards
// against it).
func RegisterMetrics(reg prometheus.Registerer) { newMetrics(reg, func() float64 { return 0 }) }
