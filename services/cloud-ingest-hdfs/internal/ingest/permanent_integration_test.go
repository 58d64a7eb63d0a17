//go:build integration

package ingest

import (
	"testing"
	"time"

	"github.com/sensornode/sensornode/libs/bus"
	"github.com/sensornode/sensornode/libs/messages"
	"github.com/sensornode/sensornode/libs/messages/jpegsynth"
	"github.com/sensornode/sensornode/tools/devstack/devstacktest"
)

// The temperature topic's dead-letter topic is missing and a malformed
// reading arrives: only the temperature partition stops (loudly); pictures
// keep flowing; once the dead-letter topic is created the partition resumes
// by itself (within the slow retry interval).
func TestIntegrationIngestMissingDeadLetterTopicStopsOnlyItsPartition(t *testing.T) {
	fx := newIFixtureNoTopics(t)
	for _, tp := range []string{fx.camTopic, fx.tempTopic, messages.DeadLetterTopic(fx.camTopic)} {
		devstacktest.CreateTopic(t, fx.st.CloudBootstrap(), tp, 1, 1)
	}
	p := fx.producer(t)
	at := time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC)
	var msgs []*bus.Message
	msgs = append(msgs, &bus.Message{Topic: fx.tempTopic, Key: []byte("bad"), Value: []byte("no reading")})
	msgs = append(msgs, fx.readings(t, "node3", 41, at, 0, 3, nil)...)
	for i := range 5 {
		pic := messages.NewPicture("C4", "node3", at.Add(time.Duration(i)*time.Second), jpegsynth.Picture(jpegsynth.Size320x188, uint64(i)))
		enc, err := messages.EncodePicture(pic, messages.FormBinary)
		if err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, bus.FromEncoded(fx.camTopic, enc))
	}
	publishAll(t, p, msgs)
	run := fx.start(t, fx.config())
	waitUntil(t, "pictures stored and committed, temperature stopped", time.Minute, func() bool {
		return len(fx.pictureFiles(t)) == 5 && fx.committed(t)[fx.camTopic] == 5 && run.metric("sensornode_ingest_stopped_partitions") == 1
	})
	if c := fx.committed(t)[fx.tempTopic]; c != 0 {
		t.Errorf("temperature committed %d past the record that could not be dead-lettered", c)
	}
	if got := run.metric("sensornode_ready", "condition", condStopped); got != 0 {
		t.Errorf("ready{%s} = %v, want 0", condStopped, got)
	}
	if got := run.metric("sensornode_ingest_blocked"); got != 0 {
		t.Errorf("blocked = %v, want 0 (only the one partition stops)", got)
	}
	devstacktest.CreateTopic(t, fx.st.CloudBootstrap(), messages.DeadLetterTopic(fx.tempTopic), 1, 1)
	waitUntil(t, "temperature resumed by itself", stoppedRetry+time.Minute, func() bool {
		return fx.committed(t)[fx.tempTopic] == 4 && len(fx.readingCounts(t)) == 3
	})
	if got := run.metric("sensornode_ingest_stopped_partitions"); got != 0 {
		t.Errorf("stopped_partitions = %v after the fix, want 0", got)
	}
	if dl := fx.deadLetters(t, fx.tempTopic, 1); len(dl) != 1 {
		t.Errorf("dead-letter topic holds %d messages, want 1", len(dl))
	}
}
