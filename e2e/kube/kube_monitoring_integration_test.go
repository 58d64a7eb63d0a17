//go:build integration

package kube

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/sensornode/sensornode/tools/deploycheck"
	"github.com/sensornode/sensornode/tools/kubestack"
)

// TestKubeMonitoring: with the Prometheus Operator's CRDs installed
// (PodMonitor, ServiceMonitor, PrometheusRule of the pinned release,
// kubestack.PrometheusOperatorCRDs), the chart installs with its
// monitoring objects on (ci/monitoring-values.yaml: every service, a
// PodMonitor each, the PrometheusRule, the dashboards ConfigMap). The API
// server accepts every monitoring.coreos.com object under its CRD's
// OpenAPI schema with strict field validation (helm's own create only
// warns about a field the schema lacks, and the API server drops it); each
// PodMonitor selects, in the API server's own label matching, pods of its
// service alone, all with the port it scrapes, and every pod with that
// port is scraped by exactly one; uninstall removes them.
func TestKubeMonitoring(t *testing.T) {
	ctx := t.Context()
	_, c, h := helmStack(ctx, t)

	cache, err := kubestack.DefaultCacheDir()
	if err != nil {
		t.Fatal(err)
	}
	crds, err := kubestack.PrometheusOperatorCRDs(ctx, cache)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.InstallCRDs(ctx, crds); err != nil {
		t.Fatalf("install the CRDs of Prometheus Operator %s: %v", kubestack.PrometheusOperatorVersion, err)
	}
	t.Logf("CRDs of Prometheus Operator %s established", kubestack.PrometheusOperatorVersion)

	r := release{
		name: "sensornode-mon", namespace: "sn-monitoring-" + randomSuffix(t), values: "ci/monitoring-values.yaml", kind: "Deployment",
		perNode:    []string{"camera-producer", "temp-producer", "zookeeper", "kafka"},
		floating:   []string{"edge-forwarder", "cloud-ingest-hdfs", "viewer"},
		daemonSets: []string{"master-watcher"},
	}
	if !t.Run("install", func(t *testing.T) {
		h.run(t, "install", r.name, h.chart, "-n", r.namespace, "--create-namespace",
			"-f", filepath.Join(h.chart, r.values), "--wait", "--wait-for-jobs", "--timeout", "3m")
	}) {
		t.FailNow()
	}
	t.Run("check", func(t *testing.T) {
		checkRelease(ctx, t, c, h, r, 1)
	})
	t.Run("monitoring", func(t *testing.T) {
		checkMonitoring(ctx, t, c, manifest(t, h, r), r.namespace)
	})
	t.Run("uninstall", func(t *testing.T) {
		uninstall(ctx, t, c, h, r)
		// Nothing of the kinds is left in the namespace either.
		for _, kind := range []string{"podmonitors", "prometheusrules"} {
			var l struct{ Items []json.RawMessage }
			if err := c.Get(ctx, "/apis/monitoring.coreos.com/v1/namespaces/"+r.namespace+"/"+kind, &l); err != nil {
				t.Error(err)
			} else if len(l.Items) > 0 {
				t.Errorf("after uninstall: %d %s left", len(l.Items), kind)
			}
		}
	})
}

// checkMonitoring asserts the installed release's monitoring.coreos.com
// objects (objs: its manifest) are valid under their CRDs' schemas and
// that the PodMonitors select the right pods of namespace.
func checkMonitoring(ctx context.Context, t *testing.T, c *kubestack.Client, objs []deploycheck.Object, namespace string) {
	t.Helper()
	var pms []*monitoringv1.PodMonitor
	var rules int
	var aPodMonitor []byte
	var aPodMonitorPath string
	for _, o := range objs {
		if !strings.HasPrefix(o.APIVersion, "monitoring.coreos.com/") {
			continue
		}
		path, err := objectPath(ctx, c, o, namespace)
		if err != nil {
			t.Error(err)
			continue
		}
		if err := c.Get(ctx, path, nil); err != nil {
			t.Errorf("%s: %v", o.Key(), err)
		}
		// The object as rendered, applied again (dry run) with strict field
		// validation: refused if the CRD's schema lacks a field or a value
		// breaks it.
		doc, err := yaml.YAMLToJSON([]byte(o.Source))
		if err != nil {
			t.Fatalf("%s: %v", o.Key(), err)
		}
		if err := c.Apply(ctx, path, "sensornode-e2e", doc, true); err != nil {
			t.Errorf("%s refused under its CRD's schema: %v", o.Key(), err)
		}
		switch v := o.Typed.(type) {
		case *monitoringv1.PodMonitor:
			pms = append(pms, v)
			if aPodMonitor == nil {
				aPodMonitor, aPodMonitorPath = doc, path
			}
		case *monitoringv1.PrometheusRule:
			rules++
		default:
			t.Errorf("%s: a monitoring kind this test does not check", o.Key())
		}
	}
	if len(pms) == 0 || rules != 1 {
		t.Fatalf("%d PodMonitors and %d PrometheusRules in the release, want some and 1", len(pms), rules)
	}

	// Each PodMonitor's selector, evaluated by the API server, picks pods of
	// its own service, each with the port it scrapes.
	scrapedBy := map[string][]string{} // pod -> PodMonitors
	for _, pm := range pms {
		if ns := pm.Spec.NamespaceSelector; ns.Any || len(ns.MatchNames) > 0 {
			t.Errorf("PodMonitor %s: namespaceSelector %+v, want its own namespace", pm.Name, ns)
		}
		sel, err := metav1.LabelSelectorAsSelector(&pm.Spec.Selector)
		if err != nil || sel.Empty() {
			t.Errorf("PodMonitor %s: selector %v (%v), want a non-empty one", pm.Name, pm.Spec.Selector, err)
			continue
		}
		var l corev1.PodList
		if err := c.Get(ctx, "/api/v1/namespaces/"+namespace+"/pods?labelSelector="+url.QueryEscape(sel.String()), &l); err != nil {
			t.Fatal(err)
		}
		if len(l.Items) == 0 {
			t.Errorf("PodMonitor %s selects no pod (%s)", pm.Name, sel)
		}
		for _, p := range l.Items {
			scrapedBy[p.Name] = append(scrapedBy[p.Name], pm.Name)
			if got, want := p.Labels["app.kubernetes.io/name"], pm.Labels["app.kubernetes.io/name"]; got != want {
				t.Errorf("PodMonitor %s (of %s) selects pod %s of %s", pm.Name, want, p.Name, got)
			}
			for _, ep := range pm.Spec.PodMetricsEndpoints {
				port := -1
				if ep.Port != nil {
					port = podPort(p, *ep.Port)
				}
				if port < 0 {
					t.Errorf("PodMonitor %s scrapes port %v, which pod %s lacks", pm.Name, ep.Port, p.Name)
				}
				// The same endpoint as the chart's scrape annotations name.
				a := p.Annotations
				if a["prometheus.io/scrape"] != "true" || a["prometheus.io/port"] != strconv.Itoa(port) || a["prometheus.io/path"] != ep.Path {
					t.Errorf("PodMonitor %s scrapes pod %s on port %d path %s; its annotations say scrape %q port %q path %q",
						pm.Name, p.Name, port, ep.Path, a["prometheus.io/scrape"], a["prometheus.io/port"], a["prometheus.io/path"])
				}
			}
		}
	}
	// Every pod with metrics (the chart's prometheus.io/scrape annotation,
	// on by default: each sensornode service's pods, not ZooKeeper's or
	// Kafka's) is scraped by one PodMonitor.
	pods, err := listPods(ctx, c, namespace)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pods {
		if p.Annotations["prometheus.io/scrape"] == "true" && len(scrapedBy[p.Name]) != 1 {
			t.Errorf("pod %s (prometheus.io/scrape): scraped by %v, want one PodMonitor", p.Name, scrapedBy[p.Name])
		}
	}

	// The control: a field the PodMonitor CRD lacks is refused, so the
	// applies above prove the schema accepted every field. Kubernetes
	// answers a server-side apply of a field its schema lacks with a 500
	// (kubernetes/kubernetes#139253; a 400 once that is fixed), whose
	// message names the field.
	var broken map[string]any
	if err := json.Unmarshal(aPodMonitor, &broken); err != nil {
		t.Fatal(err)
	}
	ep := broken["spec"].(map[string]any)["podMetricsEndpoints"].([]any)[0].(map[string]any)
	ep["scrapeIntervall"] = "30s"
	b, err := json.Marshal(broken)
	if err != nil {
		t.Fatal(err)
	}
	var ae *kubestack.APIError
	err = c.Apply(ctx, aPodMonitorPath, "sensornode-e2e", b, true)
	if !errors.As(err, &ae) || (ae.StatusCode != http.StatusBadRequest && ae.StatusCode != http.StatusInternalServerError) ||
		!strings.Contains(ae.Body, "scrapeIntervall") {
		t.Errorf("dry-run apply of a PodMonitor with an unknown field scrapeIntervall = %v, want a refusal naming it", err)
	}
}

// podPort is the number of p's container port called name, -1 if none.
func podPort(p corev1.Pod, name string) int {
	for _, ctr := range p.Spec.Containers {
		if i := slices.IndexFunc(ctr.Ports, func(cp corev1.ContainerPort) bool { return cp.Name == name }); i >= 0 {
			return int(ctr.Ports[i].ContainerPort)
		}
	}
	return -1
}
