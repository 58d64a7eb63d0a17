package temperature

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sensornode/sensornode/libs/bus"
	"github.com/sensornode/sensornode/libs/bus/bustest"
	"github.com/sensornode/sensornode/libs/messages"
	"github.com/sensornode/sensornode/libs/svc"
	"github.com/sensornode/sensornode/libs/svc/svctest"
)

// script is a Source answering from a list, then ErrUnchanged.
type script struct {
	mu    sync.Mutex
	items []any // float64 or error
	t0    time.Time
	n     int
}

func (s *script) Name() string { return "script" }

func (s *script) Read(context.Context) (Reading, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.n >= len(s.items) {
		return Reading{}, ErrUnchanged
	}
	it := s.items[s.n]
	s.n++
	at := s.t0.Add(time.Duration(s.n) * time.Second)
	if err, ok := it.(error); ok {
		return Reading{Raw: "junk"}, err
	}
	return Reading{Celsius: it.(float64), At: at, Raw: fmt.Sprint(it)}, nil
}

func (s *script) done() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n >= len(s.items)
}

func loadConfig(t *testing.T, env map[string]string) *Config {
	t.Helper()
	svctest.Setenv(t, map[string]string{"SENSORNODE_NODE_ID": "node3", "SENSORNODE_ADMIN_ADDR": "127.0.0.1:0",
		"SENSORNODE_READ_INTERVAL": "10ms", "SENSORNODE_CHECK_INTERVAL": "50ms",
		"SENSORNODE_RETRY_MIN_INTERVAL": "20ms", "SENSORNODE_RETRY_MAX_INTERVAL": "50ms"})
	svctest.Setenv(t, env) // over the defaults above
	cfg := DefaultConfig()
	if err := svc.LoadConfig(&cfg); err != nil {
		t.Fatal(err)
	}
	return &cfg
}

type running struct {
	reg  *prometheus.Registry
	stop func() // cancels Run and waits; a Run error fails the test
}

// broker is an in-memory Kafka cluster with the node's topic and a
// producer of it.
type broker struct {
	cl   *bustest.Cluster
	prod *bustest.Producer
}

func newBroker(t *testing.T, cfg *Config) *broker {
	t.Helper()
	cl := bustest.NewCluster(bustest.SeedTopics(1, cfg.Topic))
	prod, err := cl.NewProducer(cfg.Kafka)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = prod.Close() })
	return &broker{cl: cl, prod: prod}
}

var errDown = errors.New("test: all brokers down")

// setDown makes every delivery fail at once (as after a delivery timeout)
// and every ping fail, or neither.
func (b *broker) setDown(down bool) {
	if down {
		b.cl.Fail(bustest.Deliver, bustest.Always, errDown)
		b.cl.Fail(bustest.Ping, bustest.Always, bus.ErrBrokersDown)
		return
	}
	b.cl.Fail(bustest.Deliver, 0, nil)
	b.cl.Fail(bustest.Ping, 0, nil)
}

func start(t *testing.T, cfg *Config, prod bus.Producer, src Source) *running {
	t.Helper()
	r := &running{reg: prometheus.NewRegistry()}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	r.stop = svctest.Start(t, "Run", func(ctx context.Context) error {
		return Run(ctx, cfg, log, r.reg, Options{Producer: prod, Source: src})
	})
	return r
}

func decodeAll(t *testing.T, b *broker) []messages.TemperatureReading {
	t.Helper()
	var out []messages.TemperatureReading
	for _, m := range b.cl.Records(messages.TopicLocalTemperature) {
		r, err := messages.DecodeTemperature(m.Value, m.Headers)
		if err != nil {
			t.Fatalf("DecodeTemperature() = %v", err)
		}
		if string(m.Key) != "node3" || m.Topic != "temperatureLocal" {
			t.Errorf("key %q topic %q, want node3 and temperatureLocal", m.Key, m.Topic)
		}
		out = append(out, r)
	}
	return out
}

func TestRunSendsPlausibleReadings(t *testing.T) {
	for _, form := range []string{"binary", "json"} {
		t.Run(form, func(t *testing.T) {
			cfg := loadConfig(t, map[string]string{"SENSORNODE_FORM": form})
			b := newBroker(t, cfg)
			src := &script{t0: time.Unix(1700000000, 0), items: []any{
				48.3, fmt.Errorf("%w: %q", ErrUnparsable, "temp=abc"), 200.0, fmt.Errorf("%w: exit 1", ErrSource), -60.0, 51.25,
			}}
			r := start(t, cfg, b.prod, src)
			svctest.Eventually(t, 5*time.Second, "script read and 2 readings sent", func() bool {
				return src.done() && svctest.Metric(t, r.reg, "sensornode_temp_readings_sent_total") == 2
			})
			r.stop()
			got := decodeAll(t, b)
			if len(got) != 2 || got[0].TemperatureCelsius != 48.3 || got[1].TemperatureCelsius != 51.25 {
				t.Fatalf("sent %+v, want 48.3 and 51.25", got)
			}
			if got[0].Source != "script" || !got[0].ReadAt.Equal(time.Unix(1700000001, 0)) {
				t.Errorf("reading = %+v", got[0])
			}
			for reason, want := range map[string]float64{ReasonUnparsable: 1, ReasonImplausible: 2, ReasonSource: 1} {
				if got := svctest.Metric(t, r.reg, "sensornode_temp_readings_rejected_total", "reason", reason); got != want {
					t.Errorf("rejected{%s} = %v, want %v", reason, got, want)
				}
			}
			if got := svctest.Metric(t, r.reg, "sensornode_temp_last_reading_celsius"); got != 51.25 {
				t.Errorf("last reading = %v, want 51.25", got)
			}
		})
	}
}

// Brokers down: readings wait (on disk too); the service restarts during
// the outage; when the brokers return every reading taken is sent.
func TestRunOutageWithSpoolAcrossRestart(t *testing.T) {
	spool := t.TempDir()
	cfg := loadConfig(t, map[string]string{"SENSORNODE_SPOOL_DIR": spool})
	b := newBroker(t, cfg)
	b.setDown(true)
	var items []any
	for i := 0; i < 40; i++ {
		items = append(items, 40+float64(i)/10)
	}
	src := &script{t0: time.Unix(1700000000, 0), items: items[:25]}
	r := start(t, cfg, b.prod, src)
	svctest.Eventually(t, 5*time.Second, "25 readings buffered and failing", func() bool {
		return src.done() && svctest.Metric(t, r.reg, "sensornode_temp_buffered_readings") == 25 &&
			svctest.Metric(t, r.reg, "sensornode_temp_readings_failed_total") >= 25
	})
	r.stop() // restart during the outage

	b.setDown(false)
	src2 := &script{t0: time.Unix(1700000000, 0).Add(25 * time.Second), items: items[25:]}
	r2 := start(t, cfg, b.prod, src2)
	svctest.Eventually(t, 10*time.Second, "all 40 readings sent", func() bool {
		return src2.done() && svctest.Metric(t, r2.reg, "sensornode_temp_readings_sent_total") == 40
	})
	r2.stop()
	got := map[float64]int{}
	for _, rd := range decodeAll(t, b) {
		got[rd.TemperatureCelsius]++
	}
	for _, it := range items {
		if got[it.(float64)] != 1 {
			t.Errorf("reading %v sent %d times, want once", it, got[it.(float64)])
		}
	}
}

func TestRunBufferBound(t *testing.T) {
	cfg := loadConfig(t, map[string]string{"SENSORNODE_BUFFER_MAX_READINGS": "5"})
	b := newBroker(t, cfg)
	b.setDown(true)
	var items []any
	for i := 0; i < 20; i++ {
		items = append(items, 40.0+float64(i))
	}
	src := &script{t0: time.Unix(1700000000, 0), items: items}
	r := start(t, cfg, b.prod, src)
	svctest.Eventually(t, 5*time.Second, "script read", src.done)
	svctest.Eventually(t, 5*time.Second, "15 dropped", func() bool {
		return svctest.Metric(t, r.reg, "sensornode_temp_readings_dropped_total", "reason", "buffer-full") == 15
	})
	if got := svctest.Metric(t, r.reg, "sensornode_temp_buffered_readings"); got != 5 {
		t.Errorf("buffered = %v, want 5", got)
	}
	b.setDown(false)
	svctest.Eventually(t, 5*time.Second, "the 5 newest sent", func() bool { return svctest.Metric(t, r.reg, "sensornode_temp_readings_sent_total") == 5 })
	r.stop()
	got := decodeAll(t, b)
	var vals []string
	for _, g := range got {
		vals = append(vals, fmt.Sprint(g.TemperatureCelsius))
	}
	sort.Strings(vals) // retries are not ordered
	if strings.Join(vals, ",") != "55,56,57,58,59" {
		t.Errorf("sent %v, want the newest five", vals)
	}
}

func TestConfig(t *testing.T) {
	cfg := loadConfig(t, map[string]string{"SENSORNODE_SOURCE": "file"})
	if cfg.FilePath != "/temp3" || cfg.Topic != messages.TopicLocalTemperature || cfg.AdminAddr != "127.0.0.1:0" {
		t.Errorf("config = %+v", cfg)
	}
	t.Run("deprecated PING_INTERVAL", func(t *testing.T) {
		t.Setenv("SENSORNODE_PING_INTERVAL", "700ms")
		t.Setenv("SENSORNODE_CHECK_INTERVAL", "") // restored after the test
		os.Unsetenv("SENSORNODE_CHECK_INTERVAL")
		c := DefaultConfig()
		if err := svc.LoadConfig(&c); err != nil || c.CheckInterval != 700*time.Millisecond {
			t.Errorf("LoadConfig() = %v, CheckInterval %v; want 700ms from SENSORNODE_PING_INTERVAL", err, c.CheckInterval)
		}
		if c.ShutdownTimeout != 20*time.Second || c.TopicReplicationFactor != 3 {
			t.Errorf("defaults: %+v", c)
		}
	})
	for k, v := range map[string]string{"SENSORNODE_SOURCE": "thermometer", "SENSORNODE_FORM": "xml", "SENSORNODE_NODE_ID": "bad id",
		"SENSORNODE_SHUTDOWN_TIMEOUT": "-1s"} {
		t.Run(k, func(t *testing.T) {
			t.Setenv(k, v)
			c := DefaultConfig()
			if err := svc.LoadConfig(&c); err == nil || !strings.Contains(err.Error(), k) {
				t.Errorf("LoadConfig(%s=%s) = %v, want an error naming it", k, v, err)
			}
		})
	}
}

// blocking is a Source whose Read waits for its context, as a slow
// vcgencmd does when the service is stopped in the middle of a read.
type blocking struct{ entered chan struct{} }

func (b *blocking) Name() string { return "blocking" }

func (b *blocking) Read(ctx context.Context) (Reading, error) {
	select {
	case b.entered <- struct{}{}:
	default:
	}
	<-ctx.Done()
	return Reading{}, fmt.Errorf("%w: signal: killed", ErrSource)
}

// A read cut short by shutdown is not a sensor failure: stopping the
// service must not count a source error (found by the franz CI run, where
// the vcgencmd integration test saw rejected{source-error} = 2).
func TestRunShutdownDuringReadIsNotASourceError(t *testing.T) {
	cfg := loadConfig(t, nil)
	b := newBroker(t, cfg)
	src := &blocking{entered: make(chan struct{}, 1)}
	r := start(t, cfg, b.prod, src)
	select {
	case <-src.entered:
	case <-time.After(5 * time.Second):
		t.Fatal("Read was not called")
	}
	r.stop()
	if got := svctest.Metric(t, r.reg, "sensornode_temp_readings_rejected_total", "reason", ReasonSource); got != 0 {
		t.Errorf("rejected{%s} = %v after a stop during a read, want 0", ReasonSource, got)
	}
}
