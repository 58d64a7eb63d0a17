//go:build cgo && (amd64 || arm64) && !sensornode_noconfluent

package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/sensornode/sensornode/libs/messages"
)

const confluentBuilt = true

// commonConfluent maps Config onto librdkafka properties.
func commonConfluent(c Config) (kafka.ConfigMap, error) {
	m := kafka.ConfigMap{
		"bootstrap.servers": strings.Join(c.Brokers, ","),
		"client.id":         c.ClientID,
		// Reconnect quickly when a broker comes back (cable plugged in).
		"reconnect.backoff.ms":     100,
		"reconnect.backoff.max.ms": 5000,
		"socket.keepalive.enable":  true,
		"log.connection.close":     false,
	}
	proto := "PLAINTEXT"
	if c.TLS.Enabled {
		if c.TLS.ServerName != "" {
			// librdkafka verifies the broker's own host name and has no
			// override: fail clearly instead of ignoring the setting.
			return nil, fmt.Errorf("kafka client: TLS server name %q: not supported by the %s backend (use %s)", c.TLS.ServerName, BackendConfluent, BackendFranz)
		}
		proto = "SSL"
		if c.TLS.CAFile != "" {
			m["ssl.ca.location"] = c.TLS.CAFile
		}
		if c.TLS.CertFile != "" {
			m["ssl.certificate.location"] = c.TLS.CertFile
			m["ssl.key.location"] = c.TLS.KeyFile
		}
		if c.TLS.InsecureSkipVerify {
			m["enable.ssl.certificate.verification"] = false
			m["ssl.endpoint.identification.algorithm"] = "none"
		} else {
			m["ssl.endpoint.identification.algorithm"] = "https"
		}
	}
	if c.SASL.Mechanism != "" {
		if c.TLS.Enabled {
			proto = "SASL_SSL"
		} else {
			proto = "SASL_PLAINTEXT"
		}
		pw, err := c.SASL.password()
		if err != nil {
			return nil, err
		}
		m["sasl.mechanisms"] = c.SASL.Mechanism
		m["sasl.username"] = c.SASL.Username
		m["sasl.password"] = pw
	}
	m["security.protocol"] = proto
	return m, nil
}

// ---------------------------------------------------------------- producer

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
		"queue.buffering.max.messages":          maxQueuedMessages,
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
	logs := newLogBridge(m, o.log)
	p, err := kafka.NewProducer(&m)
	if err != nil {
		logs.stop()
		return nil, fmt.Errorf("kafka producer: %w", err)
	}
	cp := &confluentProducer{p: p, log: o.log, m: o.metrics, space: make(chan struct{}, 1), done: make(chan struct{}),
		maxMsg: cfg.MaxMessageBytes, logs: logs, gate: newMemGate(int64(cfg.QueueMaxBytes), maxQueuedMessages)}
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
	ch := make(chan Delivery, 1)
	if err := cp.PublishAsync(ctx, msg, func(d Delivery) { ch <- d }); err != nil {
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

func pingConfluent(ctx context.Context, md func(*string, bool, int) (*kafka.Metadata, error)) error {
	timeout := 5 * time.Second
	if dl, ok := ctx.Deadline(); ok {
		timeout = time.Until(dl)
	}
	if timeout < 100*time.Millisecond {
		timeout = 100 * time.Millisecond
	}
	meta, err := md(nil, false, int(timeout/time.Millisecond))
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBrokersDown, err)
	}
	if len(meta.Brokers) == 0 {
		return ErrBrokersDown
	}
	return nil
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
	return nil
}

// ---------------------------------------------------------------- consumer

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
		"receive.message.max.bytes":     cfg.QueueMaxBytes + 1<<20,
		"queued.max.messages.kbytes":    cfg.QueueMaxBytes / 1024,
		"queued.min.messages":           1000,
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
	if err != nil {
		return fmt.Errorf("consumer close: %w", err)
	}
	return nil
}

// ---------------------------------------------------------------- admin

type confluentAdmin struct {
	a *kafka.AdminClient
}

func newConfluentAdmin(cfg Config, _ options) (*confluentAdmin, error) {
	m, err := commonConfluent(cfg)
	if err != nil {
		return nil, err
	}
	// The admin client cannot forward its logs to a channel, and its
	// failures reach the caller as errors anyway: keep librdkafka's raw
	// stderr lines (connection refused, ...) to critical ones.
	m["log_level"] = 2
	a, err := kafka.NewAdminClient(&m)
	if err != nil {
		return nil, fmt.Errorf("kafka admin: %w", err)
	}
	return &confluentAdmin{a: a}, nil
}

func (ca *confluentAdmin) EnsureTopics(ctx context.Context, specs []TopicSpec) error {
	if len(specs) == 0 {
		return nil
	}
	ts := make([]kafka.TopicSpecification, len(specs))
	for i, s := range specs {
		ts[i] = kafka.TopicSpecification{Topic: s.Name, NumPartitions: s.Partitions, ReplicationFactor: s.ReplicationFactor, Config: s.Config}
	}
	res, err := ca.a.CreateTopics(ctx, ts, kafka.SetAdminOperationTimeout(30*time.Second))
	if err != nil {
		return fmt.Errorf("create topics: %w", err)
	}
	var errs []error
	for _, r := range res {
		if r.Error.Code() != kafka.ErrNoError && r.Error.Code() != kafka.ErrTopicAlreadyExists {
			errs = append(errs, fmt.Errorf("create topic %s: %w", r.Topic, r.Error))
		}
	}
	return errors.Join(errs...)
}

func (ca *confluentAdmin) TopicConfig(ctx context.Context, topic string) (map[string]string, error) {
	res, err := ca.a.DescribeConfigs(ctx, []kafka.ConfigResource{{Type: kafka.ResourceTopic, Name: topic}})
	if err != nil {
		return nil, fmt.Errorf("describe topic %s: %w", topic, err)
	}
	if len(res) != 1 {
		return nil, fmt.Errorf("describe topic %s: %d results", topic, len(res))
	}
	if res[0].Error.Code() != kafka.ErrNoError {
		return nil, fmt.Errorf("describe topic %s: %w", topic, classify(res[0].Error))
	}
	out := map[string]string{}
	for k, v := range res[0].Config {
		out[k] = v.Value
	}
	return out, nil
}

func (ca *confluentAdmin) Partitions(ctx context.Context, topic string) (int, error) {
	timeout := 10 * time.Second
	if dl, ok := ctx.Deadline(); ok {
		timeout = time.Until(dl)
	}
	t := topic
	md, err := ca.a.GetMetadata(&t, false, int(timeout/time.Millisecond))
	if err != nil {
		return 0, fmt.Errorf("metadata %s: %w", topic, err)
	}
	tm, ok := md.Topics[topic]
	if !ok || tm.Error.Code() != kafka.ErrNoError {
		return 0, fmt.Errorf("topic %s: %w", topic, ErrUnknownTopic)
	}
	return len(tm.Partitions), nil
}

func (ca *confluentAdmin) Close() error {
	ca.a.Close()
	return nil
}

// ---------------------------------------------------------------- helpers

// logBridge sends librdkafka's own log lines through the service's slog
// logger (JSON, with the service name) instead of librdkafka's default
// stderr lines. It is created before the client, whose config gets its
// channel, and stopped after the client is closed.
type logBridge struct {
	ch      chan kafka.LogEvent
	done    chan struct{}
	stopped chan struct{}
	once    sync.Once
}

func newLogBridge(m kafka.ConfigMap, log *slog.Logger) *logBridge {
	b := &logBridge{ch: make(chan kafka.LogEvent, 1000), done: make(chan struct{}), stopped: make(chan struct{})}
	m["go.logs.channel.enable"] = true
	m["go.logs.channel"] = b.ch
	go b.run(log)
	return b
}

func (b *logBridge) run(log *slog.Logger) {
	defer close(b.stopped)
	for {
		select {
		case e := <-b.ch:
			logRdkafka(log, e)
		case <-b.done:
			for {
				select {
				case e := <-b.ch:
					logRdkafka(log, e)
				default:
					return
				}
			}
		}
	}
}

// stop ends the bridge once the client no longer logs (after its Close).
func (b *logBridge) stop() {
	b.once.Do(func() { close(b.done) })
	<-b.stopped
}

// logRdkafka maps syslog levels: librdkafka reports transient connection
// failures at level 3, so 0-4 become warnings, 5-6 info, 7 debug.
func logRdkafka(log *slog.Logger, e kafka.LogEvent) {
	lvl := slog.LevelDebug
	switch {
	case e.Level <= 4:
		lvl = slog.LevelWarn
	case e.Level <= 6:
		lvl = slog.LevelInfo
	}
	log.Log(context.Background(), lvl, "librdkafka: "+e.Message, "client", e.Name, "tag", e.Tag, "syslog_level", e.Level)
}

// isConfluentAuthz: the broker's ACLs deny the operation.
func isConfluentAuthz(err error) bool {
	var ke kafka.Error
	if !errors.As(err, &ke) {
		return false
	}
	switch ke.Code() {
	case kafka.ErrTopicAuthorizationFailed, kafka.ErrGroupAuthorizationFailed,
		kafka.ErrClusterAuthorizationFailed, kafka.ErrTransactionalIDAuthorizationFailed:
		return true
	}
	return false
}

func classify(err error) error {
	var ke kafka.Error
	if !errors.As(err, &ke) {
		return err
	}
	switch ke.Code() {
	case kafka.ErrMsgTimedOut:
		return fmt.Errorf("%w: %v", ErrDeliveryTimed, ke)
	case kafka.ErrMsgSizeTooLarge, kafka.ErrRecordListTooLarge:
		return fmt.Errorf("%w: %v", ErrTooLarge, ke)
	case kafka.ErrInvalidRecord, kafka.ErrInvalidTimestamp:
		return fmt.Errorf("%w: %v", ErrInvalidRecord, ke)
	case kafka.ErrUnknownTopicOrPart, kafka.ErrUnknownTopic, kafka.ErrUnknownPartition:
		return fmt.Errorf("%w: %v", ErrUnknownTopic, ke)
	case kafka.ErrAllBrokersDown:
		return fmt.Errorf("%w: %v", ErrBrokersDown, ke)
	case kafka.ErrPurgeQueue, kafka.ErrPurgeInflight:
		return fmt.Errorf("%w: %v", ErrClosed, ke) // failed by Close
	}
	if isConfluentAuthz(ke) {
		return notAuthorized(ke)
	}
	if ke.IsFatal() {
		return fmt.Errorf("%w: %v", ErrFatal, ke)
	}
	return err
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

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

var (
	_ Producer = (*confluentProducer)(nil)
	_ Consumer = (*confluentConsumer)(nil)
	_ Admin    = (*confluentAdmin)(nil)
)
