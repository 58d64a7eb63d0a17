// Package bustest is an in-memory Kafka cluster for tests, in the spirit of
// franz-go's kfake: its producers, consumers and admin clients implement
// libs/bus's interfaces and behave like the real backends where a service
// can tell (proven by the bus conformance suite, which runs against
// bustest in the unit tests; see libs/bus/README.md).
//
//	cl := bustest.NewCluster(bustest.SeedTopics(3, "node1"))
//	p, _ := cl.NewProducer(bus.ProducerConfig{})
//	defer p.Close()
//	c, _ := cl.NewConsumer(bus.ConsumerConfig{GroupID: "g", Topics: []string{"^node[0-9]+$"}})
//	defer c.Close()
//
// What it models:
//
//   - Topics with N partitions, offsets from 0 per partition, keys,
//     headers and timestamps kept (a zero produced timestamp is stamped
//     with time.Now, which testing/synctest fakes).
//   - Producers: a keyed message goes to the partition Kafka's (and both
//     backends') murmur2 partitioner picks; messages without a key go round
//     robin over the partitions (the real clients spread them by batch).
//     Deliveries are reported in order, once each, from the producer's own
//     goroutine, Linger after PublishAsync (or at once on Flush or Close).
//     PublishAsync refuses a message over MaxMessageBytes (ErrTooLarge) and
//     blocks while QueueMaxBytes are waiting for their reports; a delivery
//     fails with ErrTooLarge over the topic's max.message.bytes (key, value
//     and headers, no batch overhead), with ErrInvalidRecord without a key
//     on a compacted topic, and with a permanent ErrUnknownTopic on a topic
//     that does not exist (the real backends report that after their
//     retries, franz in about a second, confluent after 30 s).
//   - Consumer groups: eager range assignment, as both backends use. A
//     member joining or leaving, or a topic matching a subscription being
//     created or deleted, starts a rebalance: every member revokes all its
//     partitions inside its next Poll (OnRevoked, not lost) and the new
//     assignment is handed out only once every member did, so a commit in
//     OnRevoked is what the next owner starts from. Range assignment sorts
//     members by member ID, which is the client ID, a dash and a number
//     growing with every join (Kafka's is the client ID and a UUID).
//     Without a committed offset a member starts at the beginning, or at
//     the end with FromLatest.
//   - Faults: Fail (the next n deliveries, pings or seeks fail), SetDown
//     (no broker reachable), DeleteTopic, Consumer.LoseSession (the group
//     dropped the member: its partitions are revoked as lost).
//   - Other processes: StartMember, a member that polls in the background
//     and holds its share of the partitions until it leaves.
//
// What it does not model: replication, retention, transactions, client
// metrics and logs (options are not taken), session timeouts (heartbeats
// run on the real clients' own goroutines: use LoseSession), ACLs, TLS
// and SASL, the time real clients take to notice new topics (10 s) or to
// give up on a missing one. Close does not wait up to 5 s for deliveries
// that cannot happen (cluster down): it fails them with ErrClosed at once.
package bustest

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/sensornode/sensornode/libs/bus"
)

// Op is an operation that Fail can make fail.
type Op string

// Operations for Fail.
const (
	// Deliver: the delivery of a produced message (its report carries the
	// error; nothing is written).
	Deliver Op = "deliver"
	// Ping: Producer.Ping and Consumer.Ping.
	Ping Op = "ping"
	// Seek: Consumer.Seek.
	Seek Op = "seek"
)

// Always, as Fail's n, fails every operation until Fail(op, 0, nil).
const Always = -1

// Defaults of a topic's configuration (Kafka 3.9's broker defaults), as
// Admin.TopicConfig reports them where the topic sets nothing else.
var defaultTopicConfig = map[string]string{
	"cleanup.policy":         "delete",
	"max.message.bytes":      "1048588",
	"min.insync.replicas":    "1",
	"retention.ms":           "604800000",
	"retention.bytes":        "-1",
	"message.timestamp.type": "CreateTime",
}

// Cluster is an in-memory Kafka cluster. Its methods are safe for
// concurrent use.
type Cluster struct {
	mu       sync.Mutex
	changed  chan struct{} // closed and replaced on every change (see changedLocked)
	topics   map[string]*topic
	topicIDs int
	groups   map[string]*group
	members  int // member IDs given out
	faults   map[Op]fault
	down     bool
}

type topic struct {
	id     int // a topic deleted and created again is another topic
	spec   bus.TopicSpec
	config map[string]string
	parts  [][]*bus.Message // per partition, offset = index
}

type fault struct {
	n   int // Always: until cleared
	err error
}

// Option configures a Cluster.
type Option func(*Cluster)

// SeedTopics creates topics with partitions partitions each.
func SeedTopics(partitions int, names ...string) Option {
	return func(c *Cluster) {
		for _, n := range names {
			c.createLocked(bus.TopicSpec{Name: n, Partitions: partitions})
		}
	}
}

// NewCluster returns an empty cluster with opts applied. Inside a
// testing/synctest bubble, create it inside the bubble.
func NewCluster(opts ...Option) *Cluster {
	c := &Cluster{changed: make(chan struct{}), topics: map[string]*topic{}, groups: map[string]*group{},
		faults: map[Op]fault{}}
	for _, o := range opts {
		o(c)
	}
	return c
}

// changedLocked wakes everyone waiting for the cluster to change.
func (c *Cluster) changedLocked() {
	close(c.changed)
	c.changed = make(chan struct{})
}

// CreateTopic creates a topic as an admin client would: partitions <= 0
// means 1 (the broker default), config overrides the topic defaults. A
// topic of that name must not exist.
func (c *Cluster) CreateTopic(name string, partitions int, config map[string]string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.topics[name]; ok {
		return fmt.Errorf("create topic %s: already exists", name)
	}
	c.createLocked(bus.TopicSpec{Name: name, Partitions: partitions, Config: maps.Clone(config)})
	return nil
}

func (c *Cluster) createLocked(spec bus.TopicSpec) {
	n := max(spec.Partitions, 1)
	cfg := maps.Clone(defaultTopicConfig)
	maps.Copy(cfg, spec.Config)
	c.topicIDs++
	c.topics[spec.Name] = &topic{id: c.topicIDs, spec: spec, config: cfg, parts: make([][]*bus.Message, n)}
	c.topicsChangedLocked(spec.Name)
}

// DeleteTopic deletes a topic with its records and the consumer groups'
// committed offsets of it, as Kafka does. Members owning its partitions
// find them revoked as lost in their next Poll (as the franz backend
// reports a deleted topic).
func (c *Cluster) DeleteTopic(name string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.topics[name]; !ok {
		return fmt.Errorf("delete topic %s: %w", name, bus.ErrUnknownTopic)
	}
	delete(c.topics, name)
	for _, g := range c.groups {
		for tp := range g.committed {
			if tp.Topic == name {
				delete(g.committed, tp)
			}
		}
	}
	c.topicsChangedLocked(name)
	return nil
}

// topicsChangedLocked starts a rebalance of every group subscribed to
// topic.
func (c *Cluster) topicsChangedLocked(name string) {
	for _, g := range c.groups {
		if g.subscribes(name) {
			g.rebalanceLocked()
		}
	}
	c.changedLocked()
}

// Topics lists the topics, sorted.
func (c *Cluster) Topics() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Sorted(maps.Keys(c.topics))
}

// TopicSpec returns the spec a topic was created with (Config only what
// was set, without the defaults), and whether it exists.
func (c *Cluster) TopicSpec(name string) (bus.TopicSpec, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t, ok := c.topics[name]
	if !ok {
		return bus.TopicSpec{}, false
	}
	s := t.spec
	s.Config = maps.Clone(s.Config)
	return s, true
}

// Append writes m straight to partition m.Partition of m.Topic, as a
// producer with a manual partitioner would, and returns its offset. A zero
// Timestamp is stamped now. The message is copied.
func (c *Cluster) Append(m *bus.Message) (int64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t, ok := c.topics[m.Topic]
	if !ok || m.Partition < 0 || int(m.Partition) >= len(t.parts) {
		return -1, fmt.Errorf("append to %s: %w", m.TopicPartition(), bus.ErrUnknownTopic)
	}
	return c.appendLocked(t, m, m.Partition), nil
}

func (c *Cluster) appendLocked(t *topic, m *bus.Message, part int32) int64 {
	r := copyMessage(m)
	r.Partition = part
	r.Offset = int64(len(t.parts[part]))
	if r.Timestamp.IsZero() {
		r.Timestamp = time.Now()
	}
	t.parts[part] = append(t.parts[part], r)
	c.changedLocked()
	return r.Offset
}

// Records returns copies of every record of topic, by partition, then
// offset (nil if the topic does not exist).
func (c *Cluster) Records(topic string) []*bus.Message {
	c.mu.Lock()
	defer c.mu.Unlock()
	t, ok := c.topics[topic]
	if !ok {
		return nil
	}
	var out []*bus.Message
	for _, p := range t.parts {
		for _, r := range p {
			out = append(out, copyMessage(r))
		}
	}
	return out
}

// Committed returns the offsets group committed (next offset to consume),
// empty when it committed nothing.
func (c *Cluster) Committed(group string) map[bus.TopicPartition]int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	if g, ok := c.groups[group]; ok {
		return maps.Clone(g.committed)
	}
	return map[bus.TopicPartition]int64{}
}

// Fail makes the next n operations op (of every client of the cluster)
// fail with err; n = Always: every one until Fail(op, 0, nil). A failed
// delivery is not written.
func (c *Cluster) Fail(op Op, n int, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if n == 0 || err == nil {
		delete(c.faults, op)
	} else {
		c.faults[op] = fault{n: n, err: err}
	}
	c.changedLocked()
}

// faultLocked returns the error the next op fails with, nil if none.
func (c *Cluster) faultLocked(op Op) error {
	f, ok := c.faults[op]
	if !ok {
		return nil
	}
	if f.n > 0 {
		f.n--
		if f.n == 0 {
			delete(c.faults, op)
		} else {
			c.faults[op] = f
		}
	}
	return f.err
}

// SetDown makes every broker unreachable (true) or reachable again:
// meanwhile pings, commits and admin calls fail with ErrBrokersDown,
// deliveries wait (failing with ErrDeliveryTimed after the producer's
// DeliveryTimeout, if not 0), and Poll returns no messages and makes no
// rebalance progress.
func (c *Cluster) SetDown(down bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.down = down
	c.changedLocked()
}

// reachableLocked is the error of a request to the brokers.
func (c *Cluster) reachableLocked() error {
	if c.down {
		return bus.ErrBrokersDown
	}
	return nil
}

// waitChanged waits until ch (the cluster's changed channel, read under
// its lock) is closed, until d passed (d <= 0: no bound), or until done is
// closed.
func waitChanged(done <-chan struct{}, ch <-chan struct{}, d time.Duration) {
	if d <= 0 {
		select {
		case <-ch:
		case <-done:
		}
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ch:
	case <-done:
	case <-t.C:
	}
}

// fillConfig gives an empty broker list a placeholder, so that
// bus.Config.Validate accepts a test's bare config.
func fillConfig(c bus.Config) bus.Config {
	if len(c.Brokers) == 0 {
		c.Brokers = []string{"bustest:9092"}
	}
	if c.ClientID == "" {
		c.ClientID = "bustest"
	}
	return c
}

func copyMessage(m *bus.Message) *bus.Message {
	r := *m
	r.Key = cloneBytes(m.Key)
	r.Value = cloneBytes(m.Value)
	if m.Headers != nil {
		r.Headers = slices.Clone(m.Headers)
		for i := range r.Headers {
			r.Headers[i].Value = cloneBytes(r.Headers[i].Value)
		}
	}
	return &r
}

// cloneBytes copies b, keeping nil and empty apart.
func cloneBytes(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append([]byte{}, b...)
}

func intConfig(cfg map[string]string, key string) (int, error) {
	v, err := strconv.Atoi(cfg[key])
	if err != nil {
		return 0, fmt.Errorf("topic config %s=%q: %w", key, cfg[key], err)
	}
	return v, nil
}
