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
	corev1 "k8s.io/api/core/v1"

	"github.com/sensornode/sensornode/tools/kubestack"
)

// TestKubeMasterLoss is the thesis's Table 5.3 on the three masters: one
// master (API server, etcd member, controller manager, scheduler) down,
// the cluster keeps working; two down, the running pods stay but nothing
// new is accepted; one back, everything resumes. Master 1 stays up: kwok
// (every kubelet) talks to it.
func TestKubeMasterLoss(t *testing.T) {
	ctx := t.Context()
	st := startStack(t)
	c, err := st.Client()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Leave every process running, whatever failed: a controller
		// manager or scheduler that held its lease while etcd had no
		// quorum exits when it loses it, on master 1 too.
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		for _, n := range st.Processes() {
			if err := st.Start(ctx, n); err != nil {
				t.Errorf("restart %s: %v", n, err)
			}
		}
	})

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

	t.Log("one master down (master 3)")
	if err := st.StopMaster(ctx, 3); err != nil {
		t.Fatal(err)
	}
	if err := scale(ctx, c, depPath, 3); err != nil {
		t.Fatalf("scale with one master down: %v", err)
	}
	running(3)

	t.Log("two masters down (masters 2 and 3): etcd has no quorum")
	var d appsv1.Deployment
	if err := c.Get(ctx, depPath, &d); err != nil {
		t.Fatal(err)
	}
	if err := st.StopMaster(ctx, 2); err != nil {
		t.Fatal(err)
	}
	four := int32(4)
	d.Spec.Replicas = &four
	wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	err = c.Do(wctx, http.MethodPut, depPath, &d, nil)
	cancel()
	if err == nil {
		t.Fatal("scale with two masters down succeeded, want it refused (no etcd quorum)")
	}
	t.Logf("scale with two masters down refused: %v", err)
	// The running pods stay, as read from the API server's cache.
	if err := podsRunning(ctx, c, ns, 3, "0"); err != nil {
		t.Errorf("with two masters down: %v", err)
	}

	t.Log("master 2 back")
	start := time.Now()
	if err := st.StartMaster(ctx, 2); err != nil {
		t.Fatal(err)
	}
	err = poll(ctx, 2*time.Minute, func() error { return scale(ctx, c, depPath, 4) })
	if err != nil {
		t.Fatalf("scale after master 2 came back: %v", err)
	}
	t.Logf("writes accepted again %s after master 2 was started", time.Since(start).Round(100*time.Millisecond))
	running(4)
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
