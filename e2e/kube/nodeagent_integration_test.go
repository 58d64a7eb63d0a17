//go:build integration

package kube

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"

	"github.com/sensornode/sensornode/tools/kubestack"
)

// TestKubeNodeAgent: the edge release in the combined per-node mode
// (nodeAgent.enabled, services/node-agent) installs with --wait: on each
// of the five nodes one node-agent pod, pinned by its nodeSelector,
// Running and Ready, on the host network, and no camera-producer,
// temp-producer or master-watcher pod anywhere (master-watcher's DaemonSet
// exists but its affinity excludes the layout's nodes); helm test passes.
// Then the switch both ways on the installed release: helm upgrade without
// the mode brings the three separate workloads back on every node and
// removes node-agent's pods, and with it again the reverse.
func TestKubeNodeAgent(t *testing.T) {
	ctx := t.Context()
	_, c, h := helmStack(ctx, t)

	on := release{
		name: "sensornode", namespace: "sn-node-agent-" + randomSuffix(t), values: "ci/edge-values.yaml", kind: "Deployment",
		perNode:        []string{"node-agent", "zookeeper", "kafka"},
		floating:       []string{"edge-forwarder"},
		idleDaemonSets: []string{"master-watcher"},
		absent:         []string{"camera-producer", "temp-producer"},
	}
	off := on
	off.perNode = []string{"camera-producer", "temp-producer", "zookeeper", "kafka"}
	off.daemonSets, off.idleDaemonSets, off.absent = []string{"master-watcher"}, nil, []string{"node-agent"}

	values := filepath.Join(h.chart, on.values)
	if !t.Run("install", func(t *testing.T) {
		h.run(t, "install", on.name, h.chart, "-n", on.namespace, "--create-namespace", "-f", values,
			"--set", "nodeAgent.enabled=true", "--wait", "--wait-for-jobs", "--timeout", "3m")
	}) {
		t.FailNow()
	}
	t.Run("check", func(t *testing.T) {
		checkRelease(ctx, t, c, h, on, 1)
		checkNodeAgentPods(ctx, t, c, on.namespace)
	})
	t.Run("test", func(t *testing.T) {
		h.run(t, "test", on.name, "-n", on.namespace, "--timeout", "2m")
	})
	for i, step := range []struct {
		name string
		r    release
		set  string
	}{{"upgrade to separate services", off, "nodeAgent.enabled=false"}, {"upgrade to node-agent", on, "nodeAgent.enabled=true"}} {
		t.Run(step.name, func(t *testing.T) {
			start := time.Now()
			h.run(t, "upgrade", on.name, h.chart, "-n", on.namespace, "-f", values, "--set", step.set,
				"--wait", "--wait-for-jobs", "--timeout", "3m")
			// The replaced workloads' pods are collected in the background.
			if err := poll(ctx, 2*time.Minute, func() error { return settled(ctx, c, step.r) }); err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: settled %s after the upgrade began", step.name, time.Since(start).Round(100*time.Millisecond))
			checkRelease(ctx, t, c, h, step.r, 2+i)
			if step.r.absent[0] != "node-agent" {
				checkNodeAgentPods(ctx, t, c, on.namespace)
			}
		})
	}
	t.Run("uninstall", func(t *testing.T) {
		uninstall(ctx, t, c, h, on)
	})
}

// settled is nil once no pod of r's absent components or idle DaemonSets
// is left and those DaemonSets' controller has seen their current spec.
func settled(ctx context.Context, c *kubestack.Client, r release) error {
	pods, err := listPods(ctx, c, r.namespace)
	if err != nil {
		return err
	}
	for _, p := range pods {
		if comp := p.Labels["app.kubernetes.io/name"]; slices.Contains(r.absent, comp) || slices.Contains(r.idleDaemonSets, comp) {
			return fmt.Errorf("pod %s (%s) still there", p.Name, comp)
		}
	}
	var dss appsv1.DaemonSetList
	if err := c.Get(ctx, "/apis/apps/v1/namespaces/"+r.namespace+"/daemonsets", &dss); err != nil {
		return err
	}
	for _, ds := range dss.Items {
		s := ds.Status
		if s.ObservedGeneration != ds.Generation {
			return fmt.Errorf("DaemonSet %s: generation %d observed %d", ds.Name, ds.Generation, s.ObservedGeneration)
		}
		if slices.Contains(r.idleDaemonSets, ds.Labels["app.kubernetes.io/name"]) && (s.DesiredNumberScheduled != 0 || s.CurrentNumberScheduled != 0) {
			return fmt.Errorf("DaemonSet %s: desired %d current %d, want 0", ds.Name, s.DesiredNumberScheduled, s.CurrentNumberScheduled)
		}
	}
	return nil
}

// checkNodeAgentPods: node-agent's pods are on the host network (its
// master-watcher's forwarder listens on the node's loopback), one per
// node, each labelled with the node id its nodeSelector's node has in the
// chart's layout (rpi-master-1 is node1, ...).
func checkNodeAgentPods(ctx context.Context, t *testing.T, c *kubestack.Client, namespace string) {
	t.Helper()
	pods, err := listPods(ctx, c, namespace)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	for i, n := range kubestack.Nodes {
		want[n.Name] = fmt.Sprintf("node%d", i+1)
	}
	seen := 0
	for _, p := range pods {
		if p.Labels["app.kubernetes.io/name"] != "node-agent" {
			continue
		}
		seen++
		if !p.Spec.HostNetwork {
			t.Errorf("pod %s: not on the host network", p.Name)
		}
		if got := p.Labels["sensornode.io/node"]; got != want[p.Spec.NodeName] {
			t.Errorf("pod %s on %s: node label %q, want %q", p.Name, p.Spec.NodeName, got, want[p.Spec.NodeName])
		}
	}
	if seen != len(kubestack.Nodes) {
		t.Errorf("%d node-agent pods, want %d", seen, len(kubestack.Nodes))
	}
}
