package agent

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sensornode/sensornode/libs/bus"
	"github.com/sensornode/sensornode/libs/svc"
	"github.com/sensornode/sensornode/libs/svc/svctest"
)

// baseEnv is what a node's three containers set between them, enough for
// every service's Validate.
func baseEnv(t *testing.T) map[string]string {
	dir := t.TempDir()
	return map[string]string{
		"SENSORNODE_NODE_ID":       "node3",
		"SENSORNODE_KAFKA_BROKERS": "127.0.0.1:1",
		"SENSORNODE_DIR":           dir,
		"SENSORNODE_MASTERS":       "http://127.0.0.1:1",
		"SENSORNODE_PROBE_MODE":    "http",
		"SENSORNODE_NODE_NAME":     "rpi-node-3",
		"SENSORNODE_HOOK_COMMAND":  "true",
		"SENSORNODE_ADMIN_ADDR":    "127.0.0.1:0",
	}
}

func load(t *testing.T, env map[string]string) (Config, Loaded, error) {
	t.Helper()
	svctest.Setenv(t, env)
	cfg := DefaultConfig()
	if err := svc.LoadConfig(&cfg); err != nil {
		return cfg, Loaded{}, err
	}
	l, err := Load(&cfg)
	return cfg, l, err
}

func TestLoad(t *testing.T) {
	tests := []struct {
		name    string
		give    map[string]string // over baseEnv
		want    func(c Config, l Loaded) string
		wantErr string
	}{
		{
			name: "defaults: all three, shared names apply to each",
			want: func(c Config, l Loaded) string {
				switch {
				case l.Camera == nil || l.Temp == nil || l.Watcher == nil:
					return "not all three loaded"
				case l.Camera.Topic != "node3" || l.Temp.Topic != "temperatureLocal":
					return "topics " + l.Camera.Topic + ", " + l.Temp.Topic
				case l.Camera.NodeID != "node3" || l.Temp.NodeID != "node3":
					return "node ids"
				case !c.ShareKafka || c.AdminAddr != "127.0.0.1:0":
					return "agent config"
				}
				return ""
			},
		},
		{
			name: "scoped names: one variable, two meanings",
			give: map[string]string{
				"SENSORNODE_TOPIC":                   "ignored-by-both",
				"SENSORNODE_CAMERA_PRODUCER_TOPIC":   "pictures3",
				"SENSORNODE_TEMP_PRODUCER_TOPIC":     "temps",
				"SENSORNODE_CAMERA_PRODUCER_SOURCE":  "synthetic",
				"SENSORNODE_TEMP_PRODUCER_SOURCE":    "file",
				"SENSORNODE_TEMP_PRODUCER_LOG_LEVEL": "debug",
			},
			want: func(_ Config, l Loaded) string {
				switch {
				case l.Camera.Topic != "pictures3" || l.Temp.Topic != "temps":
					return "topics " + l.Camera.Topic + ", " + l.Temp.Topic
				case l.Camera.Source != "synthetic" || l.Temp.Source != "file" || l.Temp.FilePath != "/temp3":
					return "sources " + l.Camera.Source + ", " + l.Temp.Source + ", " + l.Temp.FilePath
				case l.Temp.LogLevel != "debug" || l.Camera.LogLevel != "info":
					return "log levels " + l.Camera.LogLevel + ", " + l.Temp.LogLevel
				}
				return ""
			},
		},
		{
			name: "a scoped variable leaves the environment as it was",
			give: map[string]string{"SENSORNODE_CAMERA_PRODUCER_FORM": "json"},
			want: func(_ Config, l Loaded) string {
				if _, set := os.LookupEnv("SENSORNODE_FORM"); set || l.Camera.Form != "json" || l.Temp.Form != "binary" {
					return "forms " + l.Camera.Form + ", " + l.Temp.Form
				}
				return ""
			},
		},
		{
			name:    "a subset",
			give:    map[string]string{"SENSORNODE_NODE_AGENT_SERVICES": "temp-producer,master-watcher", "SENSORNODE_MASTERS": "", "SENSORNODE_DIR": ""},
			wantErr: "master-watcher: config",
		},
		{
			name: "a subset without a camera",
			give: map[string]string{"SENSORNODE_NODE_AGENT_SERVICES": "temp-producer"},
			want: func(_ Config, l Loaded) string {
				if l.Camera != nil || l.Watcher != nil || l.Temp == nil {
					return "loaded the wrong services"
				}
				return ""
			},
		},
		{
			name:    "unknown service",
			give:    map[string]string{"SENSORNODE_NODE_AGENT_SERVICES": "camera-producer,edge-forwarder"},
			wantErr: `unknown service "edge-forwarder"`,
		},
		{
			name:    "a service's error names it",
			give:    map[string]string{"SENSORNODE_TEMP_PRODUCER_SOURCE": "camera"},
			wantErr: `temp-producer: config: invalid configuration: SENSORNODE_SOURCE "camera"`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := baseEnv(t)
			for k, v := range tt.give {
				env[k] = v
			}
			c, l, err := load(t, env)
			if !svctest.Succeeds(t, "Load", err, tt.wantErr) {
				return
			}
			if msg := tt.want(c, l); msg != "" {
				t.Errorf("Load: %s", msg)
			}
		})
	}
}

func TestKnownEnv(t *testing.T) {
	env := baseEnv(t)
	env["SENSORNODE_CAMERA_PRODUCER_TOPIC"] = "x"
	env["SENSORNODE_MASTER_WATCHER_PROBE_MODE"] = "tcp"
	env["SENSORNODE_TEMP_PRODUCER_TOPPIC"] = "typo"
	env["SENSORNODE_TOPPIC"] = "typo"
	svctest.Setenv(t, env)
	cfg := DefaultConfig()
	var got []string // of the variables set here (the test runner may set others)
	for _, k := range svc.UnknownEnv(&cfg) {
		if _, ok := env[k]; ok {
			got = append(got, k)
		}
	}
	want := []string{"SENSORNODE_TEMP_PRODUCER_TOPPIC", "SENSORNODE_TOPPIC"}
	if !slices.Equal(got, want) {
		t.Errorf("UnknownEnv = %v, want %v", got, want)
	}
}

func TestSharedProducer(t *testing.T) {
	cam, temp := bus.DefaultProducerConfig(), bus.DefaultProducerConfig()
	cam.Brokers, temp.Brokers = []string{"a:1"}, []string{"a:1"}
	cam.MaxMessageBytes, cam.QueueMaxBytes = 2<<20, 4<<20
	temp.MaxMessageBytes, temp.QueueMaxBytes = 64<<10, 1<<20
	tests := []struct {
		name    string
		change  func(cam, temp *bus.ProducerConfig)
		want    bus.ProducerConfig // compared when ok
		wantWhy string             // "" ok
	}{
		{
			name: "defaults of the two services",
			want: func() bus.ProducerConfig {
				w := cam
				w.QueueMaxBytes, w.QueueMaxMessages = 5<<20, 2*bus.DefaultQueueMaxMessages
				return w
			}(),
		},
		{
			name:   "explicit message counts are summed",
			change: func(c, tp *bus.ProducerConfig) { c.QueueMaxMessages, tp.QueueMaxMessages = 100, 0 },
			want: func() bus.ProducerConfig {
				w := cam
				w.QueueMaxBytes, w.QueueMaxMessages = 5<<20, 100+bus.DefaultQueueMaxMessages
				return w
			}(),
		},
		{
			name:    "other brokers",
			change:  func(_, tp *bus.ProducerConfig) { tp.Brokers = []string{"b:1"} },
			wantWhy: "settings differ: connection",
		},
		{
			name:    "other backend and linger",
			change:  func(c, tp *bus.ProducerConfig) { c.Backend, tp.Linger = bus.BackendFranz, time.Second },
			wantWhy: "settings differ: connection (SENSORNODE_KAFKA_BROKERS, _BACKEND, security ...), SENSORNODE_KAFKA_LINGER",
		},
		{
			name:    "other delivery timeout",
			change:  func(c, _ *bus.ProducerConfig) { c.DeliveryTimeout = time.Hour },
			wantWhy: "settings differ: SENSORNODE_KAFKA_DELIVERY_TIMEOUT",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, tp := cam, temp
			c.Brokers, tp.Brokers = slices.Clone(cam.Brokers), slices.Clone(temp.Brokers)
			if tt.change != nil {
				tt.change(&c, &tp)
			}
			got, ok, why := SharedProducer(c, tp)
			if tt.wantWhy != "" {
				if ok || !strings.HasPrefix(why, tt.wantWhy) {
					t.Errorf("SharedProducer = ok %v, %q, want not ok, %q", ok, why, tt.wantWhy)
				}
				return
			}
			if !ok {
				t.Fatalf("SharedProducer: not ok: %s", why)
			}
			if got.QueueMaxBytes != tt.want.QueueMaxBytes || got.QueueMaxMessages != tt.want.QueueMaxMessages ||
				got.MaxMessageBytes != tt.want.MaxMessageBytes || got.Linger != tt.want.Linger {
				t.Errorf("SharedProducer = %+v, want %+v", got, tt.want)
			}
			if err := got.Validate(); err != nil {
				t.Errorf("shared config invalid: %v", err)
			}
		})
	}
}

// One service that cannot start (the camera's directory is a file) stops
// the whole process, the others included, with an error naming it; the
// one admin server answered before.
func TestRunStopsWhenOneServiceFails(t *testing.T) {
	env := baseEnv(t)
	notDir := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(notDir, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	env["SENSORNODE_DIR"] = notDir
	cfg, l, err := load(t, env)
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	done := make(chan error, 1)
	go func() { done <- Run(context.Background(), &cfg, l, log, reg, io.Discard, Options{}) }()
	select {
	case err := <-done:
		if err == nil || !strings.HasPrefix(err.Error(), "camera-producer: ") {
			t.Errorf("Run = %v, want an error from camera-producer", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("Run still running a minute after camera-producer failed")
	}
}

// With every service running (brokers and masters unreachable), /readyz
// names each service's unmet conditions, /metrics has each service's
// metrics labelled with its name and the process's own once, and a
// cancelled context stops everything.
func TestRunAdmin(t *testing.T) {
	cfg, l, err := load(t, baseEnv(t))
	if err != nil {
		t.Fatal(err)
	}
	reg := svc.NewRegistry(svc.ReadBuildInfo(Name))
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	addr, stop := svctest.StartListening(t, "Run", func(ctx context.Context, listening func(string)) error {
		return Run(ctx, &cfg, l, log, reg, io.Discard, Options{AdminListening: listening})
	})
	defer stop()
	resp, err := http.Get("http://" + addr + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("/readyz = %d, want 503", resp.StatusCode)
	}
	for _, want := range []string{"camera-producer: ", "temp-producer: ", "master-watcher: "} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/readyz %q lacks %q", body, want)
		}
	}
	// The services register their metrics as their Run starts.
	wants := []string{
		`sensornode_ready{condition="kafka",service="camera-producer"}`,
		`sensornode_ready{condition="kafka",service="temp-producer"}`,
		`sensornode_camera_max_picture_bytes{service="camera-producer"}`,
		`sensornode_temp_buffered_readings{service="temp-producer"}`,
		`service="master-watcher"`,
		`client="node-agent"`,
		`sensornode_build_info{`,
	}
	var metrics []byte
	svctest.EventuallyNoError(t, time.Minute, "every service's metrics", func() error {
		resp, err := http.Get("http://" + addr + "/metrics")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		metrics, _ = io.ReadAll(resp.Body)
		for _, want := range wants {
			if !strings.Contains(string(metrics), want) {
				return fmt.Errorf("/metrics lacks %s", want)
			}
		}
		return nil
	})
	if n := strings.Count(string(metrics), "\ngo_goroutines "); n != 1 {
		t.Errorf("/metrics has go_goroutines %d times, want once", n)
	}
}
