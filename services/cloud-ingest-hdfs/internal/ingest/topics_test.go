package ingest

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/sensornode/sensornode/libs/bus"
	"github.com/sensornode/sensornode/libs/messages"
	"github.com/sensornode/sensornode/libs/svc"
	"github.com/sensornode/sensornode/libs/svc/svctest"
)

func TestTopicSpecs(t *testing.T) {
	tests := []struct {
		name         string
		topics       []string
		want         []string // name=max.message.bytes
		wantPatterns []string
	}{
		{name: "defaults", topics: []string{messages.TopicCamera, messages.TopicTemperature},
			want: []string{"cameraData=9502720", "cameraData-dlq=4259840", "temperatureData=9502720", "temperatureData-dlq=4259840"}},
		{name: "patterns are not created", topics: []string{"^cam.*$", " cameraData ", "cameraData"},
			want: []string{"cameraData=9502720", "cameraData-dlq=4259840"}, wantPatterns: []string{"^cam.*$"}},
		{name: "only patterns", topics: []string{"^node[0-9]+$"}, wantPatterns: []string{"^node[0-9]+$"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := testConfig()
			c.Kafka.Topics = tt.topics
			c.CreateTopics, c.TopicPartitions, c.TopicReplicationFactor, c.TopicMinInsyncReplicas = true, 6, 3, 2
			// Inputs get room for the largest record the consumer fetches,
			// dead-letter topics for the largest dead letter; both plus
			// 64 KiB of batch framing.
			c.Kafka.MaxFetchBytes, c.DLQMaxMessageBytes = 9<<20, 4<<20
			specs, patterns := c.TopicSpecs()
			var got []string
			for _, s := range specs {
				got = append(got, s.Name+"="+s.Config["max.message.bytes"])
				if s.Partitions != 6 || s.ReplicationFactor != 3 || s.Config["min.insync.replicas"] != "2" {
					t.Errorf("%s: partitions %d, RF %d, min.insync.replicas %q, want 6, 3, 2", s.Name, s.Partitions,
						s.ReplicationFactor, s.Config["min.insync.replicas"])
				}
			}
			if strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Errorf("specs = %v, want %v", got, tt.want)
			}
			if strings.Join(patterns, ",") != strings.Join(tt.wantPatterns, ",") {
				t.Errorf("patterns = %v, want %v", patterns, tt.wantPatterns)
			}
		})
	}
	// A fetch size below the largest record (libs/bus's 1 MiB default: a
	// larger record still comes whole) must not shrink the input topic
	// below the dead-letter bound, which mirrors the forwarder's largest
	// record (8 MiB).
	c := testConfig()
	c.Kafka.Topics = []string{messages.TopicCamera}
	c.CreateTopics, c.TopicPartitions, c.TopicReplicationFactor, c.TopicMinInsyncReplicas = true, 1, 1, 1
	c.Kafka.MaxFetchBytes, c.DLQMaxMessageBytes = 1<<20, 8<<20
	specs, _ := c.TopicSpecs()
	if len(specs) == 0 || specs[0].Config["max.message.bytes"] != "8454144" {
		t.Errorf("specs with a 1 MiB fetch = %+v, want %s with max.message.bytes 8454144", specs, messages.TopicCamera)
	}
}

func TestConfigValidateTopicSettings(t *testing.T) {
	tests := []struct {
		name                string
		create              bool
		partitions, rf, isr int
		wantErr             string
	}{
		{name: "unused without create", partitions: 0, rf: 0, isr: 5},
		{name: "defaults", create: true, partitions: 1, rf: 3, isr: 2},
		{name: "single broker", create: true, partitions: 3, rf: 1, isr: 1},
		{name: "zero partitions", create: true, partitions: 0, rf: 3, isr: 2, wantErr: "SENSORNODE_TOPIC_PARTITIONS 0"},
		{name: "zero replication factor", create: true, partitions: 1, rf: 0, isr: 0, wantErr: "SENSORNODE_TOPIC_REPLICATION_FACTOR 0"},
		{name: "min ISR above RF", create: true, partitions: 1, rf: 2, isr: 3, wantErr: "SENSORNODE_TOPIC_MIN_INSYNC_REPLICAS 3"},
		{name: "zero min ISR", create: true, partitions: 1, rf: 3, isr: 0, wantErr: "SENSORNODE_TOPIC_MIN_INSYNC_REPLICAS 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := testConfig()
			c.CreateTopics, c.TopicPartitions, c.TopicReplicationFactor, c.TopicMinInsyncReplicas = tt.create, tt.partitions, tt.rf, tt.isr
			svctest.Succeeds(t, "Validate()", c.Validate(), tt.wantErr)
		})
	}
}

func createConfig() Config {
	c := testConfig()
	c.CreateTopics, c.TopicPartitions, c.TopicReplicationFactor, c.TopicMinInsyncReplicas = true, 1, 3, 2
	return c
}

// The problem SENSORNODE_CREATE_TOPICS solves: on a cluster that does not
// create topics, a malformed message stops its partition while its
// dead-letter topic is missing (nothing committed, nothing lost); once the
// creator made the topics, the dead letter goes through and everything
// behind it is stored and committed.
func TestMissingDeadLetterTopicStopsUntilCreated(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		at := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
		cl := newCluster(messages.DeadLetterTopic(messages.TopicCamera), messages.DeadLetterTopic(messages.TopicTemperature)) // inputs only
		appendMsg(t, cl, camTP, messages.Encoded{Key: []byte("junk"), Value: []byte("\x00\x01garbage")})
		for i := range 3 {
			_, e := mustPicture(t, "C1", at.Add(time.Duration(i)*time.Second), uint64(i), messages.FormBinary)
			appendMsg(t, cl, camTP, e)
		}
		fs := newMemFS()
		cfg := createConfig()
		r := startWith(t, cfg, fs, cl, func(r *run) { r.in.stopRetry = 300 * time.Millisecond })
		svctest.Eventually(t, 10*time.Second, "stopped on the missing dead-letter topic", func() bool { return testutil.ToFloat64(r.m.stopped) == 1 })
		if c := r.committed(camTP); c != 0 {
			t.Errorf("committed %d past the malformed message at offset 0", c)
		}
		if n := len(fs.under("/t/camera")); n != 0 {
			t.Errorf("%d pictures stored behind the blocked message, want 0 (the partition waits)", n)
		}

		specs, _ := cfg.TopicSpecs()
		tc := &bus.TopicCreator{Specs: specs, NewAdmin: func() (bus.Admin, error) { return cl.NewAdmin(), nil },
			Log: slog.New(slog.DiscardHandler)}
		if !tc.Run(context.Background()) {
			t.Fatal("creator run() = false")
		}
		spec, ok := cl.TopicSpec(messages.DeadLetterTopic(messages.TopicCamera))
		if !ok || spec.Config["max.message.bytes"] != "1114112" || spec.ReplicationFactor != 3 {
			t.Errorf("dead-letter topic %+v (exists %v), want RF 3 and max.message.bytes 1 MiB + 64 KiB", spec, ok)
		}
		if spec, _ := cl.TopicSpec(messages.TopicCamera); spec.Config != nil {
			t.Errorf("existing input topic replaced: %+v", spec)
		}
		svctest.Eventually(t, 10*time.Second, "all committed", func() bool { return r.committed(camTP) == 4 })
		if got := deadLetterRecords(cl); len(got) != 1 || got[0].Topic != messages.DeadLetterTopic(messages.TopicCamera) || string(got[0].Key) != "junk" {
			t.Errorf("dead letters %v, want the junk message in %s", got, messages.DeadLetterTopic(messages.TopicCamera))
		}
		if n := len(fs.under("/t/camera")); n != 3 {
			t.Errorf("%d pictures stored, want 3", n)
		}
		svctest.Eventually(t, 10*time.Second, "stopped gauge back to 0", func() bool { return testutil.ToFloat64(r.m.stopped) == 0 })
	})
}

// SENSORNODE_RETRY_MAX_INTERVAL is the name every service uses; the old
// SENSORNODE_RETRY_BACKOFF_MAX is still read for one release.
func TestConfigRetryMaxInterval(t *testing.T) {
	for _, env := range []string{"SENSORNODE_RETRY_MAX_INTERVAL", "SENSORNODE_RETRY_BACKOFF_MAX"} {
		t.Run(env, func(t *testing.T) {
			t.Setenv("SENSORNODE_CLOUD_KAFKA_BROKERS", "127.0.0.1:1")
			t.Setenv(env, "9s")
			c := DefaultConfig()
			if err := svc.LoadConfig(&c); err != nil {
				t.Fatal(err)
			}
			if c.RetryMaxInterval != 9*time.Second || c.AdminAddr != ":9104" || c.ShutdownTimeout != 20*time.Second {
				t.Errorf("RetryMaxInterval %v, admin %q, shutdown %v; want 9s, :9104, 20s", c.RetryMaxInterval, c.AdminAddr, c.ShutdownTimeout)
			}
		})
	}
}
