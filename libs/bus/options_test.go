package bus

import (
	"errors"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// Two clients of one service share a registry: the second NewMetrics must
// reuse the families, not panic, and both clients' series must show.
func TestNewMetricsTwoClientsOneRegistry(t *testing.T) {
	reg := prometheus.NewRegistry()
	a := NewMetrics(reg, "edge-consumer")
	b := NewMetrics(reg, "cloud-producer")
	a.error("fetch")
	b.error("delivery")
	want := `
# HELP sensornode_kafka_client_errors_total Errors reported by the Kafka client, by kind.
# TYPE sensornode_kafka_client_errors_total counter
sensornode_kafka_client_errors_total{client="cloud-producer",kind="delivery"} 1
sensornode_kafka_client_errors_total{client="edge-consumer",kind="fetch"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "sensornode_kafka_client_errors_total"); err != nil {
		t.Error(err)
	}
}

type lagStub struct {
	lag map[TopicPartition]int64
	err error
}

func (l lagStub) Lag() (map[TopicPartition]int64, error) { return l.lag, l.err }

// Each client's lag series follow its owned partitions; another client's
// series on the same registry are left alone; a failed Lag keeps the last
// figures.
func TestExportLag(t *testing.T) {
	reg := prometheus.NewRegistry()
	a := NewMetrics(reg, "edge-consumer")
	b := NewMetrics(reg, "cloud-consumer")
	a.ExportLag(lagStub{lag: map[TopicPartition]int64{{"node1", 0}: 5, {"node2", 3}: 0}})
	b.ExportLag(lagStub{lag: map[TopicPartition]int64{{"cameraData", 0}: 2}})
	a.ExportLag(lagStub{lag: map[TopicPartition]int64{{"node1", 0}: 7}})
	b.ExportLag(lagStub{err: errors.New("no assignment yet")})
	want := `
# HELP sensornode_kafka_consumer_lag_messages Consumer lag of each owned partition: high watermark minus the consumer's position (updated by the service's health check).
# TYPE sensornode_kafka_consumer_lag_messages gauge
sensornode_kafka_consumer_lag_messages{client="cloud-consumer",partition="0",topic="cameraData"} 2
sensornode_kafka_consumer_lag_messages{client="edge-consumer",partition="0",topic="node1"} 7
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "sensornode_kafka_consumer_lag_messages"); err != nil {
		t.Error(err)
	}
}
