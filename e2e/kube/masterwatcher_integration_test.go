//go:build integration

package kube

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/sensornode/sensornode/tools/kubestack"
)

// TestKubeMasterWatcher is the thesis's failover cases against the three
// real API servers, by stopping and starting them (their etcd members,
// controller managers and schedulers stay up): every node's master-watcher
// (kubestack runs one per node with its forwarder sink, probing /readyz
// over HTTPS with the daemon's default settings, the chart's) must follow,
// and a client of the API through one node's forwarder must keep working.
// The times it logs, from the stop or start to all five watchers serving
// through the new master, are in services/master-watcher/README.md.
func TestKubeMasterWatcher(t *testing.T) {
	ctx := t.Context()
	st := startStack(t)
	restartAllOnCleanup(t, st)
	const clientNode = "rpi-node-1"
	c, err := st.NodeClient(clientNode)
	if err != nil {
		t.Fatal(err)
	}
	// The client: an API read through the forwarder every 100 ms, each
	// answer recorded, so each case's longest time without an answer is
	// what a kubelet or kubectl on the node would have seen.
	reads := startReader(ctx, c)

	var summary []string
	// follow waits until every watcher has master (1..3) active (0: the
	// first master, kept) with the readiness ready, then logs and records
	// the time from since.
	follow := func(name string, since time.Time, master int, ready bool) {
		t.Helper()
		err := poll(ctx, 3*time.Minute, func() error { return watchersAt(ctx, st, master-1, ready) })
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		took := time.Since(since)
		gap := reads.longestGap(since, time.Now())
		t.Logf("%s: every master-watcher on master %d (ready %v) after %s; reads through %s's forwarder: longest gap %s",
			name, master, ready, took.Round(100*time.Millisecond), clientNode, gap.Round(100*time.Millisecond))
		summary = append(summary, fmt.Sprintf("%-32s %8s %10s", name, took.Round(100*time.Millisecond), gap.Round(100*time.Millisecond)))
	}
	// works reads the nodes through the forwarder.
	works := func(name string) {
		t.Helper()
		if err := poll(ctx, 30*time.Second, func() error { return nodesThrough(ctx, c) }); err != nil {
			t.Fatalf("%s: read through %s's forwarder: %v", name, clientNode, err)
		}
	}
	apiserver := func(i int) string { return fmt.Sprintf("kube-apiserver-%d", i) }
	// stop sends kube-apiserver-i SIGTERM (its /readyz fails from then
	// on, while it drains for several seconds) and returns at once; wait
	// waits until it has exited.
	var stopping sync.WaitGroup
	stop := func(i int) time.Time {
		t.Helper()
		start := time.Now()
		stopping.Go(func() {
			if err := st.Stop(ctx, apiserver(i)); err != nil {
				t.Errorf("stop %s: %v", apiserver(i), err)
			}
			t.Logf("%s exited %s after SIGTERM", apiserver(i), time.Since(start).Round(100*time.Millisecond))
		})
		return start
	}
	wait := func() {
		stopping.Wait()
		if t.Failed() {
			t.FailNow()
		}
	}
	startAPI := func(i int) time.Time {
		t.Helper()
		start := time.Now()
		if err := st.Start(ctx, apiserver(i)); err != nil {
			t.Fatal(err)
		}
		t.Logf("%s ready %s after its start", apiserver(i), time.Since(start).Round(100*time.Millisecond))
		return start
	}

	follow("all up", time.Now(), 1, true)
	works("all up")

	t.Log("primary down: kube-apiserver-1 stops")
	since := stop(1)
	follow("primary down (fail over)", since, 2, true)
	works("primary down")
	wait()

	t.Log("primary and secondary down: kube-apiserver-2 stops")
	since = stop(2)
	follow("secondary down too (fail over)", since, 3, true)
	works("primary and secondary down")
	wait()

	t.Log("primary back: kube-apiserver-1 starts (fail back after the hold-down)")
	since = startAPI(1)
	follow("primary back (fail back)", since, 1, true)
	works("primary back")

	t.Log("all down: kube-apiserver-3, then -1 stop too")
	stop(3) // a standby: nothing changes
	wait()
	since = stop(1)
	follow("all down (not ready)", since, 1, false)
	wait()
	// The last choice is kept for a while: five more probe rounds on every
	// watcher, still master 1, still not ready.
	rounds := map[string]int{}
	for _, n := range kubestack.Nodes {
		ws, err := st.Watcher(ctx, n.Name)
		if err != nil {
			t.Fatal(err)
		}
		rounds[n.Name] = ws.Rounds
	}
	err = poll(ctx, time.Minute, func() error {
		for _, n := range kubestack.Nodes {
			ws, err := st.Watcher(ctx, n.Name)
			if err != nil {
				return err
			}
			if ws.Active != 0 || ws.Ready {
				t.Fatalf("all down: %s's watcher on master index %d, ready %v; want the last choice (0), not ready", n.Name, ws.Active, ws.Ready)
			}
			if ws.Rounds < rounds[n.Name]+5 {
				return fmt.Errorf("%s: %d probe rounds since all went down, want 5", n.Name, ws.Rounds-rounds[n.Name])
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := nodesThrough(ctx, c); err == nil {
		t.Error("all down: a read through the forwarder succeeded")
	}

	t.Log("all back")
	since = startAPI(1)
	follow("primary back from all down", since, 1, true)
	works("all back")
	startAPI(2)
	startAPI(3)
	works("all back")

	t.Logf("case (from the stop/start)         switched  read gap\n%s", strings.Join(summary, "\n"))
}

// watchersAt fails unless every node's master-watcher has master index
// active (0-based) and readiness ready.
func watchersAt(ctx context.Context, st *kubestack.Stack, active int, ready bool) error {
	for _, n := range kubestack.Nodes {
		ws, err := st.Watcher(ctx, n.Name)
		if err != nil {
			return err
		}
		if ws.Active != active || ws.Ready != ready {
			return fmt.Errorf("%s's master-watcher: master index %d ready %v, want %d %v", n.Name, ws.Active, ws.Ready, active, ready)
		}
	}
	return nil
}

// nodesThrough reads the node list through c and wants every node.
func nodesThrough(ctx context.Context, c *kubestack.Client) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	var l corev1.NodeList
	if err := c.Get(ctx, "/api/v1/nodes", &l); err != nil {
		return err
	}
	if len(l.Items) != len(kubestack.Nodes) {
		return fmt.Errorf("%d nodes, want %d", len(l.Items), len(kubestack.Nodes))
	}
	return nil
}

// reader reads the API through a client in a loop and records when it got
// an answer.
type reader struct {
	mu       sync.Mutex
	answered []time.Time
}

func startReader(ctx context.Context, c *kubestack.Client) *reader {
	r := &reader{}
	go func() {
		for ctx.Err() == nil {
			rctx, cancel := context.WithTimeout(ctx, 3*time.Second)
			err := c.Get(rctx, "/api/v1/namespaces/default", nil)
			cancel()
			if err == nil {
				r.mu.Lock()
				r.answered = append(r.answered, time.Now())
				r.mu.Unlock()
			}
			select {
			case <-ctx.Done():
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()
	return r
}

// longestGap is the longest time in [from, to] without an answer.
func (r *reader) longestGap(from, to time.Time) time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	var gap time.Duration
	last := from
	for _, at := range r.answered {
		if at.Before(from) || at.After(to) {
			continue
		}
		gap = max(gap, at.Sub(last))
		last = at
	}
	return max(gap, to.Sub(last))
}

// restartAllOnCleanup starts every stopped process of the stack when the
// test ends, whatever failed: a controller manager or scheduler that held
// its lease while its API server or etcd's quorum was gone exits when it
// loses it.
func restartAllOnCleanup(t *testing.T, st *kubestack.Stack) {
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		for _, n := range st.Processes() {
			if err := st.Start(ctx, n); err != nil {
				t.Errorf("restart %s: %v", n, err)
			}
		}
	})
}
