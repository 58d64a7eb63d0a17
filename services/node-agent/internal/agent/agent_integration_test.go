//go:build integration

package agent

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sensornode/sensornode/libs/bus"
	"github.com/sensornode/sensornode/libs/fleetview"
	"github.com/sensornode/sensornode/libs/messages"
	"github.com/sensornode/sensornode/libs/messages/jpegsynth"
	"github.com/sensornode/sensornode/libs/svc"
	"github.com/sensornode/sensornode/libs/svc/svctest"
	"github.com/sensornode/sensornode/libs/zkconn"
	"github.com/sensornode/sensornode/tools/devstack"
	"github.com/sensornode/sensornode/tools/devstack/devstacktest"
)

// records counts the records of a topic, read from its start.
type records struct {
	mu   sync.Mutex
	keys map[string]int
	bad  []error
}

func (r *records) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, c := range r.keys {
		n += c
	}
	return n
}

func consume(t *testing.T, st *devstack.Stack, topic string, decode func(*bus.Message) error) *records {
	t.Helper()
	r := &records{keys: map[string]int{}}
	devstacktest.Consume(t, bus.ConsumerConfig{
		Config:  bus.Config{Brokers: strings.Split(st.EdgeBootstrap(), ","), ClientID: "node-agent-test"},
		GroupID: topic + "-check", Topics: []string{topic}, MaxFetchBytes: 8 << 20, QueueMaxBytes: 16 << 20, SessionTimeout: 10 * time.Second,
	}, func(m *bus.Message) {
		err := decode(m)
		r.mu.Lock()
		defer r.mu.Unlock()
		if err != nil {
			r.bad = append(r.bad, err)
			return
		}
		r.keys[string(m.Key)]++
	})
	return r
}

// The combined process on the devstack: pictures dropped in the camera
// directory and synthetic readings reach their edge topics through the one
// shared Kafka producer, master-watcher publishes the node's view in
// ZooKeeper, /readyz turns ready, and both producers read SENSORNODE_TOPIC
// and SENSORNODE_SOURCE under their own scoped names.
func TestIntegrationNodeAgent(t *testing.T) {
	st := devstacktest.Stack(t)
	picTopic := devstacktest.UniqueTopic(t, "node3")
	tempTopic := devstacktest.UniqueTopic(t, "temperatureLocal")
	devstacktest.CreateTopic(t, st.EdgeBootstrap(), picTopic, 1, 3)
	devstacktest.CreateTopic(t, st.EdgeBootstrap(), tempTopic, 3, 3)
	pics := consume(t, st, picTopic, func(m *bus.Message) error {
		_, err := messages.DecodePicture(m.Value, m.Headers, 0)
		return err
	})
	temps := consume(t, st, tempTopic, func(m *bus.Message) error {
		_, err := messages.DecodeTemperature(m.Value, m.Headers)
		return err
	})
	master := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") }))
	defer master.Close()
	servers := st.ZooKeeperServers()
	base := "/sensornode-test/" + devstacktest.UniqueTopic(t, "node-agent")
	viewRoot := base + "/masters"
	dir := t.TempDir()

	svctest.Setenv(t, map[string]string{
		"SENSORNODE_ADMIN_ADDR":    "127.0.0.1:0",
		"SENSORNODE_NODE_ID":       "node3",
		"SENSORNODE_KAFKA_BROKERS": st.EdgeBootstrap(),
		"SENSORNODE_KAFKA_BACKEND": devstacktest.KafkaBackend(),
		// One name, two meanings: scoped per service.
		"SENSORNODE_CAMERA_PRODUCER_TOPIC":           picTopic,
		"SENSORNODE_TEMP_PRODUCER_TOPIC":             tempTopic,
		"SENSORNODE_CAMERA_PRODUCER_SOURCE":          "directory",
		"SENSORNODE_TEMP_PRODUCER_SOURCE":            "synthetic",
		"SENSORNODE_DIR":                             dir,
		"SENSORNODE_SETTLE_INTERVAL":                 "200ms",
		"SENSORNODE_READ_INTERVAL":                   "100ms",
		"SENSORNODE_MASTERS":                         master.URL,
		"SENSORNODE_PROBE_MODE":                      "http",
		"SENSORNODE_PROBE_INTERVAL":                  "100ms",
		"SENSORNODE_NODE_NAME":                       "rpi-node-3",
		"SENSORNODE_ZOOKEEPER_SERVERS":               strings.Join(servers, ","),
		"SENSORNODE_ZOOKEEPER_VIEW_PATH":             viewRoot,
		"SENSORNODE_ZOOKEEPER_CHECK_INTERVAL":        "200ms",
		"SENSORNODE_MASTER_WATCHER_SHUTDOWN_TIMEOUT": "5s",
	})
	cfg := DefaultConfig()
	if err := svc.LoadConfig(&cfg); err != nil {
		t.Fatal(err)
	}
	l, err := Load(&cfg)
	if err != nil {
		t.Fatal(err)
	}
	reg := svc.NewRegistry(svc.ReadBuildInfo(Name))
	var logs svctest.SyncBuffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("log:\n%s", logs.String())
		}
	})
	addr, stop := svctest.StartListening(t, "Run", func(ctx context.Context, listening func(string)) error {
		return Run(ctx, &cfg, l, log, reg, &logs, Options{AdminListening: listening})
	})
	defer stop()

	const n = 5
	for i := range n {
		name := filepath.Join(dir, fmt.Sprintf("C3-20261208120%03d-%02d-00.jpg", i, i))
		if err := os.WriteFile(name, jpegsynth.Picture(jpegsynth.Size320x188, uint64(i+1)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	svctest.Eventually(t, 2*time.Minute, "every picture on the topic", func() bool { return pics.count() >= n })
	svctest.Eventually(t, time.Minute, "readings on the topic", func() bool { return temps.count() >= 3 })
	svctest.EventuallyNoError(t, time.Minute, "/readyz 200", func() error {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%d %s", resp.StatusCode, b)
		}
		return nil
	})
	conn, err := zkconn.Connect(t.Context(), servers, 10*time.Second, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	svctest.EventuallyNoError(t, time.Minute, "the node's view in ZooKeeper", func() error {
		views, _, err := fleetview.ReadViews(conn, viewRoot)
		if err != nil {
			return err
		}
		if len(views) != 1 || views[0].Node != "rpi-node-3" || views[0].Active != master.URL || !views[0].Ready {
			return fmt.Errorf("views %+v", views)
		}
		return nil
	})
	stop()
	entries, err := os.ReadDir(dir)
	var names []string
	for _, e := range entries {
		if !e.IsDir() { // the spool's .quarantine aside
			names = append(names, e.Name())
		}
	}
	if err != nil || len(names) != 0 {
		t.Errorf("camera directory after delivery: %v %v, want empty (every picture acknowledged and deleted)", names, err)
	}
	pics.mu.Lock()
	for k := range pics.keys {
		if !strings.HasPrefix(k, "C3-") {
			t.Errorf("picture key %q, want the camera's C3-...", k)
		}
	}
	if len(pics.bad) > 0 || len(pics.keys) != n {
		t.Errorf("pictures: %d distinct, undecodable %v, want %d", len(pics.keys), pics.bad, n)
	}
	pics.mu.Unlock()
	temps.mu.Lock()
	if len(temps.bad) > 0 || len(temps.keys) != 1 || temps.keys["node3"] == 0 {
		t.Errorf("readings: keys %v, undecodable %v, want all keyed node3", temps.keys, temps.bad)
	}
	temps.mu.Unlock()
	for _, p := range []string{viewRoot, base} {
		if err := conn.Delete(p, -1); err != nil {
			t.Logf("cleanup %s: %v", p, err)
		}
	}
}
