package bus

import (
	"io"
	"log/slog"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sensornode/sensornode/libs/svc"
)

// Option configures a client.
type Option func(*options)

type options struct {
	log     *slog.Logger
	metrics *Metrics
}

// WithLogger sends the client's own log lines (broker errors, rebalances)
// to l.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.log = l } }

// WithMetrics exports the client's metrics through m (see NewMetrics).
func WithMetrics(m *Metrics) Option { return func(o *options) { o.metrics = m } }

func buildOptions(opts []Option) options {
	o := options{log: slog.New(slog.NewJSONHandler(io.Discard, nil))}
	for _, f := range opts {
		f(&o)
	}
	if o.metrics == nil {
		o.metrics = NewMetrics(nil, "")
	}
	return o
}

// Metrics are a client's metrics, labelled by client name (a fixed name
// such as "edge-producer", never an id).
type Metrics struct {
	client          string
	inflightMsgs    *prometheus.GaugeVec
	inflightBytes   *prometheus.GaugeVec
	errors          *prometheus.CounterVec
	brokersDown     *prometheus.GaugeVec
	deliveryLatency *prometheus.HistogramVec
	lag             *prometheus.GaugeVec
}

// NewMetrics registers the client metrics on reg (nil: kept unregistered)
// for client name. Several clients of one service (an edge consumer and a
// cloud producer) may each call it on the same registry: the metric
// families are shared and told apart by the client label.
func NewMetrics(reg prometheus.Registerer, client string) *Metrics {
	f := svc.NewMetricFactory(reg).Shared()
	byClient := svc.Label("client")
	return &Metrics{
		client: client,
		inflightMsgs: f.GaugeVec("sensornode_kafka_producer_inflight_messages",
			"Messages enqueued and not yet acknowledged or failed.", byClient),
		inflightBytes: f.GaugeVec("sensornode_kafka_producer_inflight_bytes",
			"Bytes of messages enqueued and not yet acknowledged or failed.", byClient),
		errors: f.CounterVec("sensornode_kafka_client_errors_total",
			"Errors reported by the Kafka client, by kind.", byClient, svc.Label("kind")),
		brokersDown: f.GaugeVec("sensornode_kafka_client_all_brokers_down",
			"1 while the client reports that no broker is reachable.", byClient),
		deliveryLatency: f.HistogramVec("sensornode_kafka_producer_delivery_duration_seconds",
			"Time from enqueue to delivery report (acks=all).",
			prometheus.ExponentialBuckets(0.001, 2, 16), byClient, svc.Label("result")),
		lag: f.GaugeVec("sensornode_kafka_consumer_lag_messages",
			"Consumer lag of each owned partition: high watermark minus the consumer's position (updated by the service's health check).",
			byClient, svc.Label("topic"), svc.Label("partition")),
	}
}

func (m *Metrics) error(kind string) { m.errors.WithLabelValues(m.client, kind).Inc() }

func (m *Metrics) allBrokersDown(down bool) {
	v := 0.0
	if down {
		v = 1
	}
	m.brokersDown.WithLabelValues(m.client).Set(v)
}

func (m *Metrics) enqueued(bytes int) {
	m.inflightMsgs.WithLabelValues(m.client).Inc()
	m.inflightBytes.WithLabelValues(m.client).Add(float64(bytes))
}

func (m *Metrics) delivered(bytes int, seconds float64, err error) {
	m.inflightMsgs.WithLabelValues(m.client).Dec()
	m.inflightBytes.WithLabelValues(m.client).Sub(float64(bytes))
	result := "ok"
	if err != nil {
		result = "error"
	}
	m.deliveryLatency.WithLabelValues(m.client, result).Observe(seconds)
}

// Lagger is a consumer that reports its lag.
type Lagger interface {
	Lag() (map[TopicPartition]int64, error)
}

// ExportLag asks c for its lag and sets this client's
// sensornode_kafka_consumer_lag_messages to it: one series per owned
// partition, partitions no longer owned dropped. When c cannot tell, the
// last figures stay.
func (m *Metrics) ExportLag(c Lagger) {
	lag, err := c.Lag()
	if err != nil {
		return
	}
	m.lag.DeletePartialMatch(prometheus.Labels{"client": m.client})
	for tp, n := range lag {
		m.lag.WithLabelValues(m.client, tp.Topic, strconv.Itoa(int(tp.Partition))).Set(float64(n))
	}
}
