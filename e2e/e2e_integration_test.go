//go:build integration

package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"image"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/colinmarc/hdfs/v2"
	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/sensornode/sensornode/e2e/chaos"
	"github.com/sensornode/sensornode/libs/archive"
	"github.com/sensornode/sensornode/libs/bundle"
	"github.com/sensornode/sensornode/libs/bus"
	"github.com/sensornode/sensornode/libs/messages"
	"github.com/sensornode/sensornode/libs/messages/jpegsynth"
	"github.com/sensornode/sensornode/libs/svc/svctest"
	"github.com/sensornode/sensornode/tools/devstack"
	"github.com/sensornode/sensornode/tools/devstack/devstacktest"
	"github.com/sensornode/sensornode/tools/devstack/faultproxy"
	"github.com/sensornode/sensornode/tools/localrun/promtext"
)

const (
	nodes        = 5
	picsPerNode  = 100
	readsPerNode = 200
)

// TestIntegrationEndToEnd runs five simulated nodes x 100 pictures (mixed
// sizes) plus temperature readings through the real edge-forwarder and
// cloud-ingest-hdfs binaries: once undisturbed, once through an ingest
// SIGKILL while it writes and then forwarded all over again
// (IngestKillReplay), once through a 30 s cloud outage, a
// SIGKILL of each service and an edge broker restart. Each time HDFS must
// hold exactly the 500 pictures, byte-identical, and every reading exactly
// once (on the bundle store also: no key in two bundles, no overlap).
func TestIntegrationEndToEnd(t *testing.T) {
	st := devstacktest.Stack(t)
	bins := build(t)
	pics := newPictureSet(t)

	t.Run("Clean", func(t *testing.T) {
		e := newEnv(t, st, bins, pics)
		e.startIngest(t)
		e.startForwarder(t)
		e.simulateNodes(t, 0)
		t.Logf("nodes sent everything after %v", time.Since(e.started).Round(time.Second))
		e.waitAllStored(t, 2*time.Minute)
		e.verify(t)
	})

	// IngestKillReplay: cloud-ingest-hdfs SIGKILLed while it writes (on
	// the bundle store: with bundles committed and bundles open), started
	// again; once everything is stored, a forwarder of a new consumer group
	// forwards everything again (the edge topics from their start), so
	// ingest must recognise every picture and reading at its new cloud
	// offset, those stored before the kill from what it finds in HDFS (the
	// bundle store: its key index, loaded from the committed bundles'
	// indexes on recovery), not from its memory.
	t.Run("IngestKillReplay", func(t *testing.T) {
		e := newEnv(t, st, bins, pics)
		e.startIngest(t)
		e.startForwarder(t)
		nodesDone := make(chan struct{})
		go func() {
			defer close(nodesDone)
			e.simulateNodes(t, 50*time.Millisecond) // about 5 s: several bundles per partition
		}()
		svctest.Eventually(t, time.Minute, "HDFS holds 100 pictures", func() bool { return len(e.read(t, false).pictures) >= 100 })
		t.Log("SIGKILL cloud-ingest-hdfs while it writes, start it again")
		e.ingest.kill(t)
		e.startIngest(t)
		<-nodesDone
		e.waitAllStored(t, 2*time.Minute)
		sent := e.cloudMessages(t)
		t.Log("a forwarder of a new group forwards everything again")
		e.fwd.stop(t)
		e.fwdGroup = e.prefix + "-forwarder-replay"
		e.startForwarder(t)
		svctest.Eventually(t, 2*time.Minute, "the forwarder forwards everything again", func() bool { return e.cloudMessages(t) >= 2*sent })
		e.waitAllStored(t, 2*time.Minute)
		e.verify(t)
	})

	t.Run("Chaos", func(t *testing.T) {
		e := newEnv(t, st, bins, pics)
		proxy, err := faultproxy.New(st.CloudProxiedBootstrap(), st.CloudProxiedTarget())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { proxy.Close() })
		e.forwarderCloud = st.CloudProxiedBootstrap()
		e.startIngest(t)
		e.startForwarder(t)

		nodesDone := make(chan struct{})
		go func() {
			defer close(nodesDone)
			e.simulateNodes(t, 600*time.Millisecond) // about 60 s of traffic
		}()
		at := func(d time.Duration) {
			if w := d - time.Since(e.started); w > 0 {
				time.Sleep(w)
			}
		}
		at(8 * time.Second)
		t.Log("SIGKILL edge-forwarder while it forwards")
		e.fwd.kill(t)
		e.startForwarder(t)

		at(12 * time.Second)
		t.Log("cloud unreachable for 30 s")
		proxy.Cut()
		at(42 * time.Second)
		if err := proxy.Restore(); err != nil {
			t.Fatal(err)
		}
		t.Log("cloud reachable again")

		at(45 * time.Second)
		e.waitIngestBusy(t)
		t.Log("SIGKILL cloud-ingest-hdfs while it writes the backlog")
		e.ingest.kill(t)
		e.startIngest(t)

		at(50 * time.Second)
		t.Log("restarting edge broker 2 (SIGKILL, start)")
		devstacktest.KillForTest(t, st, devstack.EdgeKafkaName(2))
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		if err := st.Start(ctx, devstack.EdgeKafkaName(2)); err != nil {
			cancel()
			t.Fatalf("restart edge broker 2: %v", err)
		}
		cancel()
		t.Logf("edge broker 2 back after %v", time.Since(e.started).Round(time.Second))

		<-nodesDone
		e.waitAllStored(t, 3*time.Minute)
		if got := e.fwd.metric(t, "sensornode_forwarder_disconnected_seconds_total"); got < 10 {
			t.Errorf("forwarder disconnected_seconds_total = %v after a 30 s outage", got)
		}
		e.verify(t)
	})
}

// ---------------------------------------------------------------- binaries

type binaries struct{ forwarder, ingest string }

// build compiles both services (with the race detector) for this test.
func build(t *testing.T) binaries {
	t.Helper()
	dir := t.TempDir()
	b := binaries{forwarder: filepath.Join(dir, "edge-forwarder"), ingest: filepath.Join(dir, "cloud-ingest-hdfs")}
	buildPkgs(t, []string{"-race"}, map[string]string{b.forwarder: "./services/edge-forwarder/cmd/edge-forwarder", b.ingest: "./services/cloud-ingest-hdfs/cmd/cloud-ingest-hdfs"})
	return b
}

// buildPkgs runs go build flags -o out pkg for each out -> pkg (package
// paths relative to the repository root), in parallel.
func buildPkgs(t *testing.T, flags []string, outs map[string]string) {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	root, err := devstack.RepoRoot(wd)
	if err != nil {
		t.Fatal(err)
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(os.Getenv("GOROOT"), "bin", "go")
	}
	var wg sync.WaitGroup
	for out, pkg := range outs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := exec.Command(goBin, append(append([]string{"build"}, flags...), "-o", out, pkg)...)
			cmd.Dir = root
			if b, err := cmd.CombinedOutput(); err != nil {
				t.Errorf("go build %s: %v\n%s", pkg, err, b)
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
}

// proc is a service binary run as a subprocess; its output is appended to
// a log file kept with the test's temporary files.
type proc struct {
	name    string
	bin     string
	env     []string
	logPath string
	cmd     *exec.Cmd
	admin   string
	waitErr chan error
}

var adminRE = regexp.MustCompile(`"msg":"admin server listening"[^\n]*"addr":"([^"]+)"`)

func (p *proc) start(t *testing.T) {
	t.Helper()
	logf, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	off, _ := logf.Seek(0, io.SeekEnd)
	p.cmd = exec.Command(p.bin)
	p.cmd.Env = p.env
	p.cmd.Stdout, p.cmd.Stderr = logf, logf
	if err := p.cmd.Start(); err != nil {
		logf.Close()
		t.Fatalf("start %s: %v", p.name, err)
	}
	p.waitErr = make(chan error, 1)
	go func() {
		p.waitErr <- p.cmd.Wait()
		logf.Close()
	}()
	deadline := time.Now().Add(30 * time.Second)
	for {
		b, _ := os.ReadFile(p.logPath)
		if int64(len(b)) > off {
			if m := adminRE.FindSubmatch(b[off:]); m != nil {
				p.admin = string(m[1])
				return
			}
		}
		select {
		case err := <-p.waitErr:
			p.waitErr <- err
			t.Fatalf("%s exited at start: %v\n%s", p.name, err, tail(p.logPath))
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not start its admin server\n%s", p.name, tail(p.logPath))
		}
	}
}

// kill sends SIGKILL to the process this test started.
func (p *proc) kill(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatalf("kill %s: %v", p.name, err)
	}
	<-p.waitErr
	p.cmd = nil
}

// stop sends SIGTERM and expects a clean exit.
func (p *proc) stop(t *testing.T) {
	t.Helper()
	if p.cmd == nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.waitErr:
		if err != nil {
			t.Errorf("%s exited with %v after SIGTERM\n%s", p.name, err, tail(p.logPath))
		}
	case <-time.After(time.Minute):
		_ = p.cmd.Process.Signal(syscall.SIGKILL)
		<-p.waitErr
		t.Errorf("%s ignored SIGTERM for a minute", p.name)
	}
	p.cmd = nil
}

// metric sums the series of a metric on the admin server.
func (p *proc) metric(t *testing.T, name string) float64 {
	t.Helper()
	sum, _, err := scrapeMetric(p.admin, name)
	if err != nil {
		t.Errorf("scrape %s: %v", p.name, err)
	}
	return sum
}

// scrapeMetric sums every series of metric name (labelled or not) on an
// admin server's /metrics; found says whether it has any. An error when
// the server does not answer (killed, stopped, restarting).
func scrapeMetric(addr, name string) (sum float64, found bool, err error) {
	cl := &http.Client{Timeout: 2 * time.Second}
	ss, err := promtext.Scrape(context.Background(), cl, addr)
	if err != nil {
		return 0, false, err
	}
	sum, found = ss.Sum(name, nil)
	return sum, found, nil
}

func tail(name string) string {
	b, _ := os.ReadFile(name)
	if len(b) > 6000 {
		b = b[len(b)-6000:]
	}
	return string(b)
}

// ---------------------------------------------------------------- pictures

// pictureSet holds 500 distinct realistic JPEGs: a few rendered scenes per
// size, each made unique by a JPEG comment segment (a valid JPEG that any
// decoder shows as its base picture).
type pictureSet struct {
	jpegs [nodes][picsPerNode][]byte
}

var mixed = []image.Point{jpegsynth.Size320x188, jpegsynth.Size320x188, jpegsynth.Size640x480, jpegsynth.Size320x188, jpegsynth.Size1280x720}

func newPictureSet(t *testing.T) *pictureSet {
	t.Helper()
	const variants = 4
	bases := map[image.Point][][]byte{}
	for _, size := range mixed {
		if bases[size] != nil {
			continue
		}
		sc := jpegsynth.NewScene(size.X, size.Y, uint64(size.X))
		sc.Objects = []jpegsynth.Object{{X: 10, Y: float64(size.Y) / 2, VX: 9, VY: -1, R: float64(size.Y) / 7, Gray: 235}}
		for i := range variants {
			b, err := sc.JPEG(i*5, 85)
			if err != nil {
				t.Fatal(err)
			}
			bases[size] = append(bases[size], b)
		}
	}
	ps := &pictureSet{}
	for n := range nodes {
		for i := range picsPerNode {
			base := bases[mixed[i%len(mixed)]][(i+n)%variants]
			ps.jpegs[n][i] = withComment(base, fmt.Sprintf("sensornode e2e node%d picture %d", n+1, i))
		}
	}
	return ps
}

// withComment inserts a COM segment after the SOI marker.
func withComment(jpeg []byte, text string) []byte {
	out := make([]byte, 0, len(jpeg)+len(text)+4)
	out = append(out, jpeg[:2]...)
	out = append(out, 0xFF, 0xFE)
	out = binary.BigEndian.AppendUint16(out, uint16(len(text)+2))
	out = append(out, text...)
	return append(out, jpeg[2:]...)
}

// ---------------------------------------------------------------- environment

// env is one run: its topics, HDFS root, processes and what the simulated
// nodes sent.
type env struct {
	st             *devstack.Stack
	bins           binaries
	pics           *pictureSet
	prefix         string
	nodeTopics     []string
	tempTopic      string
	cloudPic       string
	cloudTemp      string
	root           string
	forwarderCloud string
	fwdGroup       string // the forwarders' consumer group
	fwd, ingest    *proc
	logDir         string
	started        time.Time
	store          string // picture store of cloud-ingest-hdfs: storeFiles or storeAvro

	idxMu   sync.Mutex
	indexes map[string]bundle.Index // committed bundle path -> its parsed index (immutable)

	mu        sync.Mutex
	wantPics  map[[32]byte]string // sha256 -> description
	wantReads map[string]bool     // identities
	edgeEnd   map[bus.TopicPartition]int64
}

func newEnv(t *testing.T, st *devstack.Stack, bins binaries, pics *pictureSet) *env {
	t.Helper()
	prefix := devstacktest.UniqueTopic(t, "e2e")
	e := &env{st: st, bins: bins, pics: pics, prefix: prefix, tempTopic: prefix + "-temperatureLocal",
		cloudPic: prefix + "-cameraData", cloudTemp: prefix + "-temperatureData",
		root: devstacktest.UniquePath(t, "e2e"), forwarderCloud: st.CloudBootstrap(), logDir: t.TempDir(),
		wantPics: map[[32]byte]string{}, wantReads: map[string]bool{}, edgeEnd: map[bus.TopicPartition]int64{},
		store: testPictureStore(t), indexes: map[string]bundle.Index{}, fwdGroup: prefix + "-forwarder"}
	for n := 1; n <= nodes; n++ {
		e.nodeTopics = append(e.nodeTopics, fmt.Sprintf("%s-node%d", prefix, n))
	}
	for _, tp := range e.nodeTopics {
		devstacktest.CreateTopic(t, st.EdgeBootstrap(), tp, 2, 3)
	}
	devstacktest.CreateTopic(t, st.EdgeBootstrap(), e.tempTopic, 3, 3)
	for _, tp := range []string{e.cloudPic, e.cloudTemp} {
		devstacktest.CreateTopic(t, st.CloudBootstrap(), tp, 3, 1)
		devstacktest.CreateTopic(t, st.CloudBootstrap(), messages.DeadLetterTopic(tp), 1, 1)
	}
	fs := devstacktest.HDFSClient(t, st)
	t.Cleanup(func() {
		e.fwd.stop(t)
		e.ingest.stop(t)
		if t.Failed() || os.Getenv("E2E_LOGS") != "" {
			t.Logf("edge-forwarder log (tail):\n%s", tail(e.fwd.logPath))
			t.Logf("cloud-ingest-hdfs log (tail):\n%s", tail(e.ingest.logPath))
		}
		_ = fs.RemoveAll(e.root)
	})
	e.fwd = &proc{name: "edge-forwarder", bin: bins.forwarder, logPath: filepath.Join(e.logDir, "edge-forwarder.log")}
	e.ingest = &proc{name: "cloud-ingest-hdfs", bin: bins.ingest, logPath: filepath.Join(e.logDir, "cloud-ingest-hdfs.log")}
	e.started = time.Now()
	return e
}

// baseEnv is the process environment without SENSORNODE_* variables (a
// developer's `devstack env` must not leak into the services).
func baseEnv(vars map[string]string) []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SENSORNODE_") {
			out = append(out, kv)
		}
	}
	for k, v := range vars {
		out = append(out, k+"="+v)
	}
	// The Kafka backend under test (confluent or franz; empty: the default).
	if b := os.Getenv("SENSORNODE_TEST_KAFKA_BACKEND"); b != "" {
		out = append(out, "SENSORNODE_EDGE_KAFKA_BACKEND="+b, "SENSORNODE_CLOUD_KAFKA_BACKEND="+b)
	}
	return out
}

func (e *env) startForwarder(t *testing.T) {
	t.Helper()
	e.fwd.env = e.forwarderEnv()
	e.fwd.start(t)
}

// forwarderEnv is the environment of an edge-forwarder replica.
func (e *env) forwarderEnv() []string {
	return baseEnv(map[string]string{
		"SENSORNODE_ADMIN_ADDR":                   "127.0.0.1:0",
		"SENSORNODE_EDGE_KAFKA_BROKERS":           e.st.EdgeBootstrap(),
		"SENSORNODE_EDGE_KAFKA_GROUP_ID":          e.fwdGroup,
		"SENSORNODE_EDGE_KAFKA_SESSION_TIMEOUT":   "6s",
		"SENSORNODE_CLOUD_KAFKA_BROKERS":          e.forwarderCloud,
		"SENSORNODE_CLOUD_KAFKA_DELIVERY_TIMEOUT": "10s", // shorter than the outage: resends are exercised
		"SENSORNODE_PICTURE_TOPICS":               "^" + regexp.QuoteMeta(e.prefix) + "-node[0-9]+$",
		"SENSORNODE_TEMPERATURE_TOPICS":           e.tempTopic,
		"SENSORNODE_CLOUD_PICTURE_TOPIC":          e.cloudPic,
		"SENSORNODE_CLOUD_TEMPERATURE_TOPIC":      e.cloudTemp,
		"SENSORNODE_CHECK_INTERVAL":               "1s",
		"SENSORNODE_RETRY_MAX_INTERVAL":           "5s",
	})
}

func (e *env) startIngest(t *testing.T) {
	t.Helper()
	e.ingest.env = e.ingestEnv()
	e.ingest.start(t)
}

// ingestEnv is the environment of a cloud-ingest-hdfs replica. The
// readings format under test is SENSORNODE_TEST_TEMPERATURE_FORMAT (jsonl,
// csv or avro; empty: the default).
func (e *env) ingestEnv() []string {
	vars := map[string]string{
		"SENSORNODE_ADMIN_ADDR":                  "127.0.0.1:0",
		"SENSORNODE_CLOUD_KAFKA_BROKERS":         e.st.CloudBootstrap(),
		"SENSORNODE_CLOUD_KAFKA_GROUP_ID":        e.prefix + "-ingest",
		"SENSORNODE_CLOUD_KAFKA_TOPICS":          e.cloudPic + "," + e.cloudTemp,
		"SENSORNODE_CLOUD_KAFKA_SESSION_TIMEOUT": "6s",
		"SENSORNODE_HDFS_NAMENODE_ADDR":          e.st.NameNodeAddr(),
		"SENSORNODE_HDFS_USER":                   devstack.HDFSUser(),
		"SENSORNODE_HDFS_TMP_DIR":                e.root + "/_tmp",
		"SENSORNODE_PICTURE_LAYOUT":              e.root + "/camera/{camera}/{yyyy}/{MM}/{dd}/{HH}{mm}{ss}-{key}.jpg",
		"SENSORNODE_PICTURE_STORE":               e.store,
		"SENSORNODE_PICTURE_BUNDLE_DIR":          e.bundleDir(),
		"SENSORNODE_PICTURE_BUNDLE_MAX_AGE":      bundleMaxAge,
		"SENSORNODE_TEMPERATURE_DIR_LAYOUT":      e.root + "/temperature/{node}/{yyyy}/{MM}/{dd}/{HH}",
		"SENSORNODE_TEMPERATURE_ROTATE_INTERVAL": "2s",
		"SENSORNODE_CHECK_INTERVAL":              "1s",
		"SENSORNODE_RETRY_MAX_INTERVAL":          "5s",
	}
	vars["SENSORNODE_TEMPERATURE_FORMAT"] = testFormat()
	return baseEnv(vars)
}

// simulateNodes produces, for each node concurrently, its 100 pictures to
// its picture topic and its readings to the temperature topic, one picture
// every pace (0: as fast as the producer takes them), and returns when the
// edge acknowledged everything.
func (e *env) simulateNodes(t *testing.T, pace time.Duration) {
	p, err := bus.NewProducer(bus.ProducerConfig{Config: bus.Config{Brokers: strings.Split(e.st.EdgeBootstrap(), ","), ClientID: "simulated-node"},
		Linger: 2 * time.Millisecond, MaxMessageBytes: 8 << 20, QueueMaxBytes: 64 << 20, DeliveryTimeout: 0})
	if err != nil {
		t.Error(err)
		return
	}
	defer p.Close()
	base := time.Date(2026, 6, 1, 9, 59, 30, 0, time.UTC) // crosses an hour
	var acks sync.WaitGroup
	var wg sync.WaitGroup
	for n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			node := fmt.Sprintf("node%d", n+1)
			for i := range picsPerNode {
				jpeg := e.pics.jpegs[n][i]
				pic := messages.NewPicture(messages.CameraID(n+1), node, base.Add(time.Duration(i)*700*time.Millisecond), jpeg)
				enc, err := messages.EncodePicture(pic, messages.FormBinary)
				if err != nil {
					t.Error(err)
					return
				}
				e.publish(t, p, &acks, bus.FromEncoded(e.nodeTopics[n], enc))
				e.mu.Lock()
				e.wantPics[pic.SHA256] = fmt.Sprintf("%s picture %d", node, i)
				e.mu.Unlock()
				for j := range readsPerNode / picsPerNode {
					k := i*(readsPerNode/picsPerNode) + j
					r := messages.TemperatureReading{NodeID: node, ReadAt: base.Add(time.Duration(k)*350*time.Millisecond + time.Duration(n*1000+k)),
						TemperatureCelsius: 40 + float64(k%50)/10, Source: "synthetic"}
					renc, err := messages.EncodeTemperature(r, messages.FormBinary)
					if err != nil {
						t.Error(err)
						return
					}
					e.publish(t, p, &acks, bus.FromEncoded(e.tempTopic, renc))
					e.mu.Lock()
					e.wantReads[r.Identity()] = true
					e.mu.Unlock()
				}
				if pace > 0 {
					time.Sleep(pace)
				}
			}
		}()
	}
	wg.Wait()
	acks.Wait()
}

// publish enqueues one message; the edge's acknowledgement records where
// it landed. The producer retries until acknowledged (no delivery timeout).
func (e *env) publish(t *testing.T, p bus.Producer, acks *sync.WaitGroup, m *bus.Message) {
	acks.Add(1)
	err := p.PublishAsync(context.Background(), m, func(d bus.Delivery) {
		defer acks.Done()
		if d.Err != nil {
			t.Errorf("simulated node: produce to %s: %v", m.Topic, d.Err)
			return
		}
		e.mu.Lock()
		tp := bus.TopicPartition{Topic: d.Topic, Partition: d.Partition}
		e.edgeEnd[tp] = max(e.edgeEnd[tp], d.Offset+1)
		e.mu.Unlock()
	})
	if err != nil {
		acks.Done()
		t.Errorf("simulated node: produce to %s: %v", m.Topic, err)
	}
}

// waitIngestBusy waits (briefly) until ingest has a backlog, so that the
// kill lands while it writes.
func (e *env) waitIngestBusy(t *testing.T) {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if e.ingest.metric(t, "sensornode_kafka_consumer_lag_messages") > 20 {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Log("ingest had no backlog of more than 20 messages; killing it anyway")
}

// ---------------------------------------------------------------- checks

type hdfsContent struct {
	// pictures: path -> sha256 (files store), or <bundle path>#<key> ->
	// sha256 (bundle store); the sha256 is zero when read without data.
	pictures map[string][32]byte
	readings map[string]int // identity (messages.ReadingIdentity) -> occurrences
	other    []string       // unexpected files
	bundles  []chaos.Bundle // committed bundles (bundle store)
	problems []string       // what could not be read back or disagrees with its index
}

func (e *env) read(t testing.TB, withData bool) hdfsContent {
	t.Helper()
	c, err := hdfs.NewClient(hdfs.ClientOptions{Addresses: []string{e.st.NameNodeAddr()}, User: devstack.HDFSUser()})
	if err != nil {
		t.Fatalf("hdfs: %v", err)
	}
	defer c.Close()
	out := hdfsContent{pictures: map[string][32]byte{}, readings: map[string]int{}}
	bundles := map[string]bundle.Span{}
	err = c.Walk(e.root, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			if os.IsNotExist(err) {
				return nil
			}
			return err
		}
		if fi.IsDir() {
			return nil
		}
		switch {
		case strings.HasPrefix(p, e.bundleDir()+"/"):
			e.walkBundle(p, bundles, &out)
		case strings.HasPrefix(p, e.root+"/camera/") && strings.HasSuffix(p, ".jpg"):
			var sum [32]byte
			if withData {
				b, err := c.ReadFile(p)
				if err != nil {
					return err
				}
				sum = sha256.Sum256(b)
			}
			out.pictures[p] = sum
		case p == e.root+"/temperature/"+archive.ReadingSchemaFile && testFormat() == archive.FormatAvro:
			// The Avro readings' schema.
		case strings.HasPrefix(p, e.root+"/temperature/") && strings.HasPrefix(path.Base(p), e.cloudTemp+"+") && isReadings(p):
			b, err := c.ReadFile(p)
			if err != nil {
				return err
			}
			format, _ := archive.FormatOf(p)
			rs, err := archive.DecodeReadings(b, format)
			if err != nil {
				return fmt.Errorf("%s: %w", p, err)
			}
			for _, r := range rs {
				out.readings[r.Identity()]++
			}
		default:
			out.other = append(out.other, p)
		}
		return nil
	})
	if err != nil && !os.IsNotExist(err) {
		t.Fatalf("walk %s: %v", e.root, err)
	}
	e.readBundles(c, bundles, &out, withData)
	return out
}

// isReadings reports whether p is a temperature file of the format under
// test (a file of another is unexpected).
func isReadings(p string) bool {
	f, ok := archive.FormatOf(p)
	return ok && f == testFormat()
}

// testFormat is the readings format under test:
// SENSORNODE_TEST_TEMPERATURE_FORMAT, else the default (jsonl).
func testFormat() string {
	if f := os.Getenv("SENSORNODE_TEST_TEMPERATURE_FORMAT"); f != "" {
		return f
	}
	return archive.FormatJSONL
}

// waitAllStored waits until HDFS holds as many pictures and readings as
// were sent, and both groups committed everything.
func (e *env) waitAllStored(t *testing.T, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		c := e.read(t, false)
		e.mu.Lock()
		np, nr := len(e.wantPics), len(e.wantReads)
		e.mu.Unlock()
		if len(c.pictures) >= np && len(c.readings) >= nr && e.edgeCommitted(t) && e.cloudCommitted(t) {
			t.Logf("all stored and committed after %v", time.Since(e.started).Round(time.Second))
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %d of %d pictures, %d of %d readings in HDFS (edge committed: %t, cloud committed: %t); not readable: %q",
				timeout, len(c.pictures), np, len(c.readings), nr, e.edgeCommitted(t), e.cloudCommitted(t), c.problems)
		}
		time.Sleep(2 * time.Second)
	}
}

// verify checks HDFS exactly: 500 pictures, each byte-identical to one
// source, no source twice; every reading exactly once; nothing else but an
// empty temporary directory; every committed cloud record covered
// (uncovered).
func (e *env) verify(t *testing.T) {
	t.Helper()
	// Let anything late (a duplicate being written) land before counting.
	time.Sleep(3 * time.Second)
	c := e.read(t, true)
	if want := nodes * picsPerNode; len(e.wantPics) != want || len(c.pictures) != want {
		t.Errorf("HDFS holds %d pictures, %d distinct were sent; want exactly %d", len(c.pictures), len(e.wantPics), want)
	}
	seen := map[[32]byte]string{}
	for p, sum := range c.pictures {
		if _, ok := e.wantPics[sum]; !ok {
			t.Errorf("%s is not byte-identical to any picture sent", p)
		}
		if other, dup := seen[sum]; dup {
			t.Errorf("picture stored twice: %s and %s", p, other)
		}
		seen[sum] = p
	}
	for sum, what := range e.wantPics {
		if _, ok := seen[sum]; !ok {
			t.Errorf("lost: %s", what)
		}
	}
	if want := nodes * readsPerNode; len(e.wantReads) != want {
		t.Errorf("%d distinct readings sent, want %d", len(e.wantReads), want)
	}
	for id := range e.wantReads {
		if n := c.readings[id]; n != 1 {
			t.Errorf("reading %s stored %d times, want exactly once", id, n)
		}
	}
	for id, n := range c.readings {
		if !e.wantReads[id] {
			t.Errorf("unexpected reading %s stored %d times", id, n)
		}
	}
	for _, p := range c.other {
		t.Errorf("unexpected file %s", p)
	}
	for _, p := range c.problems {
		t.Errorf("bundle not readable through its index: %s", p)
	}
	for _, p := range chaos.CheckBundles(c.bundles) {
		t.Errorf("bundles: %s", p)
	}
	if e.store == storeAvro && len(c.bundles) == 0 {
		t.Errorf("the bundle store committed no bundle")
	}
	dead, _, problems := e.deadLetters(t)
	for _, u := range append(problems, e.uncovered(t, c, dead)...) {
		t.Errorf("uncovered: %s", u)
	}
	dups := e.cloudMessages(t) - len(e.wantPics) - len(e.wantReads)
	t.Logf("HDFS (%s store): %d pictures (%d bundles), %d readings; the cloud topics hold %d duplicates (forwarded twice), all dropped by ingest",
		e.store, len(c.pictures), len(c.bundles), len(c.readings), dups)
}

func (e *env) admin(t *testing.T, bootstrap string) *kafka.AdminClient {
	t.Helper()
	a, err := kafka.NewAdminClient(&kafka.ConfigMap{"bootstrap.servers": bootstrap, "log_level": 3})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// committed is group's committed offsets on the cluster at bootstrap; an
// error is logged and reads as nothing committed, so that a wait goes on.
func committed(t *testing.T, bootstrap, group string) map[bus.TopicPartition]int64 {
	t.Helper()
	out, err := devstacktest.CommittedOffsets(bootstrap, group)
	if err != nil {
		t.Log(err)
		return map[bus.TopicPartition]int64{}
	}
	return out
}

// edgeCommitted reports whether the forwarder committed every edge
// partition to its end.
func (e *env) edgeCommitted(t *testing.T) bool {
	got := committed(t, e.st.EdgeBootstrap(), e.fwdGroup)
	e.mu.Lock()
	defer e.mu.Unlock()
	for tp, end := range e.edgeEnd {
		if got[tp] > end {
			t.Errorf("edge %s committed at %d, past its end %d", tp, got[tp], end)
		}
		if got[tp] != end {
			return false
		}
	}
	return true
}

// cloudEnds are the high watermarks of the cloud topics' partitions.
func (e *env) cloudEnds(t *testing.T, a *kafka.AdminClient) map[bus.TopicPartition]int64 {
	t.Helper()
	req := map[kafka.TopicPartition]kafka.OffsetSpec{}
	for _, topic := range []string{e.cloudPic, e.cloudTemp} {
		for p := range int32(3) {
			req[kafka.TopicPartition{Topic: &topic, Partition: p}] = kafka.LatestOffsetSpec
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := a.ListOffsets(ctx, req)
	out := map[bus.TopicPartition]int64{}
	if err != nil {
		t.Logf("list cloud offsets: %v", err)
		return out
	}
	for tp, info := range res.ResultInfos {
		out[bus.TopicPartition{Topic: *tp.Topic, Partition: tp.Partition}] = int64(info.Offset)
	}
	return out
}

// cloudCommitted reports whether ingest committed every cloud partition to
// its end.
func (e *env) cloudCommitted(t *testing.T) bool {
	a := e.admin(t, e.st.CloudBootstrap())
	defer a.Close()
	ends := e.cloudEnds(t, a)
	got := committed(t, e.st.CloudBootstrap(), e.prefix+"-ingest")
	if len(ends) == 0 {
		return false
	}
	for tp, end := range ends {
		if end > 0 && got[tp] != end {
			return false
		}
	}
	return true
}

// cloudMessages counts the messages in the cloud topics.
func (e *env) cloudMessages(t *testing.T) int {
	a := e.admin(t, e.st.CloudBootstrap())
	defer a.Close()
	n := int64(0)
	for _, end := range e.cloudEnds(t, a) {
		n += end
	}
	return int(n)
}
