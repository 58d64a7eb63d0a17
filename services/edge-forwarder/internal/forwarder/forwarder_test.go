package forwarder

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/sensornode/sensornode/libs/bus"
	"github.com/sensornode/sensornode/libs/bus/bustest"
	"github.com/sensornode/sensornode/libs/messages"
	"github.com/sensornode/sensornode/libs/messages/jpegsynth"
	"github.com/sensornode/sensornode/libs/svc"
	"github.com/sensornode/sensornode/libs/svc/svctest"
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

// harness runs a forwarder between two bustest clusters: the edge one,
// whose topics node1 and node2 (one partition each) and temperatureLocal
// (two) it consumes as group member "forwarder", and the cloud one, with
// the cloud topics and their dead-letter topics.
type harness struct {
	t     *testing.T
	cfg   Config
	f     *Forwarder
	edge  *bustest.Cluster
	cloud *bustest.Cluster
	cons  *checkedConsumer
	prod  *recordingProducer
	reg   *prometheus.Registry
	probe *svc.Probe
	halt  func() error // stops the forwarder (once), returns Run's error
}

// startHarness fills the edge topics with fill, if not nil, then starts
// the forwarder. Call it inside a synctest bubble.
func startHarness(t *testing.T, cfg Config, fill func(h *harness)) *harness {
	t.Helper()
	h := &harness{t: t, cfg: cfg, reg: prometheus.NewRegistry(),
		edge: bustest.NewCluster(bustest.SeedTopics(1, node1.Topic, node2.Topic), bustest.SeedTopics(2, tempL.Topic)),
		cloud: bustest.NewCluster(bustest.SeedTopics(1, cfg.CloudPictureTopic, cfg.CloudTemperatureTopic,
			messages.DeadLetterTopic(cfg.CloudPictureTopic), messages.DeadLetterTopic(cfg.CloudTemperatureTopic)))}
	if fill != nil {
		fill(h)
	}
	prod, err := h.cloud.NewProducer(cfg.Cloud)
	if err != nil {
		t.Fatal(err)
	}
	h.prod = &recordingProducer{Producer: prod}
	f, err := New(cfg, h.prod, discard(), NewMetrics(h.reg), Hooks{})
	if err != nil {
		t.Fatal(err)
	}
	ec := cfg.EdgeConsumerConfig()
	ec.ClientID = "forwarder"
	ec.Rebalance = f.Rebalance()
	cons, err := h.edge.NewConsumer(ec)
	if err != nil {
		t.Fatal(err)
	}
	h.cons = &checkedConsumer{Consumer: cons, cloud: h.cloud}
	h.probe = svc.NewProbe(h.reg)
	h.probe.Set(condPartitions, nil)
	f.probe = h.probe
	h.f = f
	h.halt = svctest.Background(func(ctx context.Context) error { return f.Run(ctx, h.cons) })
	t.Cleanup(func() { h.stop() })
	return h
}

// stop stops the forwarder, then closes the edge consumer and the cloud
// producer, in Serve's order.
func (h *harness) stop() error {
	err := h.halt()
	h.cons.Close()
	h.prod.Close()
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

// committed is the edge group's committed offset of tp (0: none).
func (h *harness) committed(tp bus.TopicPartition) int64 {
	return h.edge.Committed(h.cfg.Edge.GroupID)[tp]
}

// append adds m to the edge cluster.
func (h *harness) append(m *bus.Message) {
	h.t.Helper()
	if _, err := h.edge.Append(m); err != nil {
		h.t.Fatal(err)
	}
}

// otherMember joins the edge group as another forwarder subscribed to
// topics, with client ID id (bustest.StartMember), until leave. Range
// assignment gives a one-partition topic to the member whose ID (client
// ID first) sorts first.
func (h *harness) otherMember(id string, topics ...string) (leave func()) {
	h.t.Helper()
	cfg := h.cfg.EdgeConsumerConfig()
	cfg.ClientID, cfg.Topics = id, topics
	leave, err := h.edge.StartMember(cfg)
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(leave)
	return leave
}

// key is the key of test message off of tp: the commit check reads a
// message's edge position from it.
func key(tp bus.TopicPartition, off int) string {
	return fmt.Sprintf("%s %d %d", tp.Topic, tp.Partition, off)
}

// sourceOf reads the edge position from a test message's key.
func sourceOf(m *bus.Message) (bus.TopicPartition, int64, bool) {
	var tp bus.TopicPartition
	var off int64
	if _, err := fmt.Sscanf(string(m.Key), "%s %d %d", &tp.Topic, &tp.Partition, &off); err != nil {
		return tp, 0, false
	}
	return tp, off, true
}

// message is test message off of tp, size bytes.
func message(tp bus.TopicPartition, off, size int) *bus.Message {
	return &bus.Message{Topic: tp.Topic, Partition: tp.Partition, Key: []byte(key(tp, off)), Value: []byte(strings.Repeat("x", size))}
}

// fill appends n messages of size bytes to each partition.
func fill(n, size int, parts ...bus.TopicPartition) func(h *harness) {
	return func(h *harness) {
		for _, tp := range parts {
			for i := range n {
				h.append(message(tp, i, size))
			}
		}
	}
}

// checkedConsumer is the edge consumer with the forwarder's invariant
// checked at every commit: committing offset o of a partition while the
// cloud lacks a message below o is recorded as a violation. It also
// records the most partitions paused at once.
type checkedConsumer struct {
	*bustest.Consumer
	cloud *bustest.Cluster

	mu         sync.Mutex
	violations []string
	maxPaused  int
}

func (c *checkedConsumer) Commit(ctx context.Context, offs []bus.Offset) error {
	acked := map[bus.TopicPartition]map[int64]bool{}
	for _, topic := range c.cloud.Topics() {
		for _, m := range c.cloud.Records(topic) {
			if tp, off, ok := sourceOf(m); ok {
				if acked[tp] == nil {
					acked[tp] = map[int64]bool{}
				}
				acked[tp][off] = true
			}
		}
	}
	c.mu.Lock()
	for _, o := range offs {
		for off := int64(0); off < o.Offset; off++ {
			if !acked[o.TopicPartition][off] {
				c.violations = append(c.violations, fmt.Sprintf("committed %s@%d before %d was acknowledged", o.TopicPartition, o.Offset, off))
				break
			}
		}
	}
	c.mu.Unlock()
	return c.Consumer.Commit(ctx, offs)
}

func (c *checkedConsumer) Pause(parts []bus.TopicPartition) error {
	err := c.Consumer.Pause(parts)
	c.mu.Lock()
	c.maxPaused = max(c.maxPaused, len(c.Paused()))
	c.mu.Unlock()
	return err
}

func (c *checkedConsumer) violationList() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.violations)
}

// recordingProducer is the cloud producer, recording the messages and
// bytes handed to it and not yet reported, and the most bytes at once.
type recordingProducer struct {
	*bustest.Producer

	mu            sync.Mutex
	queued, bytes int
	maxBytes      int
	refuse        int   // the next refuse PublishAsync calls return refuseErr
	refuseErr     error // (not enqueued)
}

func (p *recordingProducer) PublishAsync(ctx context.Context, m *bus.Message, done func(bus.Delivery)) error {
	p.mu.Lock()
	if p.refuse > 0 {
		p.refuse--
		p.mu.Unlock()
		return p.refuseErr
	}
	p.mu.Unlock()
	size := m.Size()
	p.add(1, size)
	err := p.Producer.PublishAsync(ctx, m, func(d bus.Delivery) {
		p.add(-1, -size)
		done(d)
	})
	if err != nil {
		p.add(-1, -size)
	}
	return err
}

func (p *recordingProducer) add(n, size int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.queued += n
	p.bytes += size
	p.maxBytes = max(p.maxBytes, p.bytes)
}

func (p *recordingProducer) stats() (queued, maxBytes int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.queued, p.maxBytes
}

var errTimeout = fmt.Errorf("test: message timed out: %w", bus.ErrDeliveryTimed)

// checkDelivered checks that the cloud topic holds every source message
// at least once, and that no commit ever got ahead of the cloud.
func (h *harness) checkDelivered(topic string, n int, parts ...bus.TopicPartition) {
	h.t.Helper()
	seen := map[string]int{}
	for _, m := range h.cloud.Records(topic) {
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
	synctest.Test(t, func(t *testing.T) {
		h := startHarness(t, testConfig(), func(h *harness) {
			for i := range 50 {
				m := message(node1, i, 100)
				if i == 7 {
					m.Headers = []messages.Header{{Key: "h", Value: []byte("v")}}
				}
				h.append(m)
			}
			fill(50, 100, node2)(h)
			fill(30, 10, tempL)(h)
		})
		h.waitFor("all committed", func() bool {
			return h.committed(node1) == 50 && h.committed(node2) == 50 && h.committed(tempL) == 30
		})
		h.checkDelivered(messages.TopicCamera, 50, node1, node2)
		h.checkDelivered(messages.TopicTemperature, 30, tempL)
		if n := len(h.cloud.Records(messages.TopicCamera)); n != 100 {
			t.Errorf("cameraData holds %d messages, want 100 (no duplicates without failures)", n)
		}
		for _, m := range h.cloud.Records(messages.TopicCamera) {
			if string(m.Key) == key(node1, 7) {
				// Passed through, with the edge record's time added
				// (bus.Republished).
				orig := h.edge.Records(node1.Topic)[7].Timestamp.UTC().Format(time.RFC3339Nano)
				if len(m.Headers) != 2 || m.Headers[0].Key != "h" || string(m.Headers[0].Value) != "v" ||
					m.Headers[1].Key != messages.HeaderOrigTime || string(m.Headers[1].Value) != orig {
					t.Errorf("headers of %s = %v, want passed through, then %s %s", m.Key, m.Headers, messages.HeaderOrigTime, orig)
				}
				if string(m.Value) != strings.Repeat("x", 100) {
					t.Errorf("value changed")
				}
			}
		}
		if err := h.stop(); err != nil {
			t.Errorf("Run() = %v", err)
		}
	})
}

func TestBackpressurePausesAndCommitsNothingUnacked(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := testConfig()
		cfg.MaxInflightBytes = 10_000 // 10 messages of ~1 KB
		h := startHarness(t, cfg, nil)
		h.cloud.SetDown(true)
		fill(200, 1000, node1, node2)(h)
		// Down: the forwarder fills the bound and pauses; nothing is committed.
		h.waitFor("backpressure", func() bool { return testutil.ToFloat64(h.f.m.paused) == 1 })
		time.Sleep(50 * time.Millisecond)
		queued, maxBytes := h.prod.stats()
		if maxBytes > cfg.MaxInflightBytes+1100 {
			t.Errorf("in-flight bytes reached %d, bound %d + one message", maxBytes, cfg.MaxInflightBytes)
		}
		if queued == 0 {
			t.Errorf("nothing in flight while the cloud is down")
		}
		if c := h.committed(node1) + h.committed(node2); c != 0 {
			t.Errorf("committed %d messages while the cloud acknowledged none", c)
		}
		// Back: everything drains and is committed.
		h.cloud.SetDown(false)
		h.waitFor("all committed", func() bool { return h.committed(node1) == 200 && h.committed(node2) == 200 })
		h.checkDelivered(messages.TopicCamera, 200, node1, node2)
		if _, maxBytes := h.prod.stats(); maxBytes > cfg.MaxInflightBytes+1100 {
			t.Errorf("in-flight bytes reached %d, bound %d + one message", maxBytes, cfg.MaxInflightBytes)
		}
		if got := testutil.ToFloat64(h.f.m.paused); got != 0 {
			t.Errorf("still paused after the cloud caught up")
		}
	})
}

// While the cloud keeps acknowledging, a full in-flight window is a wait
// for room, not a pause: pausing makes the Kafka clients drop what they
// prefetched and fetch it again, which cut large-picture throughput by an
// order of magnitude.
func TestBackpressureWaitsForAcksInsteadOfPausing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := testConfig()
		cfg.MaxInflightBytes = 10_000 // 10 messages of ~1 KB
		cfg.BackpressureWait = 10 * time.Second
		h := startHarness(t, cfg, fill(300, 1000, node1, node2))
		h.waitFor("all committed", func() bool { return h.committed(node1) == 300 && h.committed(node2) == 300 })
		h.checkDelivered(messages.TopicCamera, 300, node1, node2)
		if _, maxBytes := h.prod.stats(); maxBytes > cfg.MaxInflightBytes+1100 {
			t.Errorf("in-flight bytes reached %d, bound %d + one message", maxBytes, cfg.MaxInflightBytes)
		}
		h.cons.mu.Lock()
		paused := h.cons.maxPaused
		h.cons.mu.Unlock()
		if paused != 0 {
			t.Errorf("paused %d partitions although the cloud acknowledged everything", paused)
		}
		if n := len(h.cloud.Records(messages.TopicCamera)); n != 600 {
			t.Errorf("cameraData holds %d messages, want 600 (no message put back and sent twice)", n)
		}
	})
}

// A message that crossed the in-flight bound and cannot be sought back is
// sent rather than skipped.
func TestBackpressureSeekFailureSkipsNothing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := testConfig()
		cfg.MaxInflightBytes = 5_000
		h := startHarness(t, cfg, nil)
		h.edge.Fail(bustest.Seek, bustest.Always, errors.New("seek refused"))
		h.cloud.SetDown(true)
		fill(50, 1000, node1, node2)(h)
		h.waitFor("backpressure", func() bool { return testutil.ToFloat64(h.f.m.paused) == 1 })
		h.cloud.SetDown(false)
		h.waitFor("all committed", func() bool { return h.committed(node1) == 50 && h.committed(node2) == 50 })
		h.checkDelivered(messages.TopicCamera, 50, node1, node2)
	})
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
			synctest.Test(t, func(t *testing.T) {
				h := startHarness(t, testConfig(), nil)
				h.cloud.SetDown(true)
				fill(100, 10, node1, node2)(h)
				h.waitFor("something in flight", func() bool { q, _ := h.prod.stats(); return q >= 10 })
				h.cloud.Fail(bustest.Deliver, tt.fails, errTimeout)
				h.cloud.SetDown(false)
				h.waitFor("all committed", func() bool { return h.committed(node1) == 100 && h.committed(node2) == 100 })
				h.checkDelivered(messages.TopicCamera, 100, node1, node2)
				if got := testutil.ToFloat64(h.f.m.rewinds); got < 1 {
					t.Errorf("rewinds = %v, want >= 1", got)
				}
				if got := testutil.ToFloat64(h.f.m.forwarded.WithLabelValues(messages.TopicCamera, "error")); got != float64(tt.fails) {
					t.Errorf("forwarded{result=error} = %v, want %d", got, tt.fails)
				}
			})
		})
	}
}

// A producer refusing messages for a while (libs/bus replacing its client
// after a fatal error: ErrFatal) is a transient failure: the messages are
// sent again, the forwarder keeps running. Only a closed producer stops it.
func TestPublishRefusedIsSentAgainUnlessClosed(t *testing.T) {
	tests := []struct {
		name     string
		give     error
		wantStop bool
	}{
		{"producer being recreated", fmt.Errorf("%w: recreating the producer: attempt 1 failed", bus.ErrFatal), false},
		{"producer closed", bus.ErrClosed, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				h := startHarness(t, testConfig(), nil)
				h.prod.mu.Lock()
				h.prod.refuse, h.prod.refuseErr = 5, tt.give
				h.prod.mu.Unlock()
				fill(50, 10, node1, node2)(h)
				if tt.wantStop {
					synctest.Wait() // Run returned by itself, or waits in Poll
					err := h.halt()
					if !errors.Is(err, bus.ErrClosed) {
						t.Fatalf("Run() = %v, want ErrClosed", err)
					}
					return
				}
				h.waitFor("all committed", func() bool { return h.committed(node1) == 50 && h.committed(node2) == 50 })
				h.checkDelivered(messages.TopicCamera, 50, node1, node2)
				if err := h.stop(); err != nil {
					t.Fatalf("Run() = %v, want nil (kept running)", err)
				}
			})
		})
	}
}

func TestRevokeCommitsAcknowledgedAndNewOwnerResumes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := startHarness(t, testConfig(), fill(100, 10, node1, node2))
		h.waitFor("some progress", func() bool { return h.committed(node1) > 0 })
		// Revoke node2 while its messages may be in flight (another member
		// joins and takes it), then give it back (that member leaves).
		leave := h.otherMember("another", node2.Topic)
		h.waitFor("node2 revoked", func() bool { parts, _ := h.cons.Assignment(); return !slices.Contains(parts, node2) })
		h.waitFor("node1 done", func() bool { return h.committed(node1) == 100 })
		leave()
		h.waitFor("node2 done", func() bool { return h.committed(node2) == 100 })
		h.checkDelivered(messages.TopicCamera, 100, node1, node2)
	})
}

func TestShutdownCommitsAcked(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := startHarness(t, testConfig(), fill(40, 10, node1))
		h.waitFor("all sent", func() bool { return len(h.cloud.Records(messages.TopicCamera)) == 40 })
		if err := h.stop(); err != nil {
			t.Fatalf("Run() = %v", err)
		}
		if got := h.committed(node1); got != 40 {
			t.Errorf("committed after shutdown = %d, want 40", got)
		}
	})
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
	svctest.Validate(t, testConfig, []svctest.ConfigCase[Config]{
		{Name: "defaults ok", Change: func(*Config) {}},
		{Name: "bad form", Change: func(c *Config) { c.Form = "xml" }, WantErr: "SENSORNODE_FORM"},
		{Name: "bad regex", Change: func(c *Config) { c.PictureTopics = []string{"^node[0-9+$"} }, WantErr: "SENSORNODE_PICTURE_TOPICS"},
		{Name: "overlap", Change: func(c *Config) { c.TemperatureTopics = []string{"node9"} }, WantErr: "also matches"},
		{Name: "inflight exceeds queue", Change: func(c *Config) { c.MaxInflightBytes = c.Cloud.QueueMaxBytes }, WantErr: "exceeds SENSORNODE_CLOUD_KAFKA_QUEUE_MAX_BYTES"},
		{Name: "edge topics env unused", Change: func(c *Config) { c.Edge.Topics = []string{"x"} }, WantErr: "SENSORNODE_EDGE_KAFKA_TOPICS"},
		{Name: "zero interval", Change: func(c *Config) { c.CommitInterval = 0 }, WantErr: "SENSORNODE_COMMIT_INTERVAL"},
		{Name: "topic settings unused without create", Change: topicSettings(false, 0, 0, 5)},
		{Name: "create topics ok", Change: topicSettings(true, 1, 3, 2)},
		{Name: "create topics RF 1 ISR 1", Change: topicSettings(true, 6, 1, 1)},
		{Name: "zero partitions", Change: topicSettings(true, 0, 3, 2), WantErr: "SENSORNODE_TOPIC_PARTITIONS 0"},
		{Name: "zero replication factor", Change: topicSettings(true, 1, 0, 0), WantErr: "SENSORNODE_TOPIC_REPLICATION_FACTOR 0"},
		{Name: "min ISR above RF", Change: topicSettings(true, 1, 2, 3), WantErr: "SENSORNODE_TOPIC_MIN_INSYNC_REPLICAS 3"},
		{Name: "zero min ISR", Change: topicSettings(true, 1, 3, 0), WantErr: "SENSORNODE_TOPIC_MIN_INSYNC_REPLICAS 0"},
	})
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
