//go:build integration

package devstack_test

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"

	"github.com/sensornode/sensornode/tools/devstack"
	"github.com/sensornode/sensornode/tools/devstack/devstacktest"
)

type nopLogger struct{}

func (nopLogger) Printf(string, ...any) {}

// TestIntegrationZooKeeperEnsemble lists the brokers registered in ZooKeeper
// with go-zookeeper (ZooKeeper mode: /edge/brokers/ids, /cloud/brokers/ids)
// and reports each ensemble member's mode: exactly one leader.
func TestIntegrationZooKeeperEnsemble(t *testing.T) {
	st := devstacktest.Stack(t)
	conn, _, err := zk.Connect(st.ZooKeeperServers(), 10*time.Second, zk.WithLogger(nopLogger{}))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()

	wantEdge := make([]string, st.EdgeBrokers())
	for i := range wantEdge {
		wantEdge[i] = fmt.Sprint(i + 1)
	}
	for _, tt := range []struct {
		chroot string
		want   []string
	}{
		{st.EdgeChroot(), wantEdge},
		{st.CloudChroot(), []string{"1"}},
	} {
		ids, _, err := conn.Children(tt.chroot + "/brokers/ids")
		if err != nil {
			t.Fatalf("Children(%s/brokers/ids): %v", tt.chroot, err)
		}
		sort.Strings(ids)
		if !slices.Equal(ids, tt.want) {
			t.Errorf("%s/brokers/ids = %v, want %v", tt.chroot, ids, tt.want)
		}
		t.Logf("%s/brokers/ids = %v", tt.chroot, ids)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	leaders, followers := 0, 0
	for i, server := range st.ZooKeeperServers() {
		mode, err := devstack.ZooKeeperMode(ctx, server)
		if err != nil {
			t.Fatalf("zk-%d (%s): %v", i+1, server, err)
		}
		t.Logf("zk-%d (%s): %s", i+1, server, mode)
		switch mode {
		case "leader":
			leaders++
		case "follower":
			followers++
		default:
			t.Errorf("zk-%d mode %q, want leader or follower", i+1, mode)
		}
	}
	if leaders != 1 || followers != len(st.ZooKeeperServers())-1 {
		t.Errorf("ensemble has %d leaders and %d followers, want 1 and %d", leaders, followers, len(st.ZooKeeperServers())-1)
	}
}
