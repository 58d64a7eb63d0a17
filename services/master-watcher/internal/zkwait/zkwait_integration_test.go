//go:build integration

package zkwait

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/sensornode/sensornode/services/master-watcher/internal/zktest"
	"github.com/sensornode/sensornode/tools/devstack"
	"github.com/sensornode/sensornode/tools/devstack/devstacktest"
)

// TestIntegrationHealthyEnsemble: each method sees the devstack ensemble's
// quorum at the first attempt, also through a Kafka-style connect string
// with a chroot.
func TestIntegrationHealthyEnsemble(t *testing.T) {
	st := devstacktest.Stack(t)
	// As envconfig hands over SENSORNODE_ZOOKEEPER_SERVERS=a:1,b:2,c:3/edge.
	servers, chroot := SplitChroot(strings.Split(st.ZooKeeperConnect()+st.EdgeChroot(), ","))
	if len(servers) != len(st.ZooKeeperServers()) || chroot != st.EdgeChroot() {
		t.Fatalf("SplitChroot(%s%s) = %v, %q", st.ZooKeeperConnect(), st.EdgeChroot(), servers, chroot)
	}
	for _, m := range []Method{MethodSrvr, MethodSession, MethodBoth} {
		t.Run(string(m), func(t *testing.T) {
			var attempts []Attempt
			cfg := Config{Servers: servers, Timeout: time.Minute, Interval: 500 * time.Millisecond, AttemptTimeout: 5 * time.Second, Method: m}
			if err := Wait(context.Background(), cfg, zktest.Log(), func(a Attempt) { attempts = append(attempts, a) }); err != nil {
				t.Fatalf("Wait = %v", err)
			}
			a := attempts[len(attempts)-1]
			if m != MethodSession && a.InQuorum != len(servers) {
				t.Errorf("%d of %d servers in quorum, want all: %s", a.InQuorum, len(servers), a.Describe())
			}
			if m != MethodSrvr && (!a.SessionChecked || a.SessionErr != nil) {
				t.Errorf("session check: checked %t, err %v", a.SessionChecked, a.SessionErr)
			}
		})
	}
}

// TestIntegrationWaitsForQuorum kills two of the three ZooKeeper servers:
// the tool keeps waiting (and says so) while there is no quorum, and exits
// successfully once a second server is back. The stack is restored and
// checked healthy (brokers included) before the test returns.
func TestIntegrationWaitsForQuorum(t *testing.T) {
	st := devstacktest.Stack(t)
	if len(st.ZooKeeperServers()) != 3 {
		t.Fatalf("test needs a 3-server ensemble, stack has %d", len(st.ZooKeeperServers()))
	}
	// Registered first, so it runs last: after the killed servers are back.
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		if err := st.WaitHealthy(ctx); err != nil {
			t.Errorf("cleanup: stack not healthy again: %v", err)
		}
	})
	devstacktest.KillForTest(t, st, devstack.ZooKeeperName(2))
	devstacktest.KillForTest(t, st, devstack.ZooKeeperName(3))

	cfg := Config{Servers: st.ZooKeeperServers(), Timeout: 4 * time.Minute, Interval: 300 * time.Millisecond,
		AttemptTimeout: 3 * time.Second, Method: MethodBoth}
	w := startWait(cfg, zktest.Log())
	w.keepsWaiting(t, 5, 50*time.Millisecond, "with 2 of 3 servers dead")
	attempts := w.Attempts()
	for _, a := range attempts {
		if a.Quorum || a.InQuorum >= a.Need {
			t.Errorf("attempt %d without quorum reported %d in quorum: %s", a.N, a.InQuorum, a.Describe())
		}
	}
	t.Logf("while 2 of 3 are down: %s", attempts[len(attempts)-1].Describe())

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	restart := time.Now()
	if err := st.Start(ctx, devstack.ZooKeeperName(2)); err != nil {
		t.Fatalf("start zk-2: %v", err)
	}
	w.returns(t, 2*time.Minute, "after zk-2 came back")
	attempts = w.Attempts()
	last := attempts[len(attempts)-1]
	if !last.Quorum || last.InQuorum != 2 || !last.SessionChecked || last.SessionErr != nil {
		t.Errorf("last attempt: %+v, want a quorum of 2 and a good session read", last)
	}
	t.Logf("quorum seen %s after zk-2 was started, after %d attempts: %s", time.Since(restart).Round(100*time.Millisecond), len(attempts), last.Describe())
}
