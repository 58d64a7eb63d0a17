package sink

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/sensornode/sensornode/libs/svc/svctest"
	"github.com/sensornode/sensornode/services/master-watcher/internal/masters"
)

func quietLog() *slog.Logger { return slog.New(slog.DiscardHandler) }

// eventually waits up to 10 s for cond to hold, looking every 5 ms.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	svctest.EventuallyNoError(t, 10*time.Second, what, func() error {
		if !cond() {
			return errors.New("timed out")
		}
		return nil
	})
}

// echoServer answers every line with "<name>: <line>".
type echoServer struct {
	name string
	ln   net.Listener
	wg   sync.WaitGroup
	mu   sync.Mutex
	cs   []net.Conn
}

func newEchoServer(t *testing.T, name string) *echoServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &echoServer{name: name, ln: ln}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.cs = append(s.cs, c)
			s.mu.Unlock()
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				defer c.Close()
				sc := bufio.NewScanner(c)
				sc.Buffer(nil, 4<<20)
				for sc.Scan() {
					fmt.Fprintf(c, "%s: %s\n", name, sc.Text())
				}
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		s.mu.Lock()
		for _, c := range s.cs {
			c.Close()
		}
		s.mu.Unlock()
		s.wg.Wait()
	})
	return s
}

func (s *echoServer) master(i int) masters.Master { return masterAt(i, s.ln.Addr().String()) }

// masterAt is master i at addr.
func masterAt(i int, addr string) masters.Master {
	return masters.Master{Index: i, URL: "https://" + addr, Addr: addr}
}

// deadMaster is master i at an address that refuses connections.
func deadMaster(t *testing.T, i int) masters.Master {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln.Close()
	return masterAt(i, ln.Addr().String())
}

// newProxy makes a proxy on a free loopback port for at most maxConns
// connections.
func newProxy(tb testing.TB, maxConns int, log *slog.Logger) (*Proxy, *Metrics) {
	tb.Helper()
	m := NewMetrics(prometheus.NewRegistry())
	f, err := NewProxy(ProxyConfig{ListenAddr: "127.0.0.1:0", MaxConns: maxConns, DialTimeout: time.Second}, log, m)
	if err != nil {
		tb.Fatal(err)
	}
	return f, m
}

// startProxy runs a new proxy until the test ends.
func startProxy(t *testing.T, maxConns int) (*Proxy, *Metrics) {
	t.Helper()
	f, m := newProxy(t, maxConns, quietLog())
	svctest.Start(t, "Proxy.Run", f.Run)
	return f, m
}

// dial connects through the proxy.
func dial(t *testing.T, f *Proxy) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", f.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, bufio.NewReader(c)
}

func roundTrip(c net.Conn, r *bufio.Reader, line string) (string, error) {
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := fmt.Fprintln(c, line); err != nil {
		return "", err
	}
	s, err := r.ReadString('\n')
	return strings.TrimSuffix(s, "\n"), err
}

func TestProxyCarriesTrafficAndMovesOnSwitch(t *testing.T) {
	a, b := newEchoServer(t, "A"), newEchoServer(t, "B")
	f, m := startProxy(t, 16)

	// No master yet: connections are closed at once.
	c0, r0 := dial(t, f)
	if got, err := roundTrip(c0, r0, "hello"); err == nil {
		t.Fatalf("before any master: got %q, want the connection closed", got)
	}

	f.SetActive(a.master(0))
	c1, r1 := dial(t, f)
	for i := range 3 {
		line := fmt.Sprintf("ping %d", i)
		if got, err := roundTrip(c1, r1, line); err != nil || got != "A: "+line {
			t.Fatalf("via forwarder to A: %q, %v; want %q", got, err, "A: "+line)
		}
	}
	// A large payload both ways, to show bytes pass unchanged.
	big := strings.Repeat("x", 1<<20)
	if got, err := roundTrip(c1, r1, big); err != nil || got != "A: "+big {
		t.Fatalf("1 MiB line: len %d, err %v", len(got), err)
	}
	eventually(t, "one carried connection", func() bool { return f.Conns() == 1 })

	f.SetActive(b.master(1))
	// The connection to A is closed by the switch.
	c1.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := r1.ReadString('\n'); !errors.Is(err, io.EOF) {
		t.Fatalf("old connection after the switch: read error %v, want EOF", err)
	}
	if got := testutil.ToFloat64(m.ProxyClosedOnSwitch); got != 1 {
		t.Errorf("closed_on_switch = %v, want 1", got)
	}
	// New connections go to B.
	c2, r2 := dial(t, f)
	if got, err := roundTrip(c2, r2, "again"); err != nil || got != "B: again" {
		t.Fatalf("after switch: %q, %v; want %q", got, err, "B: again")
	}
	// Setting the same master again closes nothing.
	f.SetActive(b.master(1))
	if got, err := roundTrip(c2, r2, "still"); err != nil || got != "B: still" {
		t.Fatalf("after same-master SetActive: %q, %v", got, err)
	}
	c2.Close()
	eventually(t, "connections released", func() bool { return f.Conns() == 0 })
	if got := testutil.ToFloat64(m.ProxyAccepted.WithLabelValues("forwarded")); got != 2 {
		t.Errorf("forwarded = %v, want 2", got)
	}
	if got := testutil.ToFloat64(m.ProxyAccepted.WithLabelValues("no_master")); got != 1 {
		t.Errorf("no_master = %v, want 1", got)
	}
	eventually(t, "bytes counted", func() bool {
		return testutil.ToFloat64(m.ProxyBytes.WithLabelValues("to_master")) > 1<<20
	})
}

func TestProxyConnectionLimit(t *testing.T) {
	a := newEchoServer(t, "A")
	f, m := startProxy(t, 2)
	f.SetActive(a.master(0))
	var held []net.Conn
	for i := range 2 {
		c, r := dial(t, f)
		if got, err := roundTrip(c, r, "x"); err != nil || got != "A: x" {
			t.Fatalf("connection %d: %q, %v", i, got, err)
		}
		held = append(held, c)
	}
	c3, r3 := dial(t, f)
	if got, err := roundTrip(c3, r3, "x"); err == nil {
		t.Fatalf("third connection over the limit of 2 answered %q, want closed", got)
	}
	if got := testutil.ToFloat64(m.ProxyAccepted.WithLabelValues("rejected_full")); got != 1 {
		t.Errorf("rejected_full = %v, want 1", got)
	}
	held[0].Close()
	eventually(t, "a slot to free up", func() bool { return f.Conns() == 1 })
	c4, r4 := dial(t, f)
	if got, err := roundTrip(c4, r4, "y"); err != nil || got != "A: y" {
		t.Fatalf("after a slot freed: %q, %v", got, err)
	}
}

func TestProxyDialError(t *testing.T) {
	f, m := startProxy(t, 4)
	f.SetActive(deadMaster(t, 0))
	c, r := dial(t, f)
	if got, err := roundTrip(c, r, "x"); err == nil {
		t.Fatalf("dead master answered %q", got)
	}
	eventually(t, "dial_error counted", func() bool {
		return testutil.ToFloat64(m.ProxyAccepted.WithLabelValues("dial_error")) == 1
	})
}

func TestProxyShutdownClosesConnections(t *testing.T) {
	a := newEchoServer(t, "A")
	f, _ := newProxy(t, 4, quietLog())
	stop := svctest.Start(t, "Proxy.Run", f.Run)
	f.SetActive(a.master(0))
	c, r := dial(t, f)
	if _, err := roundTrip(c, r, "x"); err != nil {
		t.Fatal(err)
	}
	stop()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := r.ReadString('\n'); !errors.Is(err, io.EOF) {
		t.Errorf("after shutdown: read %v, want EOF", err)
	}
	if _, err := net.Dial("tcp", f.Addr()); err == nil {
		t.Errorf("listener still accepting after shutdown")
	}
}

func change(url string, idx int) Change {
	ms, _ := masters.Parse([]string{"https://10.0.0.1:6443", "https://10.0.0.2:6443", "https://10.0.0.3:6443"}, masters.ModeHTTPS)
	c := Change{Node: "rpi-node-1", Active: ms[idx], Reason: "failover", Ready: true,
		Since: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Masters: ms}
	if url != "" {
		c.Active.URL = url
	}
	return c
}

func TestKubeconfig(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "kubelet.conf")
	m := NewMetrics(prometheus.NewRegistry())
	k, err := NewKubeconfig(KubeconfigConfig{Path: path, Cluster: "sensornode", User: "kubelet", Context: "default",
		CAFile: "/etc/kubernetes/pki/ca.crt", ClientCertFile: "/var/lib/kubelet/pki/kubelet-client.crt",
		ClientKeyFile: "/var/lib/kubelet/pki/kubelet-client.key"}, quietLog(), m)
	if err != nil {
		t.Fatal(err)
	}
	if err := k.Apply(context.Background(), change("", 1)); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(path)
	want, err := os.ReadFile("testdata/kubeconfig.golden.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Errorf("kubeconfig =\n%s\nwant (testdata/kubeconfig.golden.yaml)\n%s", got, want)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode = %v, want 0600", fi.Mode().Perm())
	}
	st1, _ := os.Stat(path)

	// Same master again: not rewritten (same inode, counted unchanged).
	if err := k.Apply(context.Background(), change("", 1)); err != nil {
		t.Fatal(err)
	}
	st2, _ := os.Stat(path)
	if !os.SameFile(st1, st2) {
		t.Errorf("unchanged content was rewritten")
	}
	// Another master: replaced by rename (a new inode), new server.
	if err := k.Apply(context.Background(), change("", 2)); err != nil {
		t.Fatal(err)
	}
	st3, _ := os.Stat(path)
	if os.SameFile(st2, st3) {
		t.Errorf("changed content was written in place, want a rename")
	}
	got, _ = os.ReadFile(path)
	if !strings.Contains(string(got), `server: "https://10.0.0.3:6443"`) {
		t.Errorf("after switch to master 2:\n%s", got)
	}
	for r, want := range map[string]float64{"written": 2, "unchanged": 1, "error": 0} {
		if got := testutil.ToFloat64(m.KubeconfigWrites.WithLabelValues(r)); got != want {
			t.Errorf("kubeconfig writes %s = %v, want %v", r, got, want)
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("dir holds %d entries, want only the kubeconfig (no temp files)", len(entries))
	}

	// A write error is reported and counted.
	kBad, _ := NewKubeconfig(KubeconfigConfig{Path: filepath.Join(dir, "missing-dir", "x.conf")}, quietLog(), m)
	if err := kBad.Apply(context.Background(), change("", 0)); err == nil {
		t.Errorf("write into a missing dir: nil error")
	}
	if got := testutil.ToFloat64(m.KubeconfigWrites.WithLabelValues("error")); got != 1 {
		t.Errorf("kubeconfig errors = %v, want 1", got)
	}
}

func TestKubeconfigTemplate(t *testing.T) {
	dir := t.TempDir()
	tmpl := filepath.Join(dir, "t.tmpl")
	os.WriteFile(tmpl, []byte("server={{.Server}} index={{.MasterIndex}} node={{.Node}} masters={{len .Masters}} q={{quote .Server}}\n"), 0o600)
	k, err := NewKubeconfig(KubeconfigConfig{Path: filepath.Join(dir, "out"), TemplateFile: tmpl}, quietLog(), NewMetrics(prometheus.NewRegistry()))
	if err != nil {
		t.Fatal(err)
	}
	b, err := k.Render(change("", 2))
	if err != nil {
		t.Fatal(err)
	}
	want := "server=https://10.0.0.3:6443 index=2 node=rpi-node-1 masters=3 q=\"https://10.0.0.3:6443\"\n"
	if string(b) != want {
		t.Errorf("Render = %q, want %q", b, want)
	}
	// The default template quotes values, so odd characters stay data.
	k2, _ := NewKubeconfig(KubeconfigConfig{Path: filepath.Join(dir, "o2"), Cluster: "a\"b: c"}, quietLog(), NewMetrics(prometheus.NewRegistry()))
	b, _ = k2.Render(change("", 0))
	if !strings.Contains(string(b), `name: "a\"b: c"`) {
		t.Errorf("cluster name not quoted:\n%s", b)
	}
	if !strings.Contains(string(b), "user: {}") {
		t.Errorf("no credentials: want user: {}\n%s", b)
	}

	for name, text := range map[string]string{"syntax": "{{.Server", "unknown field": "{{.Nope}}"} {
		os.WriteFile(tmpl, []byte(text), 0o600)
		if _, err := NewKubeconfig(KubeconfigConfig{Path: filepath.Join(dir, "o3"), TemplateFile: tmpl}, quietLog(), NewMetrics(prometheus.NewRegistry())); err == nil {
			t.Errorf("%s: broken template accepted", name)
		}
	}
}

func TestParseCommand(t *testing.T) {
	tests := []struct {
		give    string
		want    []string
		wantErr bool
	}{
		{give: "systemctl restart kubelet", want: []string{"/bin/sh", "-c", "systemctl restart kubelet"}},
		{give: `["/usr/bin/systemctl", "restart", "kube-proxy"]`, want: []string{"/usr/bin/systemctl", "restart", "kube-proxy"}},
		{give: "", wantErr: true},
		{give: "[]", wantErr: true},
		{give: `["a",`, wantErr: true},
	}
	for _, tt := range tests {
		got, err := ParseCommand(tt.give)
		if (err != nil) != tt.wantErr || strings.Join(got, "|") != strings.Join(tt.want, "|") {
			t.Errorf("ParseCommand(%q) = %q, %v; want %q, error %t", tt.give, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestHook(t *testing.T) {
	dir := t.TempDir()
	m := NewMetrics(prometheus.NewRegistry())
	envFile := filepath.Join(dir, "env")
	ok, err := NewHook(HookConfig{Command: "env | grep ^MASTER_ | sort > " + envFile + "; echo restarted kubelet", Timeout: 10 * time.Second}, quietLog(), m)
	if err != nil {
		t.Fatal(err)
	}
	c := change("", 1)
	prev := c.Masters[0]
	c.Previous = &prev
	if err := ok.Apply(context.Background(), c); err != nil {
		t.Fatalf("hook: %v", err)
	}
	got, _ := os.ReadFile(envFile)
	want := strings.Join([]string{
		"MASTER_ACTIVE_ADDR=10.0.0.2:6443", "MASTER_ACTIVE_INDEX=1", "MASTER_ACTIVE_URL=https://10.0.0.2:6443",
		"MASTER_NODE=rpi-node-1", "MASTER_PREVIOUS_INDEX=0", "MASTER_PREVIOUS_URL=https://10.0.0.1:6443",
		"MASTER_READY=true", "MASTER_REASON=failover", "MASTER_SINCE=2026-01-02T03:04:05Z",
	}, "\n") + "\n"
	if string(got) != want {
		t.Errorf("hook environment:\n%s\nwant\n%s", got, want)
	}

	failing, _ := NewHook(HookConfig{Command: `["/bin/sh", "-c", "echo oops >&2; exit 3"]`, Timeout: 10 * time.Second}, quietLog(), m)
	var exitErr interface{ ExitCode() int }
	if err := failing.Apply(context.Background(), c); !errors.As(err, &exitErr) || exitErr.ExitCode() != 3 {
		t.Errorf("failing hook: %v, want exit code 3", err)
	}

	// A hook that hangs, with a child that would hang too, is killed as a
	// group at the timeout.
	pidFile := filepath.Join(dir, "child.pid")
	slow, _ := NewHook(HookConfig{Command: "sleep 60 & echo $! > " + pidFile + "; wait", Timeout: 300 * time.Millisecond}, quietLog(), m)
	if err := slow.Apply(context.Background(), c); err == nil || !strings.Contains(err.Error(), "timed out") {
		t.Errorf("slow hook: %v, want timed out", err)
	}
	pidB, _ := os.ReadFile(pidFile)
	var pid int
	fmt.Sscan(string(pidB), &pid)
	if pid <= 0 {
		t.Fatalf("child pid %q", pidB)
	}
	eventually(t, "the hook's child to be killed", func() bool {
		st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		return err != nil || strings.Contains(string(st), ") Z ")
	})

	missing, _ := NewHook(HookConfig{Command: `["/nonexistent/hook"]`, Timeout: time.Second}, quietLog(), m)
	if err := missing.Apply(context.Background(), c); err == nil {
		t.Errorf("missing executable: nil error")
	}
	for r, want := range map[string]float64{"ok": 1, "exit_error": 1, "timeout": 1, "start_error": 1} {
		if got := testutil.ToFloat64(m.HookRuns.WithLabelValues(r)); got != want {
			t.Errorf("hook runs %s = %v, want %v", r, got, want)
		}
	}
}

func TestTailBuffer(t *testing.T) {
	b := &tailBuffer{max: 10}
	fmt.Fprint(b, "0123456789abcdef")
	if got := b.String(); got != "...6789abcdef" {
		t.Errorf("tail = %q", got)
	}
}

func TestRunnerCoalescesAndNeverBlocks(t *testing.T) {
	release := make(chan struct{})
	var mu sync.Mutex
	var applied []string
	r := NewRunner("test", func(ctx context.Context, c Change) error {
		mu.Lock()
		applied = append(applied, c.Active.URL)
		first := len(applied) == 1
		mu.Unlock()
		if first {
			<-release // the first apply is slow
		}
		return nil
	}, false, quietLog())
	stop := svctest.Start(t, "Runner.Run", r.Run)

	r.Notify(change("u1", 0))
	eventually(t, "first apply to start", func() bool { mu.Lock(); defer mu.Unlock(); return len(applied) == 1 })
	for i := 2; i <= 100; i++ { // never blocks although apply is stuck
		r.Notify(change(fmt.Sprintf("u%d", i), 0))
	}
	close(release)
	eventually(t, "the newest change applied", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return applied[len(applied)-1] == "u100"
	})
	stop()
	mu.Lock()
	defer mu.Unlock()
	if len(applied) != 2 {
		t.Errorf("applied %v, want [u1 u100] (intermediate changes collapse)", applied)
	}
}

func TestRunnerRetries(t *testing.T) {
	var calls atomic.Int32
	r := NewRunner("test", func(ctx context.Context, c Change) error {
		if calls.Add(1) < 3 {
			return errors.New("disk full")
		}
		return nil
	}, true, quietLog())
	r.backoff.Min, r.backoff.Max = time.Millisecond, 5*time.Millisecond
	stop := svctest.Start(t, "Runner.Run", r.Run)
	r.Notify(change("", 0))
	eventually(t, "three attempts", func() bool { return calls.Load() == 3 })
	time.Sleep(20 * time.Millisecond)
	stop()
	if got := calls.Load(); got != 3 {
		t.Errorf("apply called %d times, want 3 (stop after success)", got)
	}
}

// BenchmarkProxyThroughput pushes 64 KiB writes through the proxy
// to a master that reads and discards them, and reports MB/s.
func BenchmarkProxyThroughput(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	var wg sync.WaitGroup
	wg.Go(func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		io.Copy(io.Discard, c)
		c.Close()
	})
	f, _ := newProxy(b, 4, quietLog())
	stop := svctest.Start(b, "Proxy.Run", f.Run)
	f.SetActive(masterAt(0, ln.Addr().String()))
	c, err := net.Dial("tcp", f.Addr())
	if err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 64<<10)
	b.SetBytes(int64(len(buf)))
	b.ResetTimer()
	for b.Loop() {
		if _, err := c.Write(buf); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	c.Close()
	stop()
	wg.Wait()
}

// BenchmarkProxyConnect measures a connection set up through the
// proxy: accept, dial the master, first byte back.
func BenchmarkProxyConnect(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Write([]byte{1})
			c.Close()
		}
	})
	f, _ := newProxy(b, 64, quietLog())
	stop := svctest.Start(b, "Proxy.Run", f.Run)
	f.SetActive(masterAt(0, ln.Addr().String()))
	one := make([]byte, 1)
	for b.Loop() {
		c, err := net.Dial("tcp", f.Addr())
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(c, one); err != nil {
			b.Fatal(err)
		}
		c.Close()
	}
	stop()
	ln.Close()
	wg.Wait()
}

// countingHandler counts log records at WARN and above.
type countingHandler struct {
	mu   *sync.Mutex
	warn *int
}

func (h countingHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h countingHandler) Handle(_ context.Context, r slog.Record) error {
	if r.Level >= slog.LevelWarn {
		h.mu.Lock()
		*h.warn++
		h.mu.Unlock()
	}
	return nil
}
func (h countingHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h countingHandler) WithGroup(string) slog.Handler      { return h }

// TestProxyRateLimitsConnectionLogs: 50 client connections refused
// because the master is dead log a handful of WARN lines, not one each.
func TestProxyRateLimitsConnectionLogs(t *testing.T) {
	var mu sync.Mutex
	warns := 0
	f, m := newProxy(t, 8, slog.New(countingHandler{mu: &mu, warn: &warns}))
	svctest.Start(t, "Proxy.Run", f.Run)
	f.SetActive(deadMaster(t, 0))
	const n = 50
	for range n {
		c, err := net.Dial("tcp", f.Addr())
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(5 * time.Second))
		c.Read(make([]byte, 1)) // until the proxy closes it
		c.Close()
	}
	eventually(t, "every dial error counted", func() bool {
		return testutil.ToFloat64(m.ProxyAccepted.WithLabelValues("dial_error")) == n
	})
	mu.Lock()
	defer mu.Unlock()
	if warns > 3 {
		t.Errorf("%d WARN lines for %d refused connections, want at most 3 (rate-limited)", warns, n)
	}
}

// TestProxyFallsBackToLiveMaster: the active master refuses; the
// connection goes to the first other live master at once, and survives the
// switch to that master.
func TestProxyFallsBackToLiveMaster(t *testing.T) {
	dead := deadMaster(t, 0)
	b, c3 := newEchoServer(t, "b"), newEchoServer(t, "c")
	f, m := startProxy(t, 4)
	f.SetActive(dead)
	f.SetLive([]masters.Master{b.master(1), c3.master(2)})
	c, r := dial(t, f)
	if got, err := roundTrip(c, r, "x"); err != nil || got != "b: x" {
		t.Fatalf("through a refusing active master: %q, %v; want b: x", got, err)
	}
	if got := testutil.ToFloat64(m.ProxyAccepted.WithLabelValues("fallback")); got != 1 {
		t.Errorf("connections_total{result=fallback} = %v, want 1", got)
	}
	f.SetActive(b.master(1))
	if got, err := roundTrip(c, r, "y"); err != nil || got != "b: y" {
		t.Errorf("after the switch to b: %q, %v; want the connection kept", got, err)
	}
}

func TestLogLimiter(t *testing.T) {
	l := newLogLimiter(10 * time.Second)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	now := t0
	l.now = func() time.Time { return now }
	steps := []struct {
		at     time.Duration
		key    string
		wantOK bool
		wantN  int
	}{
		{0, "a", true, 0}, {time.Second, "a", false, 0}, {2 * time.Second, "a", false, 0},
		{3 * time.Second, "b", true, 0}, {10 * time.Second, "a", true, 2}, {11 * time.Second, "a", false, 0},
	}
	for _, s := range steps {
		now = t0.Add(s.at)
		if ok, n := l.allow(s.key); ok != s.wantOK || n != s.wantN {
			t.Errorf("allow(%q) at %v = %t, %d; want %t, %d", s.key, s.at, ok, n, s.wantOK, s.wantN)
		}
	}
}

// TestProxyPrefersLiveMasterOverFailingActive: while the active
// master's latest probe failed (it may hang rather than refuse, and a dial
// to it would wait for the dial timeout), new connections go to a live
// master first; once the active answers again, to it.
func TestProxyPrefersLiveMasterOverFailingActive(t *testing.T) {
	a, b := newEchoServer(t, "a"), newEchoServer(t, "b")
	f, _ := startProxy(t, 4)
	f.SetActive(a.master(0))
	f.SetLive([]masters.Master{b.master(1)})
	c, r := dial(t, f)
	if got, err := roundTrip(c, r, "x"); err != nil || got != "b: x" {
		t.Errorf("active master not live: %q, %v; want b: x", got, err)
	}
	f.SetLive([]masters.Master{a.master(0), b.master(1)})
	c2, r2 := dial(t, f)
	if got, err := roundTrip(c2, r2, "y"); err != nil || got != "a: y" {
		t.Errorf("active master live again: %q, %v; want a: y", got, err)
	}
}
