//go:build integration

package kube

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/sensornode/sensornode/tools/kubestack"
)

// TestKubeMasterLoss is the thesis's Table 5.3 on the three masters: one
// master (API server, etcd member, controller manager, scheduler) down,
// the cluster keeps working; two down, the running pods stay but nothing
// new is accepted; one back, everything resumes. Master 1 first: every
// kwok (kubelet) reaches the API through its node's master-watcher, so the
// nodes keep their API server, as the thesis's boards did.
func TestKubeMasterLoss(t *testing.T) {
	ctx := t.Context()
	st := startStack(t)
	c, err := st.Client()
	if err != nil {
		t.Fatal(err)
	}
	restartAllOnCleanup(t, st)

	ns := "sn-masterloss-" + randomSuffix(t)
	if err := c.Do(ctx, http.MethodPost, "/api/v1/namespaces", map[string]any{
		"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]string{"name": ns},
	}, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Do(context.Background(), http.MethodDelete, "/api/v1/namespaces/"+ns, nil, nil); err != nil {
			t.Errorf("delete namespace: %v", err)
		}
	})
	depPath := "/apis/apps/v1/namespaces/" + ns + "/deployments/probe"
	dep := map[string]any{
		"apiVersion": "apps/v1", "kind": "Deployment",
		"metadata": map[string]any{"name": "probe"},
		"spec": map[string]any{
			"replicas": 2,
			"selector": map[string]any{"matchLabels": map[string]string{"app": "probe"}},
			"template": map[string]any{
				"metadata": map[string]any{"labels": map[string]string{"app": "probe"}},
				"spec": map[string]any{"containers": []map[string]any{{
					"name": "probe", "image": "registry.k8s.io/pause:3.10",
				}}},
			},
		},
	}
	if err := c.Do(ctx, http.MethodPost, "/apis/apps/v1/namespaces/"+ns+"/deployments", dep, nil); err != nil {
		t.Fatal(err)
	}
	running := func(want int) {
		t.Helper()
		start := time.Now()
		err := poll(ctx, 2*time.Minute, func() error { return podsRunning(ctx, c, ns, want, "") })
		if err != nil {
			t.Fatalf("%d pods running: %v", want, err)
		}
		t.Logf("%d pods running after %s", want, time.Since(start).Round(100*time.Millisecond))
	}
	running(2)

	t.Log("master 1 down: the nodes reach the API through their master-watchers")
	const clientNode = "rpi-node-1"
	nc, err := st.NodeClient(clientNode)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := st.StopMaster(ctx, 1); err != nil {
		t.Fatal(err)
	}
	t.Logf("master 1 stopped in %s", time.Since(start).Round(100*time.Millisecond))
	// Through a node's forwarder, as its kubelet would: the write is
	// accepted as soon as the forwarder reaches master 2 (retried while
	// etcd elects a new leader if master 1's member led).
	err = poll(ctx, 2*time.Minute, func() error { return scale(ctx, nc, depPath, 3) })
	if err != nil {
		t.Fatalf("scale through %s's master-watcher with master 1 down: %v", clientNode, err)
	}
	t.Logf("scale through %s's master-watcher accepted %s after master 1's stop", clientNode, time.Since(start).Round(100*time.Millisecond))
	err = poll(ctx, 2*time.Minute, func() error { return podsRunning(ctx, nc, ns, 3, "") })
	if err != nil {
		t.Fatalf("3 pods running with master 1 down: %v", err)
	}
	t.Logf("3 pods running %s after master 1's stop", time.Since(start).Round(100*time.Millisecond))
	// Every kubelet (kwok) renewed its node's lease after the stop: each
	// reached another master through its node's master-watcher.
	err = poll(ctx, 2*time.Minute, func() error { return leasesRenewedAfter(ctx, nc, start) })
	if err != nil {
		t.Fatalf("node leases with master 1 down: %v", err)
	}
	t.Logf("every node's lease renewed %s after master 1's stop", time.Since(start).Round(100*time.Millisecond))
	err = poll(ctx, 2*time.Minute, func() error { return watchersAt(ctx, st, 1, true) })
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("every master-watcher on master 2 %s after master 1's stop", time.Since(start).Round(100*time.Millisecond))

	t.Log("master 1 back")
	start = time.Now()
	if err := st.StartMaster(ctx, 1); err != nil {
		t.Fatal(err)
	}
	t.Logf("master 1 healthy %s after its start", time.Since(start).Round(100*time.Millisecond))
	err = poll(ctx, 3*time.Minute, func() error { return watchersAt(ctx, st, 0, true) })
	if err != nil {
		t.Fatalf("fail back to master 1: %v", err)
	}
	t.Logf("every master-watcher back on master 1 %s after its start", time.Since(start).Round(100*time.Millisecond))
	if err := nodesReady(ctx, c); err != nil {
		t.Fatal(err)
	}

	t.Log("one master down (master 3)")
	if err := st.StopMaster(ctx, 3); err != nil {
		t.Fatal(err)
	}
	if err := scale(ctx, c, depPath, 4); err != nil {
		t.Fatalf("scale with one master down: %v", err)
	}
	running(4)

	t.Log("two masters down (masters 2 and 3): etcd has no quorum")
	var d appsv1.Deployment
	if err := c.Get(ctx, depPath, &d); err != nil {
		t.Fatal(err)
	}
	if err := st.StopMaster(ctx, 2); err != nil {
		t.Fatal(err)
	}
	five := int32(5)
	d.Spec.Replicas = &five
	wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	err = c.Do(wctx, http.MethodPut, depPath, &d, nil)
	cancel()
	if err == nil {
		t.Fatal("scale with two masters down succeeded, want it refused (no etcd quorum)")
	}
	t.Logf("scale with two masters down refused: %v", err)
	// The running pods stay, as read from the API server's cache.
	if err := podsRunning(ctx, c, ns, 4, "0"); err != nil {
		t.Errorf("with two masters down: %v", err)
	}

	t.Log("master 2 back")
	start = time.Now()
	if err := st.StartMaster(ctx, 2); err != nil {
		t.Fatal(err)
	}
	err = poll(ctx, 2*time.Minute, func() error { return scale(ctx, c, depPath, 5) })
	if err != nil {
		t.Fatalf("scale after master 2 came back: %v", err)
	}
	t.Logf("writes accepted again %s after master 2 was started", time.Since(start).Round(100*time.Millisecond))
	running(5)
}

// leasesRenewedAfter fails unless every node's lease (kube-node-lease)
// was renewed after since.
func leasesRenewedAfter(ctx context.Context, c *kubestack.Client, since time.Time) error {
	var l coordinationv1.LeaseList
	if err := c.Get(ctx, "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases", &l); err != nil {
		return err
	}
	renewed := map[string]time.Time{}
	for _, le := range l.Items {
		if le.Spec.RenewTime != nil {
			renewed[le.Name] = le.Spec.RenewTime.Time
		}
	}
	for _, n := range kubestack.Nodes {
		if !renewed[n.Name].After(since) {
			return fmt.Errorf("node %s's lease last renewed %s, before %s", n.Name, renewed[n.Name].Format(time.RFC3339Nano), since.Format(time.RFC3339Nano))
		}
	}
	return nil
}

// nodesReady fails unless every node is Ready.
func nodesReady(ctx context.Context, c *kubestack.Client) error {
	var l corev1.NodeList
	if err := c.Get(ctx, "/api/v1/nodes", &l); err != nil {
		return err
	}
	ready := 0
	for _, n := range l.Items {
		for _, cond := range n.Status.Conditions {
			if cond.Type == corev1.NodeReady && cond.Status == corev1.ConditionTrue {
				ready++
			}
		}
	}
	if ready != len(kubestack.Nodes) {
		return fmt.Errorf("%d of %d nodes Ready", ready, len(kubestack.Nodes))
	}
	return nil
}

// startStack brings up (or reuses) the stack in the default dir.
func startStack(t *testing.T) *kubestack.Stack {
	t.Helper()
	dir, err := kubestack.DefaultDir()
	if err != nil {
		t.Fatal(err)
	}
	st, err := kubestack.Up(t.Context(), kubestack.Config{Dir: dir, Logger: slog.New(slog.NewTextHandler(tWriter{t}, nil))})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// scale sets a Deployment's replicas (read, modify, replace).
func scale(ctx context.Context, c *kubestack.Client, path string, replicas int32) error {
	var d appsv1.Deployment
	if err := c.Get(ctx, path, &d); err != nil {
		return err
	}
	d.Spec.Replicas = &replicas
	return c.Do(ctx, http.MethodPut, path, &d, nil)
}

// podsRunning fails unless exactly want pods of the namespace are
// scheduled and Running; resourceVersion "0" reads the API server's cache
// (what still answers without an etcd quorum), "" reads etcd.
func podsRunning(ctx context.Context, c *kubestack.Client, ns string, want int, resourceVersion string) error {
	path := "/api/v1/namespaces/" + ns + "/pods"
	if resourceVersion != "" {
		path += "?resourceVersion=" + resourceVersion
	}
	var l corev1.PodList
	if err := c.Get(ctx, path, &l); err != nil {
		return err
	}
	n := 0
	for _, p := range l.Items {
		if p.DeletionTimestamp == nil && p.Spec.NodeName != "" && p.Status.Phase == corev1.PodRunning {
			n++
		}
	}
	if n != want {
		return fmt.Errorf("%d pods scheduled and Running, want %d", n, want)
	}
	return nil
}
