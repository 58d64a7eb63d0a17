package zkview

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sensornode/sensornode/libs/fleetview"
	"github.com/sensornode/sensornode/libs/svc/svctest"
)

var (
	t0   = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	list = []string{"https://10.0.0.1:6443", "https://10.0.0.2:6443", "https://10.0.0.3:6443"}
	rev  = []string{"https://10.0.0.3:6443", "https://10.0.0.2:6443", "https://10.0.0.1:6443"}
)

func view(node, active string, idx int, masters []string, ready bool) fleetview.View {
	return fleetview.View{Node: node, Active: active, Index: idx, Since: t0, Ready: ready, Masters: masters}
}

func TestPrintStatus(t *testing.T) {
	now := t0.Add(90 * time.Second)
	agree := fleetview.Summarize([]fleetview.View{view("rpi-master-2", list[0], 0, list, true), view("rpi-node-1", list[0], 0, list, true)}, nil)
	var b bytes.Buffer
	if err := PrintStatus(&b, agree, now); err != nil {
		t.Fatal(err)
	}
	want := `NODE          ACTIVE                 INDEX  READY  SINCE                             MASTERS
rpi-master-2  https://10.0.0.1:6443  0      true   2026-03-01T12:00:00Z (1m30s ago)  https://10.0.0.1:6443,https://10.0.0.2:6443,https://10.0.0.3:6443
rpi-node-1    https://10.0.0.1:6443  0      true   2026-03-01T12:00:00Z (1m30s ago)  https://10.0.0.1:6443,https://10.0.0.2:6443,https://10.0.0.3:6443

fleet agrees: 2 node(s) use https://10.0.0.1:6443
`
	if b.String() != want {
		t.Errorf("PrintStatus =\n%s\nwant\n%s", b.String(), want)
	}

	b.Reset()
	dis := fleetview.Summarize([]fleetview.View{view("a", list[0], 0, list, true), view("b", rev[0], 0, rev, false)}, []fleetview.InvalidView{{Node: "c", Err: errors.New("not a view")}})
	PrintStatus(&b, dis, now)
	for _, w := range []string{
		"fleet DISAGREES: 2 groups",
		"active https://10.0.0.1:6443, masters https://10.0.0.1:6443,https://10.0.0.2:6443,https://10.0.0.3:6443: a",
		"active https://10.0.0.3:6443, masters https://10.0.0.3:6443,https://10.0.0.2:6443,https://10.0.0.1:6443: b",
		"\nc     (invalid: not a view)\n",
		"not ready (no live master): b",
	} {
		if !strings.Contains(b.String(), w) {
			t.Errorf("disagreeing status lacks %q:\n%s", w, b.String())
		}
	}
}

func TestStatusErrorExitCodes(t *testing.T) {
	tests := []struct {
		give error
		want int
	}{
		{&StatusError{Disagree: true}, 1},
		{&StatusError{Err: errors.New("zookeeper down")}, 2},
	}
	for _, tt := range tests {
		se, ok := errors.AsType[*StatusError](fmt.Errorf("status: %w", tt.give))
		if !ok || se.ExitCode() != tt.want {
			t.Errorf("%v: exit code %v (found %t), want %d", tt.give, se, ok, tt.want)
		}
	}
	inner := errors.New("boom")
	if !errors.Is(&StatusError{Err: inner}, inner) {
		t.Errorf("StatusError does not unwrap")
	}
}

func TestConfigValidate(t *testing.T) {
	base := func() Config {
		return Config{Servers: []string{"127.0.0.1:2181"}, Path: fleetview.DefaultPath, Node: "rpi-node-1", SessionTimeout: time.Second, CheckInterval: time.Second}
	}
	svctest.Validate(t, base, []svctest.ConfigCase[Config]{
		{Name: "ok", Change: func(*Config) {}},
		{Name: "no servers", Change: func(c *Config) { c.Servers = nil }, WantErr: "no servers"},
		{Name: "chroot", Change: func(c *Config) { c.Servers = []string{"127.0.0.1:2181/x"} }, WantErr: "no chroot"},
		{Name: "relative path", Change: func(c *Config) { c.Path = "sensornode" }, WantErr: "absolute znode path"},
		{Name: "trailing slash", Change: func(c *Config) { c.Path = "/sensornode/" }, WantErr: "absolute znode path"},
		{Name: "unclean", Change: func(c *Config) { c.Path = "/a//b" }, WantErr: "absolute znode path"},
		{Name: "root", Change: func(c *Config) { c.Path = "/" }, WantErr: "absolute znode path"},
		{Name: "no node", Change: func(c *Config) { c.Node = "" }, WantErr: "node name"},
		{Name: "slash in node", Change: func(c *Config) { c.Node = "a/b" }, WantErr: "node name"},
		{Name: "zero interval", Change: func(c *Config) { c.CheckInterval = 0 }, WantErr: "must be positive"},
	})
}

// TestPublisherNeverGivesUp: servers whose names do not resolve make
// go-zookeeper's Connect fail; Run keeps retrying (no crash loop) until it
// is stopped.
func TestPublisherNeverGivesUp(t *testing.T) {
	p, err := NewPublisher(Config{Servers: []string{"zookeeper.invalid:2181"}, Path: fleetview.DefaultPath, Node: "n1",
		SessionTimeout: time.Second, CheckInterval: time.Second}, slog.New(slog.DiscardHandler), NewMetrics(prometheus.NewRegistry()))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	select {
	case err := <-done:
		t.Fatalf("Run returned %v while ZooKeeper is unresolvable, want it to keep trying", err)
	case <-time.After(1500 * time.Millisecond):
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run after cancel = %v, want nil", err)
	}
}
