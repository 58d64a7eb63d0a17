//go:build integration

package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sensornode/sensornode/libs/fleetview"
	"github.com/sensornode/sensornode/libs/svc"
	"github.com/sensornode/sensornode/libs/svc/svctest"
	"github.com/sensornode/sensornode/services/master-watcher/internal/failover"
	"github.com/sensornode/sensornode/services/master-watcher/internal/watcher"
	"github.com/sensornode/sensornode/services/master-watcher/internal/zktest"
	"github.com/sensornode/sensornode/tools/devstack/devstacktest"
)

func apiServer(t *testing.T) string {
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") }))
	t.Cleanup(s.Close)
	return s.URL
}

type node struct {
	w      *watcher.Watcher
	reg    *prometheus.Registry
	cancel context.CancelFunc
	done   chan error
}

func startWatcher(t *testing.T, name string, masters []string, servers []string, root string) *node {
	t.Helper()
	cfg := watcher.DefaultConfig()
	cfg.NodeName = name
	cfg.Masters = masters
	cfg.ProbeMode = "http"
	cfg.ProbeInterval = 100 * time.Millisecond
	cfg.ProbeTimeout = time.Second
	cfg.ZooKeeperServers = servers
	cfg.ZooKeeperViewPath = root
	cfg.ZooKeeperCheckInterval = 200 * time.Millisecond
	reg := prometheus.NewRegistry()
	w, err := watcher.New(cfg, zktest.Log().With("watcher", name), reg, svc.NewProbe(reg))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	n := &node{w: w, reg: reg, cancel: cancel, done: make(chan error, 1)}
	go func() { n.done <- w.Run(ctx) }()
	t.Cleanup(n.stop)
	return n
}

func (n *node) stop() {
	if n.cancel == nil {
		return
	}
	n.cancel()
	n.cancel = nil
	<-n.done
}

// poll waits up to 30 s for cond, looking every 50 ms.
func poll(t *testing.T, what string, cond func() error) {
	t.Helper()
	svctest.EventuallyNoError(t, 30*time.Second, what, cond)
}

// waitDisagreeing waits until every node's fleet_disagreeing_nodes metric
// is want.
func waitDisagreeing(t *testing.T, what string, want float64, nodes ...*node) {
	t.Helper()
	for _, n := range nodes {
		poll(t, what, func() error {
			if v := svctest.Metric(t, n.reg, "sensornode_master_watcher_fleet_disagreeing_nodes"); v != want {
				return fmt.Errorf("fleet_disagreeing_nodes = %v, want %v", v, want)
			}
			return nil
		})
	}
}

func status(servers []string, root string) (string, error) {
	var out bytes.Buffer
	err := Run(context.Background(), []string{"status", "--servers", strings.Join(servers, ","), "--path", root, "--timeout", "20s"}, &out)
	return out.String(), err
}

// TestIntegrationStatusDisagreement runs two watchers against the same
// three live masters but with different priority lists, publishing to
// devstack's ZooKeeper: `status` reports the disagreement (exit code 1) and
// each watcher's disagreement metric counts the other. When the second
// watcher is replaced by one with the first one's list, status reports
// agreement (exit code 0).
func TestIntegrationStatusDisagreement(t *testing.T) {
	st := devstacktest.Stack(t)
	servers := st.ZooKeeperServers()
	root := zktest.UniqueRoot(t, servers)
	m1, m2, m3 := apiServer(t), apiServer(t), apiServer(t)
	list := []string{m1, m2, m3}
	reversed := []string{m3, m2, m1}

	a := startWatcher(t, "rpi-node-1", list, servers, root)
	b := startWatcher(t, "rpi-node-2", reversed, servers, root)
	for _, n := range []*node{a, b} {
		poll(t, "watchers to choose", func() error {
			if d := n.w.State(); d.Active == failover.None || !d.Ready {
				return fmt.Errorf("state %+v", d)
			}
			return nil
		})
	}

	var out string
	var err error
	poll(t, "status to see both views", func() error {
		out, err = status(servers, root)
		if !strings.Contains(out, "rpi-node-1") || !strings.Contains(out, "rpi-node-2") {
			return fmt.Errorf("not both nodes yet: %v\n%s", err, out)
		}
		return nil
	})
	t.Logf("status with different master lists:\n%s", out)
	if got := exitCode(err); got != 1 {
		t.Errorf("status exit code %d (%v), want 1 (disagree)", got, err)
	}
	for _, want := range []string{"fleet DISAGREES: 2 groups", "active " + m1 + ", masters " + strings.Join(list, ",") + ": rpi-node-1",
		"active " + m3 + ", masters " + strings.Join(reversed, ",") + ": rpi-node-2"} {
		if !strings.Contains(out, want) {
			t.Errorf("status output lacks %q", want)
		}
	}
	waitDisagreeing(t, "disagreement metric", 1, a, b)

	// Replace the second watcher with one that shares the first one's list.
	b.stop()
	c := startWatcher(t, "rpi-node-2", list, servers, root)
	poll(t, "status to agree", func() error {
		out, err = status(servers, root)
		if err != nil || !strings.Contains(out, "rpi-node-2") {
			return fmt.Errorf("%v\n%s", err, out)
		}
		return nil
	})
	t.Logf("status with the same list:\n%s", out)
	if !strings.Contains(out, "fleet agrees: 2 node(s) use "+m1) {
		t.Errorf("status output lacks the agreement line:\n%s", out)
	}
	waitDisagreeing(t, "agreement metric", 0, a, c)

	// Every watcher gone: their ephemeral views leave with them, and status
	// cannot tell anything (exit code 2).
	a.stop()
	c.stop()
	out, err = status(servers, root)
	if got := exitCode(err); got != 2 || !errors.Is(err, fleetview.ErrNoViews) {
		t.Errorf("status with no watcher: exit %d (%v), want 2 and no views\n%s", got, err, out)
	}
}

// TestIntegrationWaitZooKeeperCommand runs the init-container command
// against devstack with a Kafka-style connect string (chroot included).
func TestIntegrationWaitZooKeeperCommand(t *testing.T) {
	st := devstacktest.Stack(t)
	t.Setenv("SENSORNODE_ZOOKEEPER_SERVERS", st.ZooKeeperConnect()+st.EdgeChroot())
	var out bytes.Buffer
	if err := Run(context.Background(), []string{"wait-zookeeper", "--timeout", "1m"}, &out); err != nil {
		t.Fatalf("wait-zookeeper = %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), `"msg":"zookeeper has a quorum"`) {
		t.Errorf("no success message:\n%s", out.String())
	}
}
