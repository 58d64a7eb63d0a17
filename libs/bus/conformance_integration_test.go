//go:build integration

package bus_test

// Conformance suite: every backend built into the binary must behave the
// same against real brokers (the devstack). Each test runs once per
// backend as a subtest named after it; TestIntegrationCrossBackend mixes
// them. The subtests that need no broker fault are written once in
// conformance_test.go and run against bustest too.

import (
	"bytes"
	"context"
	"errors"
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
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sensornode/sensornode/libs/bus"
	"github.com/sensornode/sensornode/tools/devstack"
	"github.com/sensornode/sensornode/tools/devstack/devstacktest"
)

func TestMain(m *testing.M) { devstacktest.Main(m) }

// ---------------------------------------------------------------- helpers

func forEachBackend(t *testing.T, f func(t *testing.T, st *devstack.Stack, backend string)) {
	st := devstacktest.Stack(t)
	for _, b := range bus.Backends() {
		t.Run(b, func(t *testing.T) { f(t, st, b) })
	}
}

func edge(st *devstack.Stack, backend string) bus.Config {
	return bus.Config{Brokers: strings.Split(st.EdgeBootstrap(), ","), ClientID: "conformance-" + backend, Backend: backend}
}

// kafka makes clients of the backends built into the binary.
var kafka = &env{newProducer: bus.NewProducer, newConsumer: bus.NewConsumer, newAdmin: bus.NewAdmin}

func newProducer(t *testing.T, cfg bus.ProducerConfig, opts ...bus.Option) bus.Producer {
	t.Helper()
	return kafka.producer(t, cfg, opts...)
}

func newConsumer(t *testing.T, cfg bus.ConsumerConfig) bus.Consumer {
	t.Helper()
	return kafka.consumer(t, cfg)
}

// devstackEnv is the devstack's edge cluster, reached with backend, for
// the conformance subtests written once (conformance_test.go).
func devstackEnv(st *devstack.Stack, backend string) *env {
	e := *kafka
	e.cfg = edge(st, backend)
	e.unique = devstacktest.UniqueTopic
	e.createTopic = func(t testing.TB, name string, partitions int) {
		devstacktest.CreateTopic(t, st.EdgeBootstrap(), name, partitions, 3)
	}
	e.deleteTopic = func(t testing.TB, name string) { deleteTopic(t, st.EdgeBootstrap(), name) }
	e.recreateTopic = func(t testing.TB, name string, partitions int) {
		recreateTopic(t, st.EdgeBootstrap(), name, partitions)
	}
	e.metrics = true
	return &e
}

// conformance runs a subtest written once on every backend.
func conformance(t *testing.T, f func(t *testing.T, e *env)) {
	forEachBackend(t, func(t *testing.T, st *devstack.Stack, backend string) { f(t, devstackEnv(st, backend)) })
}

// The conformance subtests written once (conformance_test.go), on every
// backend; bustest runs them too (TestConformanceBustest).

func TestIntegrationProduceConsume(t *testing.T)    { conformance(t, testProduceConsume) }
func TestIntegrationManualCommit(t *testing.T)      { conformance(t, testManualCommit) }
func TestIntegrationRegexSubscription(t *testing.T) { conformance(t, testRegexSubscription) }
func TestIntegrationRebalance(t *testing.T)         { conformance(t, testRebalance) }
func TestIntegrationPauseResume(t *testing.T)       { conformance(t, testPauseResume) }
func TestIntegrationSeek(t *testing.T)              { conformance(t, testSeek) }
func TestIntegrationLag(t *testing.T)               { conformance(t, testLag) }
func TestIntegrationProducerMemoryBoundSlowCallbacks(t *testing.T) {
	conformance(t, testProducerMemoryBoundSlowCallbacks)
}
func TestIntegrationTooLarge(t *testing.T)          { conformance(t, testTooLarge) }
func TestIntegrationMissingTopic(t *testing.T)      { conformance(t, testMissingTopic) }
func TestIntegrationInvalidRecord(t *testing.T)     { conformance(t, testInvalidRecord) }
func TestIntegrationCommitContextDone(t *testing.T) { conformance(t, testCommitContextDone) }
func TestIntegrationTopicRecreated(t *testing.T)    { conformance(t, testTopicRecreated) }
func TestIntegrationAdmin(t *testing.T)             { conformance(t, testAdmin) }

// ---------------------------------------------------------------- broker faults, across backends

// The producer's memory is bounded: with every edge broker stopped
// (SIGSTOP), PublishAsync blocks once QueueMaxBytes is enqueued and
// continues when the brokers do (SIGCONT); everything is delivered.
func TestIntegrationProducerMemoryBound(t *testing.T) {
	forEachBackend(t, func(t *testing.T, st *devstack.Stack, backend string) {
		topic := devstacktest.UniqueTopic(t, "conf")
		devstacktest.CreateTopic(t, st.EdgeBootstrap(), topic, 3, 3)
		cfg := producerCfg(edge(st, backend))
		cfg.MaxMessageBytes, cfg.QueueMaxBytes, cfg.DeliveryTimeout = 256<<10, 1<<20, 0
		p := newProducer(t, cfg)
		rng := rand.New(rand.NewPCG(15, 16))
		// Metadata and connections first.
		if _, err := p.Publish(testCtx(t, time.Minute), testMessage(topic, 0, 10, rng)); err != nil {
			t.Fatal(err)
		}
		names := make([]string, st.EdgeBrokers())
		for i := range names {
			names[i] = devstack.EdgeKafkaName(i + 1)
			devstacktest.PauseForTest(t, st, names[i]) // cleanup resumes and waits until healthy
		}
		resumed := false
		resume := func() {
			if resumed {
				return
			}
			resumed = true
			for _, n := range names {
				if err := st.Resume(n); err != nil {
					t.Errorf("resume %s: %v", n, err)
				}
			}
		}
		defer resume()

		const size = 100 << 10
		var (
			mu       sync.Mutex
			reports  = map[int]bus.Delivery{}
			repeated []int
		)
		done := func(i int) func(bus.Delivery) {
			return func(d bus.Delivery) {
				mu.Lock()
				defer mu.Unlock()
				if _, ok := reports[i]; ok {
					repeated = append(repeated, i)
				}
				reports[i] = d
			}
		}
		msgs := map[int]*bus.Message{}
		accepted := 0
		for i := 1; ; i++ {
			if i > 3*cfg.QueueMaxBytes/size {
				t.Fatalf("%d messages of %d bytes enqueued with brokers stopped and a %d byte queue", accepted, size, cfg.QueueMaxBytes)
			}
			m := testMessage(topic, i, size, rng)
			ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
			err := p.PublishAsync(ctx, m, done(i))
			cancel()
			if errors.Is(err, context.DeadlineExceeded) {
				break
			}
			if err != nil {
				t.Fatalf("PublishAsync #%d: %v", i, err)
			}
			msgs[i] = m
			accepted++
		}
		if accepted == 0 || accepted*size > cfg.QueueMaxBytes {
			t.Fatalf("%d messages of %d bytes enqueued before blocking, queue %d bytes", accepted, size, cfg.QueueMaxBytes)
		}
		// One more, blocked until the brokers run again.
		next := accepted + 1
		msgs[next] = testMessage(topic, next, size, rng)
		blocked := make(chan error, 1)
		go func() { blocked <- p.PublishAsync(context.Background(), msgs[next], done(next)) }()
		select {
		case err := <-blocked:
			t.Fatalf("PublishAsync returned %v while the queue is full and the brokers are stopped", err)
		case <-time.After(time.Second):
		}
		resume()
		if err := <-blocked; err != nil {
			t.Fatalf("blocked PublishAsync after SIGCONT: %v", err)
		}
		if err := p.Flush(testCtx(t, 3*time.Minute)); err != nil {
			t.Fatalf("Flush after SIGCONT: %v", err)
		}
		mu.Lock()
		defer mu.Unlock()
		if len(repeated) > 0 || len(reports) != len(msgs) {
			t.Fatalf("%d reports for %d messages (repeated: %v)", len(reports), len(msgs), repeated)
		}
		for i, d := range reports {
			if d.Err != nil {
				t.Fatalf("message %d: %v (DeliveryTimeout 0 retries forever)", i, d.Err)
			}
		}
	})
}

// A producer denied writing a topic gets a permanent ErrNotAuthorized.
func TestIntegrationPublishDenied(t *testing.T) {
	forEachBackend(t, func(t *testing.T, st *devstack.Stack, backend string) {
		topic := devstacktest.UniqueTopic(t, "denied")
		devstacktest.CreateTopic(t, st.CloudBootstrap(), topic, 1, 1)
		t.Cleanup(func() { deleteTopic(t, st.CloudBootstrap(), topic) })
		denyTopic(t, st, topic, kadm.OpWrite)
		p := newProducer(t, producerCfg(secureCloud(st, backend)))
		_, err := p.Publish(testCtx(t, 2*time.Minute), &bus.Message{Topic: topic, Key: []byte("k"), Value: []byte("v")})
		if !errors.Is(err, bus.ErrNotAuthorized) || !bus.IsPermanent(err) {
			t.Errorf("Publish to a topic the user may not write = %v, want ErrNotAuthorized, permanent", err)
		}
	})
}

// TLS with the devstack CA and SCRAM-SHA-512 on the cloud broker's
// SASL_SSL listener; a wrong password fails.
func TestIntegrationSecure(t *testing.T) {
	forEachBackend(t, func(t *testing.T, st *devstack.Stack, backend string) {
		topic := devstacktest.UniqueTopic(t, "conf")
		secure := bus.Config{Brokers: []string{st.CloudSecureBootstrap()}, ClientID: "conformance-secure", Backend: backend,
			TLS:  bus.TLSConfig{Enabled: true, CAFile: st.CACertFile()},
			SASL: bus.SASLConfig{Mechanism: st.SCRAMMechanism(), Username: st.SCRAMUser(), PasswordFile: st.SCRAMPasswordFile()}}
		adm, err := bus.NewAdmin(secure)
		if err != nil {
			t.Fatal(err)
		}
		defer adm.Close()
		ctx := testCtx(t, 2*time.Minute)
		if err := adm.EnsureTopics(ctx, []bus.TopicSpec{{Name: topic, Partitions: 2, ReplicationFactor: 1}}); err != nil {
			t.Fatalf("EnsureTopics over SASL_SSL: %v", err)
		}
		t.Cleanup(func() { deleteTopic(t, st.CloudBootstrap(), topic) })
		if n, err := adm.Partitions(ctx, topic); err != nil || n != 2 {
			t.Fatalf("Partitions = %d, %v; want 2", n, err)
		}
		p := newProducer(t, producerCfg(secure))
		if err := p.Ping(ctx); err != nil {
			t.Fatalf("Ping over SASL_SSL: %v", err)
		}
		rng := rand.New(rand.NewPCG(19, 20))
		msgs := make([]*bus.Message, 20)
		for i := range msgs {
			msgs[i] = testMessage(topic, i, 5000, rng)
		}
		publishOnceReady(t, ctx, p, msgs[0])
		publishAll(t, p, msgs[1:])
		c := newConsumer(t, consumerCfg(secure, devstacktest.UniqueTopic(t, "group"), topic))
		keys := map[string]bool{}
		for _, m := range pollN(t, c, len(msgs), time.Minute) {
			if err := checkIntact(m); err != nil {
				t.Fatal(err)
			}
			keys[string(m.Key)] = true
		}
		if len(keys) != len(msgs) {
			t.Fatalf("read %d distinct keys, want %d", len(keys), len(msgs))
		}

		wrong := secure
		wrong.SASL.PasswordFile, wrong.SASL.Password = "", "not-the-password"
		bad, err := bus.NewProducer(producerCfg(wrong))
		if err != nil {
			t.Fatal(err)
		}
		defer bad.Close()
		pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if err := bad.Ping(pctx); err == nil {
			t.Errorf("Ping with a wrong SCRAM password = nil")
		}
	})
}

// An edge broker SIGKILLed mid-produce: producing continues on the others
// (RF 3, min ISR 2) and every acknowledged message reads back intact,
// once.
func TestIntegrationBrokerKilled(t *testing.T) {
	forEachBackend(t, func(t *testing.T, st *devstack.Stack, backend string) {
		topic := devstacktest.UniqueTopic(t, "conf")
		devstacktest.CreateTopic(t, st.EdgeBootstrap(), topic, 3, 3)
		p := newProducer(t, producerCfg(edge(st, backend)))
		const n, size, killAt = 1000, 20 << 10, 300
		rng := rand.New(rand.NewPCG(21, 22))
		var (
			mu     sync.Mutex
			acked  = map[string]string{} // key -> sha256
			failed = map[string]error{}
			counts = map[string]int{}
		)
		var ackedN atomic.Int64
		ctx := testCtx(t, 5*time.Minute)
		killed := false
		for i := range n {
			m := testMessage(topic, i, size, rng)
			key, sum := string(m.Key), string(header(m, shaHeader))
			if err := p.PublishAsync(ctx, m, func(d bus.Delivery) {
				mu.Lock()
				defer mu.Unlock()
				counts[key]++
				if d.Err != nil {
					failed[key] = d.Err
					return
				}
				acked[key] = sum
				ackedN.Add(1)
			}); err != nil {
				t.Fatalf("PublishAsync #%d: %v", i, err)
			}
			if !killed && i >= killAt {
				waitFor(t, "acks before the kill", time.Minute, func() bool { return ackedN.Load() >= killAt })
				devstacktest.KillForTest(t, st, devstack.EdgeKafkaName(2))
				killed = true
			}
		}
		if err := p.Flush(ctx); err != nil {
			t.Fatalf("Flush with a broker down: %v", err)
		}
		mu.Lock()
		for k, c := range counts {
			if c != 1 {
				t.Errorf("message %s: %d delivery reports", k, c)
			}
		}
		if len(counts) != n {
			t.Errorf("%d of %d messages reported", len(counts), n)
		}
		if len(failed) > 0 {
			t.Errorf("%d messages failed with 2 of 3 brokers up (min ISR 2), e.g. %v", len(failed), slices.Collect(maps.Values(failed))[0])
		}
		want := maps.Clone(acked)
		mu.Unlock()

		c := newConsumer(t, consumerCfg(edge(st, backend), devstacktest.UniqueTopic(t, "group"), topic))
		seen := map[string]int{}
		for _, m := range pollN(t, c, len(want), 3*time.Minute) {
			if err := checkIntact(m); err != nil {
				t.Fatal(err)
			}
			seen[string(m.Key)]++
			if sum, ok := want[string(m.Key)]; ok && sum != string(header(m, shaHeader)) {
				t.Fatalf("%s: read back different bytes", m.Key)
			}
		}
		for k := range want {
			if seen[k] != 1 {
				t.Errorf("acknowledged message %s read back %d times", k, seen[k])
			}
		}
		t.Logf("%s: %d acknowledged, %d failed, %d read back", backend, len(want), len(failed), len(seen))
	})
}

// Across backends: what one produces the other consumes intact (headers,
// key, timestamp), keys land on the same partition (murmur2, as Java's
// client), and members of both backends share a consumer group.
func TestIntegrationCrossBackend(t *testing.T) {
	st := devstacktest.Stack(t)
	if len(bus.Backends()) < 2 {
		t.Skipf("only %v built into this binary", bus.Backends())
	}
	for _, pair := range [][2]string{{bus.BackendConfluent, bus.BackendFranz}, {bus.BackendFranz, bus.BackendConfluent}} {
		from, to := pair[0], pair[1]
		t.Run(from+"-to-"+to, func(t *testing.T) {
			topic := devstacktest.UniqueTopic(t, "conf")
			devstacktest.CreateTopic(t, st.EdgeBootstrap(), topic, 6, 3)
			p := newProducer(t, producerCfg(edge(st, from)))
			rng := rand.New(rand.NewPCG(23, 24))
			msgs := make([]*bus.Message, 60)
			ts := time.Now().Add(-time.Minute).Truncate(time.Millisecond)
			for i := range msgs {
				msgs[i] = testMessage(topic, i, 2000, rng)
				msgs[i].Timestamp = ts.Add(time.Duration(i) * time.Millisecond)
			}
			ds := publishAll(t, p, msgs)
			// The other backend puts the same keys on the same partitions.
			q := newProducer(t, producerCfg(edge(st, to)))
			for i, d := range publishAll(t, q, msgs[:20]) {
				if d.Partition != ds[i].Partition {
					t.Errorf("key %s: partition %d with %s, %d with %s", msgs[i].Key, ds[i].Partition, from, d.Partition, to)
				}
			}
			c := newConsumer(t, consumerCfg(edge(st, to), devstacktest.UniqueTopic(t, "group"), topic))
			byKey := map[string]*bus.Message{}
			for _, m := range pollN(t, c, len(msgs)+20, 2*time.Minute) {
				if err := checkIntact(m); err != nil {
					t.Fatal(err)
				}
				byKey[string(m.Key)+"/"+strconv.FormatInt(m.Offset, 10)+"/"+strconv.Itoa(int(m.Partition))] = m
			}
			for i, want := range msgs {
				m := byKey[string(want.Key)+"/"+strconv.FormatInt(ds[i].Offset, 10)+"/"+strconv.Itoa(int(ds[i].Partition))]
				if m == nil {
					t.Fatalf("message %d (%s at %d@%d) not read by %s", i, want.Key, ds[i].Partition, ds[i].Offset, to)
				}
				if !m.Timestamp.Equal(want.Timestamp) || !bytes.Equal(m.Value, want.Value) || len(m.Headers) != len(want.Headers) {
					t.Fatalf("message %d: timestamp %v (want %v), %d headers (want %d)", i, m.Timestamp, want.Timestamp, len(m.Headers), len(want.Headers))
				}
				for j, h := range want.Headers {
					if m.Headers[j].Key != h.Key || !bytes.Equal(m.Headers[j].Value, h.Value) {
						t.Fatalf("message %d header %d: %q:%q, want %q:%q", i, j, m.Headers[j].Key, m.Headers[j].Value, h.Key, h.Value)
					}
				}
			}
		})
	}
	t.Run("mixed-group", func(t *testing.T) {
		topic := devstacktest.UniqueTopic(t, "conf")
		devstacktest.CreateTopic(t, st.EdgeBootstrap(), topic, 4, 3)
		p := newProducer(t, producerCfg(edge(st, bus.BackendFranz)))
		rng := rand.New(rand.NewPCG(25, 26))
		msgs := make([]*bus.Message, 40)
		for i := range msgs {
			msgs[i] = testMessage(topic, i, 100, rng)
		}
		publishAll(t, p, msgs)
		group := devstacktest.UniqueTopic(t, "group")
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		var wg sync.WaitGroup
		a := newMember(t, kafka, "confluent", consumerCfg(edge(st, bus.BackendConfluent), group, topic), 0)
		b := newMember(t, kafka, "franz", consumerCfg(edge(st, bus.BackendFranz), group, topic), 0)
		wg.Go(func() { a.run(ctx) })
		wg.Go(func() { b.run(ctx) })
		waitFor(t, "both members to own and read partitions", 2*time.Minute, func() bool {
			return a.settled(1) && b.settled(1) && a.snap.Load().assigned+b.snap.Load().assigned == 4
		})
		cancel()
		wg.Wait()
		for _, ms := range []*memberState{a, b} {
			if ms.pollErr != nil {
				t.Fatalf("%s member: %v", ms.name, ms.pollErr)
			}
		}
	})
}

// deleteTopic removes a topic created through bus.Admin (which has no
// delete: services never delete topics).
func deleteTopic(t testing.TB, bootstrap, topic string) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(bootstrap, ",")...))
	if err != nil {
		t.Logf("cleanup: delete topic %s: %v", topic, err)
		return
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := kadm.NewClient(cl).DeleteTopic(ctx, topic); err != nil {
		t.Logf("cleanup: delete topic %s: %v", topic, err)
	}
}

// BenchmarkIntegrationPublish: PublishAsync of 16 KiB messages to a
// 3-partition RF 3 edge topic, acks=all, per backend (b.N messages, then
// Flush). Memory per backend is measured in separate processes by
// internal/busbench (see README.md).
func BenchmarkIntegrationPublish(b *testing.B) {
	st := devstacktest.Stack(b)
	for _, backend := range bus.Backends() {
		b.Run(backend, func(b *testing.B) {
			topic := devstacktest.UniqueTopic(b, "bench")
			devstacktest.CreateTopic(b, st.EdgeBootstrap(), topic, 3, 3)
			p, err := bus.NewProducer(producerCfg(edge(st, backend)))
			if err != nil {
				b.Fatal(err)
			}
			defer p.Close()
			const size = 16 << 10
			v := make([]byte, size)
			var failed atomic.Int64
			done := func(d bus.Delivery) {
				if d.Err != nil {
					failed.Add(1)
				}
			}
			ctx := context.Background()
			b.SetBytes(size)
			for i := 0; b.Loop(); i++ {
				if err := p.PublishAsync(ctx, &bus.Message{Topic: topic, Key: []byte(strconv.Itoa(i)), Value: v}, done); err != nil {
					b.Fatal(err)
				}
			}
			if err := p.Flush(ctx); err != nil {
				b.Fatal(err)
			}
			if n := failed.Load(); n > 0 {
				b.Fatalf("%d deliveries failed", n)
			}
		})
	}
}

// ---------------------------------------------------------------- divergence (issue 11, defect 10)

func secureCloud(st *devstack.Stack, backend string) bus.Config {
	return bus.Config{Brokers: []string{st.CloudSecureBootstrap()}, ClientID: "conformance-secure-" + backend, Backend: backend,
		TLS:  bus.TLSConfig{Enabled: true, CAFile: st.CACertFile()},
		SASL: bus.SASLConfig{Mechanism: st.SCRAMMechanism(), Username: st.SCRAMUser(), PasswordFile: st.SCRAMPasswordFile()}}
}

// denyTopic adds a DENY ACL for the devstack's SCRAM user on topic (the
// PLAINTEXT listener's User:ANONYMOUS is a super user and may do so).
func denyTopic(t *testing.T, st *devstack.Stack, topic string, ops ...kadm.ACLOperation) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(st.CloudBootstrap()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	b := kadm.NewACLs().Topics(topic).Deny("User:" + st.SCRAMUser()).DenyHosts("*").Operations(ops...).
		ResourcePatternType(kadm.ACLPatternLiteral)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := kadm.NewClient(cl).CreateACLs(ctx, b)
	if err == nil {
		for _, r := range res {
			err = errors.Join(err, r.Err)
		}
	}
	if err != nil {
		t.Fatalf("create ACL denying %v on %s: %v", ops, topic, err)
	}
}

// A consumer denied reading its topic gets an error from Poll on both
// backends (franz-go used to log the fetch error and retry forever, so
// the caller saw an idle consumer); the error is permanent.
func TestIntegrationFetchDenied(t *testing.T) {
	forEachBackend(t, func(t *testing.T, st *devstack.Stack, backend string) {
		topic := devstacktest.UniqueTopic(t, "denied")
		devstacktest.CreateTopic(t, st.CloudBootstrap(), topic, 1, 1)
		t.Cleanup(func() { deleteTopic(t, st.CloudBootstrap(), topic) })
		plain := bus.Config{Brokers: []string{st.CloudBootstrap()}, ClientID: "conformance-" + backend, Backend: backend}
		publishAll(t, newProducer(t, producerCfg(plain)), []*bus.Message{{Topic: topic, Key: []byte("k"), Value: []byte("v")}})
		denyTopic(t, st, topic, kadm.OpRead)

		c := newConsumer(t, consumerCfg(secureCloud(st, backend), devstacktest.UniqueTopic(t, "group"), topic))
		ctx := testCtx(t, 60*time.Second)
		for {
			m, err := c.Poll(ctx, time.Second)
			if m != nil {
				t.Fatalf("Poll returned message %s@%d from a topic the user may not read", m.Topic, m.Offset)
			}
			if err != nil {
				if ctx.Err() != nil {
					t.Fatalf("Poll on a denied topic: no error for 60 s (last: %v)", err)
				}
				if !errors.Is(err, bus.ErrNotAuthorized) || !bus.IsPermanent(err) {
					t.Fatalf("Poll on a denied topic = %v; want ErrNotAuthorized, permanent", err)
				}
				t.Logf("%s: %v", backend, err)
				return
			}
		}
	})
}

// recreateTopic deletes topic and creates it again with the same name and
// partition count, as an operator might: the new topic has a new topic ID
// and its offsets start at 0 again.
func recreateTopic(t testing.TB, bootstrap, topic string, partitions int) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(bootstrap, ",")...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ctx := testCtx(t, 2*time.Minute)
	if _, err := adm.DeleteTopic(ctx, topic); err != nil {
		t.Fatalf("delete topic %s: %v", topic, err)
	}
	// Deletion finishes in the background: wait until no broker lists it.
	waitFor(t, "topic "+topic+" gone", time.Minute, func() bool {
		md, err := adm.Metadata(ctx, topic)
		return err == nil && !md.Topics.Has(topic) || err == nil && errors.Is(md.Topics[topic].Err, kerr.UnknownTopicOrPartition)
	})
	// Until the brokers finished deleting, a create is refused (TOPIC_ALREADY_EXISTS,
	// "marked for deletion").
	waitFor(t, "topic "+topic+" created again", time.Minute, func() bool {
		r, err := adm.CreateTopic(ctx, int32(partitions), 3, nil, topic)
		return err == nil && r.Err == nil
	})
	for _, b := range strings.Split(bootstrap, ",") {
		one, err := kgo.NewClient(kgo.SeedBrokers(b))
		if err != nil {
			t.Fatal(err)
		}
		waitFor(t, "broker "+b+" to know the new "+topic, time.Minute, func() bool {
			m, err := kadm.NewClient(one).Metadata(ctx, topic)
			if err != nil || m.Topics[topic].Err != nil || len(m.Topics[topic].Partitions) != partitions {
				return false
			}
			for _, p := range m.Topics[topic].Partitions {
				if p.Leader < 0 || p.Err != nil {
					return false
				}
			}
			return true
		})
		one.Close()
	}
}

// ---------------------------------------------------------------- buffered gauges

// clientGauge is the value of gauge name of client on reg (-1: absent).
func clientGauge(t *testing.T, reg *prometheus.Registry, name, client string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "client" && l.GetValue() == client {
					return m.GetGauge().GetValue()
				}
			}
		}
	}
	return -1
}

// The buffered gauges move with what the client holds: a producer
// lingering on its messages reports all of them and 0 once they are
// delivered; a consumer that polls slowly reports what it fetched ahead,
// never more than was produced (a confluent consumer's partitions share one
// queue, which must be counted once), and 0 once everything was polled.
func TestIntegrationBufferedGauges(t *testing.T) {
	forEachBackend(t, func(t *testing.T, st *devstack.Stack, backend string) {
		const (
			every = 20 * time.Millisecond // stats interval
			n     = 100
			size  = 1000
		)
		msgsGauge, bytesGauge := "sensornode_kafka_client_buffered_messages", "sensornode_kafka_client_buffered_bytes"
		topic := devstacktest.UniqueTopic(t, "conf")
		devstacktest.CreateTopic(t, st.EdgeBootstrap(), topic, 3, 3)
		reg := prometheus.NewRegistry()
		rng := rand.New(rand.NewPCG(21, 22))

		// Producer: a linger far longer than the test keeps the messages
		// in the client until Flush.
		cfg := producerCfg(edge(st, backend))
		cfg.Linger = time.Minute // franz-go's maximum
		p := newProducer(t, cfg, bus.WithMetrics(bus.NewMetrics(reg, "producer")), bus.WithStatsInterval(every))
		var delivered atomic.Int64
		ctx := testCtx(t, 2*time.Minute)
		for i := range n {
			if err := p.PublishAsync(ctx, testMessage(topic, i, size, rng), func(d bus.Delivery) {
				if d.Err == nil {
					delivered.Add(1)
				}
			}); err != nil {
				t.Fatalf("PublishAsync #%d: %v", i, err)
			}
		}
		waitFor(t, "producer buffered gauge to count the lingering messages", 30*time.Second, func() bool {
			return clientGauge(t, reg, msgsGauge, "producer") == n
		})
		if b := clientGauge(t, reg, bytesGauge, "producer"); b < n*size {
			t.Errorf("producer %s = %v with %d messages of %d bytes lingering, want at least %d", bytesGauge, b, n, size, n*size)
		}
		if got := delivered.Load(); got != 0 {
			t.Fatalf("%d messages delivered during a one minute linger, want 0 (the gauge counted messages that had left)", got)
		}
		if err := p.Flush(ctx); err != nil {
			t.Fatalf("Flush: %v", err)
		}
		waitFor(t, "producer buffered gauges back to 0 after Flush", time.Minute, func() bool {
			return clientGauge(t, reg, msgsGauge, "producer") == 0 && clientGauge(t, reg, bytesGauge, "producer") == 0
		})

		// Consumer: one message polled per stats interval, so the rest
		// waits in the client for many intervals.
		c, err := bus.NewConsumer(consumerCfg(edge(st, backend), devstacktest.UniqueTopic(t, "group"), topic),
			bus.WithMetrics(bus.NewMetrics(reg, "consumer")), bus.WithStatsInterval(every))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		var peakMsgs, peakBytes float64
		for got := 0; got < n; {
			m, err := c.Poll(ctx, 200*time.Millisecond)
			if err != nil {
				t.Fatalf("Poll after %d of %d messages: %v", got, n, err)
			}
			if m == nil {
				continue
			}
			got++
			time.Sleep(every)
			peakMsgs = max(peakMsgs, clientGauge(t, reg, msgsGauge, "consumer"))
			peakBytes = max(peakBytes, clientGauge(t, reg, bytesGauge, "consumer"))
		}
		t.Logf("consumer peak: %v messages, %v bytes buffered of %d messages in 3 partitions", peakMsgs, peakBytes, n)
		if peakMsgs <= 0 || peakMsgs > n {
			t.Errorf("consumer %s peaked at %v while %d messages were polled slowly, want 1..%d", msgsGauge, peakMsgs, n, n)
		}
		if peakBytes < peakMsgs*size {
			t.Errorf("consumer %s peaked at %v with %v messages of %d bytes, want at least %v", bytesGauge, peakBytes, peakMsgs, size, peakMsgs*size)
		}
		waitFor(t, "consumer buffered gauges back to 0 once everything was polled", time.Minute, func() bool {
			if _, err := c.Poll(ctx, every); err != nil {
				t.Fatalf("Poll: %v", err)
			}
			return clientGauge(t, reg, msgsGauge, "consumer") == 0 && clientGauge(t, reg, bytesGauge, "consumer") == 0
		})
	})
}

// A record larger than every fetch bound (the consumer's MaxFetchBytes and
// QueueMaxBytes: tight ones, and the defaults for a 1 GB board, 4 MiB and
// 4 MiB) still comes through whole, with its neighbours and in order: Kafka
// returns the first record batch of a fetch whatever its size, and neither
// client may refuse the response (librdkafka's receive.message.max.bytes
// once was the queue bound plus 1 MiB, below such a picture). The record is
// near the largest picture the services accept (SENSORNODE_MAX_PICTURE_BYTES,
// 8 MiB).
func TestIntegrationRecordLargerThanFetchBounds(t *testing.T) {
	conformance(t, func(t *testing.T, e *env) {
		topic := e.unique(t, "conf")
		ctx := testCtx(t, 3*time.Minute)
		e.ensureTopic(t, ctx, topic, map[string]string{"max.message.bytes": strconv.Itoa(9 << 20)})
		pcfg := producerCfg(e.cfg)
		pcfg.MaxMessageBytes, pcfg.QueueMaxBytes = 8<<20, 16<<20
		p := e.producer(t, pcfg)
		rng := rand.New(rand.NewPCG(41, 42))
		sizes := []int{1000, 8<<20 - 4096, 1000, 3 << 20, 1000}
		msgs := make([]*bus.Message, len(sizes))
		for i, n := range sizes {
			msgs[i] = testMessage(topic, i, n, rng)
		}
		publishAll(t, p, msgs)
		for _, bounds := range [][2]int{{1 << 20, 2 << 20}, {4 << 20, 4 << 20}} {
			ccfg := consumerCfg(e.cfg, e.unique(t, "group"), topic)
			ccfg.MaxFetchBytes, ccfg.QueueMaxBytes = bounds[0], bounds[1]
			c := e.consumer(t, ccfg)
			got := pollN(t, c, len(msgs), 2*time.Minute)
			for i, m := range got {
				if err := checkIntact(m); err != nil {
					t.Error(err)
				}
				if m.Offset != int64(i) || len(m.Value) != sizes[i] {
					t.Errorf("fetch %d, queue %d: message %d: offset %d, %d bytes; want offset %d, %d bytes",
						bounds[0], bounds[1], i, m.Offset, len(m.Value), i, sizes[i])
				}
			}
		}
	})
}
