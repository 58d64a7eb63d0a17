//go:build integration

package zkview

import (
	"encoding/json"
	"errors"
	"net"
	"path"
	"sync"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/sensornode/sensornode/libs/fleetview"
	"github.com/sensornode/sensornode/libs/svc/svctest"
	"github.com/sensornode/sensornode/services/master-watcher/internal/zktest"
	"github.com/sensornode/sensornode/tools/devstack/devstacktest"
)

// readView returns the stored view and its znode's owner session.
func readView(conn *zk.Conn, znode string) (fleetview.View, int64, error) {
	b, st, err := conn.Get(znode)
	if err != nil {
		return fleetview.View{}, 0, err
	}
	var v fleetview.View
	if err := json.Unmarshal(b, &v); err != nil {
		return fleetview.View{}, 0, err
	}
	return v, st.EphemeralOwner, nil
}

// partition is a dialer whose network the test can cut: cutting closes
// the connections it made and refuses new ones.
type partition struct {
	mu    sync.Mutex
	cut   bool
	conns []net.Conn
}

func (p *partition) dial(network, addr string, timeout time.Duration) (net.Conn, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cut {
		return nil, errors.New("test partition: network cut")
	}
	c, err := net.DialTimeout(network, addr, timeout)
	if err == nil {
		p.conns = append(p.conns, c)
	}
	return c, err
}

func (p *partition) set(cut bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = cut
	if cut {
		for _, c := range p.conns {
			c.Close()
		}
		p.conns = nil
	}
}

var masters3 = []string{"https://10.0.0.1:6443", "https://10.0.0.2:6443", "https://10.0.0.3:6443"}

// TestIntegrationPublishUpdateAndLeave: the view appears as an ephemeral
// znode of the publisher's session, follows updates, and disappears at
// once when the watcher stops.
func TestIntegrationPublishUpdateAndLeave(t *testing.T) {
	st := devstacktest.Stack(t)
	servers := st.ZooKeeperServers()
	root := zktest.UniqueRoot(t, servers)
	obs := zktest.Session(t, servers)
	m := NewMetrics(prometheus.NewRegistry())
	p, err := NewPublisher(Config{Servers: servers, Path: root, Node: "rpi-node-1", SessionTimeout: 10 * time.Second, CheckInterval: 200 * time.Millisecond}, zktest.Log().With("test", t.Name()), m)
	if err != nil {
		t.Fatal(err)
	}
	since := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	p.Update(fleetview.View{Active: masters3[0], Index: 0, Since: since, Ready: true, Masters: masters3})
	stop := svctest.Start(t, "Publisher.Run", p.Run)

	svctest.EventuallyNoError(t, 30*time.Second, "view published", func() error {
		v, owner, err := readView(obs, p.ZNode())
		if err != nil {
			return err
		}
		if v.Node != "rpi-node-1" || v.Active != masters3[0] || !v.Since.Equal(since) || !v.Ready || len(v.Masters) != 3 {
			return errors.New("unexpected view")
		}
		if owner == 0 || owner != p.SessionOwner() {
			return errors.New("not an ephemeral znode of the publisher's session")
		}
		return nil
	})
	p.Update(fleetview.View{Active: masters3[1], Index: 1, Since: since.Add(time.Minute), Ready: true, Masters: masters3})
	svctest.EventuallyNoError(t, 30*time.Second, "view updated", func() error {
		v, _, err := readView(obs, p.ZNode())
		if err == nil && v.Active != masters3[1] {
			err = errors.New("still the old view")
		}
		return err
	})
	views, invalid, err := fleetview.ReadViews(obs, root)
	if err != nil || len(views) != 1 || len(invalid) != 0 {
		t.Fatalf("ReadViews = %v, %v, %v; want the one view", views, invalid, err)
	}
	if got := testutil.ToFloat64(m.FleetNodes); got != 1 {
		t.Errorf("fleet_nodes = %v, want 1", got)
	}
	stop()
	// Closing the session deletes the ephemeral znode at once, not after
	// the session timeout. The observer's server may be a follower that
	// has not applied the close yet (ZooKeeper reads are not linearizable
	// across sessions): sync it with the leader first.
	if _, err := obs.Sync(p.ZNode()); err != nil {
		t.Fatalf("sync: %v", err)
	}
	if ok, _, err := obs.Exists(p.ZNode()); err != nil || ok {
		t.Errorf("after stop: Exists = %t, %v; want gone", ok, err)
	}
}

// TestIntegrationSessionExpiry cuts the publisher's network for longer than
// its session timeout, so that the ensemble expires the session and
// deletes the ephemeral znode (seen from another session), then heals it:
// the publisher gets a new session and re-creates the znode with the
// newest view, including an update made during the partition.
func TestIntegrationSessionExpiry(t *testing.T) {
	st := devstacktest.Stack(t)
	servers := st.ZooKeeperServers()
	root := zktest.UniqueRoot(t, servers)
	obs := zktest.Session(t, servers)
	net := &partition{}
	m := NewMetrics(prometheus.NewRegistry())
	// 6s is the ensemble's minimum (2 x tickTime 3000).
	p, err := NewPublisher(Config{Servers: servers, Path: root, Node: "rpi-node-2", SessionTimeout: 6 * time.Second, CheckInterval: 200 * time.Millisecond},
		zktest.Log().With("test", t.Name()), m, WithDialer(net.dial))
	if err != nil {
		t.Fatal(err)
	}
	p.Update(fleetview.View{Active: masters3[0], Index: 0, Since: time.Now(), Ready: true, Masters: masters3})
	svctest.Start(t, "Publisher.Run", p.Run)

	var first int64
	svctest.EventuallyNoError(t, 30*time.Second, "view published", func() error {
		_, owner, err := readView(obs, p.ZNode())
		first = owner
		return err
	})
	t.Logf("view published by session 0x%x", first)

	net.set(true)
	cutAt := time.Now()
	// While cut off, the watcher decides on another master.
	p.Update(fleetview.View{Active: masters3[2], Index: 2, Since: time.Now(), Ready: true, Masters: masters3})
	svctest.EventuallyNoError(t, 90*time.Second, "ensemble to expire the session and delete the znode", func() error {
		ok, _, err := obs.Exists(p.ZNode())
		if err == nil && ok {
			err = errors.New("znode still there")
		}
		return err
	})
	t.Logf("znode gone %s after the cut", time.Since(cutAt).Round(100*time.Millisecond))
	if got := testutil.ToFloat64(m.Connected); got != 0 {
		t.Errorf("zookeeper_connected = %v during the partition, want 0", got)
	}

	net.set(false)
	healAt := time.Now()
	svctest.EventuallyNoError(t, 60*time.Second, "znode re-created on a new session", func() error {
		v, owner, err := readView(obs, p.ZNode())
		switch {
		case err != nil:
			return err
		case owner == first:
			return errors.New("still the old session")
		case v.Active != masters3[2]:
			return errors.New("re-created with a stale view")
		}
		return nil
	})
	t.Logf("znode back %s after healing", time.Since(healAt).Round(100*time.Millisecond))
	if got := testutil.ToFloat64(m.Expirations); got != 1 {
		t.Errorf("session_expirations_total = %v, want 1", got)
	}
	if got := testutil.ToFloat64(m.Publishes.WithLabelValues("created")); got != 2 {
		t.Errorf("publishes_total{created} = %v, want 2", got)
	}
	if got := testutil.ToFloat64(m.Connected); got != 1 {
		t.Errorf("zookeeper_connected = %v, want 1", got)
	}
}

// TestIntegrationStaleViewReplaced: a view left by an earlier session of
// the same node (a restart) is replaced at once rather than after its
// session times out.
func TestIntegrationStaleViewReplaced(t *testing.T) {
	st := devstacktest.Stack(t)
	servers := st.ZooKeeperServers()
	root := zktest.UniqueRoot(t, servers)
	obs := zktest.Session(t, servers)
	old := zktest.Session(t, servers) // plays the previous incarnation
	if err := ensurePath(old, root); err != nil {
		t.Fatal(err)
	}
	stale, _ := json.Marshal(fleetview.View{Node: "rpi-node-3", Active: masters3[1], Index: 1, Masters: masters3})
	if _, err := old.Create(path.Join(root, "rpi-node-3"), stale, zk.FlagEphemeral, zk.WorldACL(zk.PermAll)); err != nil {
		t.Fatal(err)
	}
	p, _ := NewPublisher(Config{Servers: servers, Path: root, Node: "rpi-node-3", SessionTimeout: 10 * time.Second, CheckInterval: 200 * time.Millisecond},
		zktest.Log().With("test", t.Name()), NewMetrics(prometheus.NewRegistry()))
	p.Update(fleetview.View{Active: masters3[0], Index: 0, Ready: true, Masters: masters3})
	svctest.Start(t, "Publisher.Run", p.Run)
	svctest.EventuallyNoError(t, 30*time.Second, "stale view replaced", func() error {
		v, owner, err := readView(obs, p.ZNode())
		switch {
		case err != nil:
			return err
		case owner == old.SessionID() || v.Active != masters3[0]:
			return errors.New("still the stale view")
		}
		return nil
	})
}
