package forwarder

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/sensornode/sensornode/libs/bus"
)

// fakeConsumer is an in-memory consumer-group member owning fixed
// partitions. Commits are checked against the cloud: committing offset o
// while a message below o was not acknowledged is recorded as a violation.
type fakeConsumer struct {
	mu         sync.Mutex
	logs       map[bus.TopicPartition][]*bus.Message
	assigned   []bus.TopicPartition
	pos        map[bus.TopicPartition]int64
	paused     map[bus.TopicPartition]bool
	committed  map[bus.TopicPartition]int64
	reb        bus.Rebalance
	rebalance  []bus.TopicPartition // next assignment, applied in Poll
	rebalanced bool
	cloud      *fakeProducer
	violations []string
	rr         int
	maxPaused  int   // most partitions paused at once
	seekErr    error // returned by Seek when set
}

func newFakeConsumer(cloud *fakeProducer, parts ...bus.TopicPartition) *fakeConsumer {
	return &fakeConsumer{
		logs: map[bus.TopicPartition][]*bus.Message{}, pos: map[bus.TopicPartition]int64{},
		paused: map[bus.TopicPartition]bool{}, committed: map[bus.TopicPartition]int64{},
		cloud: cloud, rebalance: parts, rebalanced: true,
	}
}

func (c *fakeConsumer) append(tp bus.TopicPartition, key, value string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	off := int64(len(c.logs[tp]))
	c.logs[tp] = append(c.logs[tp], &bus.Message{Topic: tp.Topic, Partition: tp.Partition, Offset: off,
		Key: []byte(key), Value: []byte(value)})
}

// reassign makes the next Poll revoke everything and assign parts.
func (c *fakeConsumer) reassign(parts ...bus.TopicPartition) {
	c.mu.Lock()
	c.rebalance, c.rebalanced = parts, true
	c.mu.Unlock()
}

func (c *fakeConsumer) Poll(ctx context.Context, maxWait time.Duration) (*bus.Message, error) {
	c.mu.Lock()
	if c.rebalanced {
		old, next := c.assigned, c.rebalance
		c.rebalanced = false
		c.mu.Unlock()
		if len(old) > 0 && c.reb.OnRevoked != nil {
			c.reb.OnRevoked(old, false)
		}
		c.mu.Lock()
		c.assigned = next
		c.paused = map[bus.TopicPartition]bool{}
		for _, tp := range next {
			c.pos[tp] = c.committed[tp]
		}
		c.mu.Unlock()
		if c.reb.OnAssigned != nil {
			c.reb.OnAssigned(next)
		}
		c.mu.Lock()
	}
	for i := range c.assigned {
		tp := c.assigned[(c.rr+i)%len(c.assigned)]
		if c.paused[tp] || c.pos[tp] >= int64(len(c.logs[tp])) {
			continue
		}
		c.rr++
		m := *c.logs[tp][c.pos[tp]]
		c.pos[tp]++
		c.mu.Unlock()
		return &m, nil
	}
	c.mu.Unlock()
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-time.After(min(maxWait, 2*time.Millisecond)):
	}
	return nil, nil
}

func (c *fakeConsumer) Commit(_ context.Context, offs []bus.Offset) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, o := range offs {
		if !slices.Contains(c.assigned, o.TopicPartition) {
			return fmt.Errorf("commit %s: %w", o.TopicPartition, bus.ErrNotAssigned)
		}
		for off := int64(0); off < o.Offset; off++ {
			if !c.cloud.wasAcked(o.TopicPartition, off) {
				c.violations = append(c.violations, fmt.Sprintf("committed %s@%d before %d was acknowledged", o.TopicPartition, o.Offset, off))
				break
			}
		}
		c.committed[o.TopicPartition] = o.Offset
	}
	return nil
}

func (c *fakeConsumer) Pause(parts []bus.TopicPartition) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, tp := range parts {
		c.paused[tp] = true
	}
	n := 0
	for _, p := range c.paused {
		if p {
			n++
		}
	}
	c.maxPaused = max(c.maxPaused, n)
	return nil
}

func (c *fakeConsumer) Resume(parts []bus.TopicPartition) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, tp := range parts {
		delete(c.paused, tp)
	}
	return nil
}

func (c *fakeConsumer) Seek(o bus.Offset) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.seekErr != nil {
		return c.seekErr
	}
	c.pos[o.TopicPartition] = o.Offset
	return nil
}

func (c *fakeConsumer) Assignment() ([]bus.TopicPartition, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.assigned), nil
}

func (c *fakeConsumer) Lag() (map[bus.TopicPartition]int64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[bus.TopicPartition]int64{}
	for _, tp := range c.assigned {
		out[tp] = int64(len(c.logs[tp])) - c.pos[tp]
	}
	return out, nil
}

func (c *fakeConsumer) Ping(context.Context) error { return nil }
func (c *fakeConsumer) Close() error               { return nil }

func (c *fakeConsumer) committedOf(tp bus.TopicPartition) int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.committed[tp]
}

func (c *fakeConsumer) violationList() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.violations)
}

// fakeProducer is an in-memory cloud cluster. While down, deliveries wait;
// failNext makes the next deliveries fail (like message timeouts).
type fakeProducer struct {
	mu       sync.Mutex
	cond     *sync.Cond
	down     bool
	failNext int
	queue    []fakePending
	topics   map[string][]*bus.Message
	acked    map[bus.TopicPartition]map[int64]bool // source partition/offset, parsed from the value
	inflight int                                   // bytes enqueued, not reported
	maxBytes int                                   // high-water mark of inflight
	closed   bool
	wg       sync.WaitGroup
	maxMsg   int              // PublishAsync refuses larger messages with bus.ErrTooLarge (0: no limit)
	topicErr map[string]error // deliveries to these topics fail with that error
}

type fakePending struct {
	m    *bus.Message
	done func(bus.Delivery)
}

var errFakeTimeout = errors.New("fake: message timed out")

func newFakeProducer() *fakeProducer {
	p := &fakeProducer{topics: map[string][]*bus.Message{}, acked: map[bus.TopicPartition]map[int64]bool{}}
	p.cond = sync.NewCond(&p.mu)
	p.wg.Add(1)
	go p.deliver()
	return p
}

// deliver reports deliveries in order, like a client's delivery goroutine.
func (p *fakeProducer) deliver() {
	defer p.wg.Done()
	p.mu.Lock()
	defer p.mu.Unlock()
	for {
		for !p.closed && (len(p.queue) == 0 || (p.down && p.failNext == 0)) {
			p.cond.Wait()
		}
		if p.closed && len(p.queue) == 0 {
			return
		}
		if p.closed && p.down {
			p.failNext = len(p.queue)
		}
		pm := p.queue[0]
		p.queue = p.queue[1:]
		d := bus.Delivery{Topic: pm.m.Topic}
		if err := p.topicErr[pm.m.Topic]; err != nil {
			d.Err = err
		} else if p.failNext > 0 {
			p.failNext--
			d.Err = errFakeTimeout
		} else {
			d.Offset = int64(len(p.topics[pm.m.Topic]))
			p.topics[pm.m.Topic] = append(p.topics[pm.m.Topic], pm.m)
			if tp, off, ok := sourceOf(pm.m); ok {
				if p.acked[tp] == nil {
					p.acked[tp] = map[int64]bool{}
				}
				p.acked[tp][off] = true
			}
		}
		p.inflight -= pm.m.Size()
		p.mu.Unlock()
		pm.done(d)
		p.mu.Lock()
		p.cond.Broadcast()
	}
}

// sourceOf reads "topic/partition/offset" from a test message's key.
func sourceOf(m *bus.Message) (bus.TopicPartition, int64, bool) {
	var tp bus.TopicPartition
	var off int64
	var topic string
	var part int32
	if _, err := fmt.Sscanf(string(m.Key), "%s %d %d", &topic, &part, &off); err != nil {
		return tp, 0, false
	}
	return bus.TopicPartition{Topic: topic, Partition: part}, off, true
}

func (p *fakeProducer) PublishAsync(ctx context.Context, m *bus.Message, done func(bus.Delivery)) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return bus.ErrClosed
	}
	if p.maxMsg > 0 && m.Size() > p.maxMsg {
		return fmt.Errorf("fake produce %s: %d bytes > %d: %w", m.Topic, m.Size(), p.maxMsg, bus.ErrTooLarge)
	}
	p.queue = append(p.queue, fakePending{m: m, done: done})
	p.inflight += m.Size()
	p.maxBytes = max(p.maxBytes, p.inflight)
	p.cond.Broadcast()
	return nil
}

func (p *fakeProducer) Flush(ctx context.Context) error {
	stop := context.AfterFunc(ctx, func() {
		p.mu.Lock()
		p.cond.Broadcast()
		p.mu.Unlock()
	})
	defer stop()
	p.mu.Lock()
	defer p.mu.Unlock()
	for len(p.queue) > 0 {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		p.cond.Wait()
	}
	return nil
}

func (p *fakeProducer) Ping(context.Context) error { return nil }

func (p *fakeProducer) Close() error {
	p.mu.Lock()
	p.closed = true
	p.cond.Broadcast()
	p.mu.Unlock()
	p.wg.Wait()
	return nil
}

func (p *fakeProducer) setDown(down bool) {
	p.mu.Lock()
	p.down = down
	p.cond.Broadcast()
	p.mu.Unlock()
}

// setTopicErr makes deliveries to topic fail with err (nil: succeed again).
func (p *fakeProducer) setTopicErr(topic string, err error) {
	p.mu.Lock()
	if p.topicErr == nil {
		p.topicErr = map[string]error{}
	}
	p.topicErr[topic] = err
	p.cond.Broadcast()
	p.mu.Unlock()
}

// fail makes the next n deliveries fail.
func (p *fakeProducer) fail(n int) {
	p.mu.Lock()
	p.failNext += n
	p.cond.Broadcast()
	p.mu.Unlock()
}

func (p *fakeProducer) wasAcked(tp bus.TopicPartition, off int64) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.acked[tp][off]
}

func (p *fakeProducer) messages(topic string) []*bus.Message {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.topics[topic])
}

func (p *fakeProducer) stats() (queued, maxBytes int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.queue), p.maxBytes
}

var (
	_ bus.Consumer = (*fakeConsumer)(nil)
	_ Producer     = (*fakeProducer)(nil)
)
