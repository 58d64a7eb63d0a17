package ingest

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/sensornode/sensornode/libs/bus"
)

// The temperature topic is deleted and recreated while this member keeps
// its partition (the chaos suite's cloud-topic-recreate, 2026-12-07: no
// rebalance came between): the new incarnation's records come at offsets
// below what was processed. They are new readings and are stored, the
// ones buffered before included; before, every record below the old
// offset was dropped without a word until the next rebalance.
func TestReadingsStoredWhenOffsetsGoBack(t *testing.T) {
	for _, pending := range []bool{false, true} {
		name := "flushed before"
		if pending {
			name = "buffered when the offsets go back"
		}
		t.Run(name, func(t *testing.T) {
			cfg := testConfig()
			fs := newMemFS()
			m := NewMetrics(prometheus.NewRegistry())
			in, err := New(cfg, fs, nil, slog.New(slog.NewTextHandler(io.Discard, nil)), m, nil)
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			at := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
			want := map[string]int{}
			feed := func(node string, from, n int, c float64) {
				t.Helper()
				for i := range n {
					ts := at.Add(time.Duration(int(c)*100+i) * time.Second)
					e := mustReading(t, node, ts, c)
					in.pollStart = time.Now()
					msg := &bus.Message{Topic: tempTP.Topic, Partition: tempTP.Partition, Offset: int64(from + i), Key: e.Key, Value: e.Value, Headers: e.Headers}
					if err := in.process(ctx, msg); err != nil {
						t.Fatalf("process offset %d: %v", from+i, err)
					}
					want[identity(node, ts, c, "synthetic")] = 1
				}
			}
			feed("node1", 0, 5, 40) // the first incarnation: offsets 0..4
			if !pending {
				if err := in.flush(tempTP, false); err != nil {
					t.Fatal(err)
				}
			}
			feed("node2", 0, 3, 50) // recreated: offsets 0..2 again, other readings
			if err := in.flush(tempTP, false); err != nil {
				t.Fatal(err)
			}
			checkReadings(t, storedReadings(t, fs, FormatJSONL), want)
			if got := testutil.ToFloat64(m.offsetsBack.WithLabelValues(offsetsBackStored)); got != 1 {
				t.Errorf("offsets_back_total{action=stored} = %v, want 1 (one regression)", got)
			}
			if got := in.commitPoint(tempTP); got != 3 {
				t.Errorf("commit point = %d, want 3 (the new incarnation's)", got)
			}
		})
	}
}
