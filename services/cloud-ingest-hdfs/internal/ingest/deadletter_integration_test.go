//go:build integration

package ingest

import (
	"testing"
	"time"

	"github.com/sensornode/sensornode/libs/bus"
	"github.com/sensornode/sensornode/libs/messages"
)

// A malformed record older than the producer's delivery timeout is
// dead-lettered all the same (franz-go counts the timeout from a record's
// timestamp, so the dead letter must not carry the original one); the
// original time travels in a header.
func TestIntegrationIngestDeadLettersOldRecord(t *testing.T) {
	fx := newIFixture(t, 1)
	p := fx.producer(t)
	old := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
	publishAll(t, p, []*bus.Message{{Topic: fx.tempTopic, Key: []byte("k"), Value: []byte("no reading"), Timestamp: old}})
	cfg := fx.config()
	cfg.RetryMaxInterval = 500 * time.Millisecond
	run := fx.start(t, cfg)
	waitUntil(t, "the old record dead-lettered and committed", time.Minute, func() bool {
		return fx.committed(t)[fx.tempTopic] == 1
	})
	dl := fx.deadLetters(t, fx.tempTopic, 1)
	if len(dl) != 1 {
		t.Fatalf("dead-letter topic holds %d messages, want 1", len(dl))
	}
	if v, _ := messages.HeaderValue(dl[0].Headers, messages.HeaderOrigTime); string(v) != old.UTC().Format(time.RFC3339Nano) {
		t.Errorf("dead letter %s = %q, want %q", messages.HeaderOrigTime, v, old.UTC().Format(time.RFC3339Nano))
	}
	if dl[0].Timestamp.Before(old.Add(30 * time.Minute)) {
		t.Errorf("dead letter timestamp %v is the original one, want the time of dead-lettering", dl[0].Timestamp)
	}
	if got := run.metric("sensornode_ingest_dead_lettered_total"); got != 1 {
		t.Errorf("dead_lettered_total = %v, want 1", got)
	}
}
