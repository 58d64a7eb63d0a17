package bus

import (
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
