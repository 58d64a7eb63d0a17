// Package bus is sensornode's small interface over Kafka: producers with
// delivery reports acted on, consumer groups with manual offset commits, and
// topic administration. Services depend on the one- or two-method
// interfaces they need (Publisher, AsyncPublisher, ...); NewProducer,
// NewConsumer and NewAdmin pick a backend:
//
//   - "confluent": confluent-kafka-go (librdkafka, cgo). Built where its
//     bundled librdkafka exists: linux/amd64 and linux/arm64 with cgo.
//   - "franz": a pure-Go client, for 32-bit ARM where confluent-kafka-go
//     cannot build, and selectable everywhere.
//
// Both give the same guarantees: acks=all, idempotent producer, a delivery
// report for every message, offsets committed only when the caller says so.
package bus

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/sensornode/sensornode/libs/messages"
)

// Backend names.
const (
	BackendConfluent = "confluent"
	BackendFranz     = "franz"
)

// Errors.
var (
	ErrClosed        = errors.New("client closed")
	ErrTooLarge      = errors.New("message larger than the producer's limit")
	ErrNoBackend     = errors.New("kafka backend not built into this binary")
	ErrFatal         = errors.New("fatal kafka client error")
	ErrUnknownTopic  = errors.New("unknown topic or partition")
	ErrNotAssigned   = errors.New("partition not assigned")
	ErrBrokersDown   = errors.New("no broker reachable")
	ErrDeliveryTimed = errors.New("delivery timed out")
	// ErrNotAuthorized: the broker denied this client an operation on a
	// topic, group or the cluster (its ACLs). Always permanent.
	ErrNotAuthorized = errors.New("not authorized")
	// ErrInvalidRecord: the broker refused the record itself (INVALID_RECORD,
	// e.g. no key on a compacted topic; INVALID_TIMESTAMP). Always permanent.
	ErrInvalidRecord = errors.New("record refused by the broker as invalid")
)

// TopicPartition names one partition.
type TopicPartition struct {
	Topic     string
	Partition int32
}

func (tp TopicPartition) String() string { return fmt.Sprintf("%s[%d]", tp.Topic, tp.Partition) }

// Offset is a position in a partition: for commits, the next offset to
// consume (last processed + 1), as Kafka defines committed offsets.
type Offset struct {
	TopicPartition
	Offset int64
}

// Message is a Kafka record, produced or consumed.
type Message struct {
	Topic     string
	Partition int32 // consumed: its partition; produced: ignored (the key picks it)
	Offset    int64 // consumed only
	Key       []byte
	Value     []byte
	Headers   []messages.Header
	// Timestamp: consumed, the record's timestamp; produced, zero means now.
	// Leave it zero when re-publishing old records: franz-go counts the
	// delivery timeout from it, and a broker's time-based retention would
	// expire an old timestamp early.
	Timestamp time.Time
}

// TopicPartition of a consumed message.
func (m *Message) TopicPartition() TopicPartition {
	return TopicPartition{Topic: m.Topic, Partition: m.Partition}
}

// Size is what the message weighs against size limits and memory bounds.
func (m *Message) Size() int {
	n := len(m.Key) + len(m.Value)
	for _, h := range m.Headers {
		n += len(h.Key) + len(h.Value)
	}
	return n
}

// FromEncoded makes a message for topic from an encoded sensornode message.
func FromEncoded(topic string, e messages.Encoded) *Message {
	return &Message{Topic: topic, Key: e.Key, Value: e.Value, Headers: e.Headers}
}

// Delivery is the broker's answer for one produced message.
type Delivery struct {
	Topic     string
	Partition int32
	Offset    int64
	Err       error // nil: acknowledged by all in-sync replicas
}

// Publisher publishes one message and waits for its acknowledgement.
type Publisher interface {
	Publish(ctx context.Context, m *Message) (Delivery, error)
}

// AsyncPublisher enqueues a message and reports its delivery through done,
// exactly once, from the client's delivery goroutine (keep done short).
// It blocks while the client's bounded queue is full, until ctx is done.
type AsyncPublisher interface {
	PublishAsync(ctx context.Context, m *Message, done func(Delivery)) error
}

// PublishWait publishes m through p and waits for its delivery report: a
// Publish for any AsyncPublisher. When ctx ends first the message may
// still be delivered (at-least-once for the caller).
func PublishWait(ctx context.Context, p AsyncPublisher, m *Message) (Delivery, error) {
	ch := make(chan Delivery, 1)
	if err := p.PublishAsync(ctx, m, func(d Delivery) { ch <- d }); err != nil {
		return Delivery{}, err
	}
	select {
	case d := <-ch:
		return d, d.Err
	case <-ctx.Done():
		return Delivery{}, ctx.Err()
	}
}

// Producer is the whole producing client.
type Producer interface {
	Publisher
	AsyncPublisher
	// Flush waits until every enqueued message has a delivery report.
	Flush(ctx context.Context) error
	// Ping does a metadata round trip: nil when a broker answers.
	Ping(ctx context.Context) error
	// Close flushes for at most a few seconds, then fails whatever is left
	// (their done callbacks get an error) and releases the client.
	Close() error
}

// Consumer is a consumer-group member with manual commits.
type Consumer interface {
	// Poll returns the next message, or nil after maxWait without one.
	// Rebalance callbacks run inside Poll. Errors are fatal to the client.
	Poll(ctx context.Context, maxWait time.Duration) (*Message, error)
	// Commit commits offsets synchronously.
	Commit(ctx context.Context, offsets []Offset) error
	// Pause stops fetching those partitions; Poll returns no messages of a
	// paused partition until Resume (messages already fetched are kept and
	// returned after Resume, in order).
	Pause(parts []TopicPartition) error
	Resume(parts []TopicPartition) error
	// Seek makes the next Poll of that partition return offset o.Offset.
	Seek(o Offset) error
	// Assignment lists the partitions this member owns.
	Assignment() ([]TopicPartition, error)
	// Lag is, per owned partition, the high watermark minus the next
	// offset to consume, from the client's cached watermarks.
	Lag() (map[TopicPartition]int64, error)
	// Ping does a metadata round trip: nil when a broker answers.
	Ping(ctx context.Context) error
	// Close leaves the group and releases the client. It does not commit.
	Close() error
}

// Rebalance callbacks. Both run inside Poll, before the assignment
// changes. OnRevoked is the last chance to commit what was processed for
// those partitions; lost is true when the group already gave them away
// (session timed out), so commits will fail and must not be relied on.
type Rebalance struct {
	OnAssigned func(parts []TopicPartition)
	OnRevoked  func(parts []TopicPartition, lost bool)
}

// TopicSpec describes a topic to create.
type TopicSpec struct {
	Name              string
	Partitions        int
	ReplicationFactor int
	Config            map[string]string // e.g. "min.insync.replicas": "2"
}

// Admin manages topics.
type Admin interface {
	// EnsureTopics creates missing topics; existing ones are left alone.
	EnsureTopics(ctx context.Context, specs []TopicSpec) error
	// TopicConfig returns a topic's effective configuration.
	TopicConfig(ctx context.Context, topic string) (map[string]string, error)
	// Partitions returns the partition count of a topic.
	Partitions(ctx context.Context, topic string) (int, error)
	Close() error
}

// TLSConfig is client TLS. The envconfig tags let services embed it.
type TLSConfig struct {
	Enabled            bool   `envconfig:"ENABLED" default:"false"`
	CAFile             string `envconfig:"CA_FILE"`
	CertFile           string `envconfig:"CERT_FILE"`
	KeyFile            string `envconfig:"KEY_FILE"`
	ServerName         string `envconfig:"SERVER_NAME"`
	InsecureSkipVerify bool   `envconfig:"INSECURE_SKIP_VERIFY" default:"false"`
}

// SASLConfig is SASL authentication.
type SASLConfig struct {
	Mechanism    string `envconfig:"MECHANISM"` // "", PLAIN, SCRAM-SHA-256, SCRAM-SHA-512
	Username     string `envconfig:"USERNAME"`
	Password     string `envconfig:"PASSWORD" secret:"true"`
	PasswordFile string `envconfig:"PASSWORD_FILE"`
}

// Config is what every client needs.
type Config struct {
	Brokers  []string   `envconfig:"BROKERS" default:"127.0.0.1:9092"`
	ClientID string     `envconfig:"CLIENT_ID" default:"sensornode"`
	Backend  string     `envconfig:"BACKEND"` // "" picks DefaultBackend()
	TLS      TLSConfig  `envconfig:"TLS"`
	SASL     SASLConfig `envconfig:"SASL"`
	// StatsInterval is how often the client refreshes its
	// sensornode_kafka_client_buffered_* gauges (confluent: librdkafka's
	// statistics.interval.ms); 0 keeps DefaultStatsInterval. An explicit
	// WithStatsInterval wins.
	StatsInterval time.Duration `envconfig:"STATS_INTERVAL"`
}

// Validate checks the client config.
func (c Config) Validate() error {
	var p []string
	if len(c.Brokers) == 0 {
		p = append(p, "no brokers")
	}
	for _, b := range c.Brokers {
		if !strings.Contains(b, ":") {
			p = append(p, fmt.Sprintf("broker %q is not host:port", b))
		}
	}
	switch c.Backend {
	case "", BackendConfluent, BackendFranz:
	default:
		p = append(p, fmt.Sprintf("backend %q (want %s or %s)", c.Backend, BackendConfluent, BackendFranz))
	}
	switch c.SASL.Mechanism {
	case "":
	case "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512":
		if c.SASL.Username == "" {
			p = append(p, "SASL username empty")
		}
		if c.SASL.Password == "" && c.SASL.PasswordFile == "" {
			p = append(p, "SASL password and password file both empty")
		}
	default:
		p = append(p, fmt.Sprintf("SASL mechanism %q (want PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512)", c.SASL.Mechanism))
	}
	if (c.TLS.CertFile == "") != (c.TLS.KeyFile == "") {
		p = append(p, "TLS cert file and key file must be set together")
	}
	if c.StatsInterval < 0 {
		p = append(p, fmt.Sprintf("stats interval %s is negative", c.StatsInterval))
	}
	if len(p) > 0 {
		return fmt.Errorf("kafka client: %s", strings.Join(p, "; "))
	}
	return nil
}

// ProducerConfig tunes a producer. acks=all and idempotence are not knobs:
// they are always on.
//
// The tuning fields carry no default tag, so that each service can set its
// own defaults before the environment is applied (a default tag would
// overwrite them): start from DefaultProducerConfig and change what the
// service needs.
type ProducerConfig struct {
	Config
	// Linger is how long to wait to batch messages.
	Linger time.Duration `envconfig:"LINGER"`
	// MaxMessageBytes is the largest record accepted; match the topic's
	// max.message.bytes.
	MaxMessageBytes int `envconfig:"MAX_MESSAGE_BYTES"`
	// QueueMaxBytes bounds the memory of messages waiting for delivery.
	// PublishAsync blocks when it is full. It must exceed MaxMessageBytes.
	QueueMaxBytes int `envconfig:"QUEUE_MAX_BYTES"`
	// QueueMaxMessages bounds the count of messages waiting for delivery
	// (librdkafka's queue.buffering.max.messages, franz-go's
	// MaxBufferedRecords): it bounds the per-message overhead of many
	// small messages, which QueueMaxBytes does not see. PublishAsync
	// blocks when it is reached. 0 means DefaultQueueMaxMessages.
	QueueMaxMessages int `envconfig:"QUEUE_MAX_MESSAGES"`
	// DeliveryTimeout bounds how long the client retries one message before
	// reporting failure; 0 retries forever.
	DeliveryTimeout time.Duration `envconfig:"DELIVERY_TIMEOUT"`
}

// DefaultProducerConfig is the producer tuning a service starts from: 5ms
// linger, 8 MiB records, a queue of 16 MiB and at most
// DefaultQueueMaxMessages messages, and a 2m delivery timeout. Config is
// left empty; its fields have default tags.
func DefaultProducerConfig() ProducerConfig {
	return ProducerConfig{Linger: 5 * time.Millisecond, MaxMessageBytes: 8 << 20, QueueMaxBytes: 16 << 20,
		QueueMaxMessages: DefaultQueueMaxMessages, DeliveryTimeout: 2 * time.Minute}
}

// queueMaxMessages is QueueMaxMessages with 0 meaning the default.
func (c ProducerConfig) queueMaxMessages() int {
	if c.QueueMaxMessages == 0 {
		return DefaultQueueMaxMessages
	}
	return c.QueueMaxMessages
}

// DefaultQueueMaxMessages is the default producer queue length. Pictures
// reach QueueMaxBytes long before it; 10 000 temperature readings (about
// 200 bytes each) are about 2 MiB with librdkafka's per-message overhead,
// and still fill several 5 ms batches per broker. librdkafka's own default
// (100 000) would let small messages take tens of MiB.
const DefaultQueueMaxMessages = 10000

// Validate checks the producer config.
func (c ProducerConfig) Validate() error {
	if err := c.Config.Validate(); err != nil {
		return err
	}
	if c.MaxMessageBytes < 1024 {
		return fmt.Errorf("kafka producer: max message bytes %d < 1024", c.MaxMessageBytes)
	}
	if c.QueueMaxBytes <= c.MaxMessageBytes {
		return fmt.Errorf("kafka producer: queue max bytes %d must exceed max message bytes %d", c.QueueMaxBytes, c.MaxMessageBytes)
	}
	// librdkafka's range for queue.buffering.max.messages.
	if c.QueueMaxMessages < 0 || c.QueueMaxMessages > 2147483647 {
		return fmt.Errorf("kafka producer: queue max messages %d must be between 1 and 2147483647 (0: %d)",
			c.QueueMaxMessages, DefaultQueueMaxMessages)
	}
	if c.Linger < 0 || c.DeliveryTimeout < 0 {
		return errors.New("kafka producer: negative linger or delivery timeout")
	}
	return nil
}

// ConsumerConfig tunes a consumer.
type ConsumerConfig struct {
	Config
	GroupID string `envconfig:"GROUP_ID"`
	// Topics to subscribe; an entry starting with ^ is a regular expression.
	Topics []string `envconfig:"TOPICS"`
	// FromLatest starts a group without committed offsets at the end
	// instead of the beginning (the default: nothing is skipped).
	FromLatest bool `envconfig:"FROM_LATEST" default:"false"`
	// MaxFetchBytes bounds one partition's fetch. A larger message still
	// comes whole (Kafka returns a fetch's first record batch whatever its
	// size), so it need not fit the largest message. 4 MiB, as
	// QueueMaxBytes (was 8 MiB, then 1 MiB): a 1 MiB fetch holds four
	// 1280x720 pictures and cut the confluent forwarder's drain to 0.74x
	// (loadtest/results/20261207-fetch-default). QueueMaxBytes, not this,
	// bounds the memory; on franz a fetch is also at most QueueMaxBytes
	// over its slots + 1 (1 MiB with the defaults: franzConsumerOpts).
	MaxFetchBytes int `envconfig:"MAX_FETCH_BYTES" default:"4194304"`
	// QueueMaxBytes bounds pre-fetched messages kept in memory (4 MiB, was
	// 16 MiB: loadtest/results/20261207-forwarder-memory).
	QueueMaxBytes int `envconfig:"QUEUE_MAX_BYTES" default:"4194304"`
	// SessionTimeout: a member silent this long loses its partitions.
	SessionTimeout time.Duration `envconfig:"SESSION_TIMEOUT" default:"10s"`
	Rebalance      Rebalance     `ignored:"true"`
}

// Validate checks the consumer config.
func (c ConsumerConfig) Validate() error {
	if err := c.Config.Validate(); err != nil {
		return err
	}
	if c.GroupID == "" {
		return errors.New("kafka consumer: empty group id")
	}
	if len(c.Topics) == 0 {
		return errors.New("kafka consumer: no topics")
	}
	if c.MaxFetchBytes < 1024 || c.QueueMaxBytes < c.MaxFetchBytes {
		return fmt.Errorf("kafka consumer: fetch bytes %d / queue bytes %d: need 1024 <= fetch <= queue", c.MaxFetchBytes, c.QueueMaxBytes)
	}
	return nil
}

// DefaultBackend is the backend used when Config.Backend is empty:
// confluent where it is built in, else franz.
func DefaultBackend() string {
	if confluentBuilt {
		return BackendConfluent
	}
	return BackendFranz
}

// Backends lists the backends built into this binary.
func Backends() []string {
	var out []string
	if confluentBuilt {
		out = append(out, BackendConfluent)
	}
	if franzBuilt {
		out = append(out, BackendFranz)
	}
	return out
}

func backendOf(c Config) string {
	if c.Backend == "" {
		return DefaultBackend()
	}
	return c.Backend
}

// NewProducer creates a producer on the configured backend.
func NewProducer(cfg ProducerConfig, opts ...Option) (Producer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	o := buildOptions(append([]Option{WithStatsInterval(cfg.StatsInterval)}, opts...))
	switch b := backendOf(cfg.Config); b {
	case BackendConfluent:
		return newConfluentProducer(cfg, o)
	case BackendFranz:
		return newFranzProducer(cfg, o)
	default:
		return nil, fmt.Errorf("%w: %q", ErrNoBackend, b)
	}
}

// NewConsumer creates a consumer on the configured backend and subscribes.
func NewConsumer(cfg ConsumerConfig, opts ...Option) (Consumer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	o := buildOptions(append([]Option{WithStatsInterval(cfg.StatsInterval)}, opts...))
	switch b := backendOf(cfg.Config); b {
	case BackendConfluent:
		return newConfluentConsumer(cfg, o)
	case BackendFranz:
		return newFranzConsumer(cfg, o)
	default:
		return nil, fmt.Errorf("%w: %q", ErrNoBackend, b)
	}
}

// NewAdmin creates an admin client on the configured backend.
func NewAdmin(cfg Config, opts ...Option) (Admin, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	o := buildOptions(opts)
	switch b := backendOf(cfg); b {
	case BackendConfluent:
		return newConfluentAdmin(cfg, o)
	case BackendFranz:
		return newFranzAdmin(cfg, o)
	default:
		return nil, fmt.Errorf("%w: %q", ErrNoBackend, b)
	}
}

// ProducerOr returns injected when it is not nil (a test's producer), else
// a new producer from cfg. release closes only a producer made here: an
// injected one belongs to whoever injected it.
func ProducerOr(injected Producer, cfg ProducerConfig, opts ...Option) (p Producer, release func(), err error) {
	if injected != nil {
		return injected, func() {}, nil
	}
	if p, err = NewProducer(cfg, opts...); err != nil {
		return nil, nil, err
	}
	return p, func() { p.Close() }, nil
}

// AdminOr is ProducerOr for an admin client.
func AdminOr(injected Admin, cfg Config, opts ...Option) (a Admin, release func(), err error) {
	if injected != nil {
		return injected, func() {}, nil
	}
	if a, err = NewAdmin(cfg, opts...); err != nil {
		return nil, nil, err
	}
	return a, func() { a.Close() }, nil
}
