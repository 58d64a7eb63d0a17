package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

type franzProducer struct {
	cl     *kgo.Client
	log    *slog.Logger
	m      *Metrics
	maxMsg int
	gate   *memGate
	// stopStats ends the buffered gauges' refresh.
	stopStats func()

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
		kgo.MaxBufferedRecords(cfg.queueMaxMessages() + 1),
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
		gate: newMemGate(int64(cfg.QueueMaxBytes), cfg.queueMaxMessages()),
		stopStats: pollBuffered(o.metrics, o.statsInterval, func() (int64, int64) {
			return cl.BufferedProduceRecords(), cl.BufferedProduceBytes()
		}),
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
	return PublishWait(ctx, fp, msg)
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
	fp.stopStats()
	return nil
}

var _ Producer = (*franzProducer)(nil)
