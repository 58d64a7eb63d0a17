//go:build integration

package forwarder

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"image"
	"log/slog"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sensornode/sensornode/libs/bus"
	"github.com/sensornode/sensornode/libs/messages"
	"github.com/sensornode/sensornode/libs/messages/jpegsynth"
	"github.com/sensornode/sensornode/libs/svc/svctest"
	"github.com/sensornode/sensornode/tools/devstack"
	"github.com/sensornode/sensornode/tools/devstack/devstacktest"
)

// fixture is one test's topics on the edge and the cloud cluster.
type fixture struct {
	st         *devstack.Stack
	prefix     string
	nodeTopics []string
	tempTopic  string
	cloudPic   string
	cloudTemp  string
	group      string
	logs       *svctest.SyncBuffer
}

// newFixture creates nodes picture topics and one temperature topic on the
// edge (RF 3) and the two cloud topics (RF 1), partitions each.
func newFixture(t *testing.T, nodes, partitions int) *fixture {
	t.Helper()
	fx := newEdgeFixture(t, nodes, partitions)
	devstacktest.CreateTopic(t, fx.st.CloudBootstrap(), fx.cloudPic, partitions, 1)
	devstacktest.CreateTopic(t, fx.st.CloudBootstrap(), fx.cloudTemp, partitions, 1)
	return fx
}

// newEdgeFixture is newFixture without the cloud topics: they are named,
// not created.
func newEdgeFixture(t *testing.T, nodes, partitions int) *fixture {
	t.Helper()
	st := devstacktest.Stack(t)
	prefix := devstacktest.UniqueTopic(t, "fwd")
	fx := &fixture{st: st, prefix: prefix, tempTopic: prefix + "-temperatureLocal",
		cloudPic: prefix + "-cameraData", cloudTemp: prefix + "-temperatureData", group: prefix + "-group",
		logs: &svctest.SyncBuffer{}}
	for i := 1; i <= nodes; i++ {
		fx.nodeTopics = append(fx.nodeTopics, fmt.Sprintf("%s-node%d", prefix, i))
	}
	for _, tp := range append([]string{fx.tempTopic}, fx.nodeTopics...) {
		devstacktest.CreateTopic(t, st.EdgeBootstrap(), tp, partitions, 3)
	}
	t.Cleanup(func() {
		if t.Failed() || os.Getenv("FWD_TEST_LOGS") != "" {
			t.Logf("forwarder logs:\n%s", fx.logs.String())
		}
	})
	return fx
}

// config is a forwarder configuration for the fixture's topics.
func (fx *fixture) config() Config {
	c := DefaultConfig()
	c.LogLevel, c.AdminAddr, c.ShutdownTimeout = "info", "127.0.0.1:0", 10*time.Second
	c.Edge.Brokers = strings.Split(fx.st.EdgeBootstrap(), ",")
	c.Edge.GroupID = fx.group
	c.Edge.SessionTimeout, c.Edge.MaxFetchBytes, c.Edge.QueueMaxBytes = 10*time.Second, 8<<20, 16<<20
	c.Cloud.Brokers = []string{fx.st.CloudBootstrap()}
	c.Cloud.Linger, c.Cloud.MaxMessageBytes, c.Cloud.QueueMaxBytes, c.Cloud.DeliveryTimeout = 5*time.Millisecond, 8<<20, 16<<20, 0
	c.PictureTopics = []string{"^" + regexp.QuoteMeta(fx.prefix) + "-node[0-9]+$"}
	c.TemperatureTopics = []string{fx.tempTopic}
	c.CloudPictureTopic, c.CloudTemperatureTopic = fx.cloudPic, fx.cloudTemp
	c.Form, c.MaxPictureBytes = FormPassThrough, 8<<20
	c.MaxInflightBytes, c.MaxInflightMessages = 8<<20, 10000
	c.CommitInterval, c.RevokeTimeout, c.RetryMaxInterval, c.CheckInterval = 200*time.Millisecond, 10*time.Second, 2*time.Second, time.Second
	c.Edge.Backend, c.Cloud.Backend = devstacktest.KafkaBackend(), devstacktest.KafkaBackend()
	return c
}

// running is a forwarder started in this process by start.
type running struct {
	t    testing.TB
	reg  *prometheus.Registry
	stop func() // cancels Run and waits; a Run error fails the test
}

func (fx *fixture) start(t *testing.T, cfg Config, name string) *running {
	t.Helper()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	level := slog.LevelInfo
	if os.Getenv("FWD_TEST_LOGS") == "debug" {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(fx.logs, &slog.HandlerOptions{Level: level})).With("forwarder", name)
	r := &running{t: t, reg: prometheus.NewRegistry()}
	r.stop = svctest.Start(t, "Run", func(ctx context.Context) error { return Run(ctx, &cfg, log, r.reg, Options{}) })
	return r
}

// metric sums the series of a metric whose labels hold every name, value
// pair of match (0 when absent).
func (r *running) metric(name string, match ...string) float64 {
	return svctest.Metric(r.t, r.reg, name, match...)
}

// sent is a message produced to the edge and where it landed.
type sent struct {
	msg *bus.Message
	tp  bus.TopicPartition
	off int64
}

// fingerprint identifies a record by its key, value and headers, without
// the sn-orig-time header the forwarder adds.
func fingerprint(key, value []byte, hs []messages.Header) [32]byte {
	h := sha256.New()
	for _, b := range [][]byte{key, value} {
		_ = binary.Write(h, binary.BigEndian, int64(len(b)))
		h.Write(b)
	}
	for _, x := range hs {
		if x.Key == messages.HeaderOrigTime {
			continue
		}
		_ = binary.Write(h, binary.BigEndian, int64(len(x.Key)))
		h.Write([]byte(x.Key))
		_ = binary.Write(h, binary.BigEndian, int64(len(x.Value)))
		h.Write(x.Value)
	}
	var out [32]byte
	copy(out[:], h.Sum(nil))
	return out
}

// edgeProducer produces to the edge cluster; closed with the test.
func (fx *fixture) edgeProducer(t *testing.T) bus.Producer {
	t.Helper()
	p, err := bus.NewProducer(bus.ProducerConfig{Config: bus.Config{Brokers: strings.Split(fx.st.EdgeBootstrap(), ","), ClientID: "fwd-test"},
		Linger: time.Millisecond, MaxMessageBytes: 8 << 20, QueueMaxBytes: 64 << 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// produce sends msgs to the edge, waiting for every acknowledgement.
func produce(t *testing.T, p bus.Producer, msgs []*bus.Message) []sent {
	t.Helper()
	var mu sync.Mutex
	out := make([]sent, len(msgs))
	var wg sync.WaitGroup
	for i, m := range msgs {
		wg.Add(1)
		err := p.PublishAsync(context.Background(), m, func(d bus.Delivery) {
			defer wg.Done()
			if d.Err != nil {
				t.Errorf("produce to the edge: %v", d.Err)
				return
			}
			mu.Lock()
			out[i] = sent{msg: m, tp: bus.TopicPartition{Topic: d.Topic, Partition: d.Partition}, off: d.Offset}
			mu.Unlock()
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	return out
}

// scenes draw distinct pictures per size.
type scenes map[image.Point]*jpegsynth.Scene

func (s scenes) jpeg(t *testing.T, size image.Point, i int) []byte {
	t.Helper()
	sc := s[size]
	if sc == nil {
		sc = jpegsynth.NewScene(size.X, size.Y, uint64(size.X*size.Y))
		sc.Objects = []jpegsynth.Object{{X: 5, Y: float64(size.Y) / 2, VX: 3, VY: 0.5, R: float64(size.Y) / 10, Gray: 220}}
		s[size] = sc
	}
	b, err := sc.JPEG(i, 85)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var mixedSizes = []image.Point{jpegsynth.Size320x188, jpegsynth.Size320x188, jpegsynth.Size640x480, jpegsynth.Size320x188, jpegsynth.Size1280x720}

// pictureMsgs makes perNode binary pictures for each node topic, of mixed
// sizes, with increasing capture times from base.
func (fx *fixture) pictureMsgs(t *testing.T, sc scenes, perNode int, base time.Time, first int) []*bus.Message {
	t.Helper()
	var out []*bus.Message
	for n, topic := range fx.nodeTopics {
		for i := first; i < first+perNode; i++ {
			size := mixedSizes[i%len(mixedSizes)]
			p := messages.NewPicture(messages.CameraID(n+1), fmt.Sprintf("node%d", n+1), base.Add(time.Duration(i)*100*time.Millisecond), sc.jpeg(t, size, i*10+n))
			enc, err := messages.EncodePicture(p, messages.FormBinary)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, bus.FromEncoded(topic, enc))
		}
	}
	return out
}

// readingMsgs makes n readings per node for the temperature topic.
func (fx *fixture) readingMsgs(t *testing.T, nodes, n int, base time.Time) []*bus.Message {
	t.Helper()
	var out []*bus.Message
	for i := range n {
		for node := 1; node <= nodes; node++ {
			r := messages.TemperatureReading{NodeID: fmt.Sprintf("node%d", node), ReadAt: base.Add(time.Duration(i)*time.Second + time.Duration(node)),
				TemperatureCelsius: 40 + float64(i%100)/10, Source: "synthetic"}
			enc, err := messages.EncodeTemperature(r, messages.FormBinary)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, bus.FromEncoded(fx.tempTopic, enc))
		}
	}
	return out
}

// cloudReader consumes the cloud topics in the background.
type cloudReader struct {
	mu     sync.Mutex
	counts map[[32]byte]int
	topic  map[[32]byte]string
	total  int
	cancel context.CancelFunc
	done   chan struct{}
}

func (fx *fixture) readCloud(t *testing.T, bootstrap string, topics ...string) *cloudReader {
	t.Helper()
	c, err := bus.NewConsumer(bus.ConsumerConfig{Config: bus.Config{Brokers: []string{bootstrap}, ClientID: "fwd-test-reader"},
		GroupID: devstacktest.UniqueTopic(t, "reader"), Topics: topics, MaxFetchBytes: 8 << 20, QueueMaxBytes: 32 << 20, SessionTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &cloudReader{counts: map[[32]byte]int{}, topic: map[[32]byte]string{}, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		defer c.Close()
		for ctx.Err() == nil {
			m, err := c.Poll(ctx, 200*time.Millisecond)
			if err != nil || m == nil {
				continue
			}
			f := fingerprint(m.Key, m.Value, m.Headers)
			r.mu.Lock()
			r.counts[f]++
			r.topic[f] = m.Topic
			r.total++
			r.mu.Unlock()
		}
	}()
	t.Cleanup(r.stop)
	return r
}

func (r *cloudReader) stop() {
	r.cancel()
	<-r.done
}

// has reports how many of want arrived (at least once).
func (r *cloudReader) has(want []sent) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, s := range want {
		if r.counts[fingerprint(s.msg.Key, s.msg.Value, s.msg.Headers)] > 0 {
			n++
		}
	}
	return n
}

// waitCloud waits until every message of want arrived in the cloud.
func (r *cloudReader) waitCloud(t *testing.T, want []sent, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		n := r.has(want)
		if n == len(want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d messages arrived in the cloud within %v", n, len(want), timeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// checkRouted checks that every message is in its mapped cloud topic,
// bytes, key and headers untouched.
func (r *cloudReader) checkRouted(t *testing.T, want []sent, route func(edgeTopic string) string) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range want {
		f := fingerprint(s.msg.Key, s.msg.Value, s.msg.Headers)
		if got := r.topic[f]; got != route(s.msg.Topic) {
			t.Errorf("%s@%d arrived in %q, want %q", s.tp, s.off, got, route(s.msg.Topic))
		}
	}
}

// endOffsets is, per edge partition, the offset after the last message.
func endOffsets(ss []sent) map[bus.TopicPartition]int64 {
	out := map[bus.TopicPartition]int64{}
	for _, s := range ss {
		out[s.tp] = max(out[s.tp], s.off+1)
	}
	return out
}

// committed reads the group's committed offsets on the edge.
func (fx *fixture) committed(t *testing.T) map[bus.TopicPartition]int64 {
	t.Helper()
	out, err := devstacktest.CommittedOffsets(fx.st.EdgeBootstrap(), fx.group)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// waitCommitted waits until the group committed every partition's end.
func (fx *fixture) waitCommitted(t *testing.T, end map[bus.TopicPartition]int64, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		got := fx.committed(t)
		ok := true
		for tp, e := range end {
			if got[tp] != e {
				ok = false
			}
			if got[tp] > e {
				t.Fatalf("%s committed at %d, past its end %d", tp, got[tp], e)
			}
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("committed %v, want %v", got, end)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
