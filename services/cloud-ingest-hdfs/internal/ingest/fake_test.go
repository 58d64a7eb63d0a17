package ingest

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/sensornode/sensornode/libs/bus"
)

// memFS is an in-memory FS. fail decides whether an operation fails.
type memFS struct {
	mu    sync.Mutex
	files map[string][]byte
	fail  func(op, name string) bool
	ops   []string
}

var errInjected = errors.New("injected hdfs failure")

func newMemFS() *memFS { return &memFS{files: map[string][]byte{}} }

func (f *memFS) check(op, name string) error {
	f.ops = append(f.ops, op+" "+name)
	if f.fail != nil && f.fail(op, name) {
		return errInjected
	}
	return nil
}

func (f *memFS) Stat(name string) (int64, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.check("stat", name); err != nil {
		return 0, false, err
	}
	b, ok := f.files[name]
	return int64(len(b)), ok, nil
}

func (f *memFS) WriteAtomic(tmp, final string, data []byte, deadline time.Time) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := fenced(deadline, "before create "+tmp); err != nil {
		return err
	}
	if err := f.check("create", tmp); err != nil {
		return err
	}
	f.files[tmp] = slices.Clone(data)
	if err := fenced(deadline, "rename "+tmp); err != nil {
		delete(f.files, tmp)
		return err
	}
	if err := f.check("rename", final); err != nil {
		return err // the temporary file stays, as after a crash
	}
	f.files[final] = f.files[tmp]
	delete(f.files, tmp)
	return nil
}

type memInfo struct {
	name string
	size int64
}

func (i memInfo) Name() string       { return i.name }
func (i memInfo) Size() int64        { return i.size }
func (i memInfo) Mode() fs.FileMode  { return 0o644 }
func (i memInfo) ModTime() time.Time { return time.Time{} }
func (i memInfo) IsDir() bool        { return false }
func (i memInfo) Sys() any           { return nil }

func (f *memFS) ReadDir(dir string) ([]os.FileInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.check("readdir", dir); err != nil {
		return nil, err
	}
	var out []os.FileInfo
	for name, b := range f.files {
		if path.Dir(name) == dir {
			out = append(out, memInfo{name: path.Base(name), size: int64(len(b))})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name() < out[j].Name() })
	return out, nil
}

func (f *memFS) ReadFile(name string) ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.check("read", name); err != nil {
		return nil, err
	}
	b, ok := f.files[name]
	if !ok {
		return nil, os.ErrNotExist
	}
	return slices.Clone(b), nil
}

func (f *memFS) Remove(name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.check("remove", name); err != nil {
		return err
	}
	delete(f.files, name)
	return nil
}

func (f *memFS) Ping() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.check("ping", "/")
}

func (f *memFS) Close() error { return nil }

func (f *memFS) setFail(fn func(op, name string) bool) {
	f.mu.Lock()
	f.fail = fn
	f.mu.Unlock()
}

// under lists the files below dir.
func (f *memFS) under(dir string) map[string][]byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string][]byte{}
	for name, b := range f.files {
		if strings.HasPrefix(name, dir+"/") {
			out[name] = b
		}
	}
	return out
}

// fakeConsumer owns fixed partitions of an in-memory log; it starts each at
// its committed offset, like a group member after a restart.
type fakeConsumer struct {
	mu        sync.Mutex
	logs      map[bus.TopicPartition][]*bus.Message
	assigned  []bus.TopicPartition
	pos       map[bus.TopicPartition]int64
	paused    map[bus.TopicPartition]bool
	committed map[bus.TopicPartition]int64
	reb       bus.Rebalance
	started   bool
	rr        int
	// lose: partitions taken away (lost: the member was kicked out of
	// the group) at the start of the next Poll.
	lose []bus.TopicPartition
}

func newFakeConsumer(logs map[bus.TopicPartition][]*bus.Message, committed map[bus.TopicPartition]int64, parts ...bus.TopicPartition) *fakeConsumer {
	if committed == nil {
		committed = map[bus.TopicPartition]int64{}
	}
	return &fakeConsumer{logs: logs, assigned: parts, pos: map[bus.TopicPartition]int64{},
		paused: map[bus.TopicPartition]bool{}, committed: committed}
}

func (c *fakeConsumer) Poll(ctx context.Context, maxWait time.Duration) (*bus.Message, error) {
	c.mu.Lock()
	if !c.started {
		c.started = true
		for _, tp := range c.assigned {
			c.pos[tp] = c.committed[tp]
		}
		parts := slices.Clone(c.assigned)
		c.mu.Unlock()
		c.reb.OnAssigned(parts)
		c.mu.Lock()
	}
	if len(c.lose) > 0 {
		lost := c.lose
		c.lose = nil
		c.assigned = slices.DeleteFunc(c.assigned, func(tp bus.TopicPartition) bool { return slices.Contains(lost, tp) })
		c.mu.Unlock()
		c.reb.OnRevoked(lost, true)
		c.mu.Lock()
	}
	if len(c.assigned) == 0 {
		c.mu.Unlock()
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(min(maxWait, 2*time.Millisecond)):
		}
		return nil, nil
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
	c.pos[o.TopicPartition] = o.Offset
	return nil
}

func (c *fakeConsumer) Assignment() ([]bus.TopicPartition, error) {
	return slices.Clone(c.assigned), nil
}
func (c *fakeConsumer) Lag() (map[bus.TopicPartition]int64, error) {
	return map[bus.TopicPartition]int64{}, nil
}
func (c *fakeConsumer) Ping(context.Context) error { return nil }
func (c *fakeConsumer) Close() error               { return nil }

// loseOnNextPoll takes tp away (the member was kicked out) at the start
// of the next Poll.
func (c *fakeConsumer) loseOnNextPoll(tp bus.TopicPartition) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lose = append(c.lose, tp)
}

func (c *fakeConsumer) committedOf(tp bus.TopicPartition) int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.committed[tp]
}

func (c *fakeConsumer) isPaused(tp bus.TopicPartition) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.paused[tp]
}

// fakeDLQ records dead letters. With topics set, a dead letter for a topic
// missing from it fails, as on a cluster that does not create topics.
type fakeDLQ struct {
	mu     sync.Mutex
	msgs   []*bus.Message
	topics *topicSet
}

func (d *fakeDLQ) Publish(_ context.Context, m *bus.Message) (bus.Delivery, error) {
	if d.topics != nil && !d.topics.has(m.Topic) {
		// As both backends do once a broker confirmed the topic absent
		// (libs/bus TestIntegrationMissingTopic).
		return bus.Delivery{}, bus.Permanent(fmt.Errorf("fake: produce to %s: topic does not exist: %w", m.Topic, bus.ErrUnknownTopic))
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.msgs = append(d.msgs, m)
	return bus.Delivery{Topic: m.Topic}, nil
}

// topicSet is the topics of a fake cluster.
type topicSet struct {
	mu    sync.Mutex
	names map[string]bus.TopicSpec
}

func newTopicSet() *topicSet { return &topicSet{names: map[string]bus.TopicSpec{}} }

func (s *topicSet) has(name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.names[name]
	return ok
}

// ensure creates the missing topics; existing ones are left alone.
func (s *topicSet) ensure(specs []bus.TopicSpec) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, sp := range specs {
		if _, ok := s.names[sp.Name]; !ok {
			s.names[sp.Name] = sp
		}
	}
}

func (s *topicSet) get(name string) (bus.TopicSpec, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sp, ok := s.names[name]
	return sp, ok
}

// fakeAdmin is topic administration on a topicSet: EnsureTopics creates
// the missing topics (bounded by a deadline, as bus.TopicCreator sets).
type fakeAdmin struct {
	mu     sync.Mutex
	topics *topicSet
	closed bool
}

func (a *fakeAdmin) EnsureTopics(ctx context.Context, specs []bus.TopicSpec) error {
	if _, ok := ctx.Deadline(); !ok {
		return errors.New("fake: EnsureTopics without a deadline")
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return bus.ErrClosed
	}
	a.topics.ensure(specs)
	return nil
}

func (a *fakeAdmin) TopicConfig(context.Context, string) (map[string]string, error) {
	return nil, errors.New("fake: not implemented")
}

func (a *fakeAdmin) Partitions(_ context.Context, topic string) (int, error) {
	if a.topics == nil {
		return 0, errors.New("fake: not implemented")
	}
	if !a.topics.has(topic) {
		return 0, fmt.Errorf("fake: topic %s: %w", topic, bus.ErrUnknownTopic)
	}
	return 1, nil
}

func (a *fakeAdmin) Close() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.closed = true
	return nil
}

func (d *fakeDLQ) list() []*bus.Message {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.msgs)
}

var (
	_ FS            = (*memFS)(nil)
	_ bus.Consumer  = (*fakeConsumer)(nil)
	_ bus.Publisher = (*fakeDLQ)(nil)
	_ bus.Admin     = (*fakeAdmin)(nil)
)
