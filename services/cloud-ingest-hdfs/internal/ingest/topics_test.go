package ingest

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/sensornode/sensornode/libs/bus"
	"github.com/sensornode/sensornode/libs/messages"
	"github.com/sensornode/sensornode/libs/svc"
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
			err := c.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Validate() = %v, want containing %q", err, tt.wantErr)
			}
		})
	}
}

// creatorHarness runs a topicCreator over a fake admin.
type creatorHarness struct {
	tc       *bus.TopicCreator
	reg      *prometheus.Registry
	probe    *svc.Probe
	m        *Metrics
	adm      *fakeAdmin
	mu       sync.Mutex
	newCalls int
	newFail  int // first newAdmin calls that fail
}

func newCreatorHarness(t *testing.T, cfg Config, adm *fakeAdmin, newFail int) *creatorHarness {
	t.Helper()
	reg := prometheus.NewRegistry()
	h := &creatorHarness{reg: reg, probe: svc.NewProbe(reg), m: NewMetrics(reg), adm: adm, newFail: newFail}
	h.probe.Register(condTopics)
	specs, _ := cfg.TopicSpecs()
	h.tc = newTopicCreator(specs, func() (bus.Admin, error) {
		h.mu.Lock()
		defer h.mu.Unlock()
		h.newCalls++
		if h.newCalls <= h.newFail {
			return nil, errors.New("fake: no admin client")
		}
		return h.adm, nil
	}, h.probe, h.m, slog.New(slog.NewTextHandler(io.Discard, nil)), time.Millisecond)
	h.tc.Backoff.Min = time.Millisecond
	return h
}

func createConfig() Config {
	c := testConfig()
	c.CreateTopics, c.TopicPartitions, c.TopicReplicationFactor, c.TopicMinInsyncReplicas = true, 1, 3, 2
	return c
}

func (h *creatorHarness) failures() float64 {
	return testutil.ToFloat64(h.m.topicErrors.WithLabelValues("create"))
}

// readyGauge reads sensornode_ready{condition="cloud-topics"} (-1: absent).
func (h *creatorHarness) readyGauge(t *testing.T) float64 {
	t.Helper()
	mfs, err := h.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "sensornode_ready" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "condition" && l.GetValue() == condTopics {
					return m.GetGauge().GetValue()
				}
			}
		}
	}
	return -1
}

// Creation fails (no admin client, then the brokers refuse) and is retried
// until it succeeds; meanwhile the cloud-topics condition is not met, and
// every failure is counted. Then the condition is met, the topics exist and
// the admin client is closed.
func TestTopicCreatorRetriesUntilCreated(t *testing.T) {
	topics := newTopicSet()
	adm := &fakeAdmin{topics: topics, fail: 3}
	h := newCreatorHarness(t, createConfig(), adm, 1)
	var notReady []string // readiness seen at each EnsureTopics call
	adm.onEnsure = func(int) {
		if err := h.probe.Ready(); err != nil {
			notReady = append(notReady, err.Error())
		}
	}
	if !h.tc.Run(context.Background()) {
		t.Fatal("run() = false, want true")
	}
	calls, closed := adm.state()
	if calls != 4 {
		t.Errorf("EnsureTopics called %d times, want 4 (3 failures, then success)", calls)
	}
	if len(notReady) != 4 {
		t.Errorf("not ready during %d of 4 attempts, want all: %q", len(notReady), notReady)
	}
	for _, r := range notReady[1:] {
		if !strings.Contains(r, condTopics) || !strings.Contains(r, errFakeCreate.Error()) {
			t.Errorf("readiness while failing = %q, want %s with the create error", r, condTopics)
		}
	}
	if err := h.probe.Ready(); err != nil {
		t.Errorf("Ready() after creation = %v, want nil", err)
	}
	for _, name := range []string{"cameraData", "cameraData-dlq", "temperatureData", "temperatureData-dlq"} {
		if !topics.has(name) {
			t.Errorf("topic %s not created", name)
		}
	}
	if got := h.failures(); got != 4 {
		t.Errorf("topic_errors_total{op=create} = %v, want 4 (1 admin client, 3 create)", got)
	}
	if h.newCalls != 2 {
		t.Errorf("newAdmin called %d times, want 2 (one failure, then kept)", h.newCalls)
	}
	if !closed {
		t.Error("admin client not closed")
	}
	if got := h.readyGauge(t); got != 1 {
		t.Errorf("sensornode_ready{condition=%q} = %v, want 1", condTopics, got)
	}
}

// A creation that never succeeds keeps the condition unmet and stops with
// the service, closing the admin client; it never ends the service.
func TestTopicCreatorStopsOnShutdown(t *testing.T) {
	adm := &fakeAdmin{topics: newTopicSet(), fail: 1 << 30}
	h := newCreatorHarness(t, createConfig(), adm, 0)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	adm.onEnsure = func(call int) {
		if call == 5 {
			cancel()
		}
	}
	if h.tc.Run(ctx) {
		t.Fatal("run() = true, want false (never created)")
	}
	if err := h.probe.Ready(); err == nil || !strings.Contains(err.Error(), condTopics) {
		t.Errorf("Ready() = %v, want %s not met", err, condTopics)
	}
	if got := h.failures(); got != 4 {
		t.Errorf("topic_errors_total{op=create} = %v, want 4 (the fifth attempt was cut by the shutdown)", got)
	}
	if _, closed := adm.state(); !closed {
		t.Error("admin client not closed")
	}
	if got := h.readyGauge(t); got != 0 {
		t.Errorf("sensornode_ready{condition=%q} = %v, want 0", condTopics, got)
	}
}

// The problem SENSORNODE_CREATE_TOPICS solves: on a cluster that does not
// create topics, a malformed message stops its partition while its
// dead-letter topic is missing (nothing committed, nothing lost); once the
// creator made the topics, the dead letter goes through and everything
// behind it is stored and committed.
func TestMissingDeadLetterTopicStopsUntilCreated(t *testing.T) {
	at := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	logs := map[bus.TopicPartition][]*bus.Message{}
	appendMsg(logs, camTP, messages.Encoded{Key: []byte("junk"), Value: []byte("\x00\x01garbage")})
	for i := range 3 {
		_, e := mustPicture(t, "C1", at.Add(time.Duration(i)*time.Second), uint64(i), messages.FormBinary)
		appendMsg(logs, camTP, e)
	}
	topics := newTopicSet()
	topics.ensure([]bus.TopicSpec{{Name: messages.TopicCamera}, {Name: messages.TopicTemperature}}) // inputs only
	fs := newMemFS()
	dlq := &fakeDLQ{topics: topics}
	cons := newFakeConsumer(logs, nil, camTP)
	cfg := createConfig()
	r := startWith(t, cfg, fs, cons, dlq, func(in *Ingester) { in.stopRetry = 300 * time.Millisecond })
	waitFor(t, "stopped on the missing dead-letter topic", func() bool { return testutil.ToFloat64(r.m.stopped) == 1 })
	if c := cons.committedOf(camTP); c != 0 {
		t.Errorf("committed %d past the malformed message at offset 0", c)
	}
	if n := len(fs.under("/t/camera")); n != 0 {
		t.Errorf("%d pictures stored behind the blocked message, want 0 (the partition waits)", n)
	}

	adm := &fakeAdmin{topics: topics}
	h := newCreatorHarness(t, cfg, adm, 0)
	if !h.tc.Run(context.Background()) {
		t.Fatal("creator run() = false")
	}
	spec, ok := topics.get(messages.DeadLetterTopic(messages.TopicCamera))
	if !ok || spec.Config["max.message.bytes"] != "1114112" || spec.ReplicationFactor != 3 {
		t.Errorf("dead-letter topic %+v (exists %v), want RF 3 and max.message.bytes 1 MiB + 64 KiB", spec, ok)
	}
	if spec, _ := topics.get(messages.TopicCamera); spec.Config != nil {
		t.Errorf("existing input topic replaced: %+v", spec)
	}
	waitFor(t, "all committed", func() bool { return cons.committedOf(camTP) == 4 })
	if got := dlq.list(); len(got) != 1 || got[0].Topic != messages.DeadLetterTopic(messages.TopicCamera) || string(got[0].Key) != "junk" {
		t.Errorf("dead letters %v, want the junk message in %s", got, messages.DeadLetterTopic(messages.TopicCamera))
	}
	if n := len(fs.under("/t/camera")); n != 3 {
		t.Errorf("%d pictures stored, want 3", n)
	}
	waitFor(t, "stopped gauge back to 0", func() bool { return testutil.ToFloat64(r.m.stopped) == 0 })
}
