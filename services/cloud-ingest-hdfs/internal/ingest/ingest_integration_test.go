//go:build integration

package ingest

import (
	"context"
	"crypto/sha256"
	"fmt"
	"image"
	"log/slog"
	"os"
	"path"
	"strings"
	"testing"
	"time"

	"github.com/colinmarc/hdfs/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sensornode/sensornode/libs/archive"
	"github.com/sensornode/sensornode/libs/bus"
	"github.com/sensornode/sensornode/libs/messages"
	"github.com/sensornode/sensornode/libs/messages/jpegsynth"
	"github.com/sensornode/sensornode/libs/svc/svctest"
	"github.com/sensornode/sensornode/tools/devstack"
	"github.com/sensornode/sensornode/tools/devstack/devstacktest"
)

func TestMain(m *testing.M) { devstacktest.Main(m) }

// ifixture is one test's cloud topics and HDFS root.
type ifixture struct {
	st        *devstack.Stack
	camTopic  string
	tempTopic string
	group     string
	root      string
	fs        *hdfs.Client
	logs      *svctest.SyncBuffer
	scenes    map[image.Point]*jpegsynth.Scene // of pictures
}

func newIFixture(t *testing.T, partitions int) *ifixture {
	t.Helper()
	fx := newIFixtureNoTopics(t)
	for _, tp := range []string{fx.camTopic, fx.tempTopic} {
		devstacktest.CreateTopic(t, fx.st.CloudBootstrap(), tp, partitions, 1)
		devstacktest.CreateTopic(t, fx.st.CloudBootstrap(), messages.DeadLetterTopic(tp), 1, 1)
	}
	return fx
}

// newIFixtureNoTopics is newIFixture without the topics: they are named,
// not created.
func newIFixtureNoTopics(t *testing.T) *ifixture {
	t.Helper()
	st := devstacktest.Stack(t)
	prefix := devstacktest.UniqueTopic(t, "ingest")
	fx := &ifixture{st: st, camTopic: prefix + "-cameraData", tempTopic: prefix + "-temperatureData", group: prefix + "-group",
		root: devstacktest.UniquePath(t, "ingest"), fs: devstacktest.HDFSClient(t, st), logs: &svctest.SyncBuffer{}}
	t.Cleanup(func() {
		if t.Failed() || os.Getenv("INGEST_TEST_LOGS") != "" {
			t.Logf("ingest logs:\n%s", fx.logs.String())
		}
		_ = fx.fs.RemoveAll(fx.root)
	})
	return fx
}

// storeConfig is DefaultConfig on the devstack's NameNode with every
// store under root: pictures as files and in bundles, readings, temporary
// files.
func storeConfig(nameNode, root string) Config {
	c := DefaultConfig()
	c.HDFS = HDFSConfig{NameNodes: []string{nameNode}, User: devstack.HDFSUser(), RPCTimeout: 10 * time.Second,
		WriteTimeout: 30 * time.Second, CloseTimeout: 30 * time.Second, TmpDir: root + "/_tmp"}
	c.PictureLayout = root + "/camera/{camera}/{yyyy}/{MM}/{dd}/{HH}{mm}{ss}-{key}.jpg"
	c.TemperatureDirLayout = root + "/temperature/{node}/{yyyy}/{MM}/{dd}/{HH}"
	c.PictureBundleDir = root + "/bundles"
	return c
}

func (fx *ifixture) config() Config {
	c := storeConfig(fx.st.NameNodeAddr(), fx.root)
	c.LogLevel, c.AdminAddr, c.ShutdownTimeout = "info", "127.0.0.1:0", 10*time.Second
	c.Kafka.Brokers = []string{fx.st.CloudBootstrap()}
	c.Kafka.GroupID = fx.group
	c.Kafka.Topics = []string{fx.camTopic, fx.tempTopic}
	c.Kafka.SessionTimeout, c.Kafka.MaxFetchBytes, c.Kafka.QueueMaxBytes = 10*time.Second, 8<<20, 16<<20
	c.DLQMaxMessageBytes = 8 << 20
	c.MaxPictureBytes = messages.DefaultMaxPictureBytes
	c.TemperatureFormat = FormatJSONL
	c.TemperatureRotateInterval, c.TemperatureFlushRecords, c.TemperatureIndexDirs = time.Second, 10000, 64
	c.PictureStore = StoreFiles
	c.PictureBundleMaxBytes, c.PictureBundleMaxAge, c.PictureBundleIndexKeys = 128<<20, time.Second, 1000
	c.CommitInterval, c.RetryMaxInterval, c.CheckInterval = 200*time.Millisecond, 2*time.Second, time.Second
	c.Kafka.Backend = devstacktest.KafkaBackend() // confluent or franz; empty: the default
	return c
}

// irun is an ingester started in this process by start.
type irun struct {
	t    testing.TB
	reg  *prometheus.Registry
	stop func() // cancels Run and waits; a Run error fails the test
}

func (fx *ifixture) start(t *testing.T, cfg Config) *irun {
	t.Helper()
	return fx.startOpts(t, cfg, Options{})
}

func (fx *ifixture) startOpts(t *testing.T, cfg Config, opts Options) *irun {
	t.Helper()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(fx.logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	r := &irun{t: t, reg: prometheus.NewRegistry()}
	r.stop = svctest.Start(t, "Run", func(ctx context.Context) error { return Run(ctx, &cfg, log, r.reg, opts) })
	return r
}

// metric sums a metric's series whose labels contain every pair of match.
func (r *irun) metric(name string, match ...string) float64 {
	return svctest.Metric(r.t, r.reg, name, match...)
}

func (fx *ifixture) producer(t *testing.T) bus.Producer {
	t.Helper()
	p, err := bus.NewProducer(bus.ProducerConfig{Config: bus.Config{Brokers: []string{fx.st.CloudBootstrap()}, ClientID: "ingest-test"},
		Linger: time.Millisecond, MaxMessageBytes: 8 << 20, QueueMaxBytes: 64 << 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func publishAll(t *testing.T, p bus.Producer, msgs []*bus.Message) {
	t.Helper()
	for _, m := range msgs {
		if _, err := p.Publish(context.Background(), m); err != nil {
			t.Fatalf("produce: %v", err)
		}
	}
}

// pictureFiles reads every stored picture: path -> SHA-256.
func (fx *ifixture) pictureFiles(t *testing.T) map[string][32]byte {
	t.Helper()
	out := map[string][32]byte{}
	fx.walkFiles(t, fx.root+"/camera", func(p string, b []byte) error {
		out[p] = sha256.Sum256(b)
		return nil
	})
	return out
}

// readingCounts parses every temperature file: identity -> occurrences.
func (fx *ifixture) readingCounts(t *testing.T) map[string]int {
	t.Helper()
	out := map[string]int{}
	fx.walkFiles(t, fx.root+"/temperature", func(p string, b []byte) error {
		if !strings.HasSuffix(p, ".jsonl") || !strings.HasPrefix(path.Base(p), fx.tempTopic+"+") {
			t.Errorf("unexpected temperature file %s", p)
			return nil
		}
		rs, err := archive.DecodeReadings(b, FormatJSONL)
		if err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		for _, r := range rs {
			out[r.Identity()]++
		}
		return nil
	})
	return out
}

// walkFiles calls f with the path and content of every file below root
// (none while root does not exist); an error ends the test.
func (fx *ifixture) walkFiles(t *testing.T, root string, f func(p string, b []byte) error) {
	t.Helper()
	err := fx.fs.Walk(root, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			if os.IsNotExist(err) {
				return nil
			}
			return err
		}
		if fi.IsDir() {
			return nil
		}
		b, err := fx.fs.ReadFile(p)
		if err != nil {
			return err
		}
		return f(p, b)
	})
	if err != nil && !os.IsNotExist(err) {
		t.Fatalf("walk %s: %v", root, err)
	}
}

// readingMessage is r in the binary form, for topic.
func readingMessage(t *testing.T, topic string, r messages.TemperatureReading) *bus.Message {
	t.Helper()
	e, err := messages.EncodeTemperature(r, messages.FormBinary)
	if err != nil {
		t.Fatal(err)
	}
	return bus.FromEncoded(topic, e)
}

// readings are n readings of node at celsius, one a second from
// at+from seconds, as binary messages for the temperature topic; their
// identities are added to want (when not nil).
func (fx *ifixture) readings(t *testing.T, node string, celsius float64, at time.Time, from, n int, want map[string]bool) []*bus.Message {
	t.Helper()
	var out []*bus.Message
	for i := from; i < from+n; i++ {
		r := messages.TemperatureReading{NodeID: node, ReadAt: at.Add(time.Duration(i) * time.Second), TemperatureCelsius: celsius, Source: "sysfs"}
		out = append(out, readingMessage(t, fx.tempTopic, r))
		if want != nil {
			want[r.Identity()] = true
		}
	}
	return out
}

// pictures are n distinct 320x188 pictures of camera on node, one a
// second from at+from seconds, as binary messages for the camera topic;
// their SHA-256 sums are added to want. Successive calls go on with the
// fixture's scenes.
func (fx *ifixture) pictures(t *testing.T, camera, node string, at time.Time, from, n int, want map[[32]byte]bool) []*bus.Message {
	t.Helper()
	if fx.scenes == nil {
		fx.scenes = map[image.Point]*jpegsynth.Scene{}
	}
	var out []*bus.Message
	for i := from; i < from+n; i++ {
		pic := messages.NewPicture(camera, node, at.Add(time.Duration(i)*time.Second), distinctJPEG(t, fx.scenes, jpegsynth.Size320x188, i))
		enc, err := messages.EncodePicture(pic, messages.FormBinary)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, bus.FromEncoded(fx.camTopic, enc))
		want[pic.SHA256] = true
	}
	return out
}

func waitUntil(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// committed is the group's committed offsets summed per topic.
func (fx *ifixture) committed(t *testing.T) map[string]int64 {
	t.Helper()
	offs, err := devstacktest.CommittedOffsets(fx.st.CloudBootstrap(), fx.group)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int64{}
	for tp, o := range offs {
		out[tp.Topic] += o
	}
	return out
}

// deadLetters reads the dead-letter topic of topic from the beginning.
func (fx *ifixture) deadLetters(t *testing.T, topic string, want int) []*bus.Message {
	t.Helper()
	c, err := bus.NewConsumer(bus.ConsumerConfig{Config: bus.Config{Brokers: []string{fx.st.CloudBootstrap()}, ClientID: "dlq-reader"},
		GroupID: devstacktest.UniqueTopic(t, "dlq"), Topics: []string{messages.DeadLetterTopic(topic)},
		MaxFetchBytes: 8 << 20, QueueMaxBytes: 16 << 20, SessionTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var out []*bus.Message
	deadline := time.Now().Add(30 * time.Second)
	for len(out) < want && time.Now().Before(deadline) {
		m, err := c.Poll(context.Background(), 200*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		if m != nil {
			out = append(out, m)
		}
	}
	return out
}

// deadLetter is the one message in the dead-letter topic of topic,
// checked for its reason; nil (the test failed) when there is not exactly
// one or the reason differs.
func (fx *ifixture) deadLetter(t *testing.T, topic, reason string) *bus.Message {
	t.Helper()
	dl := fx.deadLetters(t, topic, 1)
	if len(dl) != 1 {
		t.Errorf("dead-letter topic of %s holds %d messages, want 1", topic, len(dl))
		return nil
	}
	if r, _ := messages.HeaderValue(dl[0].Headers, messages.HeaderDLQReason); string(r) != reason {
		t.Errorf("dead letter of %s: reason %q, want %q", topic, r, reason)
		return nil
	}
	return dl[0]
}

func distinctJPEG(t *testing.T, scs map[image.Point]*jpegsynth.Scene, size image.Point, i int) []byte {
	t.Helper()
	sc := scs[size]
	if sc == nil {
		sc = jpegsynth.NewScene(size.X, size.Y, uint64(size.Y))
		sc.Objects = []jpegsynth.Object{{X: 3, Y: float64(size.Y) / 3, VX: 4, R: float64(size.Y) / 9, Gray: 210}}
		scs[size] = sc
	}
	b, err := sc.JPEG(i, 85)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var sizes = []image.Point{jpegsynth.Size320x188, jpegsynth.Size640x480, jpegsynth.Size320x188, jpegsynth.Size1280x720}

// Binary pictures (some forwarded twice), a thesis JSON picture from a
// plain producer, readings (some forwarded twice) and garbage: HDFS holds
// every picture once and byte-identical, every reading once, and the
// garbage is in the dead-letter topics with its reason.
func TestIntegrationIngestStoresEverythingOnce(t *testing.T) {
	fx := newIFixture(t, 3)
	p := fx.producer(t)
	scs := map[image.Point]*jpegsynth.Scene{}
	at := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	want := map[[32]byte]bool{}
	var msgs []*bus.Message
	for i := range 24 {
		pic := messages.NewPicture(messages.CameraID(i%3+1), fmt.Sprintf("node%d", i%3+1), at.Add(time.Duration(i)*250*time.Millisecond), distinctJPEG(t, scs, sizes[i%len(sizes)], i))
		enc, err := messages.EncodePicture(pic, messages.FormBinary)
		if err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, bus.FromEncoded(fx.camTopic, enc))
		if i%4 == 0 {
			msgs = append(msgs, bus.FromEncoded(fx.camTopic, enc)) // forwarded twice
		}
		want[pic.SHA256] = true
	}
	// The thesis's own producer: JSON value, no key, no headers.
	legacy := messages.NewPicture("C5", "", at.Add(time.Hour), distinctJPEG(t, scs, jpegsynth.Size640x480, 99))
	enc, err := messages.EncodePicture(legacy, messages.FormJSON)
	if err != nil {
		t.Fatal(err)
	}
	msgs = append(msgs, &bus.Message{Topic: fx.camTopic, Value: enc.Value})
	want[legacy.SHA256] = true
	msgs = append(msgs, &bus.Message{Topic: fx.camTopic, Key: []byte("garbage"), Value: []byte("this is no picture")})

	wantReadings := map[string]bool{}
	for i := range 60 {
		node := fmt.Sprintf("node%d", i%3+1)
		r := messages.TemperatureReading{NodeID: node, ReadAt: at.Add(time.Duration(i) * 90 * time.Second).Add(time.Duration(i)), TemperatureCelsius: 45.5, Source: "sysfs"}
		m := readingMessage(t, fx.tempTopic, r)
		msgs = append(msgs, m)
		if i%6 == 0 {
			msgs = append(msgs, m)
		}
		wantReadings[r.Identity()] = true
	}
	bad, _ := messages.EncodeTemperature(messages.TemperatureReading{NodeID: "node1", ReadAt: at, TemperatureCelsius: 40}, messages.FormBinary)
	bad.Value = []byte("hot")
	msgs = append(msgs, bus.FromEncoded(fx.tempTopic, bad))
	publishAll(t, p, msgs)

	run := fx.start(t, fx.config())
	waitUntil(t, "every picture and reading in HDFS", time.Minute, func() bool {
		return len(fx.pictureFiles(t)) >= len(want) && len(fx.readingCounts(t)) >= len(wantReadings)
	})
	waitUntil(t, "offsets committed", 30*time.Second, func() bool {
		c := fx.committed(t)
		nPic, nTemp := 0, 0
		for _, m := range msgs {
			if m.Topic == fx.camTopic {
				nPic++
			} else {
				nTemp++
			}
		}
		return c[fx.camTopic] == int64(nPic) && c[fx.tempTopic] == int64(nTemp)
	})

	files := fx.pictureFiles(t)
	if len(files) != len(want) {
		t.Errorf("%d picture files, want %d", len(files), len(want))
	}
	for name, sum := range files {
		if !want[sum] {
			t.Errorf("%s is not byte-identical to any source picture", name)
		}
		if !strings.HasSuffix(name, ".jpg") || strings.Contains(name, "/_tmp/") {
			t.Errorf("unexpected file %s", name)
		}
	}
	legacyName := fmt.Sprintf("%s/camera/C5/2026/05/01/130000-%s.jpg", fx.root, legacy.Key())
	if got, ok := files[legacyName]; !ok || got != legacy.SHA256 {
		t.Errorf("thesis JSON picture not at %s with the same bytes (files: %d)", legacyName, len(files))
	}
	counts := fx.readingCounts(t)
	for id := range wantReadings {
		if counts[id] != 1 {
			t.Errorf("reading %s stored %d times, want once", id, counts[id])
		}
	}
	if len(counts) != len(wantReadings) {
		t.Errorf("%d distinct readings stored, want %d", len(counts), len(wantReadings))
	}
	for topic, reason := range map[string]string{fx.camTopic: "unknown-form", fx.tempTopic: "bad-temperature"} {
		if dl := fx.deadLetter(t, topic, reason); dl != nil {
			if o, _ := messages.HeaderValue(dl.Headers, messages.HeaderDLQTopic); string(o) != topic {
				t.Errorf("dead letter of %s: original topic header %q", topic, o)
			}
		}
	}
	if got := run.metric("sensornode_ingest_messages_total", "kind", "picture", "result", "duplicate"); got != 6 {
		t.Errorf("picture duplicates = %v, want 6", got)
	}
	if got := run.metric("sensornode_ingest_dead_lettered_total"); got != 2 {
		t.Errorf("dead_lettered_total = %v, want 2", got)
	}
}

// The NameNode is killed while pictures and readings arrive: ingest
// pauses, commits nothing it did not store, is not ready, and resumes by
// itself when the NameNode is back. Nothing is lost or stored twice.
func TestIntegrationIngestNameNodeRestart(t *testing.T) {
	fx := newIFixture(t, 2)
	p := fx.producer(t)
	at := time.Date(2026, 5, 2, 8, 0, 0, 0, time.UTC)
	want := map[[32]byte]bool{}
	wantReadings := map[string]bool{}
	batch := func(from, to int) []*bus.Message {
		return append(fx.pictures(t, "C2", "node2", at, from, to-from, want), fx.readings(t, "node2", 50, at, from, to-from, wantReadings)...)
	}
	run := fx.start(t, fx.config())
	publishAll(t, p, batch(0, 20))
	waitUntil(t, "first pictures stored", time.Minute, func() bool { return len(fx.pictureFiles(t)) == 20 })

	devstacktest.KillForTest(t, fx.st, devstack.NameNodeName)
	publishAll(t, p, batch(20, 40))
	waitUntil(t, "ingest blocked", time.Minute, func() bool { return run.metric("sensornode_ingest_blocked") == 1 })
	if got := run.metric("sensornode_ready", "condition", "hdfs"); got != 0 {
		t.Errorf("ready{hdfs} = %v while the NameNode is down", got)
	}
	c := fx.committed(t)
	if c[fx.camTopic] > 20 || c[fx.tempTopic] > 20 {
		t.Errorf("committed %v while the NameNode was down, want at most 20 per topic", c)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := fx.st.Start(ctx, devstack.NameNodeName); err != nil {
		t.Fatalf("restart the NameNode: %v", err)
	}
	fx.fs = devstacktest.HDFSClient(t, fx.st) // the old client's connection died with the NameNode
	waitUntil(t, "everything stored after the NameNode came back", 2*time.Minute, func() bool {
		return len(fx.pictureFiles(t)) == 40 && len(fx.readingCounts(t)) == 40 && run.metric("sensornode_ingest_blocked") == 0
	})
	for name, sum := range fx.pictureFiles(t) {
		if !want[sum] {
			t.Errorf("%s does not match a source picture", name)
		}
	}
	for id, n := range fx.readingCounts(t) {
		if !wantReadings[id] || n != 1 {
			t.Errorf("reading %s stored %d times", id, n)
		}
	}
	waitUntil(t, "offsets committed", 30*time.Second, func() bool {
		c := fx.committed(t)
		return c[fx.camTopic] == 40 && c[fx.tempTopic] == 40
	})
	if got := run.metric("sensornode_ingest_hdfs_errors_total"); got < 1 {
		t.Errorf("hdfs_errors_total = %v", got)
	}
}
