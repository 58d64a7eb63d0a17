//go:build integration

package ingest

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/sensornode/sensornode/libs/bus"
	"github.com/sensornode/sensornode/libs/messages"
	"github.com/sensornode/sensornode/tools/devstack/devstacktest"
)

// With SENSORNODE_CREATE_TOPICS a fresh install on devstack's cloud broker
// (which does not auto-create topics) works: the service creates its two
// input topics and their dead-letter topics with the configured partitions
// and min.insync.replicas, room for the largest fetched record (inputs) and
// the largest dead letter (dead-letter topics), reports cloud-topics ready,
// and then stores what arrives and sends malformed messages to the created
// dead-letter topics instead of blocking on them.
func TestIntegrationIngestCreatesTopics(t *testing.T) {
	fx := newIFixtureNoTopics(t)
	bootstrap := fx.st.CloudBootstrap()
	camDLQ, tempDLQ := messages.DeadLetterTopic(fx.camTopic), messages.DeadLetterTopic(fx.tempTopic)
	all := []string{fx.camTopic, camDLQ, fx.tempTopic, tempDLQ}
	devstacktest.DeleteTopicsAtEnd(t, bootstrap, all...)
	adm := devstacktest.Admin(t, bootstrap, "ingest-test-admin")
	for _, name := range all {
		if n, err := adm.Partitions(context.Background(), name); !errors.Is(err, bus.ErrUnknownTopic) {
			t.Fatalf("topic %s before the service: %d partitions, %v; want unknown", name, n, err)
		}
	}

	cfg := fx.config()
	cfg.CreateTopics, cfg.TopicPartitions, cfg.TopicReplicationFactor, cfg.TopicMinInsyncReplicas = true, 2, 1, 1
	cfg.DLQMaxMessageBytes = 4 << 20 // differs from the inputs' 8 MiB fetch size
	run := fx.start(t, cfg)
	waitUntil(t, "cloud-topics ready", time.Minute, func() bool { return run.metric("sensornode_ready", "condition", condTopics) == 1 })

	for _, tt := range []struct {
		name     string
		maxBytes int
	}{
		{fx.camTopic, cfg.Kafka.MaxFetchBytes}, {camDLQ, cfg.DLQMaxMessageBytes},
		{fx.tempTopic, cfg.Kafka.MaxFetchBytes}, {tempDLQ, cfg.DLQMaxMessageBytes},
	} {
		if n, err := adm.Partitions(context.Background(), tt.name); err != nil || n != 2 {
			t.Errorf("%s: %d partitions (%v), want 2", tt.name, n, err)
		}
		tc, err := adm.TopicConfig(context.Background(), tt.name)
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		want := strconv.Itoa(tt.maxBytes + bus.TopicRecordOverhead)
		if tc["min.insync.replicas"] != "1" || tc["max.message.bytes"] != want {
			t.Errorf("%s: min.insync.replicas %q, max.message.bytes %q; want 1 and %s", tt.name,
				tc["min.insync.replicas"], tc["max.message.bytes"], want)
		}
	}

	// A picture and a reading, each behind a malformed message.
	at := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	want := map[[32]byte]bool{}
	msgs := []*bus.Message{{Topic: fx.camTopic, Key: []byte("garbage"), Value: []byte("this is no picture")}}
	msgs = append(msgs, fx.pictures(t, "C1", "node1", at, 0, 1, want)...)
	msgs = append(msgs, &bus.Message{Topic: fx.tempTopic, Key: []byte("garbage"), Value: []byte("\x00\x01")})
	msgs = append(msgs, fx.readings(t, "node1", 41.5, at, 0, 1, nil)...)
	publishAll(t, fx.producer(t), msgs)

	for _, topic := range []string{fx.camTopic, fx.tempTopic} {
		fx.deadLetter(t, topic, "unknown-form")
	}
	waitUntil(t, "picture and reading in HDFS", time.Minute, func() bool {
		return len(fx.pictureFiles(t)) == 1 && len(fx.readingCounts(t)) == 1
	})
	waitUntil(t, "offsets committed", 30*time.Second, func() bool {
		c := fx.committed(t)
		return c[fx.camTopic] == 2 && c[fx.tempTopic] == 2
	})
	for _, sum := range fx.pictureFiles(t) {
		if !want[sum] {
			t.Errorf("stored picture differs from the source")
		}
	}
	if got := run.metric("sensornode_ingest_topic_errors_total"); got != 0 {
		t.Errorf("topic_errors_total = %v on a reachable cluster, want 0", got)
	}
}
