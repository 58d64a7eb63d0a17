package watcher

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/sensornode/sensornode/libs/svc"
	"github.com/sensornode/sensornode/libs/svc/svctest"
	"github.com/sensornode/sensornode/services/master-watcher/internal/failover"
)

const (
	testF        = 2
	testR        = 3
	testInterval = 50 * time.Millisecond
)

// testConfig probes the fake servers over HTTP every 50ms, with the
// forwarder on a free port and a kubeconfig in dir.
func testConfig(dir string, apis ...*fakeAPI) Config {
	cfg := DefaultConfig()
	cfg.NodeName = "rpi-node-1"
	cfg.AdminAddr = "127.0.0.1:0"
	for _, a := range apis {
		cfg.Masters = append(cfg.Masters, a.url())
	}
	cfg.ProbeMode = "http"
	cfg.ProbeInterval = testInterval
	cfg.ProbeTimeout = time.Second // generous: never the cause of a failure on loopback
	cfg.ProbeSlowThreshold = 500 * time.Millisecond
	cfg.FailoverAfter, cfg.FailbackAfter = testF, testR
	cfg.FailbackHoldDown = testInterval // one round: fail backs are timed by R here
	cfg.ForwardListenAddr = "127.0.0.1:0"
	cfg.ForwardMaxConnections = 64
	cfg.ForwardDialTimeout = time.Second
	if dir != "" {
		cfg.KubeconfigPath = filepath.Join(dir, "kubelet.conf")
	}
	return cfg
}

type running struct {
	w     *Watcher
	ready *svc.Probe
	reg   *prometheus.Registry
}

func start(t *testing.T, cfg Config, opts ...Option) running {
	t.Helper()
	reg := prometheus.NewRegistry()
	ready := svc.NewProbe(reg)
	w, err := New(cfg, slog.New(slog.DiscardHandler), reg, ready, opts...)
	if err != nil {
		t.Fatal(err)
	}
	svctest.Start(t, "Run", w.Run)
	return running{w: w, ready: ready, reg: reg}
}

// within waits until cond holds, failing if more than bound probe rounds
// complete after from first. The bound is in probe rounds, not wall time;
// the wall-clock limit only catches a stuck watcher.
func within(t *testing.T, w *Watcher, from uint64, bound uint64, what string, cond func(failover.Decision) bool) failover.Decision {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		d := w.State()
		if cond(d) {
			return d
		}
		if d.Round > from+bound {
			t.Fatalf("%s: not within %d probe rounds (round %d -> %d): state %+v", what, bound, from, d.Round, d)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: stuck at round %d: %+v", what, d.Round, d)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// whoami asks the forwarder, with a fresh connection, which master it reaches.
func whoami(addr string) (string, error) {
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get("http://" + addr + "/whoami")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// eventually waits up to 10 s for cond, looking every 5 ms.
func eventually(t *testing.T, what string, cond func() error) {
	t.Helper()
	svctest.EventuallyNoError(t, 10*time.Second, what, cond)
}

// keepAlive holds one HTTP/1.1 connection through the forwarder.
type keepAlive struct {
	c net.Conn
	r *bufio.Reader
}

func openKeepAlive(t *testing.T, addr string) *keepAlive {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &keepAlive{c: c, r: bufio.NewReader(c)}
}

func (k *keepAlive) whoami() (string, error) {
	k.c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := fmt.Fprint(k.c, "GET /whoami HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		return "", err
	}
	resp, err := http.ReadResponse(k.r, nil)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// TestOriginalCases walks the thesis's failover cases in order against
// three real HTTP servers and checks, after each change, that the active
// master is right within F+1 probe rounds (R+1 for a fail back), that
// readiness follows, that the forwarder carries traffic to the active
// master and that the kubeconfig follows.
func TestOriginalCases(t *testing.T) {
	p, s, ter := newFakeAPI(t, "primary"), newFakeAPI(t, "secondary"), newFakeAPI(t, "tertiary")
	apis := []*fakeAPI{p, s, ter}
	dir := t.TempDir()
	r := start(t, testConfig(dir, p, s, ter))
	w := r.w
	fwd := w.ProxyAddr()
	kubeconfig := filepath.Join(dir, "kubelet.conf")

	var held *keepAlive
	parent := t
	steps := []struct {
		name       string
		give       [3]string
		wantActive int
		wantReady  bool
		bound      uint64
		before     func(t *testing.T) // runs before the change
		after      func(t *testing.T) // runs once the state is right
	}{
		{name: "all up: primary", give: [3]string{healthy, healthy, healthy}, wantActive: 0, wantReady: true, bound: 2,
			after: func(t *testing.T) {
				// A long-lived connection to the primary through the forwarder.
				held = openKeepAlive(parent, fwd)
				if got, err := held.whoami(); err != nil || got != "primary" {
					t.Fatalf("keep-alive connection: %q, %v; want primary", got, err)
				}
			}},
		// The primary answers 500 but still accepts TCP: the forwarder
		// itself must drop the connection to it.
		{name: "primary down: secondary", give: [3]string{failing, healthy, healthy}, wantActive: 1, wantReady: true, bound: testF + 1,
			after: func(t *testing.T) {
				held.c.SetDeadline(time.Now().Add(5 * time.Second))
				if _, err := held.r.ReadByte(); !errors.Is(err, io.EOF) {
					t.Fatalf("connection to the old primary after failover: read %v, want EOF (closed by the forwarder)", err)
				}
			}},
		{name: "primary and secondary down: tertiary", give: [3]string{failing, closed, healthy}, wantActive: 2, wantReady: true, bound: testF + 1},
		{name: "primary back: everyone fails back", give: [3]string{healthy, closed, healthy}, wantActive: 0, wantReady: true, bound: testR + 1},
		{name: "all down: keep the last choice, not ready", give: [3]string{closed, closed, failing}, wantActive: 0, wantReady: false, bound: testF + 1,
			after: func(t *testing.T) {
				if err := r.ready.Ready(); err == nil || !strings.Contains(err.Error(), "no master answers") {
					t.Errorf("readiness with all masters down = %v, want not ready", err)
				}
				if _, err := whoami(fwd); err == nil {
					t.Errorf("forwarder reached a master although all are down")
				}
			}},
		{name: "all back: primary, ready", give: [3]string{healthy, healthy, healthy}, wantActive: 0, wantReady: true, bound: testF + 1},
	}
	names := []string{"primary", "secondary", "tertiary"}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			if st.before != nil {
				st.before(t)
			}
			from := w.State().Round
			for i, a := range apis {
				a.set(st.give[i])
			}
			d := within(t, w, from, st.bound, st.name, func(d failover.Decision) bool {
				return d.Active == st.wantActive && d.Ready == st.wantReady
			})
			t.Logf("%s: active %d ready %t at round %d (changed after round %d)", st.name, d.Active, d.Ready, d.Round, from)
			if st.wantReady {
				// Readiness and the forwarder's target are set right after
				// the decision is stored: they follow it, not atomically.
				eventually(t, "/readyz condition to be ready", func() error { return r.ready.Ready() })
				want := names[st.wantActive]
				eventually(t, "a new connection via the forwarder to reach "+want, func() error {
					if got, err := whoami(fwd); err != nil || got != want {
						return fmt.Errorf("reached %q (%v)", got, err)
					}
					return nil
				})
				wantServer := fmt.Sprintf("server: %q", apis[st.wantActive].url())
				eventually(t, "kubeconfig to follow", func() error {
					b, err := os.ReadFile(kubeconfig)
					if err != nil {
						return err
					}
					if !strings.Contains(string(b), wantServer) {
						return fmt.Errorf("kubeconfig does not hold %s:\n%s", wantServer, b)
					}
					return nil
				})
			}
			if st.after != nil {
				st.after(t)
			}
		})
	}
	for reason, want := range map[string]float64{"failover": 2, "failback": 1} {
		if got := testutil.ToFloat64(w.m.Failovers.WithLabelValues(reason)); got != want {
			t.Errorf("failovers_total{reason=%q} = %v, want %v", reason, got, want)
		}
	}
	if got := testutil.ToFloat64(w.m.ActiveIndex); got != 0 {
		t.Errorf("active_master_index = %v, want 0", got)
	}
	if got := testutil.ToFloat64(w.m.Probes.WithLabelValues("1", "refused")); got == 0 {
		t.Errorf("probes_total{master=1,result=refused} = 0, want > 0 (secondary was closed)")
	}
	if got := testutil.ToFloat64(w.m.Probes.WithLabelValues("0", "status")); got == 0 {
		t.Errorf("probes_total{master=0,result=status} = 0, want > 0 (primary answered 500)")
	}
}

// TestFlappingPrimary: a primary whose health flips on every probe is left
// once when it is active (F = 2 failures within the window of 2F) and never
// failed back to (it never has R = 2 good probes in a row); when the
// watcher sits on the secondary it causes no switch.
func TestFlappingPrimary(t *testing.T) {
	for _, startOn := range []string{"primary", "secondary"} {
		t.Run("on "+startOn, func(t *testing.T) {
			p, s := newFakeAPI(t, "primary"), newFakeAPI(t, "secondary")
			if startOn == "secondary" {
				p.set(failing)
			}
			cfg := testConfig("", p, s)
			cfg.FailoverAfter, cfg.FailbackAfter = 2, 2
			r := start(t, cfg)
			want, wantSwitches := 0, 1.0
			if startOn == "secondary" {
				want, wantSwitches = 1, 0
			}
			within(t, r.w, 0, 3, "initial choice", func(d failover.Decision) bool { return d.Active == want && d.Ready })
			p.setFlapping(true) // overrides the health state from now on
			from := r.w.State().Round
			for r.w.State().Round < from+40 {
				time.Sleep(testInterval)
			}
			d := r.w.State()
			switches := testutil.ToFloat64(r.w.m.Failovers.WithLabelValues("failover")) + testutil.ToFloat64(r.w.m.Failovers.WithLabelValues("failback"))
			if switches != wantSwitches || d.Active != 1 || !d.Ready {
				t.Errorf("after %d flapping rounds: %v switches, active %d ready %t; want %v, 1, true", d.Round-from, switches, d.Active, d.Ready, wantSwitches)
			}
			p.mu.Lock()
			probes := p.n
			p.mu.Unlock()
			if probes < 40 {
				t.Errorf("primary probed %d times while flapping, want >= 40 (the test must see flapping)", probes)
			}
		})
	}
}

func TestNoMasterAnswersAtStart(t *testing.T) {
	p, s := newFakeAPI(t, "primary"), newFakeAPI(t, "secondary")
	p.set(closed)
	s.set(failing)
	r := start(t, testConfig("", p, s))
	d := within(t, r.w, 0, 5, "rounds to pass", func(d failover.Decision) bool { return d.Round >= 3 })
	if d.Active != failover.None || d.Ready {
		t.Fatalf("no master ever up: %+v, want none chosen, not ready", d)
	}
	if err := r.ready.Ready(); err == nil {
		t.Errorf("ready with no master")
	}
	if got, err := whoami(r.w.ProxyAddr()); err == nil {
		t.Errorf("forwarder answered %q with no master", got)
	}
	from := d.Round
	s.set(healthy)
	within(t, r.w, from, 2, "first master up", func(d failover.Decision) bool { return d.Active == 1 && d.Ready })
}

func TestConfigFromEnv(t *testing.T) {
	t.Setenv("SENSORNODE_MASTERS", "https://10.0.0.1:6443,https://10.0.0.2:6443")
	t.Setenv("SENSORNODE_FORWARD_LISTEN_ADDR", "127.0.0.1:6443")
	t.Setenv("PATH", os.Getenv("PATH")) // must not leak into any setting
	got := DefaultConfig()
	if err := svc.LoadConfig(&got); err != nil {
		t.Fatal(err)
	}
	want := DefaultConfig()
	want.Masters = []string{"https://10.0.0.1:6443", "https://10.0.0.2:6443"}
	want.ForwardListenAddr = "127.0.0.1:6443"
	want.NodeName = got.NodeName // the host name
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("LoadConfig =\n%+v\nwant (DefaultConfig)\n%+v", got, want)
	}
	if got.NodeName == "" {
		t.Errorf("NodeName not defaulted to the host name")
	}
}

func TestConfigValidate(t *testing.T) {
	base := func() Config {
		c := DefaultConfig()
		c.NodeName = "n1"
		c.Masters = []string{"https://10.0.0.1:6443"}
		c.ForwardListenAddr = "127.0.0.1:6443"
		return c
	}
	svctest.Validate(t, base, []svctest.ConfigCase[Config]{
		{Name: "ok", Change: func(*Config) {}},
		{Name: "tcp like the original", Change: func(c *Config) { c.ProbeMode = "tcp"; c.Masters = []string{"10.0.0.1:8080", "10.0.0.2:8080"} }},
		{Name: "no masters", Change: func(c *Config) { c.Masters = nil }, WantErr: "SENSORNODE_MASTERS"},
		{Name: "scheme mismatch", Change: func(c *Config) { c.ProbeMode = "http" }, WantErr: "does not match probe mode"},
		{Name: "duplicate", Change: func(c *Config) { c.Masters = []string{"https://a:1", "https://a:1"} }, WantErr: "same address"},
		{Name: "bad mode", Change: func(c *Config) { c.ProbeMode = "icmp" }, WantErr: "SENSORNODE_PROBE_MODE"},
		{Name: "https without CA", Change: func(c *Config) { c.ProbeCAFile = "" }, WantErr: "SENSORNODE_PROBE_CA_FILE"},
		{Name: "bad endpoint", Change: func(c *Config) { c.ProbeEndpoint = "readyz" }, WantErr: "SENSORNODE_PROBE_ENDPOINT"},
		{Name: "zero F", Change: func(c *Config) { c.FailoverAfter = 0 }, WantErr: "SENSORNODE_FAILOVER_AFTER"},
		{Name: "window below F", Change: func(c *Config) { c.FailoverAfter, c.FailoverWindow = 3, 2 }, WantErr: "SENSORNODE_FAILOVER_WINDOW"},
		{Name: "hold-down max below hold-down", Change: func(c *Config) { c.FailbackHoldDownMax = time.Second }, WantErr: "SENSORNODE_FAILBACK_HOLD_DOWN"},
		{Name: "zero hold-down", Change: func(c *Config) { c.FailbackHoldDown = 0 }, WantErr: "SENSORNODE_FAILBACK_HOLD_DOWN"},
		{Name: "negative slow threshold", Change: func(c *Config) { c.ProbeSlowThreshold = -time.Second }, WantErr: "SENSORNODE_PROBE_SLOW_THRESHOLD"},
		{Name: "short timeout with the default slow threshold (old configs)", Change: func(c *Config) { c.ProbeTimeout = 500 * time.Millisecond }},
		{Name: "slow threshold off", Change: func(c *Config) { c.ProbeSlowThreshold = 0 }},
		{Name: "no sink", Change: func(c *Config) { c.ForwardListenAddr = "" }, WantErr: "no sink configured"},
		{Name: "bad forward addr", Change: func(c *Config) { c.ForwardListenAddr = "6443" }, WantErr: "SENSORNODE_FORWARD_LISTEN_ADDR"},
		{Name: "bad hook", Change: func(c *Config) { c.HookCommand = "[1" }, WantErr: "SENSORNODE_HOOK_COMMAND"},
		{Name: "zk chroot", Change: func(c *Config) { c.ZooKeeperServers = []string{"127.0.0.1:2181/edge"} }, WantErr: "no chroot"},
		{Name: "zk relative path", Change: func(c *Config) { c.ZooKeeperServers = []string{"127.0.0.1:2181"}; c.ZooKeeperViewPath = "masters" }, WantErr: "absolute znode path"},
		{Name: "cert without key", Change: func(c *Config) { c.ProbeCertFile = "/x" }, WantErr: "SENSORNODE_PROBE_KEY_FILE"},
	})
}
