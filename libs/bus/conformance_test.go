package bus_test

// Conformance subtests that need no broker fault, written once: they run
// against every real backend on the devstack (TestIntegration<Name>,
// conformance_integration_test.go) and against bustest in the unit tests
// (TestConformanceBustest, conformance_bustest_test.go). libs/bus/README.md
// lists which subtest runs where.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sensornode/sensornode/libs/bus"
	"github.com/sensornode/sensornode/libs/messages"
)

// env is a cluster the conformance subtests run against and the way to
// make its clients and topics.
type env struct {
	cfg         bus.Config // client config (brokers, client id, backend)
	newProducer func(bus.ProducerConfig, ...bus.Option) (bus.Producer, error)
	newConsumer func(bus.ConsumerConfig, ...bus.Option) (bus.Consumer, error)
	newAdmin    func(bus.Config, ...bus.Option) (bus.Admin, error)
	// unique is a topic or group name no other test uses.
	unique func(t testing.TB, prefix string) string
	// createTopic creates a topic, ready to use; it is deleted when the
	// test ends.
	createTopic func(t testing.TB, name string, partitions int)
	// deleteTopic deletes a topic created through bus.Admin (test cleanup).
	deleteTopic func(t testing.TB, name string)
	// recreateTopic deletes a topic and creates it again with the same
	// name and partition count, as an operator might.
	recreateTopic func(t testing.TB, name string, partitions int)
	// metrics: the clients export their metrics through bus.WithMetrics.
	metrics bool
}

// conformanceTests are the subtests written once, by name.
var conformanceTests = []struct {
	name string
	run  func(t *testing.T, e *env)
}{
	{"ProduceConsume", testProduceConsume},
	{"ManualCommit", testManualCommit},
	{"RegexSubscription", testRegexSubscription},
	{"Rebalance", testRebalance},
	{"PauseResume", testPauseResume},
	{"Seek", testSeek},
	{"Lag", testLag},
	{"ProducerMemoryBoundSlowCallbacks", testProducerMemoryBoundSlowCallbacks},
	{"TooLarge", testTooLarge},
	{"MissingTopic", testMissingTopic},
	{"InvalidRecord", testInvalidRecord},
	{"CommitContextDone", testCommitContextDone},
	{"TopicRecreated", testTopicRecreated},
	{"Admin", testAdmin},
}

func (e *env) producer(t *testing.T, cfg bus.ProducerConfig, opts ...bus.Option) bus.Producer {
	t.Helper()
	p, err := e.newProducer(cfg, opts...)
	if err != nil {
		t.Fatalf("NewProducer(%s): %v", cfg.Backend, err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

func (e *env) consumer(t *testing.T, cfg bus.ConsumerConfig) bus.Consumer {
	t.Helper()
	c, err := e.newConsumer(cfg)
	if err != nil {
		t.Fatalf("NewConsumer(%s): %v", cfg.Backend, err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// ensureTopic creates a one-partition topic (replication factor 3) with
// config through bus.Admin, deleted when the test ends.
func (e *env) ensureTopic(t *testing.T, ctx context.Context, topic string, config map[string]string) {
	t.Helper()
	adm, err := e.newAdmin(e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer adm.Close()
	if err := adm.EnsureTopics(ctx, []bus.TopicSpec{{Name: topic, Partitions: 1, ReplicationFactor: 3, Config: config}}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.deleteTopic(t, topic) })
}

// ---------------------------------------------------------------- helpers

func producerCfg(c bus.Config) bus.ProducerConfig {
	return bus.ProducerConfig{Config: c, Linger: 5 * time.Millisecond, MaxMessageBytes: 1 << 20,
		QueueMaxBytes: 8 << 20, DeliveryTimeout: 2 * time.Minute}
}

func consumerCfg(c bus.Config, group string, topics ...string) bus.ConsumerConfig {
	return bus.ConsumerConfig{Config: c, GroupID: group, Topics: topics, MaxFetchBytes: 1 << 20,
		QueueMaxBytes: 4 << 20, SessionTimeout: 10 * time.Second}
}

func testCtx(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

const shaHeader = "sha256"

// testMessage is message i of a test: a deterministic key, random bytes,
// and headers carrying the value's SHA-256 and the index.
func testMessage(topic string, i, size int, rng *rand.Rand) *bus.Message {
	v := make([]byte, size)
	for j := range v {
		v[j] = byte(rng.UintN(256))
	}
	sum := sha256.Sum256(v)
	return &bus.Message{
		Topic: topic,
		Key:   []byte(fmt.Sprintf("key-%06d", i)),
		Value: v,
		Headers: []messages.Header{
			{Key: shaHeader, Value: []byte(hex.EncodeToString(sum[:]))},
			{Key: "index", Value: []byte(strconv.Itoa(i))},
			{Key: "empty", Value: []byte{}},
		},
	}
}

// testMessages is messages from..from+n-1 of a test (testMessage), size
// bytes each.
func testMessages(topic string, from, n, size int, rng *rand.Rand) []*bus.Message {
	msgs := make([]*bus.Message, n)
	for i := range msgs {
		msgs[i] = testMessage(topic, from+i, size, rng)
	}
	return msgs
}

// publishedTopic creates a new topic of partitions and publishes n test
// messages of 100 bytes to it, random bytes seeded with seed and seed+1.
// It returns the topic, the messages and their deliveries.
func (e *env) publishedTopic(t *testing.T, partitions, n int, seed uint64) (string, []*bus.Message, []bus.Delivery) {
	t.Helper()
	topic := e.unique(t, "conf")
	e.createTopic(t, topic, partitions)
	p := e.producer(t, producerCfg(e.cfg))
	msgs := testMessages(topic, 0, n, 100, rand.New(rand.NewPCG(seed, seed+1)))
	return topic, msgs, publishAll(t, p, msgs)
}

func header(m *bus.Message, key string) []byte {
	for _, h := range m.Headers {
		if h.Key == key {
			return h.Value
		}
	}
	return nil
}

// checkIntact checks a consumed message against its own SHA-256 header.
func checkIntact(m *bus.Message) error {
	sum := sha256.Sum256(m.Value)
	if got := string(header(m, shaHeader)); got != hex.EncodeToString(sum[:]) {
		return fmt.Errorf("%s@%d key %s: sha256 header %q does not match the value", m.TopicPartition(), m.Offset, m.Key, got)
	}
	return nil
}

// publishAll publishes msgs asynchronously, flushes, and returns the
// delivery report of each (by index), failing on a missing or repeated one.
func publishAll(t *testing.T, p bus.Producer, msgs []*bus.Message) []bus.Delivery {
	t.Helper()
	ctx := testCtx(t, 3*time.Minute)
	out := make([]bus.Delivery, len(msgs))
	var mu sync.Mutex
	counts := make([]int, len(msgs))
	for i, m := range msgs {
		if err := p.PublishAsync(ctx, m, func(d bus.Delivery) {
			mu.Lock()
			defer mu.Unlock()
			counts[i]++
			out[i] = d
		}); err != nil {
			t.Fatalf("PublishAsync #%d: %v", i, err)
		}
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	for i, n := range counts {
		if n != 1 {
			t.Fatalf("message %d: %d delivery reports after Flush, want exactly 1", i, n)
		}
	}
	return out
}

// publishOnceReady publishes m until a topic just created takes it.
func publishOnceReady(t testing.TB, ctx context.Context, p bus.Producer, m *bus.Message) {
	t.Helper()
	waitFor(t, "the new topic to take messages", time.Minute, func() bool {
		c, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		_, err := p.Publish(c, m)
		return err == nil
	})
}

// pollN polls until it has n messages.
func pollN(t *testing.T, c bus.Consumer, n int, timeout time.Duration) []*bus.Message {
	t.Helper()
	ctx := testCtx(t, timeout)
	var out []*bus.Message
	for len(out) < n {
		m, err := c.Poll(ctx, 200*time.Millisecond)
		if err != nil {
			t.Fatalf("Poll after %d of %d messages: %v", len(out), n, err)
		}
		if m != nil {
			out = append(out, m)
		}
	}
	return out
}

// waitFor polls cond until it holds; a liveness bound, not a timing claim.
func waitFor(t testing.TB, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up after %s waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func tp(topic string, p int32) bus.TopicPartition {
	return bus.TopicPartition{Topic: topic, Partition: p}
}

func checkProducerMetrics(t *testing.T, reg *prometheus.Registry, n int) {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	found := map[string]bool{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			switch mf.GetName() {
			case "sensornode_kafka_producer_inflight_messages", "sensornode_kafka_producer_inflight_bytes":
				found[mf.GetName()] = true
				if v := m.GetGauge().GetValue(); v != 0 {
					t.Errorf("%s = %v after Flush, want 0", mf.GetName(), v)
				}
			case "sensornode_kafka_producer_delivery_duration_seconds":
				for _, l := range m.GetLabel() {
					if l.GetName() == "result" && l.GetValue() == "ok" {
						found[mf.GetName()] = true
						if c := m.GetHistogram().GetSampleCount(); c != uint64(n) {
							t.Errorf("delivery histogram count = %d, want %d", c, n)
						}
					}
				}
			}
		}
	}
	if len(found) != 3 {
		t.Errorf("producer metrics found: %v, want inflight messages, bytes and delivery duration", slices.Sorted(maps.Keys(found)))
	}
}

// memberState is a group member driven by its own goroutine: it "processes"
// the first k messages of each partition and, when partitions are revoked,
// commits what it processed. Everything in it is touched only by Poll's
// goroutine and the rebalance callbacks, without locks: the race detector
// checks that callbacks run inside Poll. The test goroutine reads only
// snap, and the rest after the member's goroutine ended.
type memberState struct {
	name      string
	c         bus.Consumer
	k         int64
	gen       int
	assigned  map[int][]bus.TopicPartition
	first     map[int]map[bus.TopicPartition]int64 // per generation, first offset seen
	processed map[bus.TopicPartition]int64         // next offset after processed
	revoked   [][]bus.TopicPartition
	lost      []bool
	commitErr []error
	pollErr   error
	snap      atomic.Pointer[memberSnap]
}

type memberSnap struct {
	gen, assigned, read int // read: assigned partitions with a message this generation
}

func newMember(t *testing.T, e *env, name string, cfg bus.ConsumerConfig, k int64) *memberState {
	ms := &memberState{name: name, k: k, assigned: map[int][]bus.TopicPartition{},
		first: map[int]map[bus.TopicPartition]int64{}, processed: map[bus.TopicPartition]int64{}}
	cfg.Rebalance = bus.Rebalance{
		OnAssigned: func(parts []bus.TopicPartition) {
			ms.gen++
			ms.assigned[ms.gen] = parts
			ms.first[ms.gen] = map[bus.TopicPartition]int64{}
		},
		OnRevoked: func(parts []bus.TopicPartition, lost bool) {
			ms.revoked = append(ms.revoked, parts)
			ms.lost = append(ms.lost, lost)
			var offs []bus.Offset
			for _, p := range parts {
				if o, ok := ms.processed[p]; ok {
					offs = append(offs, bus.Offset{TopicPartition: p, Offset: o})
				}
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := ms.c.Commit(ctx, offs); err != nil {
				ms.commitErr = append(ms.commitErr, err)
			}
		},
	}
	ms.c = e.consumer(t, cfg)
	ms.snap.Store(&memberSnap{})
	return ms
}

func (ms *memberState) run(ctx context.Context) {
	for ctx.Err() == nil {
		m, err := ms.c.Poll(ctx, 100*time.Millisecond)
		if err != nil {
			if ctx.Err() == nil {
				ms.pollErr = err
			}
			return
		}
		if m != nil {
			p := m.TopicPartition()
			if _, ok := ms.first[ms.gen][p]; !ok {
				ms.first[ms.gen][p] = m.Offset
			}
			if m.Offset < ms.k {
				ms.processed[p] = m.Offset + 1
			}
		}
		ms.snap.Store(&memberSnap{gen: ms.gen, assigned: len(ms.assigned[ms.gen]), read: len(ms.first[ms.gen])})
	}
}

// settled: in generation >= gen, owning partitions, each already read.
func (ms *memberState) settled(gen int) bool {
	s := ms.snap.Load()
	return s.gen >= gen && s.assigned > 0 && s.read == s.assigned
}

// ---------------------------------------------------------------- tests

// Every message gets exactly one report with its position, and reads back
// intact: key, value (SHA-256), headers, at the reported partition/offset,
// in order per partition. The client metrics account for every message.
func testProduceConsume(t *testing.T, e *env) {
	topic := e.unique(t, "conf")
	e.createTopic(t, topic, 3)
	reg := prometheus.NewRegistry()
	p := e.producer(t, producerCfg(e.cfg), bus.WithMetrics(bus.NewMetrics(reg, "conformance")))

	const n = 300
	rng := rand.New(rand.NewPCG(1, 2))
	msgs := make([]*bus.Message, n)
	for i := range msgs {
		msgs[i] = testMessage(topic, i, 1+rng.IntN(60<<10), rng)
	}
	ds := publishAll(t, p, msgs)
	pos := map[bus.Offset]int{}
	for i, d := range ds {
		if d.Err != nil || d.Topic != topic || d.Partition < 0 || d.Partition > 2 || d.Offset < 0 {
			t.Fatalf("delivery %d = %+v, want a position in %s", i, d, topic)
		}
		o := bus.Offset{TopicPartition: tp(d.Topic, d.Partition), Offset: d.Offset}
		if j, dup := pos[o]; dup {
			t.Fatalf("messages %d and %d both reported at %v", j, i, o)
		}
		pos[o] = i
	}
	if e.metrics {
		checkProducerMetrics(t, reg, n)
	}

	c := e.consumer(t, consumerCfg(e.cfg, e.unique(t, "group"), topic))
	got := pollN(t, c, n, 2*time.Minute)
	last := map[bus.TopicPartition]int64{}
	for _, m := range got {
		i, ok := pos[bus.Offset{TopicPartition: m.TopicPartition(), Offset: m.Offset}]
		if !ok {
			t.Fatalf("consumed %s@%d, which no delivery report named", m.TopicPartition(), m.Offset)
		}
		want := msgs[i]
		if err := checkIntact(m); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(m.Key, want.Key) || !bytes.Equal(m.Value, want.Value) {
			t.Fatalf("%s@%d: key/value differ from message %d", m.TopicPartition(), m.Offset, i)
		}
		if len(m.Headers) != len(want.Headers) {
			t.Fatalf("%s@%d: %d headers, want %d", m.TopicPartition(), m.Offset, len(m.Headers), len(want.Headers))
		}
		for j, h := range want.Headers {
			if m.Headers[j].Key != h.Key || !bytes.Equal(m.Headers[j].Value, h.Value) {
				t.Fatalf("%s@%d: header %d = %q:%q, want %q:%q", m.TopicPartition(), m.Offset, j, m.Headers[j].Key, m.Headers[j].Value, h.Key, h.Value)
			}
		}
		if m.Timestamp.IsZero() || time.Since(m.Timestamp) > time.Hour {
			t.Fatalf("%s@%d: timestamp %v", m.TopicPartition(), m.Offset, m.Timestamp)
		}
		if prev, ok := last[m.TopicPartition()]; ok && m.Offset <= prev {
			t.Fatalf("%s: offset %d after %d", m.TopicPartition(), m.Offset, prev)
		}
		last[m.TopicPartition()] = m.Offset
		delete(pos, bus.Offset{TopicPartition: m.TopicPartition(), Offset: m.Offset})
	}
	if len(pos) != 0 {
		t.Fatalf("%d delivered messages not consumed", len(pos))
	}
}

// Commits are manual and exact: a member of the same group resumes right
// after the committed offset; without a commit it re-reads.
func testManualCommit(t *testing.T, e *env) {
	topic, _, _ := e.publishedTopic(t, 1, 20, 3)
	group := e.unique(t, "group")
	cfg := consumerCfg(e.cfg, group, topic)

	first := func(c bus.Consumer) int64 {
		t.Helper()
		return pollN(t, c, 1, time.Minute)[0].Offset
	}
	// Nothing committed: a member starts at the beginning, reads 10,
	// commits after the 7th (offset 6 processed: next is 7).
	a, err := e.newConsumer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	got := pollN(t, a, 10, time.Minute)
	if got[0].Offset != 0 {
		t.Fatalf("first offset without a commit = %d, want 0", got[0].Offset)
	}
	if err := a.Commit(testCtx(t, 30*time.Second), []bus.Offset{{TopicPartition: tp(topic, 0), Offset: got[6].Offset + 1}}); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	if err := a.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	// The next member resumes exactly there, and commits nothing.
	b := e.consumer(t, cfg)
	if off := first(b); off != 7 {
		t.Fatalf("after commit of 7, next member starts at %d", off)
	}
	pollN(t, b, 5, time.Minute)
	if err := b.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	// b committed nothing: the third member re-reads from 7.
	c := e.consumer(t, cfg)
	if off := first(c); off != 7 {
		t.Fatalf("without a new commit, next member starts at %d, want 7", off)
	}
}

// A regex subscription picks up a topic created after the consumer
// started; a literal entry next to it is consumed too, and a topic that
// does not match is not.
func testRegexSubscription(t *testing.T, e *env) {
	literal := e.unique(t, "conf")
	e.createTopic(t, literal, 1)
	prefix := strings.ReplaceAll(e.unique(t, "rx"), ".", "_")
	c := e.consumer(t, consumerCfg(e.cfg, e.unique(t, "group"), literal, "^"+prefix+"-n[0-9]+$"))
	p := e.producer(t, producerCfg(e.cfg))
	rng := rand.New(rand.NewPCG(5, 6))
	if _, err := p.Publish(testCtx(t, time.Minute), testMessage(literal, 0, 10, rng)); err != nil {
		t.Fatal(err)
	}
	m := pollN(t, c, 1, time.Minute)[0]
	if m.Topic != literal {
		t.Fatalf("got a message of %s, want %s", m.Topic, literal)
	}
	// Committed: the rebalance that adds the new topic does not bring
	// it back.
	if err := c.Commit(testCtx(t, 30*time.Second), []bus.Offset{{TopicPartition: m.TopicPartition(), Offset: m.Offset + 1}}); err != nil {
		t.Fatal(err)
	}
	later, other := prefix+"-n1", prefix+"-x1"
	e.createTopic(t, later, 1)
	e.createTopic(t, other, 1)
	for _, topic := range []string{other, later} {
		if _, err := p.Publish(testCtx(t, time.Minute), testMessage(topic, 1, 10, rng)); err != nil {
			t.Fatal(err)
		}
	}
	// Discovery waits for a metadata refresh (10 s on both backends).
	m = pollN(t, c, 1, 2*time.Minute)[0]
	if m.Topic != later {
		t.Fatalf("got a message of %s, want one of %s (pattern ^%s-n[0-9]+$)", m.Topic, later, prefix)
	}
	parts, err := c.Assignment()
	if err != nil || !slices.Contains(parts, tp(later, 0)) || !slices.Contains(parts, tp(literal, 0)) || slices.Contains(parts, tp(other, 0)) {
		t.Fatalf("Assignment() = %v, %v; want %s and %s, not %s", parts, err, literal, later, other)
	}
}

// Two members: the first is revoked (not lost) when the second joins,
// commits in OnRevoked, the partitions are split between them, and each
// resumes exactly at the offsets committed in OnRevoked.
func testRebalance(t *testing.T, e *env) {
	const parts = 4
	topic, _, ds := e.publishedTopic(t, parts, 80, 7)
	perPart := map[int32]int{}
	for _, d := range ds {
		perPart[d.Partition]++
	}
	const k = 3
	for i := range int32(parts) {
		if perPart[i] <= k {
			t.Fatalf("partition %d got %d of 80 keyed messages; the test needs more than %d in each", i, perPart[i], k)
		}
	}
	cfg := consumerCfg(e.cfg, e.unique(t, "group"), topic)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	a := newMember(t, e, "a", cfg, k)
	wg.Go(func() { a.run(ctx) })
	waitFor(t, "member a to own and read every partition", 90*time.Second, func() bool {
		return a.settled(1) && a.snap.Load().assigned == parts
	})
	b := newMember(t, e, "b", cfg, k)
	wg.Go(func() { b.run(ctx) })
	waitFor(t, "both members to own and read partitions after b joined", 2*time.Minute, func() bool {
		return a.settled(2) && b.settled(1) && a.snap.Load().assigned+b.snap.Load().assigned == parts
	})
	cancel()
	wg.Wait()
	for _, ms := range []*memberState{a, b} {
		if ms.pollErr != nil {
			t.Fatalf("member %s: Poll: %v", ms.name, ms.pollErr)
		}
		if len(ms.commitErr) > 0 {
			t.Fatalf("member %s: commits in OnRevoked: %v", ms.name, ms.commitErr)
		}
	}
	if len(a.revoked) == 0 || len(a.revoked[0]) != parts || a.lost[0] {
		t.Fatalf("member a: revoked %v (lost %v), want all %d partitions revoked, not lost, when b joined", a.revoked, a.lost, parts)
	}
	aParts, bParts := a.assigned[a.gen], b.assigned[b.gen]
	owners := map[bus.TopicPartition]int{}
	for _, p := range append(slices.Clone(aParts), bParts...) {
		owners[p]++
	}
	if len(aParts) == 0 || len(bParts) == 0 || len(owners) != parts || len(aParts)+len(bParts) != parts {
		t.Fatalf("after the rebalance a owns %v and b owns %v, want the %d partitions split", aParts, bParts, parts)
	}
	// Each resumes where a committed in OnRevoked: offset k.
	for _, ms := range []*memberState{a, b} {
		for _, p := range ms.assigned[ms.gen] {
			if got := ms.first[ms.gen][p]; got != k {
				t.Errorf("member %s resumed %s at %d, want %d (committed in a's OnRevoked)", ms.name, p, got, k)
			}
		}
	}
}

// Pause stops a partition's messages until Resume; those fetched before
// or during the pause come after Resume, in order, none lost or repeated.
func testPauseResume(t *testing.T, e *env) {
	topic := e.unique(t, "conf")
	e.createTopic(t, topic, 1)
	p := e.producer(t, producerCfg(e.cfg))
	rng := rand.New(rand.NewPCG(9, 10))
	batch := func(from, n int) { publishAll(t, p, testMessages(topic, from, n, 1000, rng)) }
	batch(0, 20)
	c := e.consumer(t, consumerCfg(e.cfg, e.unique(t, "group"), topic))
	got := pollN(t, c, 5, time.Minute) // the client has likely fetched all 20 by now
	part := tp(topic, 0)
	if err := c.Pause([]bus.TopicPartition{part}); err != nil {
		t.Fatalf("Pause: %v", err)
	}
	batch(20, 10)
	ctx := testCtx(t, time.Minute)
	for range 15 { // about 3 s of polling while paused
		m, err := c.Poll(ctx, 200*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		if m != nil {
			t.Fatalf("Poll returned %s@%d while the partition is paused", m.TopicPartition(), m.Offset)
		}
	}
	if err := c.Resume([]bus.TopicPartition{part}); err != nil {
		t.Fatalf("Resume: %v", err)
	}
	got = append(got, pollN(t, c, 25, time.Minute)...)
	for i, m := range got {
		if m.Offset != int64(i) {
			t.Fatalf("message %d has offset %d: lost or repeated around the pause", i, m.Offset)
		}
		if err := checkIntact(m); err != nil {
			t.Fatal(err)
		}
	}
}

// Seek moves the next Poll to an exact offset, backwards or forwards;
// seeking an unassigned partition fails.
func testSeek(t *testing.T, e *env) {
	topic, msgs, _ := e.publishedTopic(t, 1, 20, 11)
	c := e.consumer(t, consumerCfg(e.cfg, e.unique(t, "group"), topic))
	pollN(t, c, 10, time.Minute)
	for _, to := range []int64{3, 15, 0} {
		if err := c.Seek(bus.Offset{TopicPartition: tp(topic, 0), Offset: to}); err != nil {
			t.Fatalf("Seek(%d): %v", to, err)
		}
		got := pollN(t, c, 3, time.Minute)
		for i, m := range got {
			if m.Offset != to+int64(i) || string(m.Key) != string(msgs[to+int64(i)].Key) {
				t.Fatalf("after Seek(%d), message %d is offset %d key %s", to, i, m.Offset, m.Key)
			}
		}
	}
	if err := c.Seek(bus.Offset{TopicPartition: tp(topic, 7), Offset: 0}); err == nil {
		t.Errorf("Seek on an unassigned partition = nil error")
	}
}

// Lag is the high watermark minus the next offset to consume.
func testLag(t *testing.T, e *env) {
	topic, _, _ := e.publishedTopic(t, 1, 50, 13)
	c := e.consumer(t, consumerCfg(e.cfg, e.unique(t, "group"), topic))
	pollN(t, c, 20, time.Minute)
	lag, err := c.Lag()
	if err != nil {
		t.Fatalf("Lag: %v", err)
	}
	if got, ok := lag[tp(topic, 0)]; !ok || got != 30 {
		t.Fatalf("Lag() = %v after consuming 20 of 50, want %s: 30", lag, tp(topic, 0))
	}
	pollN(t, c, 30, time.Minute)
	lag, err = c.Lag()
	if err != nil || lag[tp(topic, 0)] != 0 {
		t.Fatalf("Lag() = %v, %v after consuming all, want 0", lag, err)
	}
}

// The bound holds while delivery callbacks are slow: a message holds its
// space until its callback has returned, so the bytes between an accepted
// PublishAsync and the end of its callback never exceed QueueMaxBytes.
// (librdkafka frees queue space when it hands a report to Go, before the
// callback runs: unchecked, a slow callback let the confluent backend
// accept tens of times the bound.)
func testProducerMemoryBoundSlowCallbacks(t *testing.T, e *env) {
	topic := e.unique(t, "conf")
	e.createTopic(t, topic, 3)
	cfg := producerCfg(e.cfg)
	cfg.MaxMessageBytes, cfg.QueueMaxBytes = 128<<10, 512<<10
	p := e.producer(t, cfg)
	rng := rand.New(rand.NewPCG(17, 18))
	const size, n = 64 << 10, 120
	var (
		mu          sync.Mutex
		out, peak   int
		reports     int
		failed      []error
		allReported = make(chan struct{})
	)
	ctx := testCtx(t, 3*time.Minute)
	for i := range n {
		m := testMessage(topic, i, size, rng)
		msize := m.Size()
		err := p.PublishAsync(ctx, m, func(d bus.Delivery) {
			time.Sleep(20 * time.Millisecond) // a slow consumer of reports
			mu.Lock()
			defer mu.Unlock()
			out -= msize
			reports++
			if d.Err != nil {
				failed = append(failed, d.Err)
			}
			if reports == n {
				close(allReported)
			}
		})
		if err != nil {
			t.Fatalf("PublishAsync #%d: %v", i, err)
		}
		mu.Lock()
		out += msize
		peak = max(peak, out)
		mu.Unlock()
	}
	select {
	case <-allReported:
	case <-ctx.Done():
		t.Fatalf("not every message was reported: %v", ctx.Err())
	}
	mu.Lock()
	defer mu.Unlock()
	if len(failed) > 0 {
		t.Fatalf("%d of %d deliveries failed, first: %v", len(failed), n, failed[0])
	}
	if peak > cfg.QueueMaxBytes {
		t.Fatalf("%d bytes accepted and not yet reported at the peak, QueueMaxBytes %d", peak, cfg.QueueMaxBytes)
	}
	t.Logf("peak %d bytes in flight (bound %d)", peak, cfg.QueueMaxBytes)
}

// Too large: over MaxMessageBytes is refused by the client; over the
// topic's max.message.bytes is refused by the broker; both ErrTooLarge,
// and the producer keeps working.
func testTooLarge(t *testing.T, e *env) {
	topic := e.unique(t, "conf")
	ctx := testCtx(t, 2*time.Minute)
	e.ensureTopic(t, ctx, topic, map[string]string{"max.message.bytes": "100000"})
	p := e.producer(t, producerCfg(e.cfg))
	rng := rand.New(rand.NewPCG(17, 18))
	publishOnceReady(t, ctx, p, testMessage(topic, 0, 100, rng))
	if _, err := p.Publish(ctx, testMessage(topic, 1, 1<<20+1, rng)); !errors.Is(err, bus.ErrTooLarge) {
		t.Errorf("Publish over MaxMessageBytes = %v, want ErrTooLarge", err)
	}
	if _, err := p.Publish(ctx, testMessage(topic, 2, 200_000, rng)); !errors.Is(err, bus.ErrTooLarge) || !bus.IsPermanent(err) {
		t.Errorf("Publish over the topic's max.message.bytes = %v, want ErrTooLarge, permanent", err)
	}
	if d, err := p.Publish(ctx, testMessage(topic, 3, 100, rng)); err != nil || d.Offset < 1 {
		t.Errorf("Publish after the refusals = %+v, %v; want delivered", d, err)
	}
}

// Producing to a topic that does not exist (auto-creation is off) fails
// with ErrUnknownTopic: franz-go after 4 metadata tries (about a second),
// librdkafka after topic.metadata.propagation.max.ms (30 s). The broker
// calls it retriable (metadata propagation); the backend asks a broker
// once more and, when the topic is still absent, marks it permanent.
func testMissingTopic(t *testing.T, e *env) {
	p := e.producer(t, producerCfg(e.cfg))
	topic := e.unique(t, "missing")
	// The second time the client knows the topic is absent: librdkafka
	// refuses it in Produce itself, before any delivery report.
	for i := range 2 {
		if _, err := p.Publish(testCtx(t, 2*time.Minute), &bus.Message{Topic: topic, Value: []byte("x")}); !errors.Is(err, bus.ErrUnknownTopic) || !bus.IsPermanent(err) {
			t.Errorf("Publish #%d to a missing topic = %v, want ErrUnknownTopic, permanent", i+1, err)
		}
	}
}

// A record the broker refuses as invalid (no key on a compacted topic:
// INVALID_RECORD) is a permanent error, and the producer keeps working.
func testInvalidRecord(t *testing.T, e *env) {
	topic := e.unique(t, "conf")
	ctx := testCtx(t, 2*time.Minute)
	e.ensureTopic(t, ctx, topic, map[string]string{"cleanup.policy": "compact"})
	p := e.producer(t, producerCfg(e.cfg))
	keyed := &bus.Message{Topic: topic, Key: []byte("k"), Value: []byte("v")}
	publishOnceReady(t, ctx, p, keyed)
	if _, err := p.Publish(ctx, &bus.Message{Topic: topic, Value: []byte("no key")}); err == nil || !bus.IsPermanent(err) {
		t.Errorf("Publish without a key to a compacted topic = %v, want a permanent error", err)
	}
	if _, err := p.Publish(ctx, keyed); err != nil {
		t.Errorf("Publish after the refusal = %v, want delivered", err)
	}
}

// Commit with a context already done commits nothing and says so, on both
// backends (the confluent backend used to commit anyway and return the
// context's error afterwards).
func testCommitContextDone(t *testing.T, e *env) {
	topic, _, _ := e.publishedTopic(t, 1, 5, 41)
	cfg := consumerCfg(e.cfg, e.unique(t, "group"), topic)
	a, err := e.newConsumer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	got := pollN(t, a, 3, time.Minute)
	done, cancel := context.WithCancel(context.Background())
	cancel()
	if err := a.Commit(done, []bus.Offset{{TopicPartition: tp(topic, 0), Offset: got[2].Offset + 1}}); !errors.Is(err, context.Canceled) {
		t.Errorf("Commit with a cancelled context = %v, want context.Canceled", err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	b := e.consumer(t, cfg)
	if off := pollN(t, b, 1, time.Minute)[0].Offset; off != 0 {
		t.Fatalf("after a Commit with a cancelled context, the next member starts at %d, want 0 (nothing committed)", off)
	}
}

// A topic deleted and created again under a running consumer: the member
// consumes the new topic from its start, and nothing it held of the old
// topic is committed on the new one (a commit goes by name before Kafka
// 4.2, so an old offset would make the group skip new records). The chaos
// suite's cloud-topic-recreate found the franz backend stuck here for good
// (UNKNOWN_TOPIC_ID).
func testTopicRecreated(t *testing.T, e *env) {
	topic := e.unique(t, "conf")
	e.createTopic(t, topic, 1)
	p := e.producer(t, producerCfg(e.cfg))
	rng := rand.New(rand.NewPCG(41, 42))
	batch := func(from, n int) []*bus.Message { return testMessages(topic, from, n, 100, rng) }
	publishAll(t, p, batch(0, 30))

	var mu sync.Mutex
	var events []string
	cfg := consumerCfg(e.cfg, e.unique(t, "group"), topic)
	cfg.Rebalance = bus.Rebalance{
		OnAssigned: func(parts []bus.TopicPartition) {
			mu.Lock()
			events = append(events, fmt.Sprint("assigned ", parts))
			mu.Unlock()
		},
		OnRevoked: func(parts []bus.TopicPartition, lost bool) {
			mu.Lock()
			events = append(events, fmt.Sprint("revoked ", parts, " lost=", lost))
			mu.Unlock()
		},
	}
	c := e.consumer(t, cfg)
	old := pollN(t, c, 30, time.Minute)
	// 20 processed and committed, 10 in hand (an open batch).
	if err := c.Commit(testCtx(t, 30*time.Second), []bus.Offset{{TopicPartition: tp(topic, 0), Offset: old[19].Offset + 1}}); err != nil {
		t.Fatalf("Commit: %v", err)
	}

	e.recreateTopic(t, topic, 1)
	// The producer that wrote the old topic writes the new one; a
	// message it fails meanwhile is transient: sent again, it lands.
	sendEventually := func(msgs []*bus.Message) {
		t.Helper()
		ctx := testCtx(t, 2*time.Minute)
		for i, m := range msgs {
			for {
				_, err := p.Publish(ctx, m)
				if err == nil {
					break
				}
				if bus.IsPermanent(err) || ctx.Err() != nil {
					t.Fatalf("Publish #%d to the recreated topic: %v", i, err)
				}
				time.Sleep(100 * time.Millisecond)
			}
		}
	}
	sendEventually(batch(100, 15))

	// The running member gets all of the new topic, in order, from 0.
	ctx := testCtx(t, 2*time.Minute)
	var got []*bus.Message
	for len(got) < 15 {
		m, err := c.Poll(ctx, 200*time.Millisecond)
		if err != nil {
			mu.Lock()
			ev := slices.Clone(events)
			mu.Unlock()
			t.Fatalf("Poll after %d of 15 messages of the new topic: %v (rebalances: %q)", len(got), err, ev)
		}
		if m != nil {
			got = append(got, m)
		}
	}
	for i, m := range got {
		if idx := string(header(m, "index")); m.Offset != int64(i) || idx != strconv.Itoa(100+i) {
			t.Fatalf("message %d of the new topic: offset %d index %s, want offset %d index %d", i, m.Offset, idx, i, 100+i)
		}
	}
	// The new topic's offsets commit, and the next member of the group
	// resumes exactly there: no offset of the old topic landed on it.
	waitFor(t, "commit of the new topic's offset", 30*time.Second, func() bool {
		return c.Commit(testCtx(t, 10*time.Second), []bus.Offset{{TopicPartition: tp(topic, 0), Offset: 15}}) == nil
	})
	if err := c.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	sendEventually(batch(115, 5))
	c2 := e.consumer(t, consumerCfg(e.cfg, cfg.GroupID, topic))
	if m := pollN(t, c2, 1, time.Minute)[0]; m.Offset != 15 || string(header(m, "index")) != "115" {
		t.Fatalf("next member starts at offset %d index %s, want offset 15 index 115", m.Offset, header(m, "index"))
	}
	mu.Lock()
	t.Logf("rebalances: %q", events)
	mu.Unlock()
}

// Topic administration on each backend.
func testAdmin(t *testing.T, e *env) {
	topic := e.unique(t, "conf")
	adm, err := e.newAdmin(e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer adm.Close()
	ctx := testCtx(t, 2*time.Minute)
	spec := bus.TopicSpec{Name: topic, Partitions: 5, ReplicationFactor: 3, Config: map[string]string{"min.insync.replicas": "2", "retention.ms": "3600000"}}
	for range 2 { // the second call finds it and leaves it alone
		if err := adm.EnsureTopics(ctx, []bus.TopicSpec{spec}); err != nil {
			t.Fatalf("EnsureTopics: %v", err)
		}
	}
	t.Cleanup(func() { e.deleteTopic(t, topic) })
	if n, err := adm.Partitions(ctx, topic); err != nil || n != 5 {
		t.Errorf("Partitions = %d, %v; want 5", n, err)
	}
	cfg, err := adm.TopicConfig(ctx, topic)
	if err != nil || cfg["min.insync.replicas"] != "2" || cfg["retention.ms"] != "3600000" || cfg["cleanup.policy"] != "delete" {
		t.Errorf("TopicConfig = %d entries (min.insync.replicas %q, retention.ms %q, cleanup.policy %q), %v",
			len(cfg), cfg["min.insync.replicas"], cfg["retention.ms"], cfg["cleanup.policy"], err)
	}
	missing := topic + "-missing"
	if _, err := adm.Partitions(ctx, missing); !errors.Is(err, bus.ErrUnknownTopic) {
		t.Errorf("Partitions(missing) = %v, want ErrUnknownTopic", err)
	}
	if _, err := adm.TopicConfig(ctx, missing); err == nil {
		t.Errorf("TopicConfig(missing) = nil error")
	}
}
