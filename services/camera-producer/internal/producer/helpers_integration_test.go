//go:build integration

package producer

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"image"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
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

// bases holds two real pictures per size; uniqueJPEG derives distinct
// files from them cheaply.
var bases = sync.OnceValue(func() map[image.Point][][]byte {
	out := map[image.Point][][]byte{}
	for _, sz := range []image.Point{jpegsynth.Size320x188, jpegsynth.Size640x480, jpegsynth.Size1280x720} {
		for seed := uint64(1); seed <= 2; seed++ {
			out[sz] = append(out[sz], jpegsynth.Picture(sz, seed))
		}
	}
	return out
})

// uniqueJPEG is a valid JPEG of the given size made unique by a comment
// (COM) segment after SOI: different bytes, different SHA-256, same picture.
func uniqueJPEG(size image.Point, id int) []byte {
	bs := bases()[size]
	base := bs[id%len(bs)]
	text := fmt.Sprintf("sensornode test picture %d", id)
	out := make([]byte, 0, len(base)+len(text)+4)
	out = append(out, 0xFF, 0xD8, 0xFF, 0xFE, byte((len(text)+2)>>8), byte(len(text)+2))
	out = append(out, text...)
	return append(out, base[2:]...)
}

var mixedSizes = []image.Point{jpegsynth.Size320x188, jpegsynth.Size640x480, jpegsynth.Size1280x720}

func brokers(st *devstack.Stack) []string { return strings.Split(st.EdgeBootstrap(), ",") }

func edgeBrokerNames(st *devstack.Stack) []string {
	var out []string
	for i := 1; i <= st.EdgeBrokers(); i++ {
		out = append(out, fmt.Sprintf("edge-kafka-%d", i))
	}
	return out
}

// record is one picture read back from the topic.
type record struct {
	key    string
	sum    [32]byte
	offset int64
	size   int
}

// collector reads a topic from the beginning in the background.
type collector struct {
	mu      sync.Mutex
	records []record
	bad     []error
}

func collect(t *testing.T, st *devstack.Stack, topic string) *collector {
	t.Helper()
	return collectAs(t, st, topic, topic+"-check")
}

// collectAs reads topic from its start as a member of consumer group group.
func collectAs(t *testing.T, st *devstack.Stack, topic, group string) *collector {
	t.Helper()
	col := &collector{}
	devstacktest.Consume(t, bus.ConsumerConfig{
		Config: bus.Config{Brokers: brokers(st), ClientID: "camera-producer-test"}, GroupID: group,
		Topics: []string{topic}, MaxFetchBytes: 8 << 20, QueueMaxBytes: 16 << 20, SessionTimeout: 10 * time.Second,
	}, func(m *bus.Message) {
		p, err := messages.DecodePicture(m.Value, m.Headers, 0)
		col.mu.Lock()
		defer col.mu.Unlock()
		if err != nil {
			col.bad = append(col.bad, fmt.Errorf("offset %d: %w", m.Offset, err))
			return
		}
		col.records = append(col.records, record{key: string(m.Key), sum: p.SHA256, offset: m.Offset, size: len(p.Data)})
	})
	return col
}

func (c *collector) snapshot() ([]record, []error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]record(nil), c.records...), append([]error(nil), c.bad...)
}

// hasAll reports whether every sum in want was read.
func (c *collector) hasAll(want map[[32]byte]string) bool {
	recs, _ := c.snapshot()
	seen := map[[32]byte]bool{}
	for _, r := range recs {
		seen[r.sum] = true
	}
	for s := range want {
		if !seen[s] {
			return false
		}
	}
	return true
}

func (c *collector) missing(want map[[32]byte]string) []string {
	recs, _ := c.snapshot()
	seen := map[[32]byte]bool{}
	for _, r := range recs {
		seen[r.sum] = true
	}
	var out []string
	for s, name := range want {
		if !seen[s] {
			out = append(out, name)
		}
	}
	return out
}

// regularFiles lists the regular files directly in dir.
func regularFiles(t *testing.T, dir string) []string {
	t.Helper()
	des, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, de := range des {
		if de.Type().IsRegular() {
			out = append(out, de.Name())
		}
	}
	return out
}

// startInProcess runs the service in this process against the devstack;
// a failed test shows the end of the service's log.
func startInProcess(t *testing.T, env map[string]string, opt Options) (*Config, *prometheus.Registry, func()) {
	t.Helper()
	cfg := loadConfig(t, env)
	reg := prometheus.NewRegistry()
	var logs svctest.SyncBuffer
	log := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	t.Cleanup(func() { // after stop (cleanups run last first)
		if t.Failed() {
			t.Logf("service log:\n%s", tail(logs.String(), 60))
		}
	})
	stop := svctest.Start(t, "Run", func(ctx context.Context) error { return Run(ctx, cfg, log, reg, opt) })
	return cfg, reg, stop
}

type lockedWriter struct {
	w  io.Writer
	mu *sync.Mutex
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// gauge reads one metric value from a registry (sum over its series).
var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// binary builds the service once per test run, into a fixed place under
// the temp dir (overwritten by the next run, so runs leave no litter).
func binary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		dir := filepath.Join(os.TempDir(), "sensornode-camera-producer-test")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "camera-producer")
		out, err := exec.Command("go", "build", "-race", "-o", binPath, "github.com/sensornode/sensornode/services/camera-producer/cmd/camera-producer").CombinedOutput()
		if err != nil {
			binErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

// proc is the service running as a child process.
type proc struct {
	t    *testing.T
	cmd  *exec.Cmd
	addr string
	mu   sync.Mutex
	logs bytes.Buffer
	done chan error
}

func startBinary(t *testing.T, env map[string]string) *proc {
	t.Helper()
	cmd := exec.Command(binary(t))
	cmd.Env = append(os.Environ(), "SENSORNODE_ADMIN_ADDR=127.0.0.1:0", "GORACE=halt_on_error=1")
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &proc{t: t, cmd: cmd, done: make(chan error, 1)}
	cmd.Stderr = lockedWriter{&p.logs, &p.mu}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	addrc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			p.mu.Lock()
			p.logs.WriteString(line + "\n")
			p.mu.Unlock()
			if strings.Contains(line, `"msg":"admin server listening"`) {
				if i := strings.Index(line, `"addr":"`); i >= 0 {
					a := line[i+8:]
					addrc <- a[:strings.IndexByte(a, '"')]
				}
			}
		}
		p.done <- cmd.Wait()
	}()
	select {
	case p.addr = <-addrc:
	case err := <-p.done:
		t.Fatalf("camera-producer exited: %v\n%s", err, p.output())
	case <-time.After(60 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatalf("camera-producer did not start\n%s", p.output())
	}
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			p.stop()
		}
		if t.Failed() {
			t.Logf("camera-producer (pid %d) log:\n%s", p.cmd.Process.Pid, tail(p.output(), 60))
		}
	})
	return p
}

func (p *proc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.logs.String()
}

// kill sends SIGKILL and waits.
func (p *proc) kill() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// stop sends SIGTERM and waits for a clean exit.
func (p *proc) stop() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.done:
		if err != nil {
			p.t.Errorf("camera-producer exit: %v", err)
		}
	case <-time.After(60 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
		p.t.Errorf("camera-producer did not stop on SIGTERM")
	}
}

// metrics scrapes /metrics: series (name plus labels) -> value.
func (p *proc) metrics() (map[string]float64, error) {
	resp, err := http.Get("http://" + p.addr + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if v, err := strconv.ParseFloat(line[i+1:], 64); err == nil {
			out[line[:i]] = v
		}
	}
	return out, sc.Err()
}

func (p *proc) ready() int {
	resp, err := http.Get("http://" + p.addr + "/readyz")
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

func sum(b []byte) [32]byte { return sha256.Sum256(b) }
