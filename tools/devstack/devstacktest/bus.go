package devstacktest

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/sensornode/sensornode/libs/bus"
)

// EnvKafkaBackend names the Kafka backend the integration suites test
// (make test-integration-franz sets franz); unset: libs/bus's default.
const EnvKafkaBackend = "SENSORNODE_TEST_KAFKA_BACKEND"

// KafkaBackend is the Kafka backend under test ($SENSORNODE_TEST_KAFKA_BACKEND).
func KafkaBackend() string { return os.Getenv(EnvKafkaBackend) }

// Admin is a libs/bus admin client of the cluster at bootstrap on the
// backend under test, closed when the test ends.
func Admin(tb testing.TB, bootstrap, clientID string) bus.Admin {
	tb.Helper()
	a, err := bus.NewAdmin(bus.Config{Brokers: []string{bootstrap}, ClientID: clientID, Backend: KafkaBackend()})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { a.Close() })
	return a
}

// CommittedOffsets is group's committed offset of each partition on the
// cluster at bootstrap; partitions without a commit are left out.
func CommittedOffsets(bootstrap, group string) (map[bus.TopicPartition]int64, error) {
	a, err := kafka.NewAdminClient(&kafka.ConfigMap{"bootstrap.servers": bootstrap, "log_level": 3})
	if err != nil {
		return nil, fmt.Errorf("committed offsets of %s: %w", group, err)
	}
	defer a.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := a.ListConsumerGroupOffsets(ctx, []kafka.ConsumerGroupTopicPartitions{{Group: group}})
	if err != nil {
		return nil, fmt.Errorf("committed offsets of %s: %w", group, err)
	}
	out := map[bus.TopicPartition]int64{}
	for _, g := range res.ConsumerGroupsTopicPartitions {
		for _, p := range g.Partitions {
			if p.Offset >= 0 {
				out[bus.TopicPartition{Topic: *p.Topic, Partition: p.Partition}] = int64(p.Offset)
			}
		}
	}
	return out, nil
}
