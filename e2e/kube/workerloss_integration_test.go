//go:build integration

package kube

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/sensornode/sensornode/tools/kubestack"
)

// TestKubeWorkerLoss: the worker running the floating edge-forwarder stops
// (its kwok process, which plays its kubelet, stops: no more heartbeats);
// the node goes NotReady and, after the chart's default not-ready and
// unreachable tolerations of the forwarder (edgeForwarder.tolerations), the
// forwarder is rescheduled on another node. The producers pinned to the
// lost worker have no such toleration: they stay bound to it, not Ready
// (Kubernetes's own 300 s apply before they are evicted, and a replacement
// could only wait for the same node); the worker comes back and every pod
// runs on its node again.
func TestKubeWorkerLoss(t *testing.T) {
	ctx := t.Context()
	st, c, h := helmStack(ctx, t)
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

	r := release{name: "sensornode", namespace: "sn-workerloss-" + randomSuffix(t), values: "ci/edge-values.yaml",
		perNode: []string{"camera-producer", "temp-producer", "zookeeper", "kafka"}}
	h.run(t, "install", r.name, h.chart, "-n", r.namespace, "--create-namespace",
		"-f", filepath.Join(h.chart, r.values), "--wait", "--wait-for-jobs", "--timeout", "3m")
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
	checkForwarderTolerations(t, h.chart, fwd)
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
		// The scheduler may place the replacement before it has seen the
		// cordons (it watches nodes and pods separately, through its own
		// master's API server, with no order between them): a replacement
		// on another node is deleted again.
		redone := 0
		err := poll(ctx, 2*time.Minute, func() error {
			p, err := componentPod(ctx, c, r.namespace, "edge-forwarder")
			if err == nil && p.Spec.NodeName != "" && p.Spec.NodeName != worker {
				redone++
				if err := c.Do(ctx, "DELETE", "/api/v1/namespaces/"+r.namespace+"/pods/"+p.Name, nil, nil); err != nil {
					return err
				}
			}
			return forwarderOn(ctx, c, r.namespace, worker, true)
		})
		if err != nil {
			t.Fatalf("forwarder to %s: %v", worker, err)
		}
		if redone > 0 {
			t.Logf("forwarder to %s: %d replacements on cordoned nodes deleted again", worker, redone)
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

	// The pinned pods stay on the worker, marked not Ready by the node
	// controller, one per component: none evicted or replaced.
	err = poll(ctx, 3*time.Minute, func() error {
		pods, err := listPods(ctx, c, r.namespace)
		if err != nil {
			return err
		}
		waiting := map[string]int{}
		for _, p := range pods {
			if p.Spec.NodeSelector[hostnameKey] != worker {
				continue
			}
			if p.Spec.NodeName != worker || podReady(p) {
				return fmt.Errorf("pod %s of %s: node %q ready %v, want bound to it and not Ready", p.Name, worker, p.Spec.NodeName, podReady(p))
			}
			waiting[p.Labels["app.kubernetes.io/name"]]++
		}
		for _, comp := range r.perNode {
			if waiting[comp] != 1 {
				return fmt.Errorf("%d %s pods of %s, want 1", waiting[comp], comp, worker)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("pinned pods of %s bound to it, not Ready, %s after it stopped", worker, time.Since(start).Round(100*time.Millisecond))

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

// checkForwarderTolerations: the forwarder's pod carries the chart's
// default edgeForwarder.tolerations (values.yaml), not the 300 s the API
// server adds to a pod without them.
func checkForwarderTolerations(t *testing.T, chart string, p corev1.Pod) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(chart, "values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		EdgeForwarder struct {
			Tolerations []corev1.Toleration `json:"tolerations"`
		} `json:"edgeForwarder"`
	}
	if err := yaml.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	want := v.EdgeForwarder.Tolerations
	if len(want) == 0 {
		t.Fatal("values.yaml: edgeForwarder.tolerations empty")
	}
	for _, w := range want {
		if !slices.ContainsFunc(p.Spec.Tolerations, func(g corev1.Toleration) bool {
			return g.MatchToleration(&w) && g.TolerationSeconds != nil && *g.TolerationSeconds == *w.TolerationSeconds
		}) {
			t.Errorf("forwarder pod %s tolerations %v lack the chart's %v", p.Name, p.Spec.Tolerations, w)
		}
	}
	t.Logf("forwarder tolerations: %d s not-ready/unreachable (the chart's default)", *want[0].TolerationSeconds)
}
