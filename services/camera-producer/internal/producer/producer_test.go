package producer

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"image"
	_ "image/jpeg"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sensornode/sensornode/libs/bus"
	"github.com/sensornode/sensornode/libs/bus/bustest"
	"github.com/sensornode/sensornode/libs/messages"
	"github.com/sensornode/sensornode/libs/messages/jpegsynth"
	"github.com/sensornode/sensornode/libs/svc"
	"github.com/sensornode/sensornode/libs/svc/svctest"
	"github.com/sensornode/sensornode/services/camera-producer/internal/capture"
	"github.com/sensornode/sensornode/services/camera-producer/internal/spool"
)

func loadConfig(t *testing.T, env map[string]string) *Config {
	t.Helper()
	svctest.Setenv(t, env)
	cfg := DefaultConfig()
	if err := svc.LoadConfig(&cfg); err != nil {
		t.Fatal(err)
	}
	return &cfg
}

func TestConfig(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		check   func(c *Config) string
		wantErr string
	}{
		{name: "defaults from the node number", env: map[string]string{"SENSORNODE_NODE_ID": "node3"},
			check: func(c *Config) string {
				if c.CameraID != "C3" || c.Topic != "node3" || c.Dir != "/camera3" || c.QuarantineDir != "/camera3/.quarantine" ||
					c.MessageForm() != messages.FormBinary || c.Kafka.QueueMaxBytes != 4<<20 || c.Motion.Threshold != 2000 ||
					c.AdminAddr != ":9101" || c.LogLevel != "info" || c.ShutdownTimeout != 20*time.Second ||
					c.CheckInterval != 5*time.Second || c.CreateTopics || c.TopicReplicationFactor != 3 {
					return fmt.Sprintf("%+v", c)
				}
				return ""
			}},
		{name: "overrides", env: map[string]string{"SENSORNODE_NODE_ID": "edge-a", "SENSORNODE_CAMERA_ID": "CamA",
			"SENSORNODE_TOPIC": "pics", "SENSORNODE_DIR": "/pics", "SENSORNODE_FORM": "json"},
			check: func(c *Config) string {
				if c.CameraID != "CamA" || c.Topic != "pics" || c.MessageForm() != messages.FormJSON {
					return fmt.Sprintf("%+v", c)
				}
				return ""
			}},
		{name: "deprecated PING_INTERVAL still read", env: map[string]string{"SENSORNODE_PING_INTERVAL": "700ms"},
			check: func(c *Config) string {
				if c.CheckInterval != 700*time.Millisecond {
					return fmt.Sprintf("CheckInterval %v, want 700ms from SENSORNODE_PING_INTERVAL", c.CheckInterval)
				}
				return ""
			}},
		{name: "bad topic settings", env: map[string]string{"SENSORNODE_CREATE_TOPICS": "true", "SENSORNODE_TOPIC_MIN_INSYNC_REPLICAS": "4"},
			wantErr: "SENSORNODE_TOPIC_MIN_INSYNC_REPLICAS 4"},
		{name: "bad shutdown timeout", env: map[string]string{"SENSORNODE_SHUTDOWN_TIMEOUT": "0s"}, wantErr: "SENSORNODE_SHUTDOWN_TIMEOUT"},
		{name: "node id without number", env: map[string]string{"SENSORNODE_NODE_ID": "edge"}, wantErr: "has no node number"},
		{name: "bad form", env: map[string]string{"SENSORNODE_FORM": "xml"}, wantErr: "SENSORNODE_FORM"},
		{name: "bad source", env: map[string]string{"SENSORNODE_SOURCE": "ftp"}, wantErr: "SENSORNODE_SOURCE"},
		{name: "bad motion output", env: map[string]string{"SENSORNODE_SOURCE": "synthetic", "SENSORNODE_MOTION_OUTPUT_PICTURES": "most"}, wantErr: "output pictures"},
		{name: "bad guard", env: map[string]string{"SENSORNODE_DISK_GUARD_POLICY": "panic"}, wantErr: "DISK_GUARD_POLICY"},
		{name: "queue not above max message", env: map[string]string{"SENSORNODE_KAFKA_QUEUE_MAX_BYTES": "2097152"}, wantErr: "queue max bytes"},
		{name: "bad pattern", env: map[string]string{"SENSORNODE_NAME_TIME_PATTERNS": "%Y"}, wantErr: "lacks"},
		{name: "bad v4l2 format", env: map[string]string{"SENSORNODE_SOURCE": "camera", "SENSORNODE_V4L2_FORMAT": "h264"}, wantErr: "V4L2_FORMAT"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svctest.Setenv(t, tt.env)
			c := DefaultConfig()
			if !svctest.Succeeds(t, "LoadConfig()", svc.LoadConfig(&c), tt.wantErr) {
				return
			}
			if msg := tt.check(&c); msg != "" {
				t.Errorf("LoadConfig() = %s", msg)
			}
		})
	}
}

type service struct {
	t    *testing.T
	cfg  *Config
	cl   *bustest.Cluster
	prod *bustest.Producer
	reg  *prometheus.Registry
	// Set by setup functions, before the topic and the producer exist.
	topicMaxBytes string        // the topic's max.message.bytes
	linger        time.Duration // the producer's (time.Hour: holdAcks)
	addr          string
	stop          func() // stops Run and waits; a Run error fails the test
	mu            sync.Mutex
	acks          []string
}

func startService(t *testing.T, env map[string]string, opt Options, setup ...func(*service)) *service {
	t.Helper()
	base := map[string]string{
		"SENSORNODE_NODE_ID": "node2", "SENSORNODE_DIR": t.TempDir(), "SENSORNODE_ADMIN_ADDR": "127.0.0.1:0",
		"SENSORNODE_SETTLE_INTERVAL": "200ms", "SENSORNODE_PARTIAL_TIMEOUT": "1s", "SENSORNODE_RESCAN_INTERVAL": "500ms",
		"SENSORNODE_RETRY_MIN_INTERVAL": "50ms", "SENSORNODE_RETRY_MAX_INTERVAL": "200ms", "SENSORNODE_CHECK_INTERVAL": "100ms",
	}
	for k, v := range env {
		base[k] = v
	}
	cfg := loadConfig(t, base)
	s := &service{t: t, cfg: cfg, cl: bustest.NewCluster(), reg: prometheus.NewRegistry(),
		topicMaxBytes: "8388608", linger: cfg.Kafka.Linger}
	for _, f := range setup {
		f(s)
	}
	if !cfg.CreateTopics {
		if err := s.cl.CreateTopic(cfg.Topic, 1, map[string]string{"max.message.bytes": s.topicMaxBytes}); err != nil {
			t.Fatal(err)
		}
	}
	pc := cfg.Kafka
	pc.Linger = s.linger
	prod, err := s.cl.NewProducer(pc)
	if err != nil {
		t.Fatal(err)
	}
	s.prod = prod
	opt.Producer, opt.Admin = s.prod, s.cl.NewAdmin()
	opt.OnAck = func(it spool.Item, _ spool.Result) {
		s.mu.Lock()
		s.acks = append(s.acks, it.Name)
		s.mu.Unlock()
	}
	t.Cleanup(func() { s.prod.Close() }) // after Run stopped (cleanups run last first)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	s.addr, s.stop = svctest.StartListening(t, "Run", func(ctx context.Context, listening func(string)) error {
		opt.AdminListening = listening
		return Run(ctx, cfg, log, s.reg, opt)
	})
	return s
}

// holdAcks makes the producer hold every picture (no acknowledgement)
// until it is flushed: the test's Flush, or the service's on shutdown.
func holdAcks(s *service) { s.linger = time.Hour }

// published is what reached the topic.
func (s *service) published() []*bus.Message { return s.cl.Records(s.cfg.Topic) }

// inflight is the service's count of pictures awaiting acknowledgement.
func (s *service) inflight() float64 {
	return svctest.Metric(s.t, s.reg, "sensornode_camera_inflight_pictures")
}

var errDown = errors.New("test: all brokers down")

func (s *service) write(name string, data []byte) {
	s.t.Helper()
	if err := os.WriteFile(filepath.Join(s.cfg.Dir, name), data, 0o644); err != nil {
		s.t.Fatal(err)
	}
}

func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

func TestDirectoryPipeline(t *testing.T) {
	for _, form := range []string{"binary", "json"} {
		t.Run(form, func(t *testing.T) {
			s := startService(t, map[string]string{"SENSORNODE_FORM": form, "SENSORNODE_NAME_TIME_ZONE": "UTC"}, Options{}, holdAcks)
			pics := map[string][]byte{
				"20160512-134501.jpg":      jpegsynth.Picture(jpegsynth.Size320x188, 1),
				"01-20160512134502-00.jpg": jpegsynth.Picture(jpegsynth.Size640x480, 2),
				"plain.jpg":                jpegsynth.Picture(jpegsynth.Size320x188, 3),
			}
			for n, b := range pics {
				s.write(n, b)
			}
			svctest.Eventually(t, 5*time.Second, "3 pictures published", func() bool { return s.inflight() == 3 })
			for n := range pics {
				if !exists(filepath.Join(s.cfg.Dir, n)) {
					t.Errorf("%s deleted before its delivery was acknowledged", n)
				}
			}
			if err := s.prod.Flush(t.Context()); err != nil {
				t.Fatal(err)
			}
			svctest.Eventually(t, 5*time.Second, "files deleted after the acks", func() bool {
				for n := range pics {
					if exists(filepath.Join(s.cfg.Dir, n)) {
						return false
					}
				}
				return true
			})
			bySum := map[[32]byte]string{}
			for n, b := range pics {
				bySum[sha256.Sum256(b)] = n
			}
			for _, m := range s.published() {
				if m.Topic != "node2" {
					t.Errorf("topic = %q, want node2", m.Topic)
				}
				p, err := messages.DecodePicture(m.Value, m.Headers, 0)
				if err != nil {
					t.Fatalf("DecodePicture() = %v", err)
				}
				name, ok := bySum[sha256.Sum256(p.Data)]
				if !ok {
					t.Fatalf("published picture matches no file")
				}
				if p.CameraID != "C2" || string(m.Key) != p.Key() {
					t.Errorf("%s: camera %q key %q, want C2 and %q", name, p.CameraID, m.Key, p.Key())
				}
				want := map[string]string{"20160512-134501.jpg": "2016-05-12T13:45:01Z", "01-20160512134502-00.jpg": "2016-05-12T13:45:02Z"}[name]
				if got := p.CapturedAt.Format(time.RFC3339); want != "" && got != want {
					t.Errorf("%s: captured at %s, want %s", name, got, want)
				}
			}
			if got := svctest.Metric(t, s.reg, "sensornode_camera_pictures_sent_total"); got != 3 {
				t.Errorf("sent = %v, want 3", got)
			}
		})
	}
}

func TestFailedDeliveriesAreRetried(t *testing.T) {
	s := startService(t, nil, Options{})
	s.cl.Fail(bustest.Deliver, 3, errDown)
	pic := jpegsynth.Picture(jpegsynth.Size320x188, 4)
	s.write("a.jpg", pic)
	svctest.Eventually(t, 10*time.Second, "a.jpg delivered after 3 failures", func() bool { return len(s.published()) == 1 })
	svctest.Eventually(t, 5*time.Second, "a.jpg deleted", func() bool { return !exists(filepath.Join(s.cfg.Dir, "a.jpg")) })
	if got := svctest.Metric(t, s.reg, "sensornode_camera_send_retries_total"); got != 3 {
		t.Errorf("retries = %v, want 3", got)
	}
}

func TestTopicLimitQuarantinesTooLarge(t *testing.T) {
	small := jpegsynth.Picture(jpegsynth.Size320x188, 5)
	big := jpegsynth.Picture(jpegsynth.Size1280x720, 5)
	// The record limit becomes max.message.bytes - 4096 (headroom); the
	// small picture fits, the big one does not.
	s := startService(t, nil, Options{}, func(s *service) { s.topicMaxBytes = strconv.Itoa(len(small) + 4096 + 2048) })
	svctest.Eventually(t, 5*time.Second, "topic limit read", func() bool {
		return svctest.Metric(t, s.reg, "sensornode_camera_topic_max_message_bytes") == float64(len(small)+4096+2048)
	})
	s.write("small.jpg", small)
	s.write("big.jpg", big)
	svctest.Eventually(t, 5*time.Second, "big.jpg quarantined", func() bool {
		return exists(filepath.Join(s.cfg.Dir, ".quarantine", "big.jpg.reason"))
	})
	svctest.Eventually(t, 5*time.Second, "small.jpg sent", func() bool { return len(s.published()) == 1 })
	b, _ := os.ReadFile(filepath.Join(s.cfg.Dir, ".quarantine", "big.jpg.reason"))
	if !strings.Contains(string(b), "reason: too-large") {
		t.Errorf("reason file = %q", b)
	}
}

func TestReadiness(t *testing.T) {
	s := startService(t, map[string]string{"SENSORNODE_CREATE_TOPICS": "true"}, Options{})
	get := func() int {
		resp, err := http.Get("http://" + s.addr + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	svctest.Eventually(t, 5*time.Second, "ready", func() bool { return get() == 200 })
	created, _ := s.cl.TopicSpec("node2")
	if topics := s.cl.Topics(); len(topics) != 1 || topics[0] != "node2" || created.ReplicationFactor != 3 || created.Config["min.insync.replicas"] != "2" {
		t.Errorf("topics created = %v, node2: %+v", topics, created)
	}
	s.cl.Fail(bustest.Ping, bustest.Always, bus.ErrBrokersDown)
	svctest.Eventually(t, 5*time.Second, "not ready while brokers are down", func() bool { return get() == 503 })
	s.cl.Fail(bustest.Ping, 0, nil)
	svctest.Eventually(t, 5*time.Second, "ready again", func() bool { return get() == 200 })
}

// On shutdown, acknowledgements that arrive during the final flush still
// delete their files.
func TestShutdownFlushes(t *testing.T) {
	s := startService(t, nil, Options{}, holdAcks)
	s.write("a.jpg", jpegsynth.Picture(jpegsynth.Size320x188, 6))
	svctest.Eventually(t, 5*time.Second, "published", func() bool { return s.inflight() == 1 })
	s.stop()
	if exists(filepath.Join(s.cfg.Dir, "a.jpg")) {
		t.Errorf("a.jpg still there after a clean shutdown with its ack flushed")
	}
}

func TestSyntheticSource(t *testing.T) {
	s := startService(t, map[string]string{
		"SENSORNODE_SOURCE": "synthetic", "SENSORNODE_MOTION_WIDTH": "320", "SENSORNODE_MOTION_HEIGHT": "240",
		"SENSORNODE_MOTION_THRESHOLD": "500", "SENSORNODE_MOTION_EVENT_GAP": "500ms",
		"SENSORNODE_SYNTHETIC_EVENT_INTERVAL": "1500ms", "SENSORNODE_SYNTHETIC_EVENT_DURATION": "600ms",
	}, Options{})
	svctest.Eventually(t, 20*time.Second, "2 motion pictures sent", func() bool { return len(s.published()) >= 2 })
	for _, m := range s.published() {
		p, err := messages.DecodePicture(m.Value, m.Headers, 0)
		if err != nil {
			t.Fatal(err)
		}
		if p.CameraID != "C2" {
			t.Errorf("camera = %q", p.CameraID)
		}
	}
	if got := svctest.Metric(t, s.reg, "sensornode_camera_motion_events_total"); got < 2 {
		t.Errorf("motion events = %v, want >= 2", got)
	}
}

// fakeCamera plays a scripted sequence: a static scene, an object passing
// (frames 5..14), then the stream fails, as an unplugged camera would.
type fakeCamera struct {
	scene *jpegsynth.Scene
	i     int
	opens *int
}

var errUnplugged = errors.New("fake camera unplugged")

func (c *fakeCamera) Next(ctx context.Context) (capture.Frame, error) {
	if err := ctx.Err(); err != nil {
		return capture.Frame{}, err
	}
	if c.i >= 25 {
		return capture.Frame{}, errUnplugged
	}
	c.i++
	if c.i >= 5 && c.i < 15 {
		c.scene.Objects = []jpegsynth.Object{{X: float64(20 * (c.i - 5)), Y: 120, R: 40, Gray: 235}}
	} else {
		c.scene.Objects = nil
	}
	b, err := c.scene.JPEG(c.i, 85)
	if err != nil {
		return capture.Frame{}, err
	}
	return capture.Frame{Time: time.Unix(1700000000, 0).Add(time.Duration(*c.opens*100+c.i) * 100 * time.Millisecond),
		Format: capture.FormatJPEG, Width: 320, Height: 240, Data: b}, nil
}

func (c *fakeCamera) Close() error { return nil }

func TestCameraSource(t *testing.T) {
	var mu sync.Mutex
	opens := 0
	open := func(context.Context) (capture.FrameSource, error) {
		mu.Lock()
		defer mu.Unlock()
		opens++
		return &fakeCamera{scene: jpegsynth.NewScene(320, 240, uint64(opens)), opens: &opens}, nil
	}
	s := startService(t, map[string]string{
		"SENSORNODE_SOURCE": "camera", "SENSORNODE_MOTION_WIDTH": "320", "SENSORNODE_MOTION_HEIGHT": "240",
		"SENSORNODE_MOTION_THRESHOLD": "500", "SENSORNODE_MOTION_EVENT_GAP": "500ms",
	}, Options{OpenCamera: open})
	// Each stream of 25 frames has one event; the camera "fails" after
	// each and is reopened.
	svctest.Eventually(t, 20*time.Second, "pictures from 2 streams", func() bool { return len(s.published()) >= 2 })
	mu.Lock()
	n := opens
	mu.Unlock()
	if n < 2 {
		t.Errorf("camera opened %d times, want >= 2 (reopened after failing)", n)
	}
	for _, m := range s.published() {
		p, err := messages.DecodePicture(m.Value, m.Headers, 0)
		if err != nil {
			t.Fatal(err)
		}
		if b := jpegBounds(t, p.Data); b != image.Rect(0, 0, 320, 240) {
			t.Errorf("picture bounds = %v", b)
		}
	}
}

func jpegBounds(t *testing.T, b []byte) image.Rectangle {
	t.Helper()
	img, _, err := image.Decode(strings.NewReader(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	return img.Bounds()
}
