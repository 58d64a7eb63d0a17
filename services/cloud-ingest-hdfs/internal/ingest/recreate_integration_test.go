//go:build integration

package ingest

import (
	"testing"
	"time"

	"github.com/sensornode/sensornode/libs/bus"
	"github.com/sensornode/sensornode/tools/devstack/devstacktest"
)

// The temperature topic is deleted and recreated: its offsets restart at
// 0, so new readings have the offsets (and so the file names) of readings
// already stored. They are stored all the same, nothing is overwritten.
func TestIntegrationIngestTopicRecreatedSameOffsets(t *testing.T) {
	fx := newIFixture(t, 1)
	p := fx.producer(t)
	at := time.Date(2026, 5, 3, 9, 0, 0, 0, time.UTC)
	want := map[string]bool{}
	readings := func(from int) []*bus.Message { return fx.readings(t, "node7", 40, at, from, 5, want) }
	publishAll(t, p, readings(0))
	cfg := fx.config()
	run := fx.start(t, cfg)
	waitUntil(t, "first incarnation stored and committed", time.Minute, func() bool {
		return len(fx.readingCounts(t)) == 5 && fx.committed(t)[fx.tempTopic] == 5
	})
	run.stop()

	devstacktest.DeleteTopic(t, fx.st.CloudBootstrap(), fx.tempTopic)
	devstacktest.CreateTopic(t, fx.st.CloudBootstrap(), fx.tempTopic, 1, 1)
	publishAll(t, p, readings(10)) // offsets 0..4 again, other readings
	// The deleted topic's committed offsets went with it: a group starts
	// the new incarnation from the beginning.
	cfg.Kafka.GroupID = fx.group + "-2"
	fx.group = cfg.Kafka.GroupID
	run = fx.start(t, cfg)
	waitUntil(t, "second incarnation committed", time.Minute, func() bool { return fx.committed(t)[fx.tempTopic] == 5 })
	counts := fx.readingCounts(t)
	for id := range want {
		if counts[id] != 1 {
			t.Errorf("reading %s stored %d times, want once", id, counts[id])
		}
	}
	if got := run.metric("sensornode_ingest_reading_file_conflicts_total"); got != 1 {
		t.Errorf("reading_file_conflicts_total = %v, want 1", got)
	}
}
