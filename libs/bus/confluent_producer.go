//go:build cgo && (amd64 || arm64) && !sensornode_noconfluent

package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
)

// confluentProducer is a librdkafka producer that outlives librdkafka's
// fatal errors. An idempotent librdkafka producer that raises a fatal
// error (e.g. "unable to reconstruct MessageSet ...: unable to guarantee
// consistency") refuses every later message: librdkafka's rule is that the
// application destroys it and creates another. So the producer is a
// sequence of instances: on a fatal error the dead instance is taken out of
// service at once, a new one is created from the same config (retried with
// backoff if that fails) and PublishAsync waits for it, bounded by its
// context; the dead instance's messages each get one delivery report with
// an error (ErrFatal), so callers send them again as after any failed
// delivery, then it is closed. This file is the Producer and the delivery
// reports; confluent_instance.go is the instances' life: creation,
// service, fatal error, replacement and retirement.
type confluentProducer struct {
	conf   kafka.ConfigMap
	log    *slog.Logger
	m      *Metrics
	space  chan struct{} // signalled after every delivery: queue space freed
	gate   *memGate
	maxMsg int

	closed atomic.Bool

	mu        sync.Mutex
	cur       *rdInstance   // nil while a dead one is being replaced
	live      []*rdInstance // every instance not closed yet: cur and those being retired
	ready     chan struct{} // closed when cur is set again
	recreErr  error         // the last failed attempt to recreate, while cur is nil
	stop      chan struct{} // closed by Close: no more recreating
	replacers sync.WaitGroup

	// created, if set (tests), is called with each new instance before
	// it is in service.
	created func(*rdInstance)
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
	cp := &confluentProducer{conf: m, log: o.log, m: o.metrics, space: make(chan struct{}, 1),
		maxMsg: cfg.MaxMessageBytes, gate: newMemGate(int64(cfg.QueueMaxBytes), cfg.queueMaxMessages()),
		ready: make(chan struct{}), stop: make(chan struct{})}
	inst, err := cp.newInstance()
	if err != nil {
		return nil, err
	}
	cp.mu.Lock()
	cp.serve(inst)
	cp.mu.Unlock()
	return cp, nil
}

// pending is the number of messages without a report, of every instance.
func (cp *confluentProducer) pending() int64 {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	var n int64
	for _, inst := range cp.live {
		n += inst.pending.Load()
	}
	return n
}

// events owns an instance's event channel until the instance is closed.
func (cp *confluentProducer) events(inst *rdInstance) {
	defer close(inst.done)
	for ev := range inst.p.Events() {
		switch e := ev.(type) {
		case *kafka.Message:
			pm, ok := e.Opaque.(*pendingMsg)
			if !ok {
				continue
			}
			d := Delivery{Topic: deref(e.TopicPartition.Topic), Partition: e.TopicPartition.Partition,
				Offset: int64(e.TopicPartition.Offset), Err: e.TopicPartition.Error}
			if d.Err != nil {
				d.Err = cp.deliveryError(inst, d.Err)
			}
			if errors.Is(d.Err, ErrUnknownTopic) {
				// Confirming takes a round trip: not on the event loop.
				go cp.report(inst, d, pm, true)
				continue
			}
			cp.report(inst, d, pm, false)
		case kafka.Error:
			cp.clientError(inst, e)
		case *kafka.Stats:
			if !inst.isDead() { // a dead instance's would overwrite its successor's
				confluentStats(cp.m, cp.log, e)
			}
		}
	}
}

// deliveryError classifies a failed delivery. A message of an instance
// that died of a fatal error failed because of that error (purged, or
// failed by librdkafka after it), not because the caller closed the
// producer: ErrFatal, never ErrClosed, unless it is permanent anyway.
func (cp *confluentProducer) deliveryError(inst *rdInstance, err error) error {
	c := classify(err)
	switch {
	case !inst.isDead() || cp.closed.Load() || IsPermanent(c) || errors.Is(c, ErrFatal):
		return c
	case errors.Is(c, ErrClosed): // purged: keep ErrClosed out of the chain
		return fmt.Errorf("%w: the producer instance was replaced after a fatal error before this message was acknowledged: %v", ErrFatal, err)
	default:
		return fmt.Errorf("%w: the producer instance was replaced after a fatal error: %w", ErrFatal, c)
	}
}

// report hands a delivery to its caller; confirm asks a broker whether an
// unknown topic really is absent first (see confirmMissing).
func (cp *confluentProducer) report(inst *rdInstance, d Delivery, pm *pendingMsg, confirm bool) {
	if confirm {
		d.Err = confirmMissing(d.Err, d.Topic, func(topic string) (bool, error) { return cp.topicExists(inst, topic) })
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
	inst.pending.Add(-1)
	select {
	case cp.space <- struct{}{}:
	default:
	}
}

// topicExists asks a broker for the topic's metadata (auto-creation is
// the broker's setting; sensornode's brokers have it off), through the
// current instance (inst's when it is being replaced).
func (cp *confluentProducer) topicExists(inst *rdInstance, topic string) (bool, error) {
	if c := cp.current(); c != nil {
		inst = c
	}
	t := topic
	var md *kafka.Metadata
	err := inst.use(func(p *kafka.Producer) (err error) {
		md, err = p.GetMetadata(&t, false, 5000)
		return err
	})
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

func (cp *confluentProducer) clientError(inst *rdInstance, e kafka.Error) {
	switch {
	case e.IsFatal():
		cp.fatal(inst, e)
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
		inst, err := cp.instance(ctx)
		if err != nil {
			return err
		}
		err = cp.produce(inst, km)
		if err == nil {
			enqueued = true
			cp.m.enqueued(size)
			return nil
		}
		if errors.Is(err, errRetired) {
			continue // replaced or closed meanwhile: instance tells which
		}
		var ke kafka.Error
		if !errors.As(err, &ke) {
			return fmt.Errorf("produce %s: %w", msg.Topic, err)
		}
		switch ke.Code() {
		case kafka.ErrFatal:
			// The instance died (its error event may not have been
			// handled yet): wait for its successor.
			cause := error(ke)
			_ = inst.use(func(p *kafka.Producer) error {
				if fe := p.GetFatalError(); fe != nil {
					cause = fe
				}
				return nil
			})
			cp.fatal(inst, cause)
		case kafka.ErrQueueFull:
			// Bounded memory: wait for a delivery to free space.
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-cp.space:
			case <-inst.dead:
			case <-time.After(50 * time.Millisecond):
			}
		case kafka.ErrMsgSizeTooLarge:
			return fmt.Errorf("produce %s: %d bytes: %w", msg.Topic, size, ErrTooLarge)
		default:
			// librdkafka refuses a topic it already knows to be absent in
			// Produce itself: confirmed like a delivery report's.
			return fmt.Errorf("produce %s: %w", msg.Topic, confirmMissing(classify(err), msg.Topic,
				func(topic string) (bool, error) { return cp.topicExists(inst, topic) }))
		}
	}
}

// produce hands km to inst, counted as pending before librdkafka may
// report it; a retired instance refuses it (errRetired).
func (cp *confluentProducer) produce(inst *rdInstance, km *kafka.Message) error {
	return inst.use(func(p *kafka.Producer) error {
		inst.pending.Add(1)
		if err := p.Produce(km, nil); err != nil {
			inst.pending.Add(-1)
			return err
		}
		return nil
	})
}

func (cp *confluentProducer) Publish(ctx context.Context, msg *Message) (Delivery, error) {
	return PublishWait(ctx, cp, msg)
}

func (cp *confluentProducer) Flush(ctx context.Context) error {
	for cp.pending() > 0 {
		if inst := cp.current(); inst != nil {
			_ = inst.use(func(p *kafka.Producer) error { p.Flush(50); return nil })
		} else {
			// Being replaced: the dead instance is flushed by replace.
			select {
			case <-ctx.Done():
			case <-time.After(50 * time.Millisecond):
			}
		}
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("flush: %d messages undelivered: %w", cp.pending(), err)
		}
	}
	return nil
}

func (cp *confluentProducer) Ping(ctx context.Context) error {
	inst, err := cp.instance(ctx)
	if err != nil {
		return err
	}
	err = inst.use(func(p *kafka.Producer) error { return pingConfluent(ctx, p.GetMetadata) })
	if errors.Is(err, errRetired) {
		return fmt.Errorf("%w: %w", ErrBrokersDown, err) // replaced meanwhile: the next Ping uses the new one
	}
	return err
}

func (cp *confluentProducer) Close() error {
	if cp.closed.Swap(true) {
		return nil
	}
	cp.gate.close() // PublishAsync calls waiting for space return ErrClosed
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = cp.Flush(ctx)
	// No instance is created after this (fatal and replace check closed
	// under mu); a replacement under way retires its dead instance and
	// the new one it may have made.
	cp.mu.Lock()
	close(cp.stop)
	inst := cp.cur
	cp.mu.Unlock()
	cp.replacers.Wait()
	if inst != nil {
		// Whatever is left fails explicitly: its callers keep their data.
		cp.retire(inst, false)
	}
	cp.m.buffered(0, 0)
	return nil
}

var _ Producer = (*confluentProducer)(nil)
