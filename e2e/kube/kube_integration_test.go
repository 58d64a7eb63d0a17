//go:build integration

package kube

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/sensornode/sensornode/tools/deploycheck"
	"github.com/sensornode/sensornode/tools/kubestack"
)

const hostnameKey = "kubernetes.io/hostname"

// release is one helm install of the chart and what it must produce.
type release struct {
	name, namespace string
	values          string // ci/ file of the chart
	// kind of the per-node and floating workloads: Deployment or
	// ReplicationController.
	kind string
	// perNode components (app.kubernetes.io/name) run one pod pinned to
	// each node; floating ones run anywhere; daemonSets run on every node;
	// idleDaemonSets exist but run on no node of the stack (their node
	// affinity excludes all five); absent ones run no pod at all.
	perNode, floating, daemonSets, idleDaemonSets, absent []string
}

func TestKubeChart(t *testing.T) {
	ctx := t.Context()
	_, c, h := helmStack(ctx, t)

	// Namespaces of their own: a reused stack may still be deleting an
	// earlier run's.
	sfx := randomSuffix(t)
	edge := release{
		name: "sensornode", namespace: "sn-edge-" + sfx, values: "ci/edge-values.yaml", kind: "Deployment",
		perNode:    []string{"camera-producer", "temp-producer", "zookeeper", "kafka"},
		floating:   []string{"edge-forwarder"},
		daemonSets: []string{"master-watcher"},
	}
	rc := release{
		name: "sensornode-rc", namespace: "sn-edge-rc-" + sfx, values: "ci/edge-rc-values.yaml", kind: "ReplicationController",
		perNode:  []string{"camera-producer", "temp-producer"},
		floating: []string{"edge-forwarder"},
	}
	cloud := release{
		name: "sensornode-cloud", namespace: "sn-cloud-" + sfx, values: "ci/cloud-values.yaml", kind: "Deployment",
		floating: []string{"cloud-ingest-hdfs", "viewer"},
	}
	releases := []release{edge, cloud, rc}

	for _, r := range releases {
		if !t.Run("install/"+r.name, func(t *testing.T) {
			h.run(t, "install", r.name, h.chart, "-n", r.namespace, "--create-namespace",
				"-f", filepath.Join(h.chart, r.values), "--wait", "--wait-for-jobs", "--timeout", "3m")
		}) {
			t.FailNow()
		}
	}
	for _, r := range releases {
		t.Run("check/"+r.name, func(t *testing.T) {
			checkRelease(ctx, t, c, h, r, 1)
		})
		t.Run("test/"+r.name, func(t *testing.T) {
			// kwok completes the test pod without running it: this proves
			// the hook is accepted and scheduled, not /readyz.
			h.run(t, "test", r.name, "-n", r.namespace, "--timeout", "2m")
		})
	}

	t.Run("kustomize", func(t *testing.T) {
		checkKustomize(ctx, t, c, "sn-kustomize-"+sfx)
	})

	t.Run("upgrade/"+edge.name, func(t *testing.T) {
		h.run(t, "upgrade", edge.name, h.chart, "-n", edge.namespace,
			"-f", filepath.Join(h.chart, edge.values), "--set", "logLevel=debug",
			"--wait", "--wait-for-jobs", "--timeout", "3m")
		checkRelease(ctx, t, c, h, edge, 2)
		// Every pod of the release now runs the new template: the old
		// ones are gone (kwok removes a deleted pod at once).
		err := poll(ctx, time.Minute, func() error {
			pods, err := listPods(ctx, c, edge.namespace)
			if err != nil {
				return err
			}
			for _, p := range pods {
				for _, ctr := range p.Spec.Containers {
					for _, e := range ctr.Env {
						if e.Name == "SENSORNODE_LOG_LEVEL" && e.Value != "debug" {
							return fmt.Errorf("pod %s container %s: SENSORNODE_LOG_LEVEL=%q, want debug", p.Name, ctr.Name, e.Value)
						}
					}
				}
			}
			return nil
		})
		if err != nil {
			t.Error(err)
		}
	})

	for _, r := range releases {
		t.Run("uninstall/"+r.name, func(t *testing.T) {
			uninstall(ctx, t, c, h, r)
		})
	}
}

// repoTool is the repository's root and the path of a tool the test runs
// (deploycheck.Tool: $env, else the one the Makefile installs).
func repoTool(t *testing.T, name, env string) (root, bin string) {
	t.Helper()
	root, err := deploycheck.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	bin, err = deploycheck.Tool(root, name, env)
	if err != nil {
		t.Fatal(err)
	}
	return root, bin
}

// helmStack is the opening of a test that installs the chart: helm
// (looked for before the stack starts), the stack with no pods of an
// earlier run (requireNoPods), a client of its API and the helm
// environment (setHelmEnv).
func helmStack(ctx context.Context, t *testing.T) (*kubestack.Stack, *kubestack.Client, *helm) {
	t.Helper()
	root, helmBin := repoTool(t, "helm", "SENSORNODE_HELM")
	st := startStack(t)
	c, err := st.Client()
	if err != nil {
		t.Fatal(err)
	}
	requireNoPods(ctx, t, c, st)
	setHelmEnv(t, st)
	return st, c, &helm{bin: helmBin, chart: filepath.Join(root, "deploy", "helm", "sensornode")}
}

// uninstall removes the release and its namespace and asserts that every
// object of its manifest and every pod is gone.
func uninstall(ctx context.Context, t *testing.T, c *kubestack.Client, h *helm, r release) {
	t.Helper()
	objs := manifest(t, h, r)
	h.run(t, "uninstall", r.name, "-n", r.namespace, "--wait", "--timeout", "2m")
	for _, o := range objs {
		path, err := objectPath(ctx, c, o, r.namespace)
		if err != nil {
			t.Error(err)
			continue
		}
		if err := c.Get(ctx, path, nil); !kubestack.IsNotFound(err) {
			t.Errorf("after uninstall: GET %s = %v, want 404", path, err)
		}
	}
	// The garbage collector removes the pods of the deleted workloads.
	err := poll(ctx, 2*time.Minute, func() error {
		pods, err := listPods(ctx, c, r.namespace)
		if err == nil && len(pods) > 0 {
			err = fmt.Errorf("%d pods left, e.g. %s", len(pods), pods[0].Name)
		}
		return err
	})
	if err != nil {
		t.Errorf("after uninstall: %v", err)
	}
	if err := c.Do(ctx, http.MethodDelete, "/api/v1/namespaces/"+r.namespace, nil, nil); err != nil {
		t.Errorf("delete namespace: %v", err)
	}
}

// setHelmEnv points helm at the stack, with its config, cache and data in
// a temporary home.
func setHelmEnv(t *testing.T, st *kubestack.Stack) {
	home := t.TempDir()
	t.Setenv("KUBECONFIG", st.Kubeconfig())
	t.Setenv("HELM_CONFIG_HOME", filepath.Join(home, "config"))
	t.Setenv("HELM_CACHE_HOME", filepath.Join(home, "cache"))
	t.Setenv("HELM_DATA_HOME", filepath.Join(home, "data"))
}

// requireNoPods refuses a stack that runs pods outside kube-system: the
// boards are small (1 GiB each) and master-watcher holds host ports, so an
// install left on a reused stack makes the next one's pods Pending. It
// first waits a while for namespaces being deleted (an earlier test's).
func requireNoPods(ctx context.Context, t *testing.T, c *kubestack.Client, st *kubestack.Stack) {
	t.Helper()
	err := poll(ctx, 2*time.Minute, func() error {
		var all corev1.PodList
		if err := c.Get(ctx, "/api/v1/pods", &all); err != nil {
			return err
		}
		for _, p := range all.Items {
			if p.Namespace != "kube-system" {
				return fmt.Errorf("pod %s/%s", p.Namespace, p.Name)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("the stack in %s already runs pods (%v): uninstall them, or start afresh with `make kube-down`", st.Dir(), err)
	}
}

// checkRelease asserts what an installed (or upgraded) release must be.
func checkRelease(ctx context.Context, t *testing.T, c *kubestack.Client, h *helm, r release, revision int) {
	t.Helper()
	var status struct {
		Version int `json:"version"`
		Info    struct {
			Status string `json:"status"`
		} `json:"info"`
	}
	if err := json.Unmarshal(h.run(t, "status", r.name, "-n", r.namespace, "-o", "json"), &status); err != nil {
		t.Fatal(err)
	}
	if status.Version != revision || status.Info.Status != "deployed" {
		t.Errorf("helm status: revision %d %s, want %d deployed", status.Version, status.Info.Status, revision)
	}

	// Every object of the release was accepted and exists.
	objs := manifest(t, h, r)
	if len(objs) == 0 {
		t.Fatal("empty manifest")
	}
	for _, o := range objs {
		path, err := objectPath(ctx, c, o, r.namespace)
		if err != nil {
			t.Error(err)
			continue
		}
		if err := c.Get(ctx, path, nil); err != nil {
			t.Errorf("%s: %v", o.Key(), err)
		}
	}

	// Hook Jobs (the topics Job): deleted on success when their policy says
	// so (helm only deletes a hook that succeeded), else completed.
	hooks, err := deploycheck.DecodeStrict(h.run(t, "get", "hooks", r.name, "-n", r.namespace))
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range hooks {
		job, ok := o.Typed.(*batchv1.Job)
		if !ok {
			continue
		}
		path := "/apis/batch/v1/namespaces/" + r.namespace + "/jobs/" + job.Name
		var got batchv1.Job
		err := c.Get(ctx, path, &got)
		switch {
		case strings.Contains(job.Annotations["helm.sh/hook-delete-policy"], "hook-succeeded"):
			if !kubestack.IsNotFound(err) {
				t.Errorf("hook Job %s still exists (err %v): it did not succeed", job.Name, err)
			}
		case err != nil:
			t.Errorf("hook Job %s: %v", job.Name, err)
		case got.Status.Succeeded < 1:
			t.Errorf("hook Job %s: %d pods succeeded, want 1", job.Name, got.Status.Succeeded)
		}
	}

	pods, err := listPods(ctx, c, r.namespace)
	if err != nil {
		t.Fatal(err)
	}
	allNodes := make([]string, len(kubestack.Nodes))
	for i, n := range kubestack.Nodes {
		allNodes[i] = n.Name
	}
	onNodes := map[string][]string{} // component -> nodes of its pods
	for _, p := range pods {
		comp := p.Labels["app.kubernetes.io/name"]
		onNodes[comp] = append(onNodes[comp], p.Spec.NodeName)
		if p.Spec.NodeName == "" || p.Status.Phase != corev1.PodRunning || !podReady(p) {
			t.Errorf("pod %s: node %q phase %s ready %v, want scheduled, Running, Ready", p.Name, p.Spec.NodeName, p.Status.Phase, podReady(p))
		}
		// Every pinned pod is on the node its nodeSelector names.
		if want, ok := p.Spec.NodeSelector[hostnameKey]; ok && p.Spec.NodeName != want {
			t.Errorf("pod %s: on node %q, its nodeSelector names %q", p.Name, p.Spec.NodeName, want)
		}
	}
	for _, comp := range r.perNode {
		got := slices.Sorted(slices.Values(onNodes[comp]))
		if !slices.Equal(got, sorted(allNodes)) {
			t.Errorf("%s: pods on %v, want one on each of %v", comp, got, sorted(allNodes))
		}
	}
	for _, comp := range r.floating {
		if len(onNodes[comp]) != 1 {
			t.Errorf("%s: %d pods, want 1", comp, len(onNodes[comp]))
		}
	}
	for _, comp := range append(slices.Clone(r.absent), r.idleDaemonSets...) {
		if len(onNodes[comp]) != 0 {
			t.Errorf("%s: pods on %v, want none", comp, onNodes[comp])
		}
	}

	// The DaemonSets run on every node and are up to date.
	var dss appsv1.DaemonSetList
	if err := c.Get(ctx, "/apis/apps/v1/namespaces/"+r.namespace+"/daemonsets", &dss); err != nil {
		t.Fatal(err)
	}
	var dsComps []string
	for _, ds := range dss.Items {
		comp := ds.Labels["app.kubernetes.io/name"]
		dsComps = append(dsComps, comp)
		s := ds.Status
		n, on := int32(len(allNodes)), sorted(allNodes)
		if slices.Contains(r.idleDaemonSets, comp) {
			n, on = 0, nil
		}
		if s.DesiredNumberScheduled != n || s.NumberReady != n || s.UpdatedNumberScheduled != n || s.ObservedGeneration != ds.Generation {
			t.Errorf("DaemonSet %s: desired %d ready %d updated %d (generation %d observed %d), want %d",
				ds.Name, s.DesiredNumberScheduled, s.NumberReady, s.UpdatedNumberScheduled, ds.Generation, s.ObservedGeneration, n)
		}
		if got := slices.Sorted(slices.Values(onNodes[comp])); !slices.Equal(got, on) {
			t.Errorf("DaemonSet %s: pods on %v, want %v", ds.Name, got, on)
		}
	}
	if got, want := sorted(dsComps), sorted(append(slices.Clone(r.daemonSets), r.idleDaemonSets...)); !slices.Equal(got, want) {
		t.Errorf("DaemonSets of %v, want %v", got, want)
	}

	checkWorkloadKind(ctx, t, c, r)
}

// checkWorkloadKind asserts the per-node and floating workloads are all of
// the release's kind and fully rolled out, and none of the other kind exist.
func checkWorkloadKind(ctx context.Context, t *testing.T, c *kubestack.Client, r release) {
	t.Helper()
	var deps appsv1.DeploymentList
	if err := c.Get(ctx, "/apis/apps/v1/namespaces/"+r.namespace+"/deployments", &deps); err != nil {
		t.Fatal(err)
	}
	var rcs corev1.ReplicationControllerList
	if err := c.Get(ctx, "/api/v1/namespaces/"+r.namespace+"/replicationcontrollers", &rcs); err != nil {
		t.Fatal(err)
	}
	count := map[string]int{} // component -> workloads of r.kind
	for _, d := range deps.Items {
		if r.kind != "Deployment" {
			t.Errorf("Deployment %s in a %s release", d.Name, r.kind)
			continue
		}
		count[d.Labels["app.kubernetes.io/name"]]++
		s, want := d.Status, *d.Spec.Replicas
		if s.ObservedGeneration != d.Generation || s.UpdatedReplicas != want || s.ReadyReplicas != want || s.AvailableReplicas != want {
			t.Errorf("Deployment %s: generation %d observed %d, updated %d ready %d available %d, want %d",
				d.Name, d.Generation, s.ObservedGeneration, s.UpdatedReplicas, s.ReadyReplicas, s.AvailableReplicas, want)
		}
	}
	for _, rc := range rcs.Items {
		if r.kind != "ReplicationController" {
			t.Errorf("ReplicationController %s in a %s release", rc.Name, r.kind)
			continue
		}
		count[rc.Labels["app.kubernetes.io/name"]]++
		s, want := rc.Status, *rc.Spec.Replicas
		if s.ObservedGeneration != rc.Generation || s.Replicas != want || s.ReadyReplicas != want {
			t.Errorf("ReplicationController %s: generation %d observed %d, replicas %d ready %d, want %d",
				rc.Name, rc.Generation, rc.Status.ObservedGeneration, s.Replicas, s.ReadyReplicas, want)
		}
	}
	for _, comp := range r.perNode {
		if count[comp] != len(kubestack.Nodes) {
			t.Errorf("%s: %d %ss, want one per node (%d)", comp, count[comp], r.kind, len(kubestack.Nodes))
		}
	}
	for _, comp := range r.floating {
		if count[comp] != 1 {
			t.Errorf("%s: %d %ss, want 1", comp, count[comp], r.kind)
		}
	}
}

// checkKustomize builds every Kustomize overlay and CI combination and has
// the API server accept each object by a server-side apply with
// dryRun=All (validated, defaulted and admitted, nothing stored), in the
// namespaces the overlays name, created for the purpose. A broken object
// must be refused, or the check proves nothing.
func checkKustomize(ctx context.Context, t *testing.T, c *kubestack.Client, defaultNS string) {
	root, kz := repoTool(t, "kustomize", "SENSORNODE_KUSTOMIZE")
	var dirs []string
	for _, pat := range []string{"overlays/*/kustomization.yaml", "tests/*/kustomization.yaml"} {
		m, err := filepath.Glob(filepath.Join(root, "deploy", "kustomize", pat))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range m {
			dirs = append(dirs, filepath.Dir(f))
		}
	}
	if len(dirs) == 0 {
		t.Fatal("no kustomize overlays found")
	}
	created := map[string]bool{}
	ensureNS := func(ns string) {
		if created[ns] {
			return
		}
		body := map[string]any{"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]string{"name": ns}}
		// An earlier run's namespace of that name may still be terminating.
		err := poll(ctx, 2*time.Minute, func() error {
			return c.Do(ctx, http.MethodPost, "/api/v1/namespaces", body, nil)
		})
		if err != nil {
			t.Fatalf("create namespace %s: %v", ns, err)
		}
		created[ns] = true
		t.Cleanup(func() {
			if err := c.Do(context.Background(), http.MethodDelete, "/api/v1/namespaces/"+ns, nil, nil); err != nil {
				t.Errorf("delete namespace %s: %v", ns, err)
			}
		})
	}
	var aDeployment []byte
	var aDeploymentPath string
	for _, d := range dirs {
		rel, _ := filepath.Rel(filepath.Join(root, "deploy", "kustomize"), d)
		out, err := deploycheck.Run(kz, "build", d)
		if err != nil {
			t.Errorf("kustomize build %s: %v", rel, err)
			continue
		}
		objs, err := deploycheck.DecodeStrict(out)
		if err != nil {
			t.Errorf("%s: %v", rel, err)
			continue
		}
		for _, o := range objs {
			ns := o.Meta().Namespace
			if ns == "" {
				ns = defaultNS
			}
			ensureNS(ns)
			path, err := objectPath(ctx, c, o, ns)
			if err != nil {
				t.Errorf("%s: %v", rel, err)
				continue
			}
			doc, err := yaml.YAMLToJSON([]byte(o.Source))
			if err != nil {
				t.Fatalf("%s: %s: %v", rel, o.Key(), err)
			}
			if err := c.Apply(ctx, path, "sensornode-e2e", doc, true); err != nil {
				t.Errorf("%s: %s refused: %v", rel, o.Key(), err)
			}
			if o.Kind == "Deployment" && aDeployment == nil {
				aDeployment, aDeploymentPath = doc, path
			}
		}
		t.Logf("%s: %d objects applied (dry run)", rel, len(objs))
	}
	if aDeployment == nil {
		t.Fatal("no Deployment in any overlay")
	}
	// The negative control: a negative replica count is invalid.
	var broken map[string]any
	if err := json.Unmarshal(aDeployment, &broken); err != nil {
		t.Fatal(err)
	}
	broken["spec"].(map[string]any)["replicas"] = -1
	b, err := json.Marshal(broken)
	if err != nil {
		t.Fatal(err)
	}
	var ae *kubestack.APIError
	if err := c.Apply(ctx, aDeploymentPath, "sensornode-e2e", b, true); !errors.As(err, &ae) || ae.StatusCode != http.StatusUnprocessableEntity {
		t.Errorf("dry-run apply of a Deployment with replicas -1 = %v, want 422 Invalid", err)
	}
}

// manifest is the release's objects (hooks excluded), strictly decoded.
func manifest(t *testing.T, h *helm, r release) []deploycheck.Object {
	t.Helper()
	objs, err := deploycheck.DecodeStrict(h.run(t, "get", "manifest", r.name, "-n", r.namespace))
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

// objectPath is the REST path of o, found through the API server's
// discovery (namespaced or not, the resource's plural).
func objectPath(ctx context.Context, c *kubestack.Client, o deploycheck.Object, namespace string) (string, error) {
	base := "/apis/" + o.APIVersion
	if o.APIVersion == "v1" {
		base = "/api/v1"
	}
	var list metav1.APIResourceList
	if err := c.Get(ctx, base, &list); err != nil {
		return "", fmt.Errorf("%s: discovery: %w", o.Key(), err)
	}
	for _, res := range list.APIResources {
		if res.Kind != o.Kind || strings.Contains(res.Name, "/") {
			continue
		}
		if ns := o.Meta().Namespace; ns != "" {
			namespace = ns
		}
		if res.Namespaced {
			return base + "/namespaces/" + namespace + "/" + res.Name + "/" + o.Name, nil
		}
		return base + "/" + res.Name + "/" + o.Name, nil
	}
	return "", fmt.Errorf("%s: the API server serves no such kind", o.Key())
}

// listPods lists the pods of a namespace that are not being deleted.
func listPods(ctx context.Context, c *kubestack.Client, namespace string) ([]corev1.Pod, error) {
	var l corev1.PodList
	if err := c.Get(ctx, "/api/v1/namespaces/"+namespace+"/pods", &l); err != nil {
		return nil, err
	}
	var pods []corev1.Pod
	for _, p := range l.Items {
		if p.DeletionTimestamp == nil && p.Status.Phase != corev1.PodSucceeded {
			pods = append(pods, p)
		}
	}
	return pods, nil
}

func podReady(p corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	sort.Strings(s)
	return s
}

// poll runs f every 200 ms until it succeeds or timeout passes; the
// timeout is a bound on waiting, not an assertion on speed.
func poll(ctx context.Context, timeout time.Duration, f func() error) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		err := f()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("after %s: %w", timeout, err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// helm runs the pinned helm (the environment points it at the stack).
type helm struct {
	bin, chart string
}

func (h *helm) run(t *testing.T, args ...string) []byte {
	t.Helper()
	start := time.Now()
	out, err := deploycheck.Run(h.bin, args...)
	if err != nil {
		t.Fatalf("helm %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	t.Logf("helm %s: %s", args[0], time.Since(start).Round(10*time.Millisecond))
	return out
}

func randomSuffix(t *testing.T) string {
	b := make([]byte, 3)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// tWriter sends kubestack's log lines to the test log.
type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
