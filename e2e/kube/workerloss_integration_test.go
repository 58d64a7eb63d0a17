//go:build integration

package kube

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/sensornode/sensornode/tools/deploycheck"
	"github.com/sensornode/sensornode/tools/kubestack"
)

// workerLossTolerations evict pods from an unreachable or not-ready node
// after 30 s instead of Kubernetes's default 300 s; set through the chart's
// global tolerations value (the chart has no default of its own yet).
const workerLossTolerations = `tolerations:
  - key: node.kubernetes.io/unreachable
    operator: Exists
    effect: NoExecute
    tolerationSeconds: 30
  - key: node.kubernetes.io/not-ready
    operator: Exists
    effect: NoExecute
    tolerationSeconds: 30
`

// TestKubeWorkerLoss: the worker running the floating edge-forwarder stops
// (its kwok process, which plays its kubelet, stops: no more heartbeats); the node goes NotReady, the forwarder is
// rescheduled on another node, the producers pinned to the lost worker wait
// Pending; the worker comes back and every pod runs on its node again.
func TestKubeWorkerLoss(t *testing.T) {
	ctx := t.Context()
	root, err := deploycheck.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	helmBin, err := deploycheck.Tool(root, "helm", "SENSORNODE_HELM")
	if err != nil {
		t.Fatal(err)
	}
	st := startStack(t)
	c, err := st.Client()
	if err != nil {
		t.Fatal(err)
	}
	requireNoPods(ctx, t, c, st)
	h := &helm{bin: helmBin, chart: filepath.Join(root, "deploy", "helm", "sensornode")}
	setHelmEnv(t, st)
	const worker = "rpi-node-1"
	nodePath := "/api/v1/nodes/"
	t.Cleanup(func() {
		ctx := context.Background()
		if err := st.Start(ctx, kubestack.KwokProcess(worker)); err != nil {
			t.Errorf("revive %s: %v", worker, err)
		}
		for _, n := range kubestack.Nodes {
			if err := c.MergePatch(ctx, nodePath+n.Name, map[string]any{"spec": map[string]any{"unschedulable": nil}}); err != nil {
				t.Errorf("uncordon %s: %v", n.Name, err)
			}
		}
	})

	values := filepath.Join(t.TempDir(), "tolerations.yaml")
	if err := os.WriteFile(values, []byte(workerLossTolerations), 0o644); err != nil {
		t.Fatal(err)
	}
	r := release{name: "sensornode", namespace: "sn-workerloss-" + randomSuffix(t), values: "ci/edge-values.yaml",
		perNode: []string{"camera-producer", "temp-producer", "zookeeper", "kafka"}}
	h.run(t, "install", r.name, h.chart, "-n", r.namespace, "--create-namespace",
		"-f", filepath.Join(h.chart, r.values), "-f", values, "--wait", "--wait-for-jobs", "--timeout", "3m")
	t.Cleanup(func() {
		h.run(t, "uninstall", r.name, "-n", r.namespace, "--wait", "--timeout", "2m")
		if err := c.Do(context.Background(), "DELETE", "/api/v1/namespaces/"+r.namespace, nil, nil); err != nil {
			t.Errorf("delete namespace: %v", err)
		}
	})

	// Put the forwarder on the worker: cordon the other nodes, delete its
	// pod, wait for the replacement there, uncordon.
	fwd, err := componentPod(ctx, c, r.namespace, "edge-forwarder")
	if err != nil {
		t.Fatal(err)
	}
	if fwd.Spec.NodeName != worker {
		for _, n := range kubestack.Nodes {
			if n.Name != worker {
				if err := c.MergePatch(ctx, nodePath+n.Name, map[string]any{"spec": map[string]any{"unschedulable": true}}); err != nil {
					t.Fatal(err)
				}
			}
		}
		if err := c.Do(ctx, "DELETE", "/api/v1/namespaces/"+r.namespace+"/pods/"+fwd.Name, nil, nil); err != nil {
			t.Fatal(err)
		}
		err := poll(ctx, 2*time.Minute, func() error { return forwarderOn(ctx, c, r.namespace, worker, true) })
		if err != nil {
			t.Fatalf("forwarder to %s: %v", worker, err)
		}
		for _, n := range kubestack.Nodes {
			if err := c.MergePatch(ctx, nodePath+n.Name, map[string]any{"spec": map[string]any{"unschedulable": nil}}); err != nil {
				t.Fatal(err)
			}
		}
	}

	t.Logf("%s stops (its kwok, the kubelet, stops)", worker)
	start := time.Now()
	if err := st.Stop(ctx, kubestack.KwokProcess(worker)); err != nil {
		t.Fatal(err)
	}
	err = poll(ctx, 5*time.Minute, func() error {
		var n corev1.Node
		if err := c.Get(ctx, nodePath+worker, &n); err != nil {
			return err
		}
		for _, cond := range n.Status.Conditions {
			if cond.Type == corev1.NodeReady && cond.Status != corev1.ConditionTrue {
				return nil
			}
		}
		return fmt.Errorf("%s still Ready", worker)
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s NotReady after %s", worker, time.Since(start).Round(100*time.Millisecond))

	err = poll(ctx, 5*time.Minute, func() error { return forwarderOn(ctx, c, r.namespace, worker, false) })
	if err != nil {
		t.Fatalf("forwarder not rescheduled: %v", err)
	}
	t.Logf("forwarder running on another node %s after the worker stopped", time.Since(start).Round(100*time.Millisecond))

	// The evicted pinned pods are replaced by pods that wait for the worker.
	err = poll(ctx, 3*time.Minute, func() error {
		pods, err := listPods(ctx, c, r.namespace)
		if err != nil {
			return err
		}
		pending := map[string]bool{}
		for _, p := range pods {
			if p.Spec.NodeSelector[hostnameKey] != worker {
				continue
			}
			if p.Spec.NodeName != "" || p.Status.Phase != corev1.PodPending {
				return fmt.Errorf("pod %s of %s: node %q phase %s, want unscheduled and Pending", p.Name, worker, p.Spec.NodeName, p.Status.Phase)
			}
			pending[p.Labels["app.kubernetes.io/name"]] = true
		}
		for _, comp := range r.perNode {
			if !pending[comp] {
				return fmt.Errorf("no Pending %s for %s", comp, worker)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("pinned pods of %s Pending %s after it stopped", worker, time.Since(start).Round(100*time.Millisecond))

	t.Logf("%s back", worker)
	start = time.Now()
	if err := st.Start(ctx, kubestack.KwokProcess(worker)); err != nil {
		t.Fatal(err)
	}
	err = poll(ctx, 3*time.Minute, func() error { return allPlaced(ctx, c, r) })
	if err != nil {
		t.Fatalf("after %s came back: %v", worker, err)
	}
	t.Logf("every pod running on its node %s after %s came back", time.Since(start).Round(100*time.Millisecond), worker)
}

// componentPod is the one live pod of a component.
func componentPod(ctx context.Context, c *kubestack.Client, ns, comp string) (corev1.Pod, error) {
	pods, err := listPods(ctx, c, ns)
	if err != nil {
		return corev1.Pod{}, err
	}
	var found []corev1.Pod
	for _, p := range pods {
		if p.Labels["app.kubernetes.io/name"] == comp {
			found = append(found, p)
		}
	}
	if len(found) != 1 {
		return corev1.Pod{}, fmt.Errorf("%d live %s pods, want 1", len(found), comp)
	}
	return found[0], nil
}

// forwarderOn fails unless the one forwarder pod runs on node (on: true)
// or on a node other than it (on: false).
func forwarderOn(ctx context.Context, c *kubestack.Client, ns, node string, on bool) error {
	p, err := componentPod(ctx, c, ns, "edge-forwarder")
	if err != nil {
		return err
	}
	if p.Spec.NodeName == "" || p.Status.Phase != corev1.PodRunning || (p.Spec.NodeName == node) != on {
		return fmt.Errorf("forwarder %s on %q phase %s", p.Name, p.Spec.NodeName, p.Status.Phase)
	}
	return nil
}

// allPlaced fails unless every live pod runs on its node and every
// per-node component has a pod on each node.
func allPlaced(ctx context.Context, c *kubestack.Client, r release) error {
	pods, err := listPods(ctx, c, r.namespace)
	if err != nil {
		return err
	}
	on := map[string]map[string]bool{}
	for _, p := range pods {
		if p.Spec.NodeName == "" || p.Status.Phase != corev1.PodRunning || !podReady(p) {
			return fmt.Errorf("pod %s: node %q phase %s", p.Name, p.Spec.NodeName, p.Status.Phase)
		}
		if want, ok := p.Spec.NodeSelector[hostnameKey]; ok && p.Spec.NodeName != want {
			return fmt.Errorf("pod %s on %s, pinned to %s", p.Name, p.Spec.NodeName, want)
		}
		comp := p.Labels["app.kubernetes.io/name"]
		if on[comp] == nil {
			on[comp] = map[string]bool{}
		}
		on[comp][p.Spec.NodeName] = true
	}
	for _, comp := range r.perNode {
		for _, n := range kubestack.Nodes {
			if !on[comp][n.Name] {
				return fmt.Errorf("no %s on %s", comp, n.Name)
			}
		}
	}
	return nil
}
