package svctest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// fakeT records a failure instead of ending the test.
type fakeT struct {
	testing.TB
	mu     sync.Mutex
	failed string
	errors []string
}

func (f *fakeT) Helper()        {}
func (f *fakeT) Cleanup(func()) {} // the helpers under test are stopped by hand
func (f *fakeT) Errorf(format string, args ...any) {
	f.mu.Lock()
	f.errors = append(f.errors, fmt.Sprintf(format, args...))
	f.mu.Unlock()
}
func (f *fakeT) Fatalf(format string, args ...any) {
	f.mu.Lock()
	f.failed = fmt.Sprintf(format, args...)
	f.mu.Unlock()
	panic(f) // stop the helper as t.Fatalf's Goexit would
}

func run(f func(t testing.TB)) (failed string) {
	ft := &fakeT{}
	func() {
		defer func() {
			if r := recover(); r != nil && r != ft {
				panic(r)
			}
		}()
		f(ft)
	}()
	return ft.failed
}

func TestEventually(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		if msg := run(func(ft testing.TB) {
			Eventually(ft, time.Second, "ready", func() bool { return time.Since(start) >= 300*time.Millisecond })
		}); msg != "" {
			t.Errorf("a condition met after 300ms failed within 1s: %s", msg)
		}
		if took := time.Since(start); took < 300*time.Millisecond || took > 360*time.Millisecond {
			t.Errorf("returned after %v, want soon after 300ms (polls at most every 50ms)", took)
		}
		start = time.Now()
		msg := run(func(ft testing.TB) { Eventually(ft, 2*time.Second, "never", func() bool { return false }) })
		if msg != "after 2s: never" {
			t.Errorf("failure = %q, want \"after 2s: never\"", msg)
		}
		if took := time.Since(start); took < 2*time.Second {
			t.Errorf("gave up after %v, before the limit", took)
		}
		msg = run(func(ft testing.TB) {
			EventuallyNoError(ft, time.Second, "topic", func() error { return errors.New("unknown topic") })
		})
		if msg != "after 1s: topic: unknown topic" {
			t.Errorf("failure = %q, want the last error", msg)
		}
	})
}

func TestMetric(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "msgs_total", Help: "h"}, []string{"kind", "result"})
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "lag", Help: "h"})
	reg.MustRegister(c, g)
	c.WithLabelValues("picture", "ok").Add(3)
	c.WithLabelValues("picture", "error").Add(1)
	c.WithLabelValues("reading", "ok").Add(5)
	g.Set(7)
	tests := []struct {
		name  string
		match []string
		want  float64
	}{
		{"msgs_total", nil, 9},
		{"msgs_total", []string{"kind", "picture"}, 4},
		{"msgs_total", []string{"kind", "picture", "result", "ok"}, 3},
		{"msgs_total", []string{"kind", "video"}, 0},
		{"lag", nil, 7},
		{"absent", nil, 0},
	}
	for _, tt := range tests {
		if got := Metric(t, reg, tt.name, tt.match...); got != tt.want {
			t.Errorf("Metric(%s, %q) = %v, want %v", tt.name, tt.match, got, tt.want)
		}
	}
	if msg := run(func(ft testing.TB) { Metric(ft, reg, "msgs_total", "kind") }); !strings.Contains(msg, "not name/value pairs") {
		t.Errorf("odd match: failure %q", msg)
	}
}

func TestSyncBuffer(t *testing.T) {
	var b SyncBuffer
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				fmt.Fprint(&b, "x")
				_ = b.String()
			}
		})
	}
	wg.Wait()
	if n := len(b.String()); n != 800 {
		t.Errorf("%d bytes written, want 800", n)
	}
}

func TestSucceeds(t *testing.T) {
	boom := errors.New("kafka: no brokers")
	tests := []struct {
		name       string
		err        error
		wantErr    string
		want       bool
		wantFailed string
	}{
		{name: "success wanted and got", want: true},
		{name: "wanted error got", err: boom, wantErr: "no brokers"},
		{name: "unexpected error", err: boom, wantFailed: `Load() error = kafka: no brokers`},
		{name: "wanted error missing", wantErr: "no brokers", wantFailed: `Load() error = <nil>, want containing "no brokers"`},
		{name: "other error", err: boom, wantErr: "timeout", wantFailed: `Load() error = kafka: no brokers, want containing "timeout"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got bool
			failed := run(func(ft testing.TB) { got = Succeeds(ft, "Load()", tt.err, tt.wantErr) })
			if failed != tt.wantFailed || failed == "" && got != tt.want {
				t.Errorf("Succeeds() = %v, failure %q; want %v, failure %q", got, failed, tt.want, tt.wantFailed)
			}
		})
	}
}

// exampleConfig counts the Validate calls on copies of it.
type exampleConfig struct {
	Brokers []string
	calls   *int
}

func (c *exampleConfig) Validate() error {
	*c.calls++
	if len(c.Brokers) == 0 {
		return errors.New("SENSORNODE_KAFKA_BROKERS is empty")
	}
	return nil
}

func TestValidate(t *testing.T) {
	calls, bases := 0, 0
	base := func() exampleConfig {
		bases++
		return exampleConfig{Brokers: []string{"a:1"}, calls: &calls}
	}
	Validate(t, base, []ConfigCase[exampleConfig]{
		{"ok", func(*exampleConfig) {}, ""},
		{"no brokers", func(c *exampleConfig) { c.Brokers = nil }, "KAFKA_BROKERS"},
		{"fresh copy after the change above", func(c *exampleConfig) {
			if len(c.Brokers) != 1 {
				t.Errorf("case got brokers %q, want the base's", c.Brokers)
			}
		}, ""},
	})
	if calls != 3 || bases != 3 {
		t.Errorf("Validate ran %d times on %d bases, want 3 and 3", calls, bases)
	}
}

func TestBackground(t *testing.T) {
	boom := errors.New("boom")
	for _, tt := range []struct {
		name string
		give error
	}{{"nil", nil}, {"error", boom}} {
		t.Run(tt.name, func(t *testing.T) {
			started := make(chan struct{})
			halt := Background(func(ctx context.Context) error {
				close(started)
				<-ctx.Done()
				return tt.give
			})
			<-started
			if err := halt(); err != tt.give {
				t.Errorf("halt() = %v, want %v", err, tt.give)
			}
			if err := halt(); err != nil {
				t.Errorf("second halt() = %v, want nil", err)
			}
		})
	}
}

func TestStartListening(t *testing.T) {
	t.Run("listening", func(t *testing.T) {
		stopped := false
		addr, stop := StartListening(t, "Serve", func(ctx context.Context, listening func(string)) error {
			listening("127.0.0.1:9")
			<-ctx.Done()
			stopped = true
			return nil
		})
		if addr != "127.0.0.1:9" {
			t.Errorf("StartListening() addr = %q, want 127.0.0.1:9", addr)
		}
		stop()
		if !stopped {
			t.Error("stop() returned before run did")
		}
	})
	t.Run("run fails first", func(t *testing.T) {
		var ft *fakeT
		failed := run(func(tb testing.TB) {
			ft = tb.(*fakeT)
			StartListening(tb, "Serve", func(context.Context, func(string)) error { return errors.New("port taken") })
		})
		if !strings.Contains(failed, "Serve() returned before its admin server listened") {
			t.Errorf("failure = %q, want the early return named", failed)
		}
		if len(ft.errors) != 1 || ft.errors[0] != "Serve() = port taken" {
			t.Errorf("errors = %q, want [Serve() = port taken]", ft.errors)
		}
	})
}

func TestFreeAddr(t *testing.T) {
	addr := FreeAddr(t)
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("FreeAddr() = %s, not free: %v", addr, err)
	}
	l.Close()
	if host, _, _ := net.SplitHostPort(addr); host != "127.0.0.1" {
		t.Errorf("FreeAddr() = %s, want a 127.0.0.1 address", addr)
	}
}
