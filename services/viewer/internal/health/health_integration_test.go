//go:build integration

package health

import (
	"context"
	"encoding/json"
	"log/slog"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"

	"github.com/sensornode/sensornode/libs/fleetview"
	"github.com/sensornode/sensornode/libs/zkconn"
	"github.com/sensornode/sensornode/tools/devstack/devstacktest"
)

func TestMain(m *testing.M) { devstacktest.Main(m) }

// TestIntegrationMasterView reads views published in the devstack's
// ZooKeeper (written here as master-watchers write them) through
// libs/fleetview.
func TestIntegrationMasterView(t *testing.T) {
	st := devstacktest.Stack(t)
	servers := st.ZooKeeperServers()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := zkconn.Connect(ctx, servers, 10*time.Second, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(conn.Close) // after the deletes below (cleanups run last first)
	base := "/sensornode-test/" + devstacktest.UniqueTopic(t, "viewer")
	root := base + "/masters"
	masters := []string{"https://m1:6443", "https://m2:6443"}
	var created []string
	for _, p := range []string{"/sensornode-test", base, root} {
		if _, err := conn.Create(p, nil, 0, zk.WorldACL(zk.PermAll)); err != nil && err != zk.ErrNodeExists {
			t.Fatal(err)
		}
		if p != "/sensornode-test" {
			created = append(created, p)
		}
	}
	for _, n := range []string{"node1", "node2"} {
		b, _ := json.Marshal(fleetview.View{Node: n, Active: masters[0], Index: 0, Ready: true, Masters: masters})
		if _, err := conn.Create(root+"/"+n, b, zk.FlagEphemeral, zk.WorldACL(zk.PermAll)); err != nil {
			t.Fatal(err)
		}
		created = append(created, root+"/"+n)
	}
	t.Cleanup(func() {
		for i := len(created) - 1; i >= 0; i-- {
			if err := conn.Delete(created[i], -1); err != nil {
				t.Logf("cleanup: delete %s: %v", created[i], err)
			}
		}
	})

	s, err := New(Config{ZooKeeperServers: servers, ZooKeeperView: root, Timeout: 20 * time.Second}, nil)
	if err != nil {
		t.Fatal(err)
	}
	snap, err := s.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !snap.MasterViewOK || !snap.FleetAgrees || snap.FleetMaster != masters[0] || len(snap.Nodes) != 2 || snap.Nodes[0].Master != masters[0] {
		t.Errorf("Snapshot() = %+v; want node1 and node2 agreeing on %s", snap, masters[0])
	}
}
