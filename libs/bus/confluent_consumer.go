//go:build cgo && (amd64 || arm64) && !sensornode_noconfluent

package bus

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/sensornode/sensornode/libs/messages"
)

type confluentConsumer struct {
	c    *kafka.Consumer
	logs *logBridge
	log  *slog.Logger
	m    *Metrics
	reb  Rebalance

	mu       sync.Mutex
	paused   map[TopicPartition]bool
	stash    map[TopicPartition][]*Message // fetched while paused
	position map[TopicPartition]int64      // next offset to hand out
}

// confluentMinReceiveBytes is the smallest receive.message.max.bytes: a
// fetch response may hold one record batch larger than the fetch sizes.
const confluentMinReceiveBytes = 100 << 20

// confluentConsumerConfig maps a ConsumerConfig onto librdkafka properties.
func confluentConsumerConfig(cfg ConsumerConfig) (kafka.ConfigMap, error) {
	m, err := commonConfluent(cfg.Config)
	if err != nil {
		return nil, err
	}
	reset := "earliest"
	if cfg.FromLatest {
		reset = "latest"
	}
	for k, v := range (kafka.ConfigMap{
		"group.id":                      cfg.GroupID,
		"enable.auto.commit":            false,
		"enable.auto.offset.store":      false,
		"auto.offset.reset":             reset,
		"session.timeout.ms":            int(cfg.SessionTimeout / time.Millisecond),
		"heartbeat.interval.ms":         int(cfg.SessionTimeout / time.Millisecond / 4),
		"partition.assignment.strategy": "range,roundrobin",
		"max.partition.fetch.bytes":     cfg.MaxFetchBytes,
		"fetch.max.bytes":               cfg.QueueMaxBytes,
		// A sanity limit on one response, not a buffer: a record batch
		// larger than the fetch sizes above still comes whole (Kafka
		// returns the first batch of a fetch whatever its size), and a
		// response over this limit would wedge the partition (franz:
		// BrokerMaxReadBytes, the same floor).
		"receive.message.max.bytes":  max(confluentMinReceiveBytes, cfg.QueueMaxBytes+cfg.MaxFetchBytes+1<<20),
		"queued.max.messages.kbytes": cfg.QueueMaxBytes / 1024,
		"queued.min.messages":        1000,
		// librdkafka >= 2.4 waits this long (default 1 s) before fetching
		// again once the queue thresholds above were reached.
		"fetch.queue.backoff.ms":             10,
		"topic.metadata.refresh.interval.ms": 10000, // discover new nodeN topics quickly
		"go.logs.channel.enable":             false,
		"isolation.level":                    "read_committed",
	}) {
		m[k] = v
	}
	return m, nil
}

func newConfluentConsumer(cfg ConsumerConfig, o options) (*confluentConsumer, error) {
	m, err := confluentConsumerConfig(cfg)
	if err != nil {
		return nil, err
	}
	limitMallocArenas()
	m["statistics.interval.ms"] = statsIntervalMs(o)
	logs := newLogBridge(m, o.log)
	c, err := kafka.NewConsumer(&m)
	if err != nil {
		logs.stop()
		return nil, fmt.Errorf("kafka consumer: %w", err)
	}
	cc := &confluentConsumer{c: c, log: o.log, m: o.metrics, reb: cfg.Rebalance, logs: logs,
		paused: map[TopicPartition]bool{}, stash: map[TopicPartition][]*Message{}, position: map[TopicPartition]int64{}}
	if err := c.SubscribeTopics(cfg.Topics, cc.rebalance); err != nil {
		c.Close()
		logs.stop()
		return nil, fmt.Errorf("subscribe %v: %w", cfg.Topics, err)
	}
	return cc, nil
}

func (cc *confluentConsumer) rebalance(c *kafka.Consumer, ev kafka.Event) error {
	switch e := ev.(type) {
	case kafka.AssignedPartitions:
		parts := fromKafkaParts(e.Partitions)
		cc.log.Info("partitions assigned", "partitions", fmt.Sprint(parts))
		if cc.reb.OnAssigned != nil {
			cc.reb.OnAssigned(parts)
		}
		if err := c.Assign(e.Partitions); err != nil {
			cc.log.Error("assign", "err", err)
		}
	case kafka.RevokedPartitions:
		parts := fromKafkaParts(e.Partitions)
		lost := c.AssignmentLost()
		cc.log.Info("partitions revoked", "partitions", fmt.Sprint(parts), "lost", lost)
		if cc.reb.OnRevoked != nil {
			cc.reb.OnRevoked(parts, lost)
		}
		cc.mu.Lock()
		for _, tp := range parts {
			delete(cc.paused, tp)
			delete(cc.stash, tp)
			delete(cc.position, tp)
		}
		cc.mu.Unlock()
		if err := c.Unassign(); err != nil {
			cc.log.Error("unassign", "err", err)
		}
	}
	return nil
}

func (cc *confluentConsumer) Poll(ctx context.Context, maxWait time.Duration) (*Message, error) {
	deadline := time.Now().Add(maxWait)
	for {
		if m := cc.unstash(); m != nil {
			return m, nil
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		wait := time.Until(deadline)
		if wait <= 0 {
			return nil, nil
		}
		ev := cc.c.Poll(int(min(wait, 100*time.Millisecond) / time.Millisecond))
		switch e := ev.(type) {
		case *kafka.Message:
			if e.TopicPartition.Error != nil {
				cc.m.error("fetch")
				if isConfluentAuthz(e.TopicPartition.Error) {
					return nil, fmt.Errorf("consume %s: %w", e.TopicPartition.String(), notAuthorized(e.TopicPartition.Error))
				}
				cc.log.Warn("kafka consumer fetch error", "partition", e.TopicPartition.String(), "err", e.TopicPartition.Error)
				continue
			}
			m := fromKafkaMessage(e)
			tp := m.TopicPartition()
			cc.mu.Lock()
			if cc.paused[tp] {
				cc.stash[tp] = append(cc.stash[tp], m)
				cc.mu.Unlock()
				continue
			}
			cc.position[tp] = m.Offset + 1
			cc.mu.Unlock()
			return m, nil
		case kafka.Error:
			if e.IsFatal() {
				cc.m.error("fatal")
				return nil, fmt.Errorf("%w: %v", ErrFatal, e)
			}
			if isConfluentAuthz(e) {
				// e.g. "Subscribed topic not available: T: Broker: Topic
				// authorization failed": retrying cannot help until an
				// operator changes the ACLs.
				cc.m.error("fetch")
				return nil, fmt.Errorf("consume: %w", notAuthorized(e))
			}
			if e.Code() == kafka.ErrAllBrokersDown {
				cc.m.allBrokersDown(true)
				cc.m.error("all_brokers_down")
				cc.log.Warn("kafka consumer: all brokers down", "err", e)
			} else {
				cc.m.error("transport")
				cc.log.Debug("kafka consumer error", "err", e)
			}
		case *kafka.Stats:
			// Delivered by Poll, behind the messages queued before it.
			confluentStats(cc.m, cc.log, e)
		}
	}
}

// unstash hands out a message fetched while its partition was paused, once
// the partition is resumed.
func (cc *confluentConsumer) unstash() *Message {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	for tp, q := range cc.stash {
		if cc.paused[tp] || len(q) == 0 {
			continue
		}
		m := q[0]
		if len(q) == 1 {
			delete(cc.stash, tp)
		} else {
			cc.stash[tp] = q[1:]
		}
		cc.position[tp] = m.Offset + 1
		return m
	}
	return nil
}

func (cc *confluentConsumer) Commit(ctx context.Context, offsets []Offset) error {
	if len(offsets) == 0 {
		return nil
	}
	parts := make([]kafka.TopicPartition, len(offsets))
	for i, o := range offsets {
		t := o.Topic
		parts[i] = kafka.TopicPartition{Topic: &t, Partition: o.Partition, Offset: kafka.Offset(o.Offset)}
	}
	// A done context commits nothing (as on the franz backend). librdkafka's
	// commit has no context: it runs aside, and when ctx ends first the
	// caller learns that the outcome is unknown (it may still land).
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	type result struct {
		res []kafka.TopicPartition
		err error
	}
	ch := make(chan result, 1)
	go func() {
		res, err := cc.c.CommitOffsets(parts)
		ch <- result{res, err}
	}()
	var r result
	select {
	case r = <-ch:
	case <-ctx.Done():
		cc.m.error("commit")
		return fmt.Errorf("commit: outcome unknown: %w", ctx.Err())
	}
	res, err := r.res, r.err
	if err != nil {
		cc.m.error("commit")
		return fmt.Errorf("commit: %w", classify(err))
	}
	for _, p := range res {
		if p.Error != nil {
			cc.m.error("commit")
			return fmt.Errorf("commit %s: %w", p.String(), classify(p.Error))
		}
	}
	return nil
}

func (cc *confluentConsumer) Pause(parts []TopicPartition) error {
	cc.mu.Lock()
	for _, tp := range parts {
		cc.paused[tp] = true
	}
	cc.mu.Unlock()
	if err := cc.c.Pause(toKafkaParts(parts)); err != nil {
		return fmt.Errorf("pause: %w", err)
	}
	return nil
}

func (cc *confluentConsumer) Resume(parts []TopicPartition) error {
	cc.mu.Lock()
	for _, tp := range parts {
		delete(cc.paused, tp)
	}
	cc.mu.Unlock()
	if err := cc.c.Resume(toKafkaParts(parts)); err != nil {
		return fmt.Errorf("resume: %w", err)
	}
	return nil
}

func (cc *confluentConsumer) Seek(o Offset) error {
	cc.mu.Lock()
	tp := o.TopicPartition
	delete(cc.stash, tp)
	cc.position[tp] = o.Offset
	cc.mu.Unlock()
	t := o.Topic
	if err := cc.c.Seek(kafka.TopicPartition{Topic: &t, Partition: o.Partition, Offset: kafka.Offset(o.Offset)}, 0); err != nil {
		return fmt.Errorf("seek %s to %d: %w", tp, o.Offset, err)
	}
	return nil
}

func (cc *confluentConsumer) Assignment() ([]TopicPartition, error) {
	parts, err := cc.c.Assignment()
	if err != nil {
		return nil, fmt.Errorf("assignment: %w", err)
	}
	return fromKafkaParts(parts), nil
}

func (cc *confluentConsumer) Lag() (map[TopicPartition]int64, error) {
	parts, err := cc.Assignment()
	if err != nil {
		return nil, err
	}
	out := make(map[TopicPartition]int64, len(parts))
	var unknown []TopicPartition
	cc.mu.Lock()
	for _, tp := range parts {
		if _, ok := cc.position[tp]; !ok {
			unknown = append(unknown, tp)
		}
	}
	cc.mu.Unlock()
	// Partitions we have handed nothing out of yet: start from the
	// committed offset (one round trip, then cached).
	if len(unknown) > 0 {
		committed, err := cc.c.Committed(toKafkaParts(unknown), 5000)
		if err == nil {
			cc.mu.Lock()
			for _, p := range committed {
				if p.Offset >= 0 {
					cc.position[TopicPartition{Topic: deref(p.Topic), Partition: p.Partition}] = int64(p.Offset)
				}
			}
			cc.mu.Unlock()
		}
	}
	cc.mu.Lock()
	defer cc.mu.Unlock()
	for _, tp := range parts {
		low, high, err := cc.c.GetWatermarkOffsets(tp.Topic, tp.Partition)
		if err != nil || high < 0 {
			continue
		}
		pos, ok := cc.position[tp]
		if !ok {
			pos = low
		}
		out[tp] = max(0, high-pos)
	}
	return out, nil
}

func (cc *confluentConsumer) Ping(ctx context.Context) error {
	return pingConfluent(ctx, cc.c.GetMetadata)
}

func (cc *confluentConsumer) Close() error {
	err := cc.c.Close()
	cc.logs.stop()
	cc.m.buffered(0, 0)
	if err != nil {
		return fmt.Errorf("consumer close: %w", err)
	}
	return nil
}

func fromKafkaMessage(e *kafka.Message) *Message {
	m := &Message{
		Topic:     deref(e.TopicPartition.Topic),
		Partition: e.TopicPartition.Partition,
		Offset:    int64(e.TopicPartition.Offset),
		Key:       e.Key,
		Value:     e.Value,
		Timestamp: e.Timestamp,
	}
	if len(e.Headers) > 0 {
		m.Headers = make([]messages.Header, len(e.Headers))
		for i, h := range e.Headers {
			m.Headers[i] = messages.Header{Key: h.Key, Value: h.Value}
		}
	}
	return m
}

func fromKafkaParts(ps []kafka.TopicPartition) []TopicPartition {
	out := make([]TopicPartition, len(ps))
	for i, p := range ps {
		out[i] = TopicPartition{Topic: deref(p.Topic), Partition: p.Partition}
	}
	return out
}

func toKafkaParts(ps []TopicPartition) []kafka.TopicPartition {
	out := make([]kafka.TopicPartition, len(ps))
	for i, p := range ps {
		t := p.Topic
		out[i] = kafka.TopicPartition{Topic: &t, Partition: p.Partition}
	}
	return out
}

var _ Consumer = (*confluentConsumer)(nil)
