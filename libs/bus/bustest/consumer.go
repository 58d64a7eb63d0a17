package bustest

import (
	"context"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/sensornode/sensornode/libs/bus"
)

// group is a consumer group: its members, its generation and its
// committed offsets. Under cl.mu.
type group struct {
	cl        *Cluster
	name      string
	gen       int       // bumped by every change of membership or of the subscribed topics
	members   []*member // in join order
	committed map[bus.TopicPartition]int64
}

// member is one membership of a Consumer (a consumer that lost its
// session joins again as a new member).
type member struct {
	id        string
	c         *Consumer
	rejoined  int // generation for which it revoked everything it owned
	target    []bus.TopicPartition
	targetGen int // generation target was computed for
	applied   int // generation whose target the consumer took
	lost      bool
}

func (g *group) subscribes(topic string) bool {
	return slices.ContainsFunc(g.members, func(m *member) bool { return m.c.matches(topic) })
}

func (g *group) rebalanceLocked() { g.gen++ }

func (g *group) join(c *Consumer) *member {
	g.cl.members++
	m := &member{id: fmt.Sprintf("%s-%06d", c.cfg.ClientID, g.cl.members), c: c}
	g.members = append(g.members, m)
	g.rebalanceLocked()
	m.rejoined = g.gen // nothing to revoke
	g.maybeAssignLocked()
	return m
}

func (g *group) leave(m *member) {
	if i := slices.Index(g.members, m); i >= 0 {
		g.members = slices.Delete(g.members, i, i+1)
		g.rebalanceLocked()
	}
}

// maybeAssignLocked computes the generation's assignment once every member
// revoked what it owned: Kafka's range assignor over the existing topics
// the members subscribe to.
func (g *group) maybeAssignLocked() {
	if len(g.members) == 0 || g.members[0].targetGen == g.gen {
		return
	}
	for _, m := range g.members {
		if m.rejoined < g.gen {
			return
		}
	}
	members := slices.SortedFunc(slices.Values(g.members), func(a, b *member) int { return strings.Compare(a.id, b.id) })
	for _, m := range members {
		m.target, m.targetGen = nil, g.gen
	}
	for _, name := range slices.Sorted(maps.Keys(g.cl.topics)) {
		var subs []*member
		for _, m := range members {
			if m.c.matches(name) {
				subs = append(subs, m)
			}
		}
		if len(subs) == 0 {
			continue
		}
		n := len(g.cl.topics[name].parts)
		per, extra := n/len(subs), n%len(subs)
		p := 0
		for i, m := range subs {
			k := per
			if i < extra {
				k++
			}
			for ; k > 0; k-- {
				m.target = append(m.target, bus.TopicPartition{Topic: name, Partition: int32(p)})
				p++
			}
		}
	}
	g.cl.changedLocked()
}

// Consumer is a bus.Consumer of a Cluster: a member of its group.
type Consumer struct {
	cl       *Cluster
	cfg      bus.ConsumerConfig
	literal  map[string]bool
	patterns []*regexp.Regexp

	// Under cl.mu.
	g        *group
	m        *member
	assigned map[bus.TopicPartition]int // the topic's id when assigned
	paused   map[bus.TopicPartition]bool
	pos      map[bus.TopicPartition]int64 // next offset to hand out
	rr       int
	closed   bool
}

// NewConsumer returns a member of group cfg.GroupID subscribed to
// cfg.Topics (entries starting with ^ are regular expressions). Zero
// MaxFetchBytes, QueueMaxBytes and SessionTimeout take their defaults;
// an empty broker list is fine. The config is validated as
// bus.NewConsumer does. The member joins at once: a rebalance starts.
func (c *Cluster) NewConsumer(cfg bus.ConsumerConfig) (*Consumer, error) {
	cfg.Config = fillConfig(cfg.Config)
	if cfg.MaxFetchBytes == 0 {
		cfg.MaxFetchBytes = 8 << 20
	}
	if cfg.QueueMaxBytes == 0 {
		cfg.QueueMaxBytes = max(16<<20, cfg.MaxFetchBytes)
	}
	if cfg.SessionTimeout == 0 {
		cfg.SessionTimeout = 10 * time.Second
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	con := &Consumer{cl: c, cfg: cfg, literal: map[string]bool{},
		assigned: map[bus.TopicPartition]int{}, paused: map[bus.TopicPartition]bool{}, pos: map[bus.TopicPartition]int64{}}
	for _, t := range cfg.Topics {
		if !strings.HasPrefix(t, "^") {
			con.literal[t] = true
			continue
		}
		re, err := regexp.Compile(t)
		if err != nil {
			return nil, fmt.Errorf("topic pattern %q: %w", t, err)
		}
		con.patterns = append(con.patterns, re)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	g := c.groups[cfg.GroupID]
	if g == nil {
		g = &group{cl: c, name: cfg.GroupID, committed: map[bus.TopicPartition]int64{}}
		c.groups[cfg.GroupID] = g
	}
	con.g = g
	con.m = g.join(con)
	c.changedLocked()
	return con, nil
}

func (c *Consumer) matches(topic string) bool {
	return c.literal[topic] || slices.ContainsFunc(c.patterns, func(re *regexp.Regexp) bool { return re.MatchString(topic) })
}

// Poll returns the next message of an owned, unpaused partition, or nil
// after maxWait. Rebalance callbacks run inside it, on the caller's
// goroutine.
func (c *Consumer) Poll(ctx context.Context, maxWait time.Duration) (*bus.Message, error) {
	cl := c.cl
	deadline := time.Now().Add(maxWait)
	cl.mu.Lock()
	for {
		if c.closed {
			cl.mu.Unlock()
			return nil, bus.ErrClosed
		}
		if err := ctx.Err(); err != nil {
			cl.mu.Unlock()
			return nil, err
		}
		if !cl.down {
			if step := c.rebalanceStepLocked(); step != nil {
				cl.mu.Unlock()
				step()
				cl.mu.Lock()
				continue
			}
			if m := c.nextLocked(); m != nil {
				cl.mu.Unlock()
				return m, nil
			}
		}
		left := time.Until(deadline)
		if left <= 0 {
			cl.mu.Unlock()
			return nil, nil
		}
		ch := cl.changed
		cl.mu.Unlock()
		waitChanged(ctx.Done(), ch, left)
		cl.mu.Lock()
	}
}

// rebalanceStepLocked returns the next rebalance callback to run without
// the lock (it takes the lock again to finish), or nil when there is none.
// Assignments that need no callback are applied at once.
func (c *Consumer) rebalanceStepLocked() func() {
	g, m := c.g, c.m
	if m.lost {
		return c.revoke(m, c.assignedList(), true)
	}
	// Partitions of a topic deleted (or deleted and created again) since
	// they were assigned no longer exist: lost.
	var gone []bus.TopicPartition
	for tp, id := range c.assigned {
		if t := c.cl.topics[tp.Topic]; t == nil || t.id != id {
			gone = append(gone, tp)
		}
	}
	if len(gone) > 0 {
		sortParts(gone)
		return c.revoke(m, gone, true)
	}
	if m.rejoined < g.gen {
		if parts := c.assignedList(); len(parts) > 0 {
			return c.revoke(m, parts, false)
		}
		m.rejoined = g.gen
		g.maybeAssignLocked()
	}
	if m.targetGen != g.gen || m.applied == g.gen {
		return nil
	}
	m.applied = g.gen
	parts := slices.Clone(m.target)
	for _, tp := range parts {
		c.assigned[tp] = c.cl.topics[tp.Topic].id
		c.pos[tp] = c.startLocked(tp)
	}
	if len(parts) == 0 || c.cfg.Rebalance.OnAssigned == nil {
		return func() {}
	}
	return func() { c.cfg.Rebalance.OnAssigned(parts) }
}

// revoke returns the step that calls OnRevoked(parts, lost), then forgets
// parts; a member revoking everything has rejoined, one whose session was
// lost joins again as a new member.
func (c *Consumer) revoke(m *member, parts []bus.TopicPartition, lost bool) func() {
	return func() {
		if len(parts) > 0 && c.cfg.Rebalance.OnRevoked != nil {
			c.cfg.Rebalance.OnRevoked(slices.Clone(parts), lost)
		}
		cl := c.cl
		cl.mu.Lock()
		defer cl.mu.Unlock()
		for _, tp := range parts {
			delete(c.assigned, tp)
			delete(c.paused, tp)
			delete(c.pos, tp)
		}
		switch {
		case c.m != m || c.closed:
		case m.lost:
			c.m = c.g.join(c)
		case len(c.assigned) == 0:
			m.rejoined = c.g.gen
			c.g.maybeAssignLocked()
		}
		cl.changedLocked()
	}
}

// startLocked is where a newly assigned partition is read from: the
// group's committed offset, else the beginning (the end with FromLatest).
func (c *Consumer) startLocked(tp bus.TopicPartition) int64 {
	end := int64(len(c.cl.topics[tp.Topic].parts[tp.Partition]))
	if off, ok := c.g.committed[tp]; ok && off >= 0 && off <= end {
		return off
	}
	if c.cfg.FromLatest {
		return end
	}
	return 0
}

// nextLocked takes the next message, round robin over the owned partitions.
func (c *Consumer) nextLocked() *bus.Message {
	parts := c.assignedList()
	for i := range parts {
		tp := parts[(c.rr+i)%len(parts)]
		if c.paused[tp] {
			continue
		}
		log := c.cl.topics[tp.Topic].parts[tp.Partition]
		if pos := c.pos[tp]; pos < int64(len(log)) {
			c.pos[tp] = pos + 1
			c.rr += i + 1
			return copyMessage(log[pos])
		}
	}
	return nil
}

func (c *Consumer) assignedList() []bus.TopicPartition {
	parts := slices.Collect(maps.Keys(c.assigned))
	sortParts(parts)
	return parts
}

// Commit commits offsets (the next offset to consume) for the group. A
// context already done commits nothing. A member that lost its session
// cannot commit until it joined again.
func (c *Consumer) Commit(ctx context.Context, offsets []bus.Offset) error {
	if len(offsets) == 0 {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	cl := c.cl
	cl.mu.Lock()
	defer cl.mu.Unlock()
	if c.closed {
		return bus.ErrClosed
	}
	if err := cl.reachableLocked(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	if c.m.lost {
		return fmt.Errorf("commit: member %s is no longer in group %s (ILLEGAL_GENERATION)", c.m.id, c.g.name)
	}
	for _, o := range offsets {
		if t := cl.topics[o.Topic]; t == nil || o.Partition < 0 || int(o.Partition) >= len(t.parts) {
			return fmt.Errorf("commit %s: %w", o.TopicPartition, bus.ErrUnknownTopic)
		}
	}
	for _, o := range offsets {
		c.g.committed[o.TopicPartition] = o.Offset
	}
	return nil
}

// Pause stops handing out messages of parts until Resume.
func (c *Consumer) Pause(parts []bus.TopicPartition) error {
	c.cl.mu.Lock()
	defer c.cl.mu.Unlock()
	for _, tp := range parts {
		c.paused[tp] = true
	}
	return nil
}

// Resume undoes Pause.
func (c *Consumer) Resume(parts []bus.TopicPartition) error {
	c.cl.mu.Lock()
	defer c.cl.mu.Unlock()
	for _, tp := range parts {
		delete(c.paused, tp)
	}
	c.cl.changedLocked()
	return nil
}

// Paused lists the paused partitions, sorted (not part of bus.Consumer).
func (c *Consumer) Paused() []bus.TopicPartition {
	c.cl.mu.Lock()
	defer c.cl.mu.Unlock()
	parts := slices.Collect(maps.Keys(c.paused))
	sortParts(parts)
	return parts
}

// Seek makes o.Offset the next message of an owned partition.
func (c *Consumer) Seek(o bus.Offset) error {
	c.cl.mu.Lock()
	defer c.cl.mu.Unlock()
	if err := c.cl.faultLocked(Seek); err != nil {
		return fmt.Errorf("seek %s to %d: %w", o.TopicPartition, o.Offset, err)
	}
	if _, ok := c.assigned[o.TopicPartition]; !ok {
		return fmt.Errorf("seek %s to %d: %w", o.TopicPartition, o.Offset, bus.ErrNotAssigned)
	}
	c.pos[o.TopicPartition] = o.Offset
	c.cl.changedLocked()
	return nil
}

// Assignment lists the owned partitions, sorted.
func (c *Consumer) Assignment() ([]bus.TopicPartition, error) {
	c.cl.mu.Lock()
	defer c.cl.mu.Unlock()
	return c.assignedList(), nil
}

// Lag is, per owned partition, the end of its log minus the next offset to
// consume.
func (c *Consumer) Lag() (map[bus.TopicPartition]int64, error) {
	c.cl.mu.Lock()
	defer c.cl.mu.Unlock()
	out := make(map[bus.TopicPartition]int64, len(c.assigned))
	for tp, id := range c.assigned {
		if t := c.cl.topics[tp.Topic]; t != nil && t.id == id {
			out[tp] = max(0, int64(len(t.parts[tp.Partition]))-c.pos[tp])
		}
	}
	return out, nil
}

// Ping answers like a metadata round trip.
func (c *Consumer) Ping(ctx context.Context) error {
	return c.cl.ping(ctx, func() bool { return c.closed })
}

// LoseSession drops the member from its group, as the coordinator does
// when its session times out: the others rebalance without it; its next
// Poll revokes its partitions as lost (commits fail until then) and joins
// the group again as a new member.
func (c *Consumer) LoseSession() {
	c.cl.mu.Lock()
	defer c.cl.mu.Unlock()
	if c.closed || c.m.lost {
		return
	}
	c.m.lost = true
	c.g.leave(c.m)
	c.g.maybeAssignLocked()
	c.cl.changedLocked()
}

// Close revokes the owned partitions (OnRevoked, on the caller's
// goroutine, as both backends do when leaving the group) and leaves the
// group. It does not commit.
func (c *Consumer) Close() error {
	cl := c.cl
	cl.mu.Lock()
	if c.closed {
		cl.mu.Unlock()
		return nil
	}
	parts, lost := c.assignedList(), c.m.lost
	cl.mu.Unlock()
	if len(parts) > 0 && c.cfg.Rebalance.OnRevoked != nil {
		c.cfg.Rebalance.OnRevoked(parts, lost)
	}
	cl.mu.Lock()
	defer cl.mu.Unlock()
	c.closed = true
	c.g.leave(c.m)
	c.g.maybeAssignLocked()
	clear(c.assigned)
	clear(c.paused)
	clear(c.pos)
	cl.changedLocked()
	return nil
}

// StartMember starts another member of group cfg.GroupID, as another
// process would be: it polls in the background, drops what it is given
// and commits nothing, until leave makes it leave the group.
func (c *Cluster) StartMember(cfg bus.ConsumerConfig) (leave func(), err error) {
	m, err := c.NewConsumer(cfg)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			_, _ = m.Poll(ctx, time.Second)
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			cancel()
			<-done
			_ = m.Close()
		})
	}, nil
}

func sortParts(ps []bus.TopicPartition) {
	slices.SortFunc(ps, func(a, b bus.TopicPartition) int {
		if c := strings.Compare(a.Topic, b.Topic); c != 0 {
			return c
		}
		return int(a.Partition) - int(b.Partition)
	})
}

var _ bus.Consumer = (*Consumer)(nil)
