package ingest

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sensornode/sensornode/libs/bus"
)

// bufferedIngester returns an ingester (not running) owning tempTP with
// five readings processed and buffered (offsets 0..4, none written), its
// group's committed offsets, and fs.
func bufferedIngester(t *testing.T) (*Ingester, func() map[bus.TopicPartition]int64, *memFS) {
	t.Helper()
	cfg := testConfig()
	cfg.TemperatureRotateInterval = time.Hour
	cl := newCluster()
	at := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	for i := range 5 {
		appendMsg(t, cl, tempTP, mustReading(t, "n1", at.Add(time.Duration(i)*time.Second), float64(i)))
	}
	fs := newMemFS()
	cons, err := cl.NewConsumer(cfg.Kafka)
	if err != nil {
		t.Fatal(err)
	}
	dlq, err := cl.NewProducer(cfg.DLQProducerConfig())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = dlq.Close() })
	in, err := New(cfg, fs, dlq, slog.New(slog.NewTextHandler(io.Discard, nil)), NewMetrics(prometheus.NewRegistry()), nil)
	if err != nil {
		t.Fatal(err)
	}
	in.cons = cons
	in.onAssigned([]bus.TopicPartition{tempTP})
	for _, m := range cl.Records(tempTP.Topic) {
		if m.Partition != tempTP.Partition {
			continue
		}
		if err := in.process(context.Background(), m); err != nil {
			t.Fatal(err)
		}
	}
	if in.batches[tempTP] == nil {
		t.Fatal("readings not buffered")
	}
	// HDFS goes down: every write fails.
	fs.setFail(func(op, _ string) bool { return op == "create" || op == "rename" })
	return in, func() map[bus.TopicPartition]int64 { return cl.Committed(cfg.Kafka.GroupID) }, fs
}

// A flush that fails on shutdown must not commit the unwritten readings.
func TestShutdownFlushFailureCommitsNothingUnwritten(t *testing.T) {
	in, committed, _ := bufferedIngester(t)
	in.finish()
	if c := committed()[tempTP]; c > 0 {
		t.Errorf("committed offset %d after a failed shutdown flush; want 0 (offsets 0..4 not written)", c)
	}
}

// A flush that fails when the partition is revoked must not commit the
// unwritten readings either: the new owner has to consume them again.
func TestRevokeFlushFailureCommitsNothingUnwritten(t *testing.T) {
	in, committed, _ := bufferedIngester(t)
	in.onRevoked([]bus.TopicPartition{tempTP}, false)
	if c := committed()[tempTP]; c > 0 {
		t.Errorf("committed offset %d after a failed revoke flush; want 0 (offsets 0..4 not written)", c)
	}
}
