//go:build cgo && (amd64 || arm64) && !sensornode_noconfluent

package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
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
// delivery, then it is closed.
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

// rdInstance is one librdkafka producer and its event loop.
type rdInstance struct {
	p       *kafka.Producer
	logs    *logBridge
	done    chan struct{} // closed when the event loop ends
	pending atomic.Int64  // its messages without a report

	// mu is read-held while a message is handed to p; retire takes it so
	// that no message enters after the final purge.
	mu      sync.RWMutex
	retired bool

	deadOnce sync.Once
	dead     chan struct{} // closed on its fatal error
}

type pendingMsg struct {
	size  int
	start time.Time
	done  func(Delivery)
}

// Recreating after a fatal error.
const (
	// fatalGrace: how long a dead instance may still receive the broker's
	// answers for the requests it had in flight (librdkafka fails only
	// its queued messages on a fatal error), before they are purged too.
	fatalGrace = 5 * time.Second
	// recreateBackoff doubles from its first value up to its last
	// between failed attempts to create a new instance.
	recreateBackoffMin, recreateBackoffMax = 100 * time.Millisecond, 30 * time.Second
)

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

// newInstance creates a librdkafka producer from cp's config, not in
// service yet (see serve).
func (cp *confluentProducer) newInstance() (*rdInstance, error) {
	m := make(kafka.ConfigMap, len(cp.conf)+2)
	for k, v := range cp.conf {
		m[k] = v
	}
	logs := newLogBridge(m, cp.log) // a log channel per instance
	p, err := kafka.NewProducer(&m)
	if err != nil {
		logs.stop()
		return nil, fmt.Errorf("kafka producer: %w", err)
	}
	inst := &rdInstance{p: p, logs: logs, done: make(chan struct{}), dead: make(chan struct{})}
	cp.mu.Lock()
	cp.live = append(cp.live, inst)
	cp.mu.Unlock()
	if cp.created != nil {
		cp.created(inst)
	}
	return inst, nil
}

// serve puts inst in service and only then starts its event loop, the
// one caller of fatal besides PublishAsync (which uses only instances in
// service): so the instance whose fatal error fatal handles is always the
// one in service, unless the producer is closed. Called with cp.mu held.
func (cp *confluentProducer) serve(inst *rdInstance) {
	cp.cur, cp.recreErr = inst, nil
	close(cp.ready)
	go cp.events(inst)
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

// errRetired: the instance was closed (replaced, or the producer closed).
var errRetired = errors.New("kafka producer instance retired")

// use calls f with inst's client unless inst is retired: its client is
// not closed while f runs.
func (inst *rdInstance) use(f func(p *kafka.Producer) error) error {
	inst.mu.RLock()
	defer inst.mu.RUnlock()
	if inst.retired {
		return errRetired
	}
	return f(inst.p)
}

func (inst *rdInstance) isDead() bool {
	select {
	case <-inst.dead:
		return true
	default:
		return false
	}
}

// current is the instance in service, nil while one is being replaced.
func (cp *confluentProducer) current() *rdInstance {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	return cp.cur
}

// fatal takes inst, the instance in service (see serve), out of service
// after its fatal error (once) and starts its replacement. Called from
// inst's event loop (the error event) and from PublishAsync (Produce
// refused with ERR__FATAL).
func (cp *confluentProducer) fatal(inst *rdInstance, cause error) {
	inst.deadOnce.Do(func() {
		close(inst.dead)
		cp.m.error("fatal")
		cp.log.Error("kafka producer fatal error: replacing the client instance; its unacknowledged messages fail and are to be sent again",
			"err", cause, "unacknowledged", inst.pending.Load())
		cp.mu.Lock()
		defer cp.mu.Unlock()
		if cp.closed.Load() {
			return // Close retires the instance it finds in service
		}
		cp.replacers.Add(1)
		cp.cur, cp.ready, cp.recreErr = nil, make(chan struct{}), nil
		go cp.replace(inst, cause)
	})
}

// replace creates dead's successor (retrying with backoff until it exists
// or the producer is closed), then retires dead.
func (cp *confluentProducer) replace(dead *rdInstance, cause error) {
	defer cp.replacers.Done()
	backoff := recreateBackoffMin
	for attempt := 1; ; attempt++ {
		inst, err := cp.newInstance()
		if err == nil {
			cp.mu.Lock()
			if cp.closed.Load() {
				cp.mu.Unlock()
				// Never in service: a fatal error of it finds cp closed.
				go cp.events(inst)
				cp.retire(inst, false)
				break
			}
			cp.serve(inst)
			cp.mu.Unlock()
			cp.m.recreated()
			cp.log.Warn("kafka producer recreated after a fatal error", "cause", cause, "attempt", attempt)
			break
		}
		cp.mu.Lock()
		cp.recreErr = fmt.Errorf("%w: recreating the producer after %v: attempt %d failed: %v", ErrFatal, cause, attempt, err)
		cp.mu.Unlock()
		cp.log.Error("kafka producer: recreating after a fatal error failed; retrying", "cause", cause, "err", err, "attempt", attempt, "backoff", backoff)
		select {
		case <-cp.stop:
		case <-time.After(backoff):
			backoff = min(2*backoff, recreateBackoffMax)
			continue
		}
		break
	}
	cp.retire(dead, true)
}

// retire closes inst after every one of its messages got its report:
// those the broker answers within fatalGrace (grace) as answered, the rest
// purged (a failed report each).
func (cp *confluentProducer) retire(inst *rdInstance, grace bool) {
	if grace {
		end := time.Now().Add(fatalGrace)
		inst.flushUntil(func() bool { return !time.Now().Before(end) || cp.closed.Load() })
	}
	inst.mu.Lock() // waits for Produce calls in progress; none after
	inst.retired = true
	inst.mu.Unlock()
	// Blocking purge: not on the event loop, which keeps handing out
	// the purged messages' reports meanwhile.
	if err := inst.p.Purge(kafka.PurgeQueue | kafka.PurgeInFlight); err != nil {
		cp.log.Warn("kafka producer purge", "err", err)
	}
	inst.flushUntil(func() bool { return false })
	inst.p.Close()
	<-inst.done
	inst.logs.stop()
	cp.mu.Lock()
	cp.live = slices.DeleteFunc(cp.live, func(i *rdInstance) bool { return i == inst })
	cp.mu.Unlock()
}

// flushUntil flushes inst until each of its messages got its report, or
// stop says to give up.
func (inst *rdInstance) flushUntil(stop func() bool) {
	for inst.pending.Load() > 0 && !stop() {
		if inst.p.Flush(50) == 0 {
			// Reports being handed out (an unknown topic's is confirmed
			// first, on its own goroutine): do not spin.
			time.Sleep(5 * time.Millisecond)
		}
	}
}

// instance returns the instance in service, waiting while a dead one is
// replaced (bounded by ctx). While attempts to recreate fail it returns
// the last attempt's error (ErrFatal) at once.
func (cp *confluentProducer) instance(ctx context.Context) (*rdInstance, error) {
	for {
		if cp.closed.Load() {
			return nil, ErrClosed
		}
		cp.mu.Lock()
		inst, ready, rerr := cp.cur, cp.ready, cp.recreErr
		cp.mu.Unlock()
		switch {
		case inst != nil:
			return inst, nil
		case rerr != nil:
			return nil, rerr
		}
		select {
		case <-ready:
		case <-cp.stop:
		case <-ctx.Done():
			return nil, fmt.Errorf("waiting for the producer to be recreated after a fatal error: %w", ctx.Err())
		}
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
