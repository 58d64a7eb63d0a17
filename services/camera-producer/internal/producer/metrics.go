package producer

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

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
	f := promauto.With(reg)
	m := &Metrics{
		Spool:   spool.NewMetrics(reg),
		Capture: capture.NewMetrics(reg),
		TopicMaxBytes: f.NewGauge(prometheus.GaugeOpts{
			Name: "sensornode_camera_topic_max_message_bytes",
			Help: "The topic's max.message.bytes as last read from the brokers (0: not known yet).",
		}),
		MaxPictureBytes: f.NewGauge(prometheus.GaugeOpts{
			Name: "sensornode_camera_max_picture_bytes",
			Help: "Largest JPEG file accepted; larger ones are quarantined as too-large.",
		}),
		TopicErrors: f.NewCounterVec(prometheus.CounterOpts{
			Name: "sensornode_camera_topic_errors_total",
			Help: "Failed topic administration calls, by operation (create, describe).",
		}, []string{"op"}),
		inflightPictures: f.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "sensornode_camera_inflight_pictures",
			Help: "Pictures handed to the Kafka client and not yet acknowledged or failed.",
		}, inflight),
	}
	for _, op := range []string{"create", "describe"} {
		m.TopicErrors.WithLabelValues(op)
	}
	return m
}
