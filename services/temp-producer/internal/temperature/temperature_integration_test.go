//go:build integration

package temperature

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sensornode/sensornode/libs/bus"
	"github.com/sensornode/sensornode/libs/messages"
	"github.com/sensornode/sensornode/libs/svc/svctest"
	"github.com/sensornode/sensornode/tools/devstack"
	"github.com/sensornode/sensornode/tools/devstack/devstacktest"
)

// readings collects temperature records of a topic from the beginning.
type readings struct {
	mu   sync.Mutex
	got  []messages.TemperatureReading
	keys []string
	bad  []error
}

func consume(t *testing.T, st *devstack.Stack, topic string) *readings {
	t.Helper()
	r := &readings{}
	devstacktest.Consume(t, bus.ConsumerConfig{
		Config:  bus.Config{Brokers: strings.Split(st.EdgeBootstrap(), ","), ClientID: "temp-producer-test"},
		GroupID: topic + "-check", Topics: []string{topic}, MaxFetchBytes: 1 << 20, QueueMaxBytes: 4 << 20, SessionTimeout: 10 * time.Second,
	}, func(m *bus.Message) {
		rd, err := messages.DecodeTemperature(m.Value, m.Headers)
		r.mu.Lock()
		defer r.mu.Unlock()
		if err != nil {
			r.bad = append(r.bad, err)
			return
		}
		r.got = append(r.got, rd)
		r.keys = append(r.keys, string(m.Key))
	})
	return r
}

func (r *readings) values() []float64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []float64
	for _, g := range r.got {
		out = append(out, g.TemperatureCelsius)
	}
	return out
}

func runService(t *testing.T, env map[string]string) (*prometheus.Registry, string, func()) {
	t.Helper()
	cfg := loadConfig(t, env)
	reg := prometheus.NewRegistry()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	a, stop := svctest.StartListening(t, "Run", func(ctx context.Context, listening func(string)) error {
		return Run(ctx, cfg, log, reg, Options{AdminListening: listening})
	})
	return reg, a, stop
}

// A fake sysfs thermal zone and a fake vcgencmd, both with junk among the
// readings: only the plausible readings reach the local topic, keyed by
// node, and the junk is counted by reason.
func TestIntegrationTemperatureSources(t *testing.T) {
	st := devstacktest.Stack(t)

	t.Run("vcgencmd", func(t *testing.T) {
		topic := devstacktest.UniqueTopic(t, "temperatureLocal")
		devstacktest.CreateTopic(t, st.EdgeBootstrap(), topic, 3, 3)
		col := consume(t, st, topic)
		script := fakeVcgencmd(t, "temp=48.3'C", "temp=abc'C", "!VCHI initialization failed", "temp=300.0'C", "", "temp=51.2'C")
		// After its list the script keeps answering temp=40.0'C; replace
		// that with junk so that exactly two readings are plausible.
		b, _ := os.ReadFile(script)
		if err := os.WriteFile(script, []byte(strings.Replace(string(b), `echo "temp=40.0'C"`, `echo "temp=??"`, 1)), 0o755); err != nil {
			t.Fatal(err)
		}
		reg, _, stop := runService(t, map[string]string{
			"SENSORNODE_SOURCE": "vcgencmd", "SENSORNODE_VCGENCMD_PATH": script, "SENSORNODE_READ_INTERVAL": "100ms",
			"SENSORNODE_TOPIC": topic, "SENSORNODE_KAFKA_BROKERS": st.EdgeBootstrap(), "SENSORNODE_NODE_ID": "node2",
		})
		svctest.Eventually(t, time.Minute, "2 readings on the topic", func() bool { return len(col.values()) >= 2 })
		svctest.Eventually(t, 10*time.Second, "the junk after the script counted", func() bool {
			return svctest.Metric(t, reg, "sensornode_temp_readings_rejected_total", "reason", ReasonUnparsable) >= 4
		})
		stop()
		time.Sleep(time.Second)
		if got := col.values(); fmt.Sprint(got) != "[48.3 51.2]" {
			t.Errorf("readings on the topic = %v, want [48.3 51.2]", got)
		}
		col.mu.Lock()
		for i, g := range col.got {
			if col.keys[i] != "node2" || g.NodeID != "node2" || g.Source != "vcgencmd" {
				t.Errorf("record %d: key %q %+v", i, col.keys[i], g)
			}
		}
		col.mu.Unlock()
		for reason, want := range map[string]float64{ReasonSource: 1, ReasonImplausible: 1} {
			if got := svctest.Metric(t, reg, "sensornode_temp_readings_rejected_total", "reason", reason); got != want {
				t.Errorf("rejected{%s} = %v, want %v", reason, got, want)
			}
		}
		if got := svctest.Metric(t, reg, "sensornode_temp_last_reading_celsius"); got != 51.2 {
			t.Errorf("last reading = %v, want 51.2", got)
		}
	})

	t.Run("sysfs", func(t *testing.T) {
		topic := devstacktest.UniqueTopic(t, "temperatureLocal")
		devstacktest.CreateTopic(t, st.EdgeBootstrap(), topic, 3, 3)
		col := consume(t, st, topic)
		zone := filepath.Join(t.TempDir(), "temp")
		write := func(s string) {
			tmp := zone + ".tmp"
			if err := os.WriteFile(tmp, []byte(s), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(tmp, zone); err != nil {
				t.Fatal(err)
			}
		}
		write("47125\n")
		reg, _, stop := runService(t, map[string]string{
			"SENSORNODE_SOURCE": "sysfs", "SENSORNODE_SYSFS_PATH": zone, "SENSORNODE_READ_INTERVAL": "50ms",
			"SENSORNODE_TOPIC": topic, "SENSORNODE_KAFKA_BROKERS": st.EdgeBootstrap(), "SENSORNODE_NODE_ID": "node4",
		})
		// Each value stays until the service has read it at least twice.
		taken := func() float64 {
			return svctest.Metric(t, reg, "sensornode_temp_readings_taken_total") + svctest.Metric(t, reg, "sensornode_temp_readings_rejected_total")
		}
		for _, v := range []string{"47125\n", "garbage\n", "48.5\n", "130000\n", "-45000\n", "", "52250\n"} {
			write(v)
			n := taken()
			svctest.Eventually(t, 10*time.Second, "value "+strings.TrimSpace(v)+" read", func() bool { return taken() >= n+2 })
		}
		svctest.Eventually(t, time.Minute, "readings sent", func() bool {
			return svctest.Metric(t, reg, "sensornode_temp_buffered_readings") == 0 && len(col.values()) > 0 &&
				float64(len(col.values())) == svctest.Metric(t, reg, "sensornode_temp_readings_sent_total")
		})
		stop()
		seen := map[float64]bool{}
		for _, v := range col.values() {
			seen[v] = true
		}
		var got []float64
		for v := range seen {
			got = append(got, v)
		}
		sort.Float64s(got)
		if fmt.Sprint(got) != "[47.125 52.25]" {
			t.Errorf("distinct readings on the topic = %v, want [47.125 52.25] (junk and implausible values never sent)", got)
		}
		for _, reason := range []string{ReasonUnparsable, ReasonImplausible} {
			if svctest.Metric(t, reg, "sensornode_temp_readings_rejected_total", "reason", reason) < 2 {
				t.Errorf("rejected{%s} < 2", reason)
			}
		}
	})
}

// Brokers unreachable: readings wait in the spool, /readyz says not ready;
// the service restarts (still unreachable) and, pointed at the brokers,
// sends every reading of both runs.
func TestIntegrationTemperatureSpoolSurvivesRestart(t *testing.T) {
	st := devstacktest.Stack(t)
	topic := devstacktest.UniqueTopic(t, "temperatureLocal")
	devstacktest.CreateTopic(t, st.EdgeBootstrap(), topic, 3, 3)
	col := consume(t, st, topic)
	spool := t.TempDir()
	dead := deadAddr(t)
	script := fakeVcgencmd(t, "temp=41.0'C", "temp=41.5'C", "temp=42.0'C", "temp=42.5'C", "temp=43.0'C")
	b, _ := os.ReadFile(script)
	if err := os.WriteFile(script, []byte(strings.Replace(string(b), `echo "temp=40.0'C"`, `echo "temp=50.0'C"`, 1)), 0o755); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{
		"SENSORNODE_SOURCE": "vcgencmd", "SENSORNODE_VCGENCMD_PATH": script, "SENSORNODE_READ_INTERVAL": "100ms",
		"SENSORNODE_TOPIC": topic, "SENSORNODE_KAFKA_BROKERS": dead, "SENSORNODE_NODE_ID": "node5",
		"SENSORNODE_SPOOL_DIR": spool, "SENSORNODE_SHUTDOWN_TIMEOUT": "2s", "SENSORNODE_CHECK_INTERVAL": "200ms",
	}
	reg, addr, stop := runService(t, env)
	svctest.Eventually(t, 10*time.Second, "5 readings buffered", func() bool { return svctest.Metric(t, reg, "sensornode_temp_buffered_readings") >= 5 })
	if code := httpStatus(t, "http://"+addr+"/readyz"); code != 503 {
		t.Errorf("/readyz with the brokers unreachable = %d, want 503", code)
	}
	stop()

	env["SENSORNODE_KAFKA_BROKERS"] = st.EdgeBootstrap()
	_, addr, stop = runService(t, env)
	svctest.Eventually(t, time.Minute, "the 5 readings of the first run on the topic", func() bool {
		have := map[float64]bool{}
		for _, v := range col.values() {
			have[v] = true
		}
		return have[41] && have[41.5] && have[42] && have[42.5] && have[43]
	})
	svctest.Eventually(t, 10*time.Second, "ready", func() bool { return httpStatus(t, "http://"+addr+"/readyz") == 200 })
	stop()
}

func httpStatus(t *testing.T, url string) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// deadAddr is a loopback address nothing listens on.
func deadAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := l.Addr().String()
	l.Close()
	return a
}
