package forwarder

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/sensornode/sensornode/libs/bus"
	"github.com/sensornode/sensornode/libs/messages"
	"github.com/sensornode/sensornode/libs/messages/jpegsynth"
	"github.com/sensornode/sensornode/libs/svc"
)

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func testConfig() Config {
	c := DefaultConfig()
	c.ShutdownTimeout = 2 * time.Second
	c.PictureTopics = []string{messages.NodeTopicPattern}
	c.TemperatureTopics = []string{messages.TopicLocalTemperature}
	c.CloudPictureTopic = messages.TopicCamera
	c.CloudTemperatureTopic = messages.TopicTemperature
	c.Form = FormPassThrough
	c.MaxPictureBytes = messages.DefaultMaxPictureBytes
	c.MaxInflightBytes = 1 << 20
	c.MaxInflightMessages = 1000
	c.CommitInterval = 10 * time.Millisecond
	c.RevokeTimeout = 2 * time.Second
	c.RetryMaxInterval = 50 * time.Millisecond
	c.CheckInterval = time.Second
	c.Edge.Brokers = []string{"127.0.0.1:9092"}
	c.Edge.MaxFetchBytes, c.Edge.QueueMaxBytes = 1<<20, 1<<21
	c.Cloud.Brokers = []string{"127.0.0.1:9093"}
	c.Cloud.MaxMessageBytes, c.Cloud.QueueMaxBytes = 1<<20, 4<<20
	return c
}

// harness runs a forwarder over fakes.
type harness struct {
	t      *testing.T
	f      *Forwarder
	cons   *fakeConsumer
	cloud  *fakeProducer
	reg    *prometheus.Registry
	probe  *svc.Probe
	cancel context.CancelFunc
	done   chan error
}

func startHarness(t *testing.T, cfg Config, parts []bus.TopicPartition, fill func(c *fakeConsumer)) *harness {
	t.Helper()
	cloud := newFakeProducer()
	cloud.maxMsg = cfg.Cloud.MaxMessageBytes
	cons := newFakeConsumer(cloud, parts...)
	if fill != nil {
		fill(cons)
	}
	reg := prometheus.NewRegistry()
	f, err := New(cfg, cloud, discard(), NewMetrics(reg), Hooks{})
	if err != nil {
		t.Fatal(err)
	}
	cons.reb = f.Rebalance()
	probe := svc.NewProbe(reg)
	probe.Set(condPartitions, nil)
	f.probe = probe
	ctx, cancel := context.WithCancel(context.Background())
	h := &harness{t: t, f: f, cons: cons, cloud: cloud, reg: reg, probe: probe, cancel: cancel, done: make(chan error, 1)}
	go func() { h.done <- f.Run(ctx, cons) }()
	t.Cleanup(func() { h.stop() })
	return h
}

func (h *harness) stop() error {
	if h.cancel == nil {
		return nil
	}
	h.cancel()
	h.cancel = nil
	err := <-h.done
	h.cloud.Close()
	return err
}

func (h *harness) waitFor(what string, cond func() bool) {
	h.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			h.t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func key(tp bus.TopicPartition, off int) string {
	return fmt.Sprintf("%s %d %d", tp.Topic, tp.Partition, off)
}

// fill appends n messages of size bytes to each partition.
func fill(n, size int, parts ...bus.TopicPartition) func(c *fakeConsumer) {
	return func(c *fakeConsumer) {
		for _, tp := range parts {
			for i := range n {
				c.append(tp, key(tp, i), strings.Repeat("x", size))
			}
		}
	}
}

// checkExactlyAll checks that the cloud topic holds every source message
// at least once, and that no commit ever got ahead of the cloud.
func (h *harness) checkDelivered(topic string, n int, parts ...bus.TopicPartition) {
	h.t.Helper()
	seen := map[string]int{}
	for _, m := range h.cloud.messages(topic) {
		seen[string(m.Key)]++
	}
	for _, tp := range parts {
		for i := range n {
			if seen[key(tp, i)] == 0 {
				h.t.Errorf("cloud topic %s lacks %s", topic, key(tp, i))
			}
		}
	}
	for _, v := range h.cons.violationList() {
		h.t.Errorf("commit violation: %s", v)
	}
}

var (
	node1 = bus.TopicPartition{Topic: "node1", Partition: 0}
	node2 = bus.TopicPartition{Topic: "node2", Partition: 0}
	tempL = bus.TopicPartition{Topic: messages.TopicLocalTemperature, Partition: 1}
)

func TestForwardPassThroughAndCommit(t *testing.T) {
	parts := []bus.TopicPartition{node1, node2, tempL}
	h := startHarness(t, testConfig(), parts, func(c *fakeConsumer) {
		fill(50, 100, node1, node2)(c)
		fill(30, 10, tempL)(c)
		c.mu.Lock()
		c.logs[node1][7].Headers = []messages.Header{{Key: "h", Value: []byte("v")}}
		c.mu.Unlock()
	})
	h.waitFor("all committed", func() bool {
		return h.cons.committedOf(node1) == 50 && h.cons.committedOf(node2) == 50 && h.cons.committedOf(tempL) == 30
	})
	h.checkDelivered(messages.TopicCamera, 50, node1, node2)
	h.checkDelivered(messages.TopicTemperature, 30, tempL)
	if n := len(h.cloud.messages(messages.TopicCamera)); n != 100 {
		t.Errorf("cameraData holds %d messages, want 100 (no duplicates without failures)", n)
	}
	for _, m := range h.cloud.messages(messages.TopicCamera) {
		if string(m.Key) == key(node1, 7) {
			if len(m.Headers) != 1 || m.Headers[0].Key != "h" || string(m.Headers[0].Value) != "v" {
				t.Errorf("headers of %s = %v, want passed through", m.Key, m.Headers)
			}
			if string(m.Value) != strings.Repeat("x", 100) {
				t.Errorf("value changed")
			}
		}
	}
	if err := h.stop(); err != nil {
		t.Errorf("Run() = %v", err)
	}
}

func TestBackpressurePausesAndCommitsNothingUnacked(t *testing.T) {
	cfg := testConfig()
	cfg.MaxInflightBytes = 10_000 // 10 messages of ~1 KB
	parts := []bus.TopicPartition{node1, node2}
	h := startHarness(t, cfg, parts, nil)
	h.cloud.setDown(true)
	fill(200, 1000, node1, node2)(h.cons)
	// Down: the forwarder fills the bound and pauses; nothing is committed.
	h.waitFor("backpressure", func() bool { return testutil.ToFloat64(h.f.m.paused) == 1 })
	time.Sleep(50 * time.Millisecond)
	queued, maxBytes := h.cloud.stats()
	if maxBytes > cfg.MaxInflightBytes+1100 {
		t.Errorf("in-flight bytes reached %d, bound %d + one message", maxBytes, cfg.MaxInflightBytes)
	}
	if queued == 0 {
		t.Errorf("nothing in flight while the cloud is down")
	}
	if c := h.cons.committedOf(node1) + h.cons.committedOf(node2); c != 0 {
		t.Errorf("committed %d messages while the cloud acknowledged none", c)
	}
	// Back: everything drains and is committed.
	h.cloud.setDown(false)
	h.waitFor("all committed", func() bool { return h.cons.committedOf(node1) == 200 && h.cons.committedOf(node2) == 200 })
	h.checkDelivered(messages.TopicCamera, 200, node1, node2)
	if _, maxBytes := h.cloud.stats(); maxBytes > cfg.MaxInflightBytes+1100 {
		t.Errorf("in-flight bytes reached %d, bound %d + one message", maxBytes, cfg.MaxInflightBytes)
	}
	if got := testutil.ToFloat64(h.f.m.paused); got != 0 {
		t.Errorf("still paused after the cloud caught up")
	}
}

// While the cloud keeps acknowledging, a full in-flight window is a wait
// for room, not a pause: pausing makes the Kafka clients drop what they
// prefetched and fetch it again, which cut large-picture throughput by an
// order of magnitude.
func TestBackpressureWaitsForAcksInsteadOfPausing(t *testing.T) {
	cfg := testConfig()
	cfg.MaxInflightBytes = 10_000 // 10 messages of ~1 KB
	cfg.BackpressureWait = 10 * time.Second
	parts := []bus.TopicPartition{node1, node2}
	h := startHarness(t, cfg, parts, fill(300, 1000, node1, node2))
	h.waitFor("all committed", func() bool { return h.cons.committedOf(node1) == 300 && h.cons.committedOf(node2) == 300 })
	h.checkDelivered(messages.TopicCamera, 300, node1, node2)
	if _, maxBytes := h.cloud.stats(); maxBytes > cfg.MaxInflightBytes+1100 {
		t.Errorf("in-flight bytes reached %d, bound %d + one message", maxBytes, cfg.MaxInflightBytes)
	}
	h.cons.mu.Lock()
	paused := h.cons.maxPaused
	h.cons.mu.Unlock()
	if paused != 0 {
		t.Errorf("paused %d partitions although the cloud acknowledged everything", paused)
	}
	if n := len(h.cloud.messages(messages.TopicCamera)); n != 600 {
		t.Errorf("cameraData holds %d messages, want 600 (no message put back and sent twice)", n)
	}
}

// A message that crossed the in-flight bound and cannot be sought back is
// sent rather than skipped.
func TestBackpressureSeekFailureSkipsNothing(t *testing.T) {
	cfg := testConfig()
	cfg.MaxInflightBytes = 5_000
	parts := []bus.TopicPartition{node1, node2}
	h := startHarness(t, cfg, parts, nil)
	h.cons.mu.Lock()
	h.cons.seekErr = errors.New("seek refused")
	h.cons.mu.Unlock()
	h.cloud.setDown(true)
	fill(50, 1000, node1, node2)(h.cons)
	h.waitFor("backpressure", func() bool { return testutil.ToFloat64(h.f.m.paused) == 1 })
	h.cloud.setDown(false)
	h.waitFor("all committed", func() bool { return h.cons.committedOf(node1) == 50 && h.cons.committedOf(node2) == 50 })
	h.checkDelivered(messages.TopicCamera, 50, node1, node2)
}

func TestFailedDeliveryIsSentAgainNeverSkipped(t *testing.T) {
	tests := []struct {
		name  string
		fails int
	}{
		{"one failure", 1},
		{"a burst of failures", 25},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			parts := []bus.TopicPartition{node1, node2}
			h := startHarness(t, testConfig(), parts, nil)
			h.cloud.setDown(true)
			fill(100, 10, node1, node2)(h.cons)
			h.waitFor("something in flight", func() bool { q, _ := h.cloud.stats(); return q >= 10 })
			h.cloud.fail(tt.fails)
			h.cloud.setDown(false)
			h.waitFor("all committed", func() bool { return h.cons.committedOf(node1) == 100 && h.cons.committedOf(node2) == 100 })
			h.checkDelivered(messages.TopicCamera, 100, node1, node2)
			if got := testutil.ToFloat64(h.f.m.rewinds); got < 1 {
				t.Errorf("rewinds = %v, want >= 1", got)
			}
			if got := testutil.ToFloat64(h.f.m.forwarded.WithLabelValues(messages.TopicCamera, "error")); got != float64(tt.fails) {
				t.Errorf("forwarded{result=error} = %v, want %d", got, tt.fails)
			}
		})
	}
}

func TestRevokeCommitsAcknowledgedAndNewOwnerResumes(t *testing.T) {
	parts := []bus.TopicPartition{node1, node2}
	h := startHarness(t, testConfig(), parts, fill(100, 10, node1, node2))
	h.waitFor("some progress", func() bool { return h.cons.committedOf(node1) > 0 })
	// Revoke node2 while its messages may be in flight, then give it back.
	h.cons.reassign(node1)
	h.waitFor("node1 done", func() bool { return h.cons.committedOf(node1) == 100 })
	h.cons.reassign(node1, node2)
	h.waitFor("node2 done", func() bool { return h.cons.committedOf(node2) == 100 })
	h.checkDelivered(messages.TopicCamera, 100, node1, node2)
}

func TestShutdownCommitsAcked(t *testing.T) {
	h := startHarness(t, testConfig(), []bus.TopicPartition{node1}, fill(40, 10, node1))
	h.waitFor("all sent", func() bool { return len(h.cloud.messages(messages.TopicCamera)) == 40 })
	if err := h.stop(); err != nil {
		t.Fatalf("Run() = %v", err)
	}
	if got := h.cons.committedOf(node1); got != 40 {
		t.Errorf("committed after shutdown = %d, want 40", got)
	}
}

func TestTranscode(t *testing.T) {
	jpeg := jpegsynth.Picture(jpegsynth.Size320x188, 7)
	at := time.Date(2026, 5, 1, 12, 30, 45, 123_000_000, time.UTC)
	pic := messages.NewPicture("C1", "node1", at, jpeg)
	bin, err := messages.EncodePicture(pic, messages.FormBinary)
	if err != nil {
		t.Fatal(err)
	}
	reading := messages.TemperatureReading{NodeID: "node1", ReadAt: at, TemperatureCelsius: 48.3, Source: "sysfs"}
	tbin, err := messages.EncodeTemperature(reading, messages.FormBinary)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		form      string
		topic     string
		value     []byte
		headers   []messages.Header
		wantTopic string
		check     func(t *testing.T, m *bus.Message)
	}{
		{name: "picture to json", form: FormJSON, topic: "node1", value: bin.Value, headers: bin.Headers, wantTopic: messages.TopicCamera,
			check: func(t *testing.T, m *bus.Message) {
				p, err := messages.DecodePicture(m.Value, m.Headers, 0)
				if err != nil || !bytes.Equal(p.Data, jpeg) || p.CameraID != "C1" {
					t.Errorf("DecodePicture(forwarded) = %v, %v; want the same JPEG", p.CameraID, err)
				}
				if f, _ := messages.Detect(m.Value, m.Headers); f != messages.FormJSON {
					t.Errorf("form = %v, want json", f)
				}
			}},
		{name: "reading to json", form: FormJSON, topic: messages.TopicLocalTemperature, value: tbin.Value, headers: tbin.Headers, wantTopic: messages.TopicTemperature,
			check: func(t *testing.T, m *bus.Message) {
				r, err := messages.DecodeTemperature(m.Value, m.Headers)
				if err != nil || r.TemperatureCelsius != 48.3 || r.NodeID != "node1" {
					t.Errorf("DecodeTemperature(forwarded) = %+v, %v", r, err)
				}
			}},
		{name: "garbage dead-lettered", form: FormJSON, topic: "node2", value: []byte("not a picture"), wantTopic: messages.DeadLetterTopic(messages.TopicCamera),
			check: func(t *testing.T, m *bus.Message) {
				if r, _ := messages.HeaderValue(m.Headers, messages.HeaderDLQReason); string(r) != "unknown-form" {
					t.Errorf("reason header = %q, want unknown-form", r)
				}
				if o, _ := messages.HeaderValue(m.Headers, messages.HeaderDLQOffset); string(o) != "0:0" {
					t.Errorf("offset header = %q, want 0:0", o)
				}
				if string(m.Value) != "not a picture" {
					t.Errorf("dead letter value = %q, want the original", m.Value)
				}
			}},
		{name: "garbage passed through untouched", form: FormPassThrough, topic: "node2", value: []byte("not a picture"), wantTopic: messages.TopicCamera,
			check: func(t *testing.T, m *bus.Message) {
				if string(m.Value) != "not a picture" {
					t.Errorf("value = %q", m.Value)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig()
			cfg.Form = tt.form
			f, err := New(cfg, nil, discard(), NewMetrics(prometheus.NewRegistry()), Hooks{})
			if err != nil {
				t.Fatal(err)
			}
			old := time.Now().Add(-48 * time.Hour) // a backlog from a long outage
			out, _, err := f.transform(&bus.Message{Topic: tt.topic, Value: tt.value, Headers: tt.headers, Timestamp: old}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if out.Topic != tt.wantTopic {
				t.Fatalf("topic = %q, want %q", out.Topic, tt.wantTopic)
			}
			if !out.Timestamp.IsZero() {
				t.Errorf("timestamp = %v, want zero (stamped when forwarded)", out.Timestamp)
			}
			tt.check(t, out)
		})
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		mod     func(c *Config)
		wantErr string
	}{
		{name: "defaults ok", mod: func(*Config) {}},
		{name: "bad form", mod: func(c *Config) { c.Form = "xml" }, wantErr: "SENSORNODE_FORM"},
		{name: "bad regex", mod: func(c *Config) { c.PictureTopics = []string{"^node[0-9+$"} }, wantErr: "SENSORNODE_PICTURE_TOPICS"},
		{name: "overlap", mod: func(c *Config) { c.TemperatureTopics = []string{"node9"} }, wantErr: "also matches"},
		{name: "inflight exceeds queue", mod: func(c *Config) { c.MaxInflightBytes = c.Cloud.QueueMaxBytes }, wantErr: "exceeds SENSORNODE_CLOUD_KAFKA_QUEUE_MAX_BYTES"},
		{name: "edge topics env unused", mod: func(c *Config) { c.Edge.Topics = []string{"x"} }, wantErr: "SENSORNODE_EDGE_KAFKA_TOPICS"},
		{name: "zero interval", mod: func(c *Config) { c.CommitInterval = 0 }, wantErr: "SENSORNODE_COMMIT_INTERVAL"},
		{name: "topic settings unused without create", mod: topicSettings(false, 0, 0, 5)},
		{name: "create topics ok", mod: topicSettings(true, 1, 3, 2)},
		{name: "create topics RF 1 ISR 1", mod: topicSettings(true, 6, 1, 1)},
		{name: "zero partitions", mod: topicSettings(true, 0, 3, 2), wantErr: "SENSORNODE_TOPIC_PARTITIONS 0"},
		{name: "zero replication factor", mod: topicSettings(true, 1, 0, 0), wantErr: "SENSORNODE_TOPIC_REPLICATION_FACTOR 0"},
		{name: "min ISR above RF", mod: topicSettings(true, 1, 2, 3), wantErr: "SENSORNODE_TOPIC_MIN_INSYNC_REPLICAS 3"},
		{name: "zero min ISR", mod: topicSettings(true, 1, 3, 0), wantErr: "SENSORNODE_TOPIC_MIN_INSYNC_REPLICAS 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := testConfig()
			tt.mod(&c)
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

// topicSettings sets SENSORNODE_CREATE_TOPICS and the created topics'
// partitions, replication factor and min.insync.replicas.
func topicSettings(create bool, partitions, rf, minISR int) func(*Config) {
	return func(c *Config) {
		c.CreateTopics, c.TopicPartitions, c.TopicReplicationFactor, c.TopicMinInsyncReplicas = create, partitions, rf, minISR
	}
}

func TestTrackerCommitsOnlyContiguousAcks(t *testing.T) {
	type step struct {
		off  int64
		fail bool
	}
	tests := []struct {
		name       string
		sent       []int64
		reports    []step
		wantCommit int64 // -1: nothing committable
		wantRewind int64 // -1: no rewind possible
	}{
		{name: "in order", sent: []int64{0, 1, 2}, reports: []step{{0, false}, {1, false}, {2, false}}, wantCommit: 3, wantRewind: -1},
		{name: "out of order stops at gap", sent: []int64{0, 1, 2}, reports: []step{{0, false}, {2, false}}, wantCommit: 1, wantRewind: -1},
		{name: "gap closed", sent: []int64{0, 1, 2}, reports: []step{{2, false}, {1, false}, {0, false}}, wantCommit: 3, wantRewind: -1},
		{name: "sparse offsets", sent: []int64{10, 12, 15}, reports: []step{{10, false}, {12, false}}, wantCommit: 13, wantRewind: -1},
		{name: "failure holds commit", sent: []int64{0, 1, 2}, reports: []step{{0, false}, {1, true}, {2, false}}, wantCommit: 1, wantRewind: 1},
		{name: "failure, rewind waits for pending", sent: []int64{0, 1, 2}, reports: []step{{1, true}}, wantCommit: -1, wantRewind: -1},
		{name: "first fails", sent: []int64{5, 6}, reports: []step{{5, true}, {6, false}}, wantCommit: -1, wantRewind: 5},
	}
	tp := bus.TopicPartition{Topic: "t", Partition: 0}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := newTracker()
			entries := map[int64]*entry{}
			var gen uint64
			for _, off := range tt.sent {
				entries[off], gen = tr.add(tp, off, 1, false)
			}
			for _, r := range tt.reports {
				var err error
				if r.fail {
					err = errors.New("boom")
				}
				tr.report(tp, gen, entries[r.off], err)
			}
			got := int64(-1)
			if offs := tr.committable(nil); len(offs) == 1 {
				got = offs[0].Offset
			}
			if got != tt.wantCommit {
				t.Errorf("committable = %d, want %d", got, tt.wantCommit)
			}
			rw, ok := tr.rewindPoint(tp)
			if !ok {
				rw = -1
			}
			if rw != tt.wantRewind {
				t.Errorf("rewindPoint = %d, want %d", rw, tt.wantRewind)
			}
			if ok {
				tr.rewound(tp)
				// Reports of the old generation no longer count.
				for _, e := range entries {
					e.done = false
					tr.report(tp, gen, e, nil)
				}
				if offs := tr.committable(nil); len(offs) == 1 && offs[0].Offset > max(tt.wantCommit, 0) {
					t.Errorf("old-generation acks moved the commit to %d", offs[0].Offset)
				}
			}
		})
	}
}
