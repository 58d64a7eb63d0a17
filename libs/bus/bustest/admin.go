package bustest

import (
	"context"
	"fmt"
	"maps"

	"github.com/sensornode/sensornode/libs/bus"
)

// Admin is a bus.Admin of a Cluster.
type Admin struct {
	cl     *Cluster
	closed bool // under cl.mu
}

// NewAdmin returns an admin client of the cluster.
func (c *Cluster) NewAdmin() *Admin { return &Admin{cl: c} }

// lock takes cl.mu and checks that a request can be made.
func (a *Admin) lock(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	a.cl.mu.Lock()
	if a.closed {
		a.cl.mu.Unlock()
		return bus.ErrClosed
	}
	if err := a.cl.reachableLocked(); err != nil {
		a.cl.mu.Unlock()
		return err
	}
	return nil
}

// EnsureTopics creates the missing topics (partitions <= 0: 1); existing
// ones are left alone.
func (a *Admin) EnsureTopics(ctx context.Context, specs []bus.TopicSpec) error {
	if err := a.lock(ctx); err != nil {
		return err
	}
	defer a.cl.mu.Unlock()
	for _, s := range specs {
		if _, ok := a.cl.topics[s.Name]; !ok {
			s.Config = maps.Clone(s.Config)
			a.cl.createLocked(s)
		}
	}
	return nil
}

// TopicConfig returns the topic's configuration: the broker defaults
// (cleanup.policy, max.message.bytes, min.insync.replicas, retention.ms,
// ...) with what the topic was created with.
func (a *Admin) TopicConfig(ctx context.Context, topic string) (map[string]string, error) {
	if err := a.lock(ctx); err != nil {
		return nil, err
	}
	defer a.cl.mu.Unlock()
	t, ok := a.cl.topics[topic]
	if !ok {
		return nil, fmt.Errorf("describe topic %s: %w", topic, bus.ErrUnknownTopic)
	}
	return maps.Clone(t.config), nil
}

// Partitions returns the topic's partition count.
func (a *Admin) Partitions(ctx context.Context, topic string) (int, error) {
	if err := a.lock(ctx); err != nil {
		return 0, err
	}
	defer a.cl.mu.Unlock()
	t, ok := a.cl.topics[topic]
	if !ok {
		return 0, fmt.Errorf("topic %s: %w", topic, bus.ErrUnknownTopic)
	}
	return len(t.parts), nil
}

// Close makes later calls fail with ErrClosed.
func (a *Admin) Close() error {
	a.cl.mu.Lock()
	defer a.cl.mu.Unlock()
	a.closed = true
	return nil
}

var _ bus.Admin = (*Admin)(nil)
