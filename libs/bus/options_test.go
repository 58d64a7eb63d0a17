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

func TestExportLag(t *testing.T) {
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "lag"}, []string{"topic", "partition"})
	ExportLag(g, map[TopicPartition]int64{{"node1", 0}: 5, {"node2", 3}: 0})
	ExportLag(g, map[TopicPartition]int64{{"node1", 0}: 7})
	if got := testutil.CollectAndCount(g); got != 1 {
		t.Errorf("series after the second export = %d, want 1 (node2 no longer owned)", got)
	}
	if got := testutil.ToFloat64(g.WithLabelValues("node1", "0")); got != 7 {
		t.Errorf("lag node1[0] = %v, want 7", got)
	}
}
