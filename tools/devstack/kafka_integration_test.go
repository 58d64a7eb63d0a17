//go:build integration

package devstack_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/sensornode/sensornode/tools/devstack"
	"github.com/sensornode/sensornode/tools/devstack/devstacktest"
)

// leaderOf returns the broker id leading a partition.
func leaderOf(t *testing.T, bootstrap, topic string, partition int32) int32 {
	t.Helper()
	a, err := kafka.NewAdminClient(&kafka.ConfigMap{"bootstrap.servers": bootstrap})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	deadline := time.Now().Add(time.Minute)
	for {
		md, err := a.GetMetadata(&topic, false, 10000)
		if err == nil {
			for _, p := range md.Topics[topic].Partitions {
				if p.ID == partition && p.Leader >= 0 {
					return p.Leader
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no leader of %s-%d in metadata after a minute (last error: %v)", topic, partition, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestIntegrationEdgeProduceSurvivesBrokerKill produces 1000 messages of
// 60 KiB with acks=all and idempotence to an RF-3 topic, SIGKILLs a broker
// (the leader of partition 0) after about 300 acknowledgements, keeps
// producing, and then consumes every acknowledged message back intact.
// The broker is restarted on cleanup.
func TestIntegrationEdgeProduceSurvivesBrokerKill(t *testing.T) {
	const (
		messages    = 1000
		size        = 60 << 10
		killAfter   = 300
		maxInFlight = 50
		partitions  = 3
	)
	st := devstacktest.Stack(t)
	topic := devstacktest.UniqueTopic(t, "kill")
	devstacktest.CreateTopic(t, st.EdgeBootstrap(), topic, partitions, 3)
	victim := devstack.EdgeKafkaName(int(leaderOf(t, st.EdgeBootstrap(), topic, 0)))

	p, err := kafka.NewProducer(&kafka.ConfigMap{
		"bootstrap.servers":   st.EdgeBootstrap(),
		"acks":                "all",
		"enable.idempotence":  true,
		"linger.ms":           5,
		"delivery.timeout.ms": 180000,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()

	sums := make([][sha256.Size]byte, messages)
	reports := make(chan kafka.Event, messages)
	acked := map[int]kafka.TopicPartition{}
	var failed []error
	wait := func() {
		t.Helper()
		select {
		case e := <-reports:
			m, ok := e.(*kafka.Message)
			if !ok {
				t.Fatalf("unexpected event %v", e)
			}
			i, err := strconv.Atoi(string(m.Key))
			if err != nil {
				t.Fatalf("delivery report key %q: %v", m.Key, err)
			}
			if m.TopicPartition.Error != nil {
				failed = append(failed, m.TopicPartition.Error)
				return
			}
			acked[i] = m.TopicPartition
		case <-time.After(3 * time.Minute):
			t.Fatalf("no delivery report for 3 minutes (%d acked, %d failed)", len(acked), len(failed))
		}
	}

	rng := rand.NewChaCha8([32]byte{1})
	killedAt := -1
	start := time.Now()
	for i := range messages {
		for i-len(acked)-len(failed) >= maxInFlight {
			wait()
		}
		if killedAt < 0 && len(acked) >= killAfter {
			devstacktest.KillForTest(t, st, victim)
			killedAt = i
			t.Logf("killed %s (leader of %s-0) with SIGKILL after %d acks, %d produced", victim, topic, len(acked), i)
		}
		value := make([]byte, size)
		_, _ = rng.Read(value) // never fails
		sums[i] = sha256.Sum256(value)
		err := p.Produce(&kafka.Message{
			TopicPartition: kafka.TopicPartition{Topic: &topic, Partition: kafka.PartitionAny},
			Key:            []byte(strconv.Itoa(i)),
			Value:          value,
		}, reports)
		if err != nil {
			t.Fatalf("produce %d: %v", i, err)
		}
	}
	for len(acked)+len(failed) < messages {
		wait()
	}
	t.Logf("produced %d messages in %s: %d acknowledged, %d failed", messages, time.Since(start).Round(time.Millisecond), len(acked), len(failed))
	if killedAt < 0 {
		t.Fatalf("never killed a broker")
	}
	if len(failed) > 0 {
		t.Errorf("%d deliveries failed, want 0 with idempotence and a 3 minute delivery timeout; first: %v", len(failed), failed[0])
	}

	c, err := kafka.NewConsumer(&kafka.ConfigMap{
		"bootstrap.servers":  st.EdgeBootstrap(),
		"group.id":           topic,
		"enable.auto.commit": false,
		"auto.offset.reset":  "earliest",
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var assignment []kafka.TopicPartition
	for i := range int32(partitions) {
		assignment = append(assignment, kafka.TopicPartition{Topic: &topic, Partition: i, Offset: kafka.OffsetBeginning})
	}
	if err := c.Assign(assignment); err != nil {
		t.Fatal(err)
	}
	seen := map[int]int{}
	corrupt := 0
	deadline := time.Now().Add(2 * time.Minute)
	for consumedAcked := 0; consumedAcked < len(acked) && time.Now().Before(deadline); {
		m, err := c.ReadMessage(time.Second)
		var kerr kafka.Error
		if errors.As(err, &kerr) && kerr.IsTimeout() {
			continue
		}
		if err != nil {
			t.Logf("consume: %v", err)
			continue
		}
		i, err := strconv.Atoi(string(m.Key))
		if err != nil || i < 0 || i >= messages {
			t.Errorf("message with key %q at %v", m.Key, m.TopicPartition)
			continue
		}
		seen[i]++
		if seen[i] == 1 {
			if _, ok := acked[i]; ok {
				consumedAcked++
			}
		}
		if sha256.Sum256(m.Value) != sums[i] {
			corrupt++
			t.Errorf("message %d at %v: SHA-256 differs from what was produced", i, m.TopicPartition)
		}
	}
	var missing []int
	for i, tp := range acked {
		if seen[i] == 0 {
			missing = append(missing, i)
			if len(missing) <= 5 {
				t.Errorf("acknowledged message %d (%v) never consumed", i, tp)
			}
		}
	}
	duplicates := 0
	for _, n := range seen {
		duplicates += n - 1
	}
	t.Logf("consumed %d distinct messages (%d acknowledged missing, %d corrupt, %d duplicates)", len(seen), len(missing), corrupt, duplicates)
	if len(missing) > 0 {
		t.Errorf("%d acknowledged messages missing", len(missing))
	}
	if duplicates > 0 {
		t.Errorf("%d duplicates, want none from an idempotent producer", duplicates)
	}
}

// TestIntegrationKafkaToolProducerPerformance runs kafka-producer-perf-test
// (org.apache.kafka.tools.ProducerPerformance) from the stack's Kafka
// classpath against the edge cluster.
func TestIntegrationKafkaToolProducerPerformance(t *testing.T) {
	st := devstacktest.Stack(t)
	for _, jar := range []string{"kafka-tools-" + devstack.KafkaVersion + ".jar", "connect-mirror-" + devstack.KafkaVersion + ".jar"} {
		if !strings.Contains(st.KafkaClasspath(), "/"+jar) {
			t.Errorf("Kafka classpath lacks %s", jar)
		}
	}
	topic := devstacktest.UniqueTopic(t, "perf")
	devstacktest.CreateTopic(t, st.EdgeBootstrap(), topic, 3, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := st.KafkaTool(ctx, 256, "org.apache.kafka.tools.ProducerPerformance",
		"--topic", topic, "--num-records", "500", "--record-size", "1000", "--throughput", "-1",
		"--producer-props", "bootstrap.servers="+st.EdgeBootstrap(), "acks=all")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("ProducerPerformance: %v\n%s\n%s", err, stdout.String(), stderr.String())
	}
	if !strings.Contains(stdout.String(), "500 records sent") {
		t.Errorf("ProducerPerformance printed %q, want a line with \"500 records sent\"", stdout.String())
	}
	t.Logf("ProducerPerformance: %s", strings.TrimSpace(stdout.String()))
}
