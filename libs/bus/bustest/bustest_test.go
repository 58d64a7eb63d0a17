package bustest_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/goleak"

	"github.com/sensornode/sensornode/libs/bus"
	"github.com/sensornode/sensornode/libs/bus/bustest"
)

// Most of bustest's behaviour is proven by the bus conformance suite
// (libs/bus TestConformanceBustest); these are what it does not cover.

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func producer(t *testing.T, cl *bustest.Cluster, cfg bus.ProducerConfig) *bustest.Producer {
	t.Helper()
	p, err := cl.NewProducer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

func consumer(t *testing.T, cl *bustest.Cluster, cfg bus.ConsumerConfig) *bustest.Consumer {
	t.Helper()
	c, err := cl.NewConsumer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// A key lands on the partition franz-go's default partitioner (murmur2,
// as Kafka's Java client and librdkafka's murmur2_random) picks.
func TestKeysPartitionLikeFranzGo(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const parts = 7
		cl := bustest.NewCluster(bustest.SeedTopics(parts, "t"))
		p := producer(t, cl, bus.ProducerConfig{})
		franz := kgo.StickyKeyPartitioner(nil).ForTopic("t")
		for i := range 200 {
			key := []byte(fmt.Sprintf("key-%d%s", i, "abc"[:i%4]))
			d, err := p.Publish(t.Context(), &bus.Message{Topic: "t", Key: key})
			if err != nil {
				t.Fatal(err)
			}
			if want := int32(franz.Partition(&kgo.Record{Key: key}, parts)); d.Partition != want {
				t.Errorf("key %q on partition %d, franz-go puts it on %d", key, d.Partition, want)
			}
		}
	})
}

// Fail: the next n deliveries, pings and seeks fail, or all of them until
// cleared; a failed delivery writes nothing.
func TestFail(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cl := bustest.NewCluster(bustest.SeedTopics(1, "t"))
		p := producer(t, cl, bus.ProducerConfig{})
		boom := errors.New("boom")
		cl.Fail(bustest.Deliver, 2, boom)
		var errs []error
		for i := range 3 {
			_, err := p.Publish(t.Context(), &bus.Message{Topic: "t", Key: []byte{byte(i)}})
			errs = append(errs, err)
		}
		if !errors.Is(errs[0], boom) || !errors.Is(errs[1], boom) || errs[2] != nil {
			t.Errorf("Publish errors = %v, want boom, boom, nil", errs)
		}
		if recs := cl.Records("t"); len(recs) != 1 || recs[0].Key[0] != 2 || recs[0].Offset != 0 {
			t.Errorf("records = %v, want only the third message, at offset 0", recs)
		}

		cl.Fail(bustest.Ping, bustest.Always, bus.ErrBrokersDown)
		for range 3 {
			if err := p.Ping(t.Context()); !errors.Is(err, bus.ErrBrokersDown) {
				t.Errorf("Ping() = %v, want ErrBrokersDown", err)
			}
		}
		cl.Fail(bustest.Ping, 0, nil)
		if err := p.Ping(t.Context()); err != nil {
			t.Errorf("Ping() after clearing = %v", err)
		}

		c := consumer(t, cl, bus.ConsumerConfig{GroupID: "g", Topics: []string{"t"}})
		if m, err := c.Poll(t.Context(), time.Second); m == nil || err != nil {
			t.Fatalf("Poll() = %v, %v", m, err)
		}
		cl.Fail(bustest.Seek, 1, boom)
		to := bus.Offset{TopicPartition: bus.TopicPartition{Topic: "t"}, Offset: 0}
		if err := c.Seek(to); !errors.Is(err, boom) {
			t.Errorf("Seek() = %v, want boom", err)
		}
		if err := c.Seek(to); err != nil {
			t.Errorf("second Seek() = %v, want nil", err)
		}
	})
}

// Messages linger for Linger unless flushed; while the cluster is down,
// deliveries wait, pings fail and DeliveryTimeout ends the wait; Close
// fails what cannot be delivered with ErrClosed.
func TestLingerDownAndClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cl := bustest.NewCluster(bustest.SeedTopics(1, "t"))
		p := producer(t, cl, bus.ProducerConfig{Linger: time.Hour})
		reports := make(chan bus.Delivery, 10)
		send := func(p *bustest.Producer) {
			t.Helper()
			if err := p.PublishAsync(t.Context(), &bus.Message{Topic: "t", Value: []byte("v")}, func(d bus.Delivery) { reports <- d }); err != nil {
				t.Fatal(err)
			}
		}
		send(p)
		time.Sleep(time.Minute)
		if n := len(cl.Records("t")); n != 0 {
			t.Fatalf("%d records written while lingering", n)
		}
		if err := p.Flush(t.Context()); err != nil {
			t.Fatal(err)
		}
		if d := <-reports; d.Err != nil || d.Offset != 0 {
			t.Errorf("report after Flush = %+v", d)
		}

		cl.SetDown(true)
		if err := p.Ping(t.Context()); !errors.Is(err, bus.ErrBrokersDown) {
			t.Errorf("Ping() while down = %v, want ErrBrokersDown", err)
		}
		timed := producer(t, cl, bus.ProducerConfig{DeliveryTimeout: time.Minute})
		send(timed)
		start := time.Now()
		if d := <-reports; !errors.Is(d.Err, bus.ErrDeliveryTimed) || time.Since(start) != time.Minute {
			t.Errorf("report while down = %+v after %v, want ErrDeliveryTimed after 1m", d, time.Since(start))
		}
		send(p)
		if err := p.Close(); err != nil {
			t.Fatal(err)
		}
		if d := <-reports; !errors.Is(d.Err, bus.ErrClosed) {
			t.Errorf("report of a message closed while down = %+v, want ErrClosed", d)
		}
		cl.SetDown(false)
		if err := p.PublishAsync(t.Context(), &bus.Message{Topic: "t"}, func(bus.Delivery) {}); !errors.Is(err, bus.ErrClosed) {
			t.Errorf("PublishAsync after Close = %v, want ErrClosed", err)
		}
	})
}

// A member that lost its session finds its partitions revoked as lost,
// cannot commit until then, and joins again as a new member; the others
// rebalance without it meanwhile.
func TestLoseSession(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cl := bustest.NewCluster(bustest.SeedTopics(2, "t"))
		var events []string
		cfg := bus.ConsumerConfig{GroupID: "g", Topics: []string{"t"}}
		cfg.ClientID = "a"
		cfg.Rebalance = bus.Rebalance{
			OnAssigned: func(parts []bus.TopicPartition) { events = append(events, fmt.Sprint("assigned ", parts)) },
			OnRevoked: func(parts []bus.TopicPartition, lost bool) {
				events = append(events, fmt.Sprint("revoked ", parts, " lost=", lost))
			},
		}
		a := consumer(t, cl, cfg)
		cfg.ClientID, cfg.Rebalance = "b", bus.Rebalance{}
		b := consumer(t, cl, cfg)
		poll := func(c *bustest.Consumer) {
			t.Helper()
			if _, err := c.Poll(t.Context(), 10*time.Millisecond); err != nil {
				t.Fatal(err)
			}
		}
		for range 3 {
			poll(a)
			poll(b)
		}
		a.LoseSession()
		tp0 := bus.TopicPartition{Topic: "t", Partition: 0}
		if err := a.Commit(t.Context(), []bus.Offset{{TopicPartition: tp0, Offset: 1}}); err == nil {
			t.Errorf("Commit() after the session was lost = nil error")
		}
		poll(b)
		if parts, _ := b.Assignment(); len(parts) != 2 {
			t.Errorf("b owns %v without a, want both partitions", parts)
		}
		for range 3 {
			poll(a)
			poll(b)
		}
		want := []string{"assigned [t[0]]", "revoked [t[0]] lost=true", "assigned [t[0]]"}
		if !slices.Equal(events, want) {
			t.Errorf("a's rebalances = %q, want %q", events, want)
		}
		if err := a.Commit(t.Context(), []bus.Offset{{TopicPartition: tp0, Offset: 1}}); err != nil {
			t.Errorf("Commit() after joining again = %v", err)
		}
		if got := cl.Committed("g"); got[tp0] != 1 {
			t.Errorf("Committed(g) = %v, want %s: 1", got, tp0)
		}
	})
}

// Append writes to the named partition, keeping headers and timestamps;
// a Poll waiting for messages returns it at once.
func TestAppendWakesPoll(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cl := bustest.NewCluster(bustest.SeedTopics(3, "t"))
		c := consumer(t, cl, bus.ConsumerConfig{GroupID: "g", Topics: []string{"^t$"}})
		at := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
		go func() {
			time.Sleep(time.Second)
			if _, err := cl.Append(&bus.Message{Topic: "t", Partition: 2, Value: []byte("v"), Timestamp: at}); err != nil {
				t.Error(err)
			}
		}()
		start := time.Now()
		m, err := c.Poll(context.Background(), time.Minute)
		if err != nil || m == nil || m.Partition != 2 || !m.Timestamp.Equal(at) || time.Since(start) != time.Second {
			t.Errorf("Poll() = %+v, %v after %v; want the message appended to t[2] after 1s", m, err, time.Since(start))
		}
		if _, err := cl.Append(&bus.Message{Topic: "t", Partition: 3}); !errors.Is(err, bus.ErrUnknownTopic) {
			t.Errorf("Append to t[3] = %v, want ErrUnknownTopic", err)
		}
	})
}
