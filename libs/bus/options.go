package bus

import (
	"io"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sensornode/sensornode/libs/svc"
)

// Option configures a client.
type Option func(*options)

type options struct {
	log           *slog.Logger
	metrics       *Metrics
	statsInterval time.Duration
}

// DefaultStatsInterval is how often a client refreshes its
// sensornode_kafka_client_buffered_* gauges unless WithStatsInterval says
// otherwise.
const DefaultStatsInterval = 5 * time.Second

// WithLogger sends the client's own log lines (broker errors, rebalances)
// to l.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.log = l } }

// WithMetrics exports the client's metrics through m (see NewMetrics).
func WithMetrics(m *Metrics) Option { return func(o *options) { o.metrics = m } }

// WithStatsInterval sets how often the client refreshes its buffered
// messages and bytes gauges (confluent: librdkafka's
// statistics.interval.ms; franz: a read of its buffered counters); d <= 0
// keeps DefaultStatsInterval.
func WithStatsInterval(d time.Duration) Option {
	return func(o *options) {
		if d > 0 {
			o.statsInterval = d
		}
	}
}

func buildOptions(opts []Option) options {
	o := options{log: slog.New(slog.NewJSONHandler(io.Discard, nil)), statsInterval: DefaultStatsInterval}
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
	bufferedMsgs    *prometheus.GaugeVec
	bufferedBytes   *prometheus.GaugeVec
	recreatedTotal  *prometheus.CounterVec
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
		bufferedMsgs: f.GaugeVec("sensornode_kafka_client_buffered_messages",
			"Messages held in the Kafka client's own memory: a producer's queued and unacknowledged messages, a consumer's fetched and not yet polled ones (confluent: librdkafka statistics; franz: its buffered records).",
			byClient),
		bufferedBytes: f.GaugeVec("sensornode_kafka_client_buffered_bytes",
			"Bytes of the messages counted by sensornode_kafka_client_buffered_messages.", byClient),
		recreatedTotal: f.CounterVec("sensornode_kafka_producer_recreated_total",
			"Producer client instances replaced after a fatal client error (librdkafka: an idempotent producer that can no longer guarantee ordering); the dead instance's unacknowledged messages failed and are sent again by the caller.",
			byClient),
	}
}

// buffered sets the client's buffered gauges.
func (m *Metrics) buffered(msgs, bytes int64) {
	m.bufferedMsgs.WithLabelValues(m.client).Set(float64(msgs))
	m.bufferedBytes.WithLabelValues(m.client).Set(float64(bytes))
}

// pollBuffered sets m's buffered gauges from read every interval until
// the returned stop is called (franz-go has counters, not statistics
// events); stop waits for the loop and zeroes the gauges.
func pollBuffered(m *Metrics, every time.Duration, read func() (msgs, bytes int64)) (stop func()) {
	done, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			m.buffered(read())
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			close(done)
			<-stopped
			m.buffered(0, 0)
		})
	}
}

func (m *Metrics) error(kind string) { m.errors.WithLabelValues(m.client, kind).Inc() }

func (m *Metrics) recreated() { m.recreatedTotal.WithLabelValues(m.client).Inc() }

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
