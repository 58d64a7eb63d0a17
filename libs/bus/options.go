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
	}
	if reg != nil {
		m.inflightMsgs = registerOrReuse(reg, m.inflightMsgs)
		m.inflightBytes = registerOrReuse(reg, m.inflightBytes)
		m.errors = registerOrReuse(reg, m.errors)
		m.brokersDown = registerOrReuse(reg, m.brokersDown)
		m.deliveryLatency = registerOrReuse(reg, m.deliveryLatency)
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

// ExportLag sets g, a gauge vector labelled (topic, partition), to the lag
// of every owned partition and drops partitions no longer owned.
func ExportLag(g *prometheus.GaugeVec, lag map[TopicPartition]int64) {
	g.Reset()
	for tp, n := range lag {
		g.WithLabelValues(tp.Topic, strconv.Itoa(int(tp.Partition))).Set(float64(n))
	}
}
