package bustest

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/sensornode/sensornode/libs/bus"
)

// maxQueuedMessages bounds the messages awaiting their reports, as both
// backends do (librdkafka's queue.buffering.max.messages).
const maxQueuedMessages = 100000

// Producer is a bus.Producer of a Cluster.
type Producer struct {
	cl     *Cluster
	cfg    bus.ProducerConfig
	exited chan struct{} // closed when the delivery goroutine ends

	// Under cl.mu.
	queue    []*pending // oldest first
	inflight int        // accepted and not reported (queue and the report being made)
	bytes    int        // their sizes
	flushing int        // Flush calls in progress: linger is skipped
	closed   bool
	next     map[string]int32 // per topic, the partition of the next message without a key
}

type pending struct {
	m        *bus.Message
	size     int
	done     func(bus.Delivery)
	enqueued time.Time
}

// NewProducer returns a producer of the cluster. Zero MaxMessageBytes and
// QueueMaxBytes take their defaults (8 MiB, 16 MiB); an empty broker list
// is fine. The config is validated as bus.NewProducer does.
func (c *Cluster) NewProducer(cfg bus.ProducerConfig) (*Producer, error) {
	cfg.Config = fillConfig(cfg.Config)
	if cfg.MaxMessageBytes == 0 {
		cfg.MaxMessageBytes = 8 << 20
	}
	if cfg.QueueMaxBytes == 0 {
		cfg.QueueMaxBytes = max(16<<20, 2*cfg.MaxMessageBytes)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	p := &Producer{cl: c, cfg: cfg, exited: make(chan struct{}), next: map[string]int32{}}
	go p.run()
	return p, nil
}

// PublishAsync enqueues a copy of m; done gets its report from the
// producer's goroutine. It blocks while QueueMaxBytes of messages wait for
// their reports (a message holds its space until done returned), until
// ctx is done.
func (p *Producer) PublishAsync(ctx context.Context, m *bus.Message, done func(bus.Delivery)) error {
	size := m.Size()
	if size > p.cfg.MaxMessageBytes {
		return fmt.Errorf("produce %s: %d bytes > %d: %w", m.Topic, size, p.cfg.MaxMessageBytes, bus.ErrTooLarge)
	}
	c := p.cl
	c.mu.Lock()
	defer c.mu.Unlock()
	for {
		if p.closed {
			return bus.ErrClosed
		}
		// A message always fits an empty queue, whatever its size.
		if p.inflight == 0 || p.bytes+size <= p.cfg.QueueMaxBytes && p.inflight < maxQueuedMessages {
			break
		}
		ch := c.changed
		c.mu.Unlock()
		waitChanged(ctx.Done(), ch, 0)
		c.mu.Lock()
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	p.queue = append(p.queue, &pending{m: copyMessage(m), size: size, done: done, enqueued: time.Now()})
	p.inflight++
	p.bytes += size
	c.changedLocked()
	return nil
}

// Publish publishes m and waits for its report.
func (p *Producer) Publish(ctx context.Context, m *bus.Message) (bus.Delivery, error) {
	return bus.PublishWait(ctx, p, m)
}

// Flush sends what lingers and waits until every accepted message was
// reported (its done returned).
func (p *Producer) Flush(ctx context.Context) error {
	c := p.cl
	c.mu.Lock()
	defer c.mu.Unlock()
	p.flushing++
	c.changedLocked()
	defer func() { p.flushing-- }()
	for p.inflight > 0 {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("flush: %d messages undelivered: %w", p.inflight, err)
		}
		ch := c.changed
		c.mu.Unlock()
		waitChanged(ctx.Done(), ch, 0)
		c.mu.Lock()
	}
	return nil
}

// Ping answers like a metadata round trip.
func (p *Producer) Ping(ctx context.Context) error {
	return p.cl.ping(ctx, func() bool { return p.closed })
}

func (c *Cluster) ping(ctx context.Context, closed func() bool) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if closed() {
		return bus.ErrClosed
	}
	if err := c.faultLocked(Ping); err != nil {
		return fmt.Errorf("ping: %w", err)
	}
	return c.reachableLocked()
}

// Close sends what lingers, fails with ErrClosed what cannot be delivered
// (the cluster is down) and stops the producer. PublishAsync calls waiting
// for room return ErrClosed.
func (p *Producer) Close() error {
	c := p.cl
	c.mu.Lock()
	if p.closed {
		c.mu.Unlock()
		return nil
	}
	p.closed = true
	c.changedLocked()
	c.mu.Unlock()
	<-p.exited
	return nil
}

// run delivers the queue in order and reports each message.
func (p *Producer) run() {
	defer close(p.exited)
	c := p.cl
	c.mu.Lock()
	defer c.mu.Unlock()
	for {
		if len(p.queue) == 0 && p.closed {
			return
		}
		var (
			wait  time.Duration // 0: until the cluster changes
			d     bus.Delivery
			ready bool
		)
		if len(p.queue) > 0 {
			pm := p.queue[0]
			now := time.Now()
			due := pm.enqueued.Add(p.cfg.Linger)
			expires := pm.enqueued.Add(p.cfg.DeliveryTimeout)
			switch {
			case p.flushing == 0 && !p.closed && now.Before(due):
				wait = due.Sub(now)
			case c.down && p.closed:
				d, ready = failed(pm.m, fmt.Errorf("%w: no broker reachable", bus.ErrClosed)), true
			case c.down && p.cfg.DeliveryTimeout > 0 && !now.Before(expires):
				d, ready = failed(pm.m, fmt.Errorf("produce %s: %w (no broker reachable)", pm.m.Topic, bus.ErrDeliveryTimed)), true
			case c.down && p.cfg.DeliveryTimeout > 0:
				wait = expires.Sub(now)
			case c.down:
			default:
				d, ready = c.deliverLocked(p, pm.m), true
			}
			if ready {
				p.queue = p.queue[1:]
				c.mu.Unlock()
				pm.done(d)
				c.mu.Lock()
				p.inflight--
				p.bytes -= pm.size
				c.changedLocked()
				continue
			}
		}
		ch := c.changed
		c.mu.Unlock()
		waitChanged(nil, ch, wait)
		c.mu.Lock()
	}
}

func failed(m *bus.Message, err error) bus.Delivery {
	return bus.Delivery{Topic: m.Topic, Partition: -1, Offset: -1, Err: err}
}

// deliverLocked writes m as the broker would, or says why not.
func (c *Cluster) deliverLocked(p *Producer, m *bus.Message) bus.Delivery {
	if err := c.faultLocked(Deliver); err != nil {
		return failed(m, err)
	}
	t, ok := c.topics[m.Topic]
	if !ok {
		// As both backends report once a broker confirmed it absent.
		return failed(m, bus.Permanent(fmt.Errorf("produce %s: topic does not exist: %w", m.Topic, bus.ErrUnknownTopic)))
	}
	limit, err := intConfig(t.config, "max.message.bytes")
	if err == nil && m.Size() > limit {
		return failed(m, fmt.Errorf("produce %s: %d bytes > the topic's max.message.bytes %d: %w", m.Topic, m.Size(), limit, bus.ErrTooLarge))
	}
	if m.Key == nil && strings.Contains(t.config["cleanup.policy"], "compact") {
		return failed(m, fmt.Errorf("produce %s: no key on a compacted topic: %w", m.Topic, bus.ErrInvalidRecord))
	}
	part := p.partition(m, int32(len(t.parts)))
	return bus.Delivery{Topic: m.Topic, Partition: part, Offset: c.appendLocked(t, m, part)}
}

// partition is the partition of m among n: murmur2 of the key as Kafka's
// Java client, franz-go's default and librdkafka's murmur2_random
// partitioners, round robin without a key. Under cl.mu.
func (p *Producer) partition(m *bus.Message, n int32) int32 {
	if m.Key != nil {
		return int32(murmur2(m.Key)&0x7fffffff) % n
	}
	part := p.next[m.Topic] % n
	p.next[m.Topic] = part + 1
	return part
}

// murmur2 is Kafka's murmur2 hash (org.apache.kafka.common.utils.Utils).
func murmur2(data []byte) uint32 {
	const (
		seed uint32 = 0x9747b28c
		m    uint32 = 0x5bd1e995
		r           = 24
	)
	n := len(data)
	h := seed ^ uint32(n)
	for i := 0; i+4 <= n; i += 4 {
		k := uint32(data[i]) | uint32(data[i+1])<<8 | uint32(data[i+2])<<16 | uint32(data[i+3])<<24
		k *= m
		k ^= k >> r
		k *= m
		h *= m
		h ^= k
	}
	tail := data[n&^3:]
	switch len(tail) {
	case 3:
		h ^= uint32(tail[2]) << 16
		fallthrough
	case 2:
		h ^= uint32(tail[1]) << 8
		fallthrough
	case 1:
		h ^= uint32(tail[0])
		h *= m
	}
	h ^= h >> 13
	h *= m
	h ^= h >> 15
	return h
}

var _ bus.Producer = (*Producer)(nil)
