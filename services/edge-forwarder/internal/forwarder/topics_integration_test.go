//go:build integration

package forwarder

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

// With SENSORNODE_CREATE_TOPICS the forwarder creates the cloud picture and
// temperature topics and their dead-letter topics on devstack's cloud
// broker (which does not auto-create topics) with the configured
// partitions and min.insync.replicas and room for the producer's largest
// record, leaves an existing one alone, reports cloud-topics ready, and
// forwards into them: pictures and readings to the cloud topics, a message
// that cannot be transcoded to the picture dead-letter topic.
func TestIntegrationForwarderCreatesCloudTopics(t *testing.T) {
	fx := newEdgeFixture(t, 1, 1)
	bootstrap := fx.st.CloudBootstrap()
	picDLQ, tempDLQ := messages.DeadLetterTopic(fx.cloudPic), messages.DeadLetterTopic(fx.cloudTemp)
	// One of the four exists already, with 1 partition: it stays so.
	devstacktest.CreateTopic(t, bootstrap, tempDLQ, 1, 1)
	devstacktest.DeleteTopicsAtEnd(t, bootstrap, fx.cloudPic, fx.cloudTemp, picDLQ)
	adm := devstacktest.Admin(t, bootstrap, "fwd-test-admin")
	for _, name := range []string{fx.cloudPic, fx.cloudTemp, picDLQ} {
		if n, err := adm.Partitions(context.Background(), name); !errors.Is(err, bus.ErrUnknownTopic) {
			t.Fatalf("cloud topic %s before the forwarder: %d partitions, %v; want unknown", name, n, err)
		}
	}

	sc := scenes{}
	msgs := append(fx.pictureMsgs(t, sc, 3, base, 0), fx.readingMsgs(t, 1, 3, base)...)
	msgs = append(msgs, &bus.Message{Topic: fx.nodeTopics[0], Key: []byte("junk"), Value: []byte("this is no picture")})
	sent := produce(t, fx.edgeProducer(t), msgs)

	cfg := fx.config()
	cfg.Form = FormJSON // transcoding, so that the junk is dead-lettered
	cfg.CreateTopics, cfg.TopicPartitions, cfg.TopicReplicationFactor, cfg.TopicMinInsyncReplicas = true, 2, 1, 1
	fwd := fx.start(t, cfg, "a")
	deadline := time.Now().Add(time.Minute)
	for fwd.metric("sensornode_ready", "condition", condTopics) != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("cloud-topics not ready within a minute (create errors: %v)",
				fwd.metric("sensornode_forwarder_topic_errors_total", "op", "create"))
		}
		time.Sleep(100 * time.Millisecond)
	}

	wantMax := strconv.Itoa(cfg.Cloud.MaxMessageBytes + bus.TopicRecordOverhead)
	for _, tt := range []struct {
		name       string
		partitions int
		created    bool
	}{
		{fx.cloudPic, 2, true}, {picDLQ, 2, true}, {fx.cloudTemp, 2, true}, {tempDLQ, 1, false},
	} {
		n, err := adm.Partitions(context.Background(), tt.name)
		if err != nil || n != tt.partitions {
			t.Errorf("%s: %d partitions (%v), want %d", tt.name, n, err, tt.partitions)
		}
		if !tt.created {
			continue
		}
		tc, err := adm.TopicConfig(context.Background(), tt.name)
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		if tc["min.insync.replicas"] != "1" || tc["max.message.bytes"] != wantMax {
			t.Errorf("%s: min.insync.replicas %q, max.message.bytes %q; want 1 and %s", tt.name,
				tc["min.insync.replicas"], tc["max.message.bytes"], wantMax)
		}
	}

	reader := fx.readCloud(t, bootstrap, fx.cloudPic, fx.cloudTemp, picDLQ)
	want := map[string]int{fx.cloudPic: 3, fx.cloudTemp: 3, picDLQ: 1}
	deadline = time.Now().Add(time.Minute)
	for {
		got := reader.distinctPerTopic()
		if got[fx.cloudPic] == want[fx.cloudPic] && got[fx.cloudTemp] == want[fx.cloudTemp] && got[picDLQ] == want[picDLQ] {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("distinct messages per cloud topic %v, want %v", got, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
	fx.waitCommitted(t, endOffsets(sent), 30*time.Second)
	if got := fwd.metric("sensornode_forwarder_dead_lettered_total", "reason", "unknown-form"); got < 1 {
		t.Errorf("dead_lettered_total{reason=unknown-form} = %v, want >= 1", got)
	}
}

// distinctPerTopic counts the distinct messages (key, value, headers) read
// from each topic.
func (r *cloudReader) distinctPerTopic() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]int{}
	for _, topic := range r.topic {
		out[topic]++
	}
	return out
}
