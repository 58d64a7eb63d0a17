package forwarder

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/sensornode/sensornode/libs/bus"
	"github.com/sensornode/sensornode/libs/svc"
)

func TestCloudTopicSpecs(t *testing.T) {
	tests := []struct {
		name      string
		pic, temp string
		want      []string
	}{
		{name: "defaults", pic: "cameraData", temp: "temperatureData",
			want: []string{"cameraData", "cameraData-dlq", "temperatureData", "temperatureData-dlq"}},
		{name: "one cloud topic for both", pic: "all", temp: "all", want: []string{"all", "all-dlq"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := testConfig()
			c.CloudPictureTopic, c.CloudTemperatureTopic = tt.pic, tt.temp
			c.CreateTopics, c.TopicPartitions, c.TopicReplicationFactor, c.TopicMinInsyncReplicas = true, 4, 3, 2
			c.Cloud.MaxMessageBytes = 8 << 20
			specs := c.CloudTopicSpecs()
			var got []string
			for _, s := range specs {
				got = append(got, s.Name)
				if s.Partitions != 4 || s.ReplicationFactor != 3 {
					t.Errorf("%s: partitions %d, RF %d, want 4 and 3", s.Name, s.Partitions, s.ReplicationFactor)
				}
				if s.Config["min.insync.replicas"] != "2" {
					t.Errorf("%s: min.insync.replicas = %q, want 2", s.Name, s.Config["min.insync.replicas"])
				}
				// The producer accepts records of up to 8 MiB (key, value and
				// headers); the topic must take one such record with its
				// batch framing.
				if got, want := s.Config["max.message.bytes"], "8454144"; got != want {
					t.Errorf("%s: max.message.bytes = %q, want %q (8 MiB + 64 KiB)", s.Name, got, want)
				}
			}
			if strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Errorf("topics = %v, want %v", got, tt.want)
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

func newCreatorHarness(t *testing.T, adm *fakeAdmin, newFail int) *creatorHarness {
	t.Helper()
	c := testConfig()
	c.CreateTopics, c.TopicPartitions, c.TopicReplicationFactor, c.TopicMinInsyncReplicas = true, 1, 3, 2
	reg := prometheus.NewRegistry()
	h := &creatorHarness{reg: reg, probe: svc.NewProbe(reg), m: NewMetrics(reg), adm: adm, newFail: newFail}
	h.probe.Register(condTopics)
	h.tc = newTopicCreator(c.CloudTopicSpecs(), func() (bus.Admin, error) {
		h.mu.Lock()
		defer h.mu.Unlock()
		h.newCalls++
		if h.newCalls <= h.newFail {
			return nil, errors.New("fake: no admin client")
		}
		return h.adm, nil
	}, h.probe, h.m, discard(), time.Millisecond)
	h.tc.Backoff.Min = time.Millisecond
	return h
}

func (h *creatorHarness) failures() float64 {
	return testutil.ToFloat64(h.m.topicErrors.WithLabelValues("create"))
}

// Creation fails (no admin client, then the brokers refuse) and is retried
// until it succeeds; meanwhile the cloud-topics condition is not met, and
// every failure is counted. Then the condition is met, the topics were
// asked for once successfully, and the admin client is closed.
func TestTopicCreatorRetriesUntilCreated(t *testing.T) {
	adm := &fakeAdmin{fail: 3}
	h := newCreatorHarness(t, adm, 1)
	var notReady []string // readiness seen at each EnsureTopics call
	adm.onEnsure = func(int) {
		if err := h.probe.Ready(); err != nil {
			notReady = append(notReady, err.Error())
		}
	}
	if !h.tc.Run(context.Background()) {
		t.Fatal("run() = false, want true")
	}
	calls, ensured, closed := adm.state()
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
	var names []string
	for _, s := range ensured {
		names = append(names, s.Name)
	}
	if got, want := strings.Join(names, ","), "cameraData,cameraData-dlq,temperatureData,temperatureData-dlq"; got != want {
		t.Errorf("ensured %s, want %s", got, want)
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
	if got := readyGauge(t, h); got != 1 {
		t.Errorf("sensornode_ready{condition=%q} = %v, want 1", condTopics, got)
	}
}

// A creation that never succeeds keeps the condition unmet and stops with
// the service, closing the admin client; it never ends the service.
func TestTopicCreatorStopsOnShutdown(t *testing.T) {
	adm := &fakeAdmin{fail: 1 << 30}
	h := newCreatorHarness(t, adm, 0)
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
	if _, _, closed := adm.state(); !closed {
		t.Error("admin client not closed")
	}
	if got := readyGauge(t, h); got != 0 {
		t.Errorf("sensornode_ready{condition=%q} = %v, want 0", condTopics, got)
	}
}

// readyGauge reads sensornode_ready{condition="cloud-topics"} (-1: absent).
func readyGauge(t *testing.T, h *creatorHarness) float64 {
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
