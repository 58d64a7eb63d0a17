//go:build integration

package ingest

import (
	"context"
	"testing"
	"time"

	"github.com/sensornode/sensornode/tools/devstack"
	"github.com/sensornode/sensornode/tools/devstack/devstacktest"
)

// Readings are buffered, the NameNode dies, the service is stopped: the
// shutdown flush fails and nothing of the unwritten readings is committed;
// after a restart with HDFS back, every reading is stored once.
func TestIntegrationIngestShutdownWithHDFSDownCommitsNothingUnwritten(t *testing.T) {
	fx := newIFixture(t, 1)
	p := fx.producer(t)
	want := map[string]bool{}
	msgs := fx.readings(t, "node5", 39, time.Date(2026, 5, 5, 7, 0, 0, 0, time.UTC), 0, 10, want)
	cfg := fx.config()
	cfg.TemperatureRotateInterval = time.Hour // buffered until shutdown
	cfg.HDFS.RPCTimeout = 3 * time.Second
	run := fx.start(t, cfg)
	publishAll(t, p, msgs)
	waitUntil(t, "readings buffered", time.Minute, func() bool { return run.metric("sensornode_ingest_pending_readings") == 10 })

	devstacktest.KillForTest(t, fx.st, devstack.NameNodeName)
	run.stop()
	if c := fx.committed(t)[fx.tempTopic]; c != 0 {
		t.Errorf("committed %d after a shutdown whose flush failed; want 0 (no reading written)", c)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := fx.st.Start(ctx, devstack.NameNodeName); err != nil {
		t.Fatalf("restart the NameNode: %v", err)
	}
	fx.fs = devstacktest.HDFSClient(t, fx.st)
	cfg.TemperatureRotateInterval = time.Second
	fx.start(t, cfg)
	waitUntil(t, "every reading stored and committed", 2*time.Minute, func() bool {
		return len(fx.readingCounts(t)) == 10 && fx.committed(t)[fx.tempTopic] == 10
	})
	for id, n := range fx.readingCounts(t) {
		if !want[id] || n != 1 {
			t.Errorf("reading %s stored %d times", id, n)
		}
	}
}
