package bus

import (
	"errors"
	"io"
	"log/slog"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
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
	m := &Metrics{
		client: client,
		inflightMsgs: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "sensornode_kafka_producer_inflight_messages",
			Help: "Messages enqueued and not yet acknowledged or failed.",
		}, []string{"client"}),
		inflightBytes: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "sensornode_kafka_producer_inflight_bytes",
			Help: "Bytes of messages enqueued and not yet acknowledged or failed.",
		}, []string{"client"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sensornode_kafka_client_errors_total",
			Help: "Errors reported by the Kafka client, by kind.",
		}, []string{"client", "kind"}),
		brokersDown: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "sensornode_kafka_client_all_brokers_down",
			Help: "1 while the client reports that no broker is reachable.",
		}, []string{"client"}),
		deliveryLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "sensornode_kafka_producer_delivery_duration_seconds",
			Help:    "Time from enqueue to delivery report (acks=all).",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 16),
		}, []string{"client", "result"}),
		lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "sensornode_kafka_consumer_lag_messages",
			Help: "Consumer lag of each owned partition: high watermark minus the consumer's position (updated by the service's health check).",
		}, []string{"client", "topic", "partition"}),
	}
	if reg != nil {
		m.inflightMsgs = registerOrReuse(reg, m.inflightMsgs)
		m.inflightBytes = registerOrReuse(reg, m.inflightBytes)
		m.errors = registerOrReuse(reg, m.errors)
		m.brokersDown = registerOrReuse(reg, m.brokersDown)
		m.deliveryLatency = registerOrReuse(reg, m.deliveryLatency)
		m.lag = registerOrReuse(reg, m.lag)
	}
	return m
}

// registerOrReuse registers c, or returns the identical collector another
// client of the same registry registered first. Other registration errors
// panic, as MustRegister does.
func registerOrReuse[T prometheus.Collector](reg prometheus.Registerer, c T) T {
	err := reg.Register(c)
	if err == nil {
		return c
	}
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(T); ok {
			return existing
		}
	}
	panic(err)
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
