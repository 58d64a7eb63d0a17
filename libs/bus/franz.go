package bus

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"net"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/sensornode/sensornode/libs/messages"
)

// The franz backend is franz-go: pure Go, so it builds everywhere,
// including 32-bit ARM with cgo off. franz-go keeps its 64-bit counters
// under mutexes or in sync/atomic's typed values, which the compiler
// aligns on 32-bit platforms (v1.10.4 panicked on armv7 with an unaligned
// atomic.AddInt64; see franz-go issue #286).
const franzBuilt = true

// Settings shared by both backends' clients; see commonConfluent.
const (
	franzMetadataMaxAge = 10 * time.Second // discover new nodeN topics quickly
	// franzFetchMaxWait bounds how long a broker holds an empty fetch.
	// Concurrent fetches are capped to bound memory (see below), so with
	// more brokers than fetch slots an idle broker's fetch holds a slot for
	// this long and delays the others: 500 ms (librdkafka's default) gave
	// the franz forwarder a 200 ms latency tail across 3 brokers.
	franzFetchMaxWait   = 100 * time.Millisecond
	franzMaxConcurrent  = 4 // upper bound of concurrent fetches
	franzDefaultTimeout = 5 * time.Second
)

// franzCommon maps Config onto franz-go client options.
func franzCommon(c Config, o options) ([]kgo.Opt, error) {
	hooks := &franzHooks{m: o.metrics, log: o.log, up: map[int32]bool{}}
	opts := []kgo.Opt{
		kgo.SeedBrokers(c.Brokers...),
		kgo.ClientID(c.ClientID),
		kgo.MetadataMaxAge(franzMetadataMaxAge),
		kgo.WithLogger(franzLogger{o.log}),
		kgo.WithHooks(hooks),
		// Quick reconnects when a broker comes back, as reconnect.backoff.*
		// of the confluent backend.
		kgo.RetryBackoffFn(func(tries int) time.Duration {
			return min(100*time.Millisecond<<min(tries, 6), 5*time.Second)
		}),
	}
	if c.TLS.Enabled {
		tc, err := franzTLS(c.TLS)
		if err != nil {
			return nil, err
		}
		opts = append(opts, kgo.DialTLSConfig(tc))
	}
	if c.SASL.Mechanism != "" {
		mech, err := franzSASL(c.SASL)
		if err != nil {
			return nil, err
		}
		opts = append(opts, kgo.SASL(mech))
	}
	return opts, nil
}

// franzTLS builds the client TLS config: CA bundle, optional client
// certificate, server name override and (for tests only) no verification.
func franzTLS(t TLSConfig) (*tls.Config, error) {
	tc := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		ServerName:         t.ServerName, // empty: franz-go uses each broker's host
		InsecureSkipVerify: t.InsecureSkipVerify,
	}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("tls ca file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("tls ca file %s: no PEM certificate", t.CAFile)
		}
		tc.RootCAs = pool
	}
	if t.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("tls client certificate: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

func franzSASL(s SASLConfig) (sasl.Mechanism, error) {
	pw, err := s.password()
	if err != nil {
		return nil, err
	}
	switch s.Mechanism {
	case "PLAIN":
		return plain.Auth{User: s.Username, Pass: pw}.AsMechanism(), nil
	case "SCRAM-SHA-256":
		return scram.Auth{User: s.Username, Pass: pw}.AsSha256Mechanism(), nil
	case "SCRAM-SHA-512":
		return scram.Auth{User: s.Username, Pass: pw}.AsSha512Mechanism(), nil
	default:
		return nil, fmt.Errorf("sasl mechanism %q not supported", s.Mechanism)
	}
}

// franzLogger sends franz-go's warnings and errors to slog (its info and
// debug lines only when the logger is at debug level).
type franzLogger struct{ l *slog.Logger }

func (f franzLogger) Level() kgo.LogLevel {
	if f.l.Enabled(context.Background(), slog.LevelDebug) {
		return kgo.LogLevelInfo
	}
	return kgo.LogLevelWarn
}

func (f franzLogger) Log(level kgo.LogLevel, msg string, keyvals ...any) {
	lv := slog.LevelDebug
	switch level {
	case kgo.LogLevelError:
		lv = slog.LevelError
	case kgo.LogLevelWarn:
		lv = slog.LevelWarn
	case kgo.LogLevelInfo:
		lv = slog.LevelInfo
	}
	f.l.Log(context.Background(), lv, "kafka client: "+msg, keyvals...)
}

// franzHooks turn franz-go's broker events into the shared metrics:
// transport errors and the all-brokers-down gauge. A broker counts as down
// from a failed dial or read until a successful dial or read.
type franzHooks struct {
	m   *Metrics
	log *slog.Logger

	mu      sync.Mutex
	up      map[int32]bool
	allDown bool
}

var (
	_ kgo.HookBrokerConnect = (*franzHooks)(nil)
	_ kgo.HookBrokerRead    = (*franzHooks)(nil)
)

func (h *franzHooks) OnBrokerConnect(meta kgo.BrokerMetadata, _ time.Duration, _ net.Conn, err error) {
	h.seen(meta, err)
}

func (h *franzHooks) OnBrokerRead(meta kgo.BrokerMetadata, _ int16, _ int, _, _ time.Duration, err error) {
	h.seen(meta, err)
}

func (h *franzHooks) seen(meta kgo.BrokerMetadata, err error) {
	if err != nil && (errors.Is(err, context.Canceled) || errors.Is(err, kgo.ErrClientClosed)) {
		return // our own cancellation, not the broker's fault
	}
	h.mu.Lock()
	h.up[meta.NodeID] = err == nil
	down := true
	for _, up := range h.up {
		down = down && !up
	}
	changed := down != h.allDown
	h.allDown = down
	h.mu.Unlock()
	if err != nil {
		h.m.error("transport")
		h.log.Debug("kafka broker error", "broker", net.JoinHostPort(meta.Host, fmt.Sprint(meta.Port)), "err", err)
	}
	if changed {
		h.m.allBrokersDown(down)
		if down {
			h.m.error("all_brokers_down")
			h.log.Warn("kafka client: all brokers down", "err", err)
		}
	}
}

// classifyFranz maps franz-go errors onto the package's sentinels, keeping
// the original in the chain.
func classifyFranz(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, kerr.MessageTooLarge), errors.Is(err, kerr.RecordListTooLarge):
		return fmt.Errorf("%w: %w", ErrTooLarge, err)
	case errors.Is(err, kerr.InvalidRecord), errors.Is(err, kerr.InvalidTimestamp):
		return fmt.Errorf("%w: %w", ErrInvalidRecord, err)
	case errors.Is(err, kgo.ErrRecordTimeout), errors.Is(err, kgo.ErrRecordRetries):
		return fmt.Errorf("%w: %w", ErrDeliveryTimed, err)
	case errors.Is(err, kerr.UnknownTopicOrPartition), errors.Is(err, kerr.UnknownTopicID):
		return fmt.Errorf("%w: %w", ErrUnknownTopic, err)
	case errors.Is(err, kgo.ErrClientClosed):
		return fmt.Errorf("%w: %w", ErrClosed, err)
	case isFranzAuthz(err):
		return notAuthorized(err)
	case errors.Is(err, kerr.OutOfOrderSequenceNumber), errors.Is(err, kerr.InvalidProducerEpoch),
		errors.Is(err, kerr.SaslAuthenticationFailed):
		return fmt.Errorf("%w: %w", ErrFatal, err)
	}
	return err
}

// isFranzAuthz: the broker's ACLs deny the operation.
func isFranzAuthz(err error) bool {
	return errors.Is(err, kerr.TopicAuthorizationFailed) || errors.Is(err, kerr.GroupAuthorizationFailed) ||
		errors.Is(err, kerr.ClusterAuthorizationFailed) || errors.Is(err, kerr.TransactionalIDAuthorizationFailed)
}

// pingFranz does a metadata round trip asking for no topics.
func pingFranz(ctx context.Context, cl *kgo.Client) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, franzDefaultTimeout)
		defer cancel()
	}
	req := kmsg.NewPtrMetadataRequest()
	req.Topics = []kmsg.MetadataRequestTopic{} // none (nil means all)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrBrokersDown, err)
	}
	if len(resp.Brokers) == 0 {
		return ErrBrokersDown
	}
	return nil
}

// ---------------------------------------------------------------- producer

type franzProducer struct {
	cl     *kgo.Client
	log    *slog.Logger
	m      *Metrics
	maxMsg int
	gate   *memGate

	mu      sync.RWMutex // read-held while enqueueing; Close takes it to fence
	closed  atomic.Bool
	pending atomic.Int64

	purgeMu sync.Mutex
	purged  map[string]time.Time // topic -> when it was last purged (recreated topic)
}

// repurgeAfter: deliveries of one recreated topic fail together; its
// topic is purged once for them, not once per record.
const repurgeAfter = 5 * time.Second

// franzProducerOpts maps a ProducerConfig onto franz-go options (besides
// franzCommon's).
func franzProducerOpts(cfg ProducerConfig) []kgo.Opt {
	opts := []kgo.Opt{
		kgo.RequiredAcks(kgo.AllISRAcks()), // idempotence is franz-go's default and stays on
		kgo.ProducerLinger(cfg.Linger),
		kgo.ProducerBatchCompression(kgo.NoCompression()), // JPEG does not compress
		// A batch mirrors the topic's max.message.bytes: never larger.
		kgo.ProducerBatchMaxBytes(int32(min(cfg.MaxMessageBytes, 1<<30))),
		// Backstop only: memGate keeps us at QueueMaxBytes; one more record
		// may be counted by franz-go while its promise runs.
		kgo.MaxBufferedBytes(cfg.QueueMaxBytes + cfg.MaxMessageBytes),
		kgo.MaxBufferedRecords(maxQueuedMessages + 1),
		kgo.RecordRetries(math.MaxInt32),
		kgo.DisableClientMetrics(),
	}
	if cfg.DeliveryTimeout > 0 {
		opts = append(opts, kgo.RecordDeliveryTimeout(cfg.DeliveryTimeout))
	}
	return opts
}

func newFranzProducer(cfg ProducerConfig, o options) (*franzProducer, error) {
	opts, err := franzCommon(cfg.Config, o)
	if err != nil {
		return nil, err
	}
	cl, err := kgo.NewClient(append(opts, franzProducerOpts(cfg)...)...)
	if err != nil {
		return nil, fmt.Errorf("kafka producer: %w", err)
	}
	return &franzProducer{
		cl: cl, log: o.log, m: o.metrics, maxMsg: cfg.MaxMessageBytes,
		gate: newMemGate(int64(cfg.QueueMaxBytes), maxQueuedMessages),
	}, nil
}

func (fp *franzProducer) PublishAsync(ctx context.Context, msg *Message, done func(Delivery)) error {
	size := msg.Size()
	if size > fp.maxMsg {
		return fmt.Errorf("produce %s: %d bytes > %d: %w", msg.Topic, size, fp.maxMsg, ErrTooLarge)
	}
	fp.mu.RLock()
	defer fp.mu.RUnlock()
	if fp.closed.Load() {
		return ErrClosed
	}
	if err := fp.gate.acquire(ctx, int64(size)); err != nil {
		return err
	}
	r := franzRecord(msg, size)
	fp.pending.Add(1)
	fp.m.enqueued(size)
	start := time.Now()
	// The record's own context never ends: once enqueued, a message is
	// delivered or fails by DeliveryTimeout or Close, as with confluent.
	fp.cl.Produce(context.Background(), r, func(r *kgo.Record, err error) {
		d := Delivery{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Err: classifyFranz(err)}
		if errors.Is(d.Err, ErrUnknownTopic) {
			// Confirming takes a round trip: not on franz-go's promise
			// goroutine, which serves every other record's promise.
			go fp.report(d, size, start, done, true)
			return
		}
		fp.report(d, size, start, done, false)
	})
	return nil
}

// report hands a delivery to its caller; confirm asks a broker whether an
// unknown topic really is absent first (see confirmMissing).
func (fp *franzProducer) report(d Delivery, size int, start time.Time, done func(Delivery), confirm bool) {
	if confirm {
		if errors.Is(d.Err, kerr.UnknownTopicID) {
			fp.topicGone(d.Topic)
		}
		d.Err = confirmMissing(d.Err, d.Topic, fp.topicExists)
	}
	if d.Err != nil {
		d.Offset = -1
		fp.m.error("delivery")
	} else {
		fp.m.allBrokersDown(false)
	}
	fp.m.delivered(size, time.Since(start).Seconds(), d.Err)
	done(d)
	fp.gate.release(int64(size))
	fp.pending.Add(-1)
}

// topicGone handles a topic deleted, or deleted and created again, while
// the producer held it: franz-go keeps the old topic ID and fails every
// record for the name with UNKNOWN_TOPIC_ID until the topic is purged
// from the client. After the purge the next record loads the topic anew:
// a recreated topic is produced to again (the failed records are the
// caller's to retry, the error is transient), a deleted one is confirmed
// missing (permanent).
func (fp *franzProducer) topicGone(topic string) {
	fp.purgeMu.Lock()
	if time.Since(fp.purged[topic]) < repurgeAfter {
		fp.purgeMu.Unlock()
		return
	}
	if fp.purged == nil {
		fp.purged = map[string]time.Time{}
	}
	fp.purged[topic] = time.Now()
	fp.purgeMu.Unlock()
	fp.m.error("topic_recreated")
	fp.log.Warn("kafka producer: topic deleted or recreated; the client forgets it and loads it again, failed messages are to be sent again", "topic", topic)
	fp.cl.PurgeTopicsFromClient(topic)
}

// topicExists asks a broker directly (no cache, no auto-creation).
func (fp *franzProducer) topicExists(topic string) (bool, error) {
	return franzTopicExists(fp.cl, topic)
}

func franzTopicExists(cl *kgo.Client, topic string) (bool, error) {
	ctx, cancel := context.WithTimeout(context.Background(), franzDefaultTimeout)
	defer cancel()
	req := metadataRequest([]string{topic})
	req.AllowAutoTopicCreation = false
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return false, err
	}
	for _, t := range resp.Topics {
		if t.Topic == nil || *t.Topic != topic {
			continue
		}
		switch err := kerr.ErrorForCode(t.ErrorCode); {
		case err == nil:
			return true, nil
		case errors.Is(err, kerr.UnknownTopicOrPartition):
			return false, nil
		default:
			return false, err
		}
	}
	return false, fmt.Errorf("metadata for %s: topic not in the answer", topic)
}

// franzRecord copies msg into a record (one allocation for key, value and
// header values): the caller may reuse its buffers once PublishAsync
// returns, as librdkafka copies them too.
func franzRecord(msg *Message, size int) *kgo.Record {
	buf := make([]byte, 0, size)
	take := func(b []byte) []byte {
		if b == nil {
			return nil
		}
		start := len(buf)
		buf = append(buf, b...)
		return buf[start:len(buf):len(buf)]
	}
	r := &kgo.Record{
		Topic:     msg.Topic,
		Key:       take(msg.Key),
		Value:     take(msg.Value),
		Timestamp: msg.Timestamp,
		Context:   context.Background(),
	}
	if len(msg.Headers) > 0 {
		r.Headers = make([]kgo.RecordHeader, len(msg.Headers))
		for i, h := range msg.Headers {
			r.Headers[i] = kgo.RecordHeader{Key: h.Key, Value: take(h.Value)}
		}
	}
	return r
}

func (fp *franzProducer) Publish(ctx context.Context, msg *Message) (Delivery, error) {
	ch := make(chan Delivery, 1)
	if err := fp.PublishAsync(ctx, msg, func(d Delivery) { ch <- d }); err != nil {
		return Delivery{}, err
	}
	select {
	case d := <-ch:
		return d, d.Err
	case <-ctx.Done():
		// The message may still be delivered: at-least-once for the caller.
		return Delivery{}, ctx.Err()
	}
}

func (fp *franzProducer) Flush(ctx context.Context) error {
	for fp.pending.Load() > 0 {
		if err := fp.cl.Flush(ctx); err != nil {
			return fmt.Errorf("flush: %d messages undelivered: %w", fp.pending.Load(), err)
		}
		if fp.pending.Load() == 0 {
			break
		}
		// A PublishAsync between its count and its Produce: wait for it.
		select {
		case <-ctx.Done():
			return fmt.Errorf("flush: %d messages undelivered: %w", fp.pending.Load(), ctx.Err())
		case <-time.After(time.Millisecond):
		}
	}
	return nil
}

func (fp *franzProducer) Ping(ctx context.Context) error { return pingFranz(ctx, fp.cl) }

func (fp *franzProducer) Close() error {
	fp.gate.close() // PublishAsync calls waiting for space return ErrClosed
	fp.mu.Lock()    // waits for enqueues in progress
	already := fp.closed.Swap(true)
	fp.mu.Unlock()
	if already {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = fp.Flush(ctx)
	// Whatever is left fails explicitly (ErrClosed): its callers keep their
	// data. franz-go calls the remaining promises asynchronously.
	fp.cl.Close()
	for fp.pending.Load() > 0 {
		time.Sleep(time.Millisecond)
	}
	return nil
}

// ---------------------------------------------------------------- consumer

type franzConsumer struct {
	cl     *kgo.Client
	log    *slog.Logger
	m      *Metrics
	reb    Rebalance
	regex  bool // Topics has a pattern: franz-go rediscovers a purged topic itself
	closed atomic.Bool

	mu       sync.Mutex
	assigned map[TopicPartition]bool
	paused   map[TopicPartition]bool
	position map[TopicPartition]int64 // next offset to hand out
	high     map[TopicPartition]int64 // last stable offset (read_committed high watermark)
	low      map[TopicPartition]int64 // log start offset
	// gone: topics deleted (or deleted and recreated) under the consumer,
	// from their detection until their partitions are assigned again.
	// Nothing of them is handed out or committed meanwhile.
	gone map[string]bool
}

// franzTopics maps Topics onto ConsumeTopics arguments and whether regex
// consumption is needed. franz-go's ConsumeRegex applies to every entry,
// so with any regex present, literal names become anchored quoted regexes.
func franzTopics(topics []string) ([]string, bool, error) {
	regex := slices.ContainsFunc(topics, func(t string) bool { return strings.HasPrefix(t, "^") })
	if !regex {
		return topics, false, nil
	}
	out := make([]string, len(topics))
	for i, t := range topics {
		if strings.HasPrefix(t, "^") {
			if _, err := regexp.Compile(t); err != nil {
				return nil, false, fmt.Errorf("topic pattern %q: %w", t, err)
			}
			out[i] = t
		} else {
			out[i] = "^" + regexp.QuoteMeta(t) + "$"
		}
	}
	return out, true, nil
}

// franzConsumerOpts maps a ConsumerConfig onto franz-go options (besides
// franzCommon's and the rebalance callbacks).
func franzConsumerOpts(cfg ConsumerConfig) ([]kgo.Opt, error) {
	topics, regex, err := franzTopics(cfg.Topics)
	if err != nil {
		return nil, err
	}
	start := kgo.NewOffset().AtStart()
	if cfg.FromLatest {
		start = kgo.NewOffset().AtEnd()
	}
	// Memory: at most `fetches` fetch responses in flight or buffered, each
	// at most fetchBytes (plus one batch beyond it, as Kafka allows), so
	// about QueueMaxBytes in total.
	fetches := max(1, min(franzMaxConcurrent, cfg.QueueMaxBytes/cfg.MaxFetchBytes))
	fetchBytes := cfg.QueueMaxBytes / fetches
	opts := []kgo.Opt{
		kgo.ConsumerGroup(cfg.GroupID),
		kgo.ConsumeTopics(topics...),
		kgo.DisableAutoCommit(),
		kgo.ConsumeStartOffset(start),
		kgo.ConsumeResetOffset(start),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.BlockRebalanceOnPoll(),
		// Eager range/roundrobin, as the confluent backend: members of
		// both backends can share a group.
		kgo.Balancers(kgo.RangeBalancer(), kgo.RoundRobinBalancer()),
		kgo.SessionTimeout(cfg.SessionTimeout),
		kgo.HeartbeatInterval(cfg.SessionTimeout / 4),
		kgo.FetchMaxWait(franzFetchMaxWait),
		kgo.FetchMaxPartitionBytes(int32(min(cfg.MaxFetchBytes, 1<<30))),
		kgo.FetchMaxBytes(int32(min(fetchBytes, 1<<30))),
		kgo.MaxConcurrentFetches(fetches),
		kgo.BrokerMaxReadBytes(int32(min(max(100<<20, fetchBytes+cfg.MaxFetchBytes+1<<20), 1<<30))),
		kgo.DisableClientMetrics(),
	}
	if regex {
		opts = append(opts, kgo.ConsumeRegex())
	}
	return opts, nil
}

func newFranzConsumer(cfg ConsumerConfig, o options) (*franzConsumer, error) {
	opts, err := franzCommon(cfg.Config, o)
	if err != nil {
		return nil, err
	}
	copts, err := franzConsumerOpts(cfg)
	if err != nil {
		return nil, err
	}
	_, regex, _ := franzTopics(cfg.Topics)
	fc := &franzConsumer{
		log: o.log, m: o.metrics, reb: cfg.Rebalance, regex: regex,
		assigned: map[TopicPartition]bool{}, paused: map[TopicPartition]bool{},
		position: map[TopicPartition]int64{}, high: map[TopicPartition]int64{}, low: map[TopicPartition]int64{},
		gone: map[string]bool{},
	}
	opts = append(opts, copts...)
	opts = append(opts,
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, m map[string][]int32) { fc.onAssigned(m) }),
		kgo.OnPartitionsRevoked(func(_ context.Context, _ *kgo.Client, m map[string][]int32) { fc.onRevoked(m, false) }),
		kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, m map[string][]int32) { fc.onRevoked(m, true) }),
	)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("kafka consumer: %w", err)
	}
	fc.cl = cl
	return fc, nil
}

// Rebalance callbacks: with BlockRebalanceOnPoll, franz-go runs them only
// between Poll's AllowRebalance and the return of its PollRecords, so they
// run while the caller is inside Poll, as librdkafka's do.
func (fc *franzConsumer) onAssigned(m map[string][]int32) {
	parts := fromFranzMap(m)
	fc.mu.Lock()
	for _, tp := range parts {
		fc.assigned[tp] = true
		delete(fc.gone, tp.Topic) // the new topic: handed out and committed again
	}
	fc.mu.Unlock()
	fc.log.Info("partitions assigned", "partitions", fmt.Sprint(parts))
	if fc.reb.OnAssigned != nil {
		fc.reb.OnAssigned(parts)
	}
}

func (fc *franzConsumer) onRevoked(m map[string][]int32, lost bool) {
	fc.revoke(fromFranzMap(m), lost)
}

// revoke tells the caller that parts are no longer its own and forgets
// them. Only partitions still assigned are reported: those of a deleted
// topic were already revoked as lost (topicGone), and the rebalance that
// follows must not revoke them again as not lost, which would have the
// caller commit offsets of the old topic.
func (fc *franzConsumer) revoke(all []TopicPartition, lost bool) {
	fc.mu.Lock()
	parts := slices.DeleteFunc(slices.Clone(all), func(tp TopicPartition) bool { return !fc.assigned[tp] })
	fc.mu.Unlock()
	if len(parts) == 0 {
		return
	}
	fc.log.Info("partitions revoked", "partitions", fmt.Sprint(parts), "lost", lost)
	if fc.reb.OnRevoked != nil {
		fc.reb.OnRevoked(parts, lost)
	}
	fc.mu.Lock()
	var unpause []TopicPartition
	for _, tp := range parts {
		if fc.paused[tp] {
			unpause = append(unpause, tp)
		}
		delete(fc.assigned, tp)
		delete(fc.paused, tp)
		delete(fc.position, tp)
		delete(fc.high, tp)
		delete(fc.low, tp)
	}
	fc.mu.Unlock()
	// Pausing is per assignment, as in librdkafka: a partition assigned
	// again starts unpaused.
	if len(unpause) > 0 {
		fc.cl.ResumeFetchPartitions(toFranzMap(unpause))
	}
}

func (fc *franzConsumer) Poll(ctx context.Context, maxWait time.Duration) (*Message, error) {
	if fc.closed.Load() {
		return nil, ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	// The caller is done with the previous message: rebalances may run.
	fc.cl.AllowRebalance()
	// Fast path: a buffered record, no timer. A nil context is franz-go's
	// documented way to take only what is buffered, without waiting.
	//lint:ignore SA1012 see above
	if m, err := fc.take(fc.cl.PollRecords(nil, 1)); m != nil || err != nil {
		return m, err
	}
	pctx, cancel := context.WithTimeout(ctx, maxWait)
	defer cancel()
	for {
		fc.cl.AllowRebalance() // nothing handed out since
		m, err := fc.take(fc.cl.PollRecords(pctx, 1))
		if m != nil || err != nil {
			return m, err
		}
		if pctx.Err() != nil {
			return nil, ctx.Err() // nil after maxWait
		}
	}
}

// take returns the record in fetches (there is at most one), handling the
// errors franz-go injects: an authorization failure is returned (permanent,
// ErrNotAuthorized), a closed client is ErrClosed, all others are logged
// and counted, and the client retries by itself.
func (fc *franzConsumer) take(fetches kgo.Fetches) (*Message, error) {
	var (
		rec    *kgo.Record
		closed bool
		denied error
		gone   []string
	)
	fetches.EachError(func(topic string, partition int32, err error) {
		switch {
		case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		case errors.Is(err, kgo.ErrClientClosed):
			closed = true
		case isFranzAuthz(err):
			// Retrying cannot help until an operator changes the ACLs:
			// the caller must know, as librdkafka tells the confluent
			// backend's (franz-go would retry forever, silently).
			fc.m.error("fetch")
			if denied == nil {
				denied = fmt.Errorf("consume %s[%d]: %w", topic, partition, notAuthorized(err))
			}
		case errors.Is(err, kerr.UnknownTopicID), errors.Is(err, kerr.InconsistentTopicID):
			// franz-go reports this only after repeated fetches failed
			// with it: the topic was deleted, or deleted and created again
			// under a new ID, which franz-go deliberately never adopts.
			fc.m.error("fetch")
			if !slices.Contains(gone, topic) {
				gone = append(gone, topic)
			}
		default:
			kind := "fetch"
			var ge *kgo.ErrGroupSession
			if errors.As(err, &ge) {
				kind = "group"
			}
			fc.m.error(kind)
			fc.log.Warn("kafka consumer error", "kind", kind, "topic", topic, "partition", partition, "err", err)
		}
	})
	if closed {
		return nil, ErrClosed
	}
	if denied != nil {
		return nil, denied
	}
	for _, topic := range gone {
		fc.topicGone(topic)
	}
	fetches.EachPartition(func(p kgo.FetchTopicPartition) {
		if p.Err != nil {
			return
		}
		tp := TopicPartition{Topic: p.Topic, Partition: p.Partition}
		fc.mu.Lock()
		if fc.gone[p.Topic] {
			fc.mu.Unlock()
			return // buffered from the deleted topic: it no longer exists
		}
		hi := p.LastStableOffset
		if hi < 0 {
			hi = p.HighWatermark
		}
		if hi >= 0 {
			fc.high[tp] = hi
		}
		if p.LogStartOffset >= 0 {
			fc.low[tp] = p.LogStartOffset
		}
		if len(p.Records) > 0 && rec == nil {
			rec = p.Records[0]
			fc.position[tp] = rec.Offset + 1
		}
		fc.mu.Unlock()
	})
	if rec == nil {
		return nil, nil
	}
	return fromFranzRecord(rec), nil
}

// topicGone handles a topic deleted under the consumer, or deleted and
// created again: franz-go keeps the old topic ID and would fail its
// partitions with UNKNOWN_TOPIC_ID forever. Its partitions are revoked as
// lost, so the caller drops what it held of them and commits none of it
// (before Kafka 4.2 a commit goes by name and an old offset would land on
// the new topic, making the group skip its records); then franz-go forgets
// the topic and subscribes to it again, and the new topic is assigned
// through a rebalance and read from its committed offsets or its start.
func (fc *franzConsumer) topicGone(topic string) {
	fc.mu.Lock()
	if fc.gone[topic] {
		fc.mu.Unlock()
		return
	}
	fc.gone[topic] = true
	var parts []TopicPartition
	for tp := range fc.assigned {
		if tp.Topic == topic {
			parts = append(parts, tp)
		}
	}
	fc.mu.Unlock()
	sortParts(parts)
	fc.m.error("topic_recreated")
	fc.log.Warn("kafka consumer: topic deleted or recreated; its partitions are dropped as lost, nothing read from the old topic is committed, and the topic is subscribed again",
		"topic", topic, "partitions", fmt.Sprint(parts))
	fc.revoke(parts, true)
	fc.cl.PurgeTopicsFromClient(topic)
	if !fc.regex {
		fc.cl.AddConsumeTopics(topic)
	}
}

func (fc *franzConsumer) Commit(ctx context.Context, offsets []Offset) error {
	if len(offsets) == 0 {
		return nil
	}
	var refused error
	fc.mu.Lock()
	offsets = slices.DeleteFunc(slices.Clone(offsets), func(o Offset) bool {
		if fc.gone[o.Topic] && refused == nil {
			refused = fmt.Errorf("commit %s at %d: %w: the topic was deleted or recreated since it was read; its old offsets are never committed",
				o.TopicPartition, o.Offset, ErrUnknownTopic)
		}
		return fc.gone[o.Topic]
	})
	fc.mu.Unlock()
	if refused != nil {
		fc.m.error("commit")
		if err := fc.Commit(ctx, offsets); err != nil {
			return err
		}
		return refused
	}
	m := map[string]map[int32]kgo.EpochOffset{}
	for _, o := range offsets {
		if m[o.Topic] == nil {
			m[o.Topic] = map[int32]kgo.EpochOffset{}
		}
		m[o.Topic][o.Partition] = kgo.EpochOffset{Epoch: -1, Offset: o.Offset}
	}
	var rerr error
	fc.cl.CommitOffsetsSync(ctx, m, func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
		if err != nil {
			rerr = fmt.Errorf("commit: %w", classifyFranz(err))
			return
		}
		for _, t := range resp.Topics {
			for _, p := range t.Partitions {
				if err := kerr.ErrorForCode(p.ErrorCode); err != nil && rerr == nil {
					rerr = fmt.Errorf("commit %s: %w", TopicPartition{Topic: t.Topic, Partition: p.Partition}, classifyFranz(err))
				}
			}
		}
	})
	if rerr != nil {
		fc.m.error("commit")
		return rerr
	}
	return ctx.Err()
}

func (fc *franzConsumer) Pause(parts []TopicPartition) error {
	fc.mu.Lock()
	for _, tp := range parts {
		fc.paused[tp] = true
	}
	fc.mu.Unlock()
	// franz-go drops what it buffered of a paused partition without moving
	// its position, and fetches it again after Resume: nothing handed out
	// is lost or repeated, and order is kept.
	fc.cl.PauseFetchPartitions(toFranzMap(parts))
	return nil
}

func (fc *franzConsumer) Resume(parts []TopicPartition) error {
	fc.mu.Lock()
	for _, tp := range parts {
		delete(fc.paused, tp)
	}
	fc.mu.Unlock()
	fc.cl.ResumeFetchPartitions(toFranzMap(parts))
	return nil
}

func (fc *franzConsumer) Seek(o Offset) error {
	tp := o.TopicPartition
	fc.mu.Lock()
	if !fc.assigned[tp] {
		fc.mu.Unlock()
		return fmt.Errorf("seek %s to %d: %w", tp, o.Offset, ErrNotAssigned)
	}
	fc.position[tp] = o.Offset
	fc.mu.Unlock()
	fc.cl.SetOffsets(map[string]map[int32]kgo.EpochOffset{o.Topic: {o.Partition: {Epoch: -1, Offset: o.Offset}}})
	return nil
}

func (fc *franzConsumer) Assignment() ([]TopicPartition, error) {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	out := make([]TopicPartition, 0, len(fc.assigned))
	for tp := range fc.assigned {
		out = append(out, tp)
	}
	sortParts(out)
	return out, nil
}

func (fc *franzConsumer) Lag() (map[TopicPartition]int64, error) {
	committed := fc.cl.CommittedOffsets() // cached: fetched on assignment, updated by commits
	fc.mu.Lock()
	defer fc.mu.Unlock()
	out := make(map[TopicPartition]int64, len(fc.assigned))
	for tp := range fc.assigned {
		hi, ok := fc.high[tp]
		if !ok {
			continue
		}
		pos, ok := fc.position[tp]
		if !ok {
			if eo, ok2 := committed[tp.Topic][tp.Partition]; ok2 && eo.Offset >= 0 {
				pos, ok = eo.Offset, true
			}
		}
		if !ok {
			pos = fc.low[tp]
		}
		out[tp] = max(0, hi-pos)
	}
	return out, nil
}

func (fc *franzConsumer) Ping(ctx context.Context) error { return pingFranz(ctx, fc.cl) }

func (fc *franzConsumer) Close() error {
	if fc.closed.Swap(true) {
		return nil
	}
	fc.cl.AllowRebalance() // leaving the group revokes: let it run
	fc.cl.Close()
	return nil
}

// ---------------------------------------------------------------- admin

type franzAdmin struct {
	cl  *kgo.Client
	adm *kadm.Client
}

func newFranzAdmin(cfg Config, o options) (*franzAdmin, error) {
	opts, err := franzCommon(cfg, o)
	if err != nil {
		return nil, err
	}
	cl, err := kgo.NewClient(append(opts, kgo.DisableClientMetrics())...)
	if err != nil {
		return nil, fmt.Errorf("kafka admin: %w", err)
	}
	adm := kadm.NewClient(cl)
	adm.SetTimeoutMillis(30000) // as the confluent backend's operation timeout
	return &franzAdmin{cl: cl, adm: adm}, nil
}

func (fa *franzAdmin) EnsureTopics(ctx context.Context, specs []TopicSpec) error {
	var (
		errs    []error
		created []string
	)
	for _, s := range specs {
		var configs map[string]*string
		if len(s.Config) > 0 {
			configs = make(map[string]*string, len(s.Config))
			for k, v := range s.Config {
				configs[k] = &v
			}
		}
		rf := int16(s.ReplicationFactor)
		if rf <= 0 {
			rf = -1 // the broker's default.replication.factor
		}
		parts := int32(s.Partitions)
		if parts <= 0 {
			parts = -1
		}
		_, err := fa.adm.CreateTopic(ctx, parts, rf, configs, s.Name)
		if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
			errs = append(errs, fmt.Errorf("create topic %s: %w", s.Name, err))
			continue
		}
		if err == nil {
			created = append(created, s.Name)
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	return fa.waitTopics(ctx, created)
}

// waitTopics returns when every broker's metadata shows every topic with a
// leader for each partition: created topics are usable, through any
// broker, when EnsureTopics returns.
func (fa *franzAdmin) waitTopics(ctx context.Context, topics []string) error {
	for {
		pending, err := fa.topicsNotReady(ctx, topics)
		if err == nil && len(pending) == 0 {
			return nil
		}
		if err == nil {
			err = fmt.Errorf("not ready on every broker: %v", pending)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for topics %v: %w (%w)", topics, ctx.Err(), err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (fa *franzAdmin) topicsNotReady(ctx context.Context, topics []string) ([]string, error) {
	if len(topics) == 0 {
		return nil, nil
	}
	md, err := fa.metadata(ctx, topics)
	if err != nil {
		return nil, err
	}
	req := metadataRequest(topics)
	notReady := map[string]bool{}
	for _, b := range md.Brokers {
		resp, err := req.RequestWith(ctx, fa.cl.Broker(int(b.NodeID)))
		if err != nil {
			return nil, err
		}
		ready := map[string]bool{}
		for _, t := range resp.Topics {
			ok := t.Topic != nil && t.ErrorCode == 0 && len(t.Partitions) > 0
			for _, p := range t.Partitions {
				ok = ok && p.ErrorCode == 0 && p.Leader >= 0
			}
			if ok {
				ready[*t.Topic] = true
			}
		}
		for _, t := range topics {
			if !ready[t] {
				notReady[t] = true
			}
		}
	}
	return slices.Sorted(maps.Keys(notReady)), nil
}

// metadata asks a broker, bypassing franz-go's metadata cache (kadm's
// topic listing may answer from a cache up to 5 s old).
func (fa *franzAdmin) metadata(ctx context.Context, topics []string) (*kmsg.MetadataResponse, error) {
	return metadataRequest(topics).RequestWith(ctx, fa.cl)
}

func metadataRequest(topics []string) *kmsg.MetadataRequest {
	req := kmsg.NewPtrMetadataRequest()
	for _, t := range topics {
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(t)
		req.Topics = append(req.Topics, rt)
	}
	return req
}

func (fa *franzAdmin) TopicConfig(ctx context.Context, topic string) (map[string]string, error) {
	rcs, err := fa.adm.DescribeTopicConfigs(ctx, topic)
	if err != nil {
		return nil, fmt.Errorf("describe topic %s: %w", topic, err)
	}
	rc, err := rcs.On(topic, nil)
	if err == nil {
		err = rc.Err
	}
	if err != nil {
		return nil, fmt.Errorf("describe topic %s: %w", topic, classifyFranz(err))
	}
	out := make(map[string]string, len(rc.Configs))
	for _, c := range rc.Configs {
		out[c.Key] = c.MaybeValue()
	}
	return out, nil
}

func (fa *franzAdmin) Partitions(ctx context.Context, topic string) (int, error) {
	md, err := fa.metadata(ctx, []string{topic})
	if err != nil {
		return 0, fmt.Errorf("metadata %s: %w", topic, err)
	}
	for _, t := range md.Topics {
		if t.Topic != nil && *t.Topic == topic && t.ErrorCode == 0 {
			return len(t.Partitions), nil
		}
	}
	return 0, fmt.Errorf("topic %s: %w", topic, ErrUnknownTopic)
}

func (fa *franzAdmin) Close() error {
	fa.cl.Close()
	return nil
}

// ---------------------------------------------------------------- helpers

func fromFranzRecord(r *kgo.Record) *Message {
	m := &Message{
		Topic:     r.Topic,
		Partition: r.Partition,
		Offset:    r.Offset,
		Key:       r.Key,
		Value:     r.Value,
		Timestamp: r.Timestamp,
	}
	if len(r.Headers) > 0 {
		m.Headers = make([]messages.Header, len(r.Headers))
		for i, h := range r.Headers {
			m.Headers[i] = messages.Header{Key: h.Key, Value: h.Value}
		}
	}
	return m
}

func fromFranzMap(m map[string][]int32) []TopicPartition {
	var out []TopicPartition
	for t, ps := range m {
		for _, p := range ps {
			out = append(out, TopicPartition{Topic: t, Partition: p})
		}
	}
	sortParts(out)
	return out
}

func toFranzMap(parts []TopicPartition) map[string][]int32 {
	m := make(map[string][]int32)
	for _, tp := range parts {
		m[tp.Topic] = append(m[tp.Topic], tp.Partition)
	}
	return m
}

func sortParts(ps []TopicPartition) {
	slices.SortFunc(ps, func(a, b TopicPartition) int {
		if c := strings.Compare(a.Topic, b.Topic); c != 0 {
			return c
		}
		return int(a.Partition) - int(b.Partition)
	})
}

var (
	_ Producer = (*franzProducer)(nil)
	_ Consumer = (*franzConsumer)(nil)
	_ Admin    = (*franzAdmin)(nil)
)
