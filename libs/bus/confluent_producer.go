//go:build cgo && (amd64 || arm64) && !sensornode_noconfluent

package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
)

type confluentProducer struct {
	p       *kafka.Producer
	log     *slog.Logger
	m       *Metrics
	space   chan struct{} // signalled after every delivery: queue space freed
	done    chan struct{} // closed when the event loop ends
	fatal   atomic.Pointer[error]
	closed  atomic.Bool
	pending atomic.Int64
	gate    *memGate
	maxMsg  int
	logs    *logBridge
}

type pendingMsg struct {
	size  int
	start time.Time
	done  func(Delivery)
}

// confluentProducerConfig maps a ProducerConfig onto librdkafka properties.
func confluentProducerConfig(cfg ProducerConfig) (kafka.ConfigMap, error) {
	m, err := commonConfluent(cfg.Config)
	if err != nil {
		return nil, err
	}
	for k, v := range (kafka.ConfigMap{
		"acks":                                  "all",
		"enable.idempotence":                    true,
		"max.in.flight.requests.per.connection": 5,
		"linger.ms":                             int(cfg.Linger / time.Millisecond),
		"message.max.bytes":                     cfg.MaxMessageBytes + 64*1024, // record overhead
		"queue.buffering.max.kbytes":            cfg.QueueMaxBytes / 1024,
		"queue.buffering.max.messages":          cfg.queueMaxMessages(),
		"message.timeout.ms":                    int(cfg.DeliveryTimeout / time.Millisecond),
		"compression.type":                      "none", // JPEG does not compress
		// Java's (and franz-go's) partitioner: a key lands on the same
		// partition whichever client produced it.
		"partitioner": "murmur2_random",
		// After a whole-cluster restart, brokers briefly answer metadata
		// without the topic; librdkafka then fails every produce with
		// "Local: Unknown topic" until its next refresh (default 5 min).
		"topic.metadata.refresh.interval.ms": 10000,
		"go.delivery.reports":                true,
		// Reports need only the partition, offset and opaque: by default
		// each one copies the key and value (the JPEG) back into Go.
		"go.delivery.report.fields": "none",
		"go.events.channel.size":    1000,
		"go.logs.channel.enable":    false,
	}) {
		m[k] = v
	}
	return m, nil
}

func newConfluentProducer(cfg ProducerConfig, o options) (*confluentProducer, error) {
	m, err := confluentProducerConfig(cfg)
	if err != nil {
		return nil, err
	}
	limitMallocArenas()
	m["statistics.interval.ms"] = statsIntervalMs(o)
	logs := newLogBridge(m, o.log)
	p, err := kafka.NewProducer(&m)
	if err != nil {
		logs.stop()
		return nil, fmt.Errorf("kafka producer: %w", err)
	}
	cp := &confluentProducer{p: p, log: o.log, m: o.metrics, space: make(chan struct{}, 1), done: make(chan struct{}),
		maxMsg: cfg.MaxMessageBytes, logs: logs, gate: newMemGate(int64(cfg.QueueMaxBytes), cfg.queueMaxMessages())}
	go cp.events()
	return cp, nil
}

// events owns the delivery report channel until the producer is closed.
func (cp *confluentProducer) events() {
	defer close(cp.done)
	for ev := range cp.p.Events() {
		switch e := ev.(type) {
		case *kafka.Message:
			pm, ok := e.Opaque.(*pendingMsg)
			if !ok {
				continue
			}
			d := Delivery{Topic: deref(e.TopicPartition.Topic), Partition: e.TopicPartition.Partition,
				Offset: int64(e.TopicPartition.Offset), Err: e.TopicPartition.Error}
			if d.Err != nil {
				d.Err = classify(d.Err)
			}
			if errors.Is(d.Err, ErrUnknownTopic) {
				// Confirming takes a round trip: not on the event loop.
				go cp.report(d, pm, true)
				continue
			}
			cp.report(d, pm, false)
		case kafka.Error:
			cp.clientError(e)
		case *kafka.Stats:
			confluentStats(cp.m, cp.log, e)
		}
	}
}

// report hands a delivery to its caller; confirm asks a broker whether an
// unknown topic really is absent first (see confirmMissing).
func (cp *confluentProducer) report(d Delivery, pm *pendingMsg, confirm bool) {
	if confirm {
		d.Err = confirmMissing(d.Err, d.Topic, cp.topicExists)
	}
	if d.Err != nil {
		cp.m.error("delivery")
	} else {
		cp.m.allBrokersDown(false)
	}
	cp.m.delivered(pm.size, time.Since(pm.start).Seconds(), d.Err)
	pm.done(d)
	// After done: Flush returns only when every report was handed out,
	// and a slow callback holds its message's space.
	cp.gate.release(int64(pm.size))
	cp.pending.Add(-1)
	select {
	case cp.space <- struct{}{}:
	default:
	}
}

// topicExists asks a broker for the topic's metadata (auto-creation is
// the broker's setting; sensornode's brokers have it off).
func (cp *confluentProducer) topicExists(topic string) (bool, error) {
	t := topic
	md, err := cp.p.GetMetadata(&t, false, 5000)
	if err != nil {
		return false, err
	}
	tm, ok := md.Topics[topic]
	if !ok {
		return false, fmt.Errorf("metadata for %s: topic not in the answer", topic)
	}
	switch tm.Error.Code() {
	case kafka.ErrNoError:
		return true, nil
	case kafka.ErrUnknownTopicOrPart, kafka.ErrUnknownTopic:
		return false, nil
	default:
		return false, tm.Error
	}
}

func (cp *confluentProducer) clientError(e kafka.Error) {
	switch {
	case e.IsFatal():
		err := fmt.Errorf("%w: %v", ErrFatal, e)
		cp.fatal.Store(&err)
		cp.m.error("fatal")
		cp.log.Error("kafka producer fatal error", "err", e)
	case e.Code() == kafka.ErrAllBrokersDown:
		cp.m.allBrokersDown(true)
		cp.m.error("all_brokers_down")
		cp.log.Warn("kafka producer: all brokers down", "err", e)
	default:
		cp.m.error("transport")
		cp.log.Debug("kafka producer error", "err", e, "code", e.Code().String())
	}
}

func (cp *confluentProducer) PublishAsync(ctx context.Context, msg *Message, done func(Delivery)) error {
	if cp.closed.Load() {
		return ErrClosed
	}
	if f := cp.fatal.Load(); f != nil {
		return *f
	}
	// librdkafka's own limit (message.max.bytes) has room for record
	// overhead, so it would accept a little more than MaxMessageBytes.
	size := msg.Size()
	if size > cp.maxMsg {
		return fmt.Errorf("produce %s: %d bytes > %d: %w", msg.Topic, size, cp.maxMsg, ErrTooLarge)
	}
	if err := cp.gate.acquire(ctx, int64(size)); err != nil {
		return err
	}
	enqueued := false
	defer func() {
		if !enqueued {
			cp.gate.release(int64(size))
		}
	}()
	km := &kafka.Message{
		TopicPartition: kafka.TopicPartition{Topic: &msg.Topic, Partition: kafka.PartitionAny},
		Key:            msg.Key,
		Value:          msg.Value,
		Timestamp:      msg.Timestamp,
		Opaque:         &pendingMsg{size: size, start: time.Now(), done: done},
	}
	for _, h := range msg.Headers {
		km.Headers = append(km.Headers, kafka.Header{Key: h.Key, Value: h.Value})
	}
	for {
		err := cp.p.Produce(km, nil)
		if err == nil {
			enqueued = true
			cp.pending.Add(1)
			cp.m.enqueued(size)
			return nil
		}
		var ke kafka.Error
		if !errors.As(err, &ke) {
			return fmt.Errorf("produce %s: %w", msg.Topic, err)
		}
		switch ke.Code() {
		case kafka.ErrQueueFull:
			// Bounded memory: wait for a delivery to free space.
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-cp.space:
			case <-time.After(50 * time.Millisecond):
			}
		case kafka.ErrMsgSizeTooLarge:
			return fmt.Errorf("produce %s: %d bytes: %w", msg.Topic, size, ErrTooLarge)
		default:
			// librdkafka refuses a topic it already knows to be absent in
			// Produce itself: confirmed like a delivery report's.
			return fmt.Errorf("produce %s: %w", msg.Topic, confirmMissing(classify(err), msg.Topic, cp.topicExists))
		}
	}
}

func (cp *confluentProducer) Publish(ctx context.Context, msg *Message) (Delivery, error) {
	return PublishWait(ctx, cp, msg)
}

func (cp *confluentProducer) Flush(ctx context.Context) error {
	for {
		if cp.pending.Load() == 0 {
			return nil
		}
		cp.p.Flush(50)
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("flush: %d messages undelivered: %w", cp.pending.Load(), err)
		}
	}
}

func (cp *confluentProducer) Ping(ctx context.Context) error {
	return pingConfluent(ctx, cp.p.GetMetadata)
}

func (cp *confluentProducer) Close() error {
	if cp.closed.Swap(true) {
		return nil
	}
	cp.gate.close() // PublishAsync calls waiting for space return ErrClosed
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = cp.Flush(ctx)
	// Whatever is left fails explicitly: its callers keep their data.
	if err := cp.p.Purge(kafka.PurgeQueue | kafka.PurgeInFlight); err != nil {
		cp.log.Warn("kafka producer purge", "err", err)
	}
	for cp.pending.Load() > 0 {
		cp.p.Flush(50)
	}
	cp.p.Close()
	<-cp.done
	cp.logs.stop()
	cp.m.buffered(0, 0)
	return nil
}

var _ Producer = (*confluentProducer)(nil)
