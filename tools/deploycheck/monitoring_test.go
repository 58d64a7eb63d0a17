//go:build deploy

package deploycheck

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"
)

// monitoringServices are the services ci/monitoring-values.yaml enables,
// each of which gets a PodMonitor.
var monitoringServices = []string{"camera-producer", "temp-producer", "edge-forwarder", "cloud-ingest-hdfs", "master-watcher", "viewer"}

const thresholdRecord = "sensornode:cpu_temperature_threshold:celsius"

func isMonitoring(o Object) bool {
	return strings.HasPrefix(o.APIVersion, "monitoring.coreos.com/") || o.Meta().Labels["app.kubernetes.io/component"] == "monitoring"
}

// TestHelmMonitoringOffByDefault: the monitoring objects are opt-in.
func TestHelmMonitoringOffByDefault(t *testing.T) {
	for _, f := range []string{"ci/edge-values.yaml", "ci/cloud-values.yaml", "ci/dev-values.yaml"} {
		for _, o := range helmObjects(t, []string{f}) {
			if isMonitoring(o) {
				t.Errorf("%s renders %s", f, o.Key())
			}
		}
	}
}

// TestHelmMonitoring: with ci/monitoring-values.yaml every service has a
// PodMonitor selecting its pods' admin port, the PrometheusRule is the
// rules file with the configured temperature threshold, and the
// dashboards ConfigMap carries every dashboard file unchanged.
func TestHelmMonitoring(t *testing.T) {
	objs := helmObjects(t, []string{"ci/monitoring-values.yaml"})
	checkPolicy(t, objs)

	t.Run("PodMonitors", func(t *testing.T) {
		checkPodMonitors(t, objs, monitoringServices)
	})

	t.Run("PrometheusRule is the rules file", func(t *testing.T) {
		checkRules(t, objs, "72.5")
		checkRules(t, helmObjects(t, []string{"ci/monitoring-values.yaml"}, "metrics.prometheusRule.cpuTemperatureThresholdCelsius=68"), "68")
	})

	t.Run("dashboards ConfigMap", func(t *testing.T) {
		var cm *corev1.ConfigMap
		for _, o := range objs {
			if c, ok := o.Typed.(*corev1.ConfigMap); ok && c.Labels["grafana_dashboard"] == "1" {
				if cm != nil {
					t.Fatalf("two dashboard ConfigMaps: %s, %s", cm.Name, c.Name)
				}
				cm = c
			}
		}
		if cm == nil {
			t.Fatal("no ConfigMap labelled grafana_dashboard=1")
		}
		if cm.Annotations["grafana_folder"] != "sensornode" {
			t.Errorf("ConfigMap %s: annotations %v lack metrics.grafanaDashboards.annotations", cm.Name, cm.Annotations)
		}
		files, err := filepath.Glob(filepath.Join(rend.ChartDir(), "monitoring", "dashboards", "*.json"))
		if err != nil || len(files) < 3 {
			t.Fatalf("dashboard files %v (%v), want fleet, node and pipeline", files, err)
		}
		for _, f := range files {
			want, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			got, ok := cm.Data[filepath.Base(f)]
			if !ok {
				t.Errorf("ConfigMap %s lacks %s", cm.Name, filepath.Base(f))
				continue
			}
			if strings.TrimSpace(got) != strings.TrimSpace(string(want)) || !json.Valid([]byte(got)) {
				t.Errorf("ConfigMap %s: %s differs from the file or is not JSON", cm.Name, filepath.Base(f))
			}
		}
		if len(cm.Data) != len(files) {
			t.Errorf("ConfigMap %s has %d entries, want the %d dashboard files", cm.Name, len(cm.Data), len(files))
		}
	})
}

// checkPodMonitors: objs have one PodMonitor per service of services and
// no other; each selects only that service's rendered pods (at least
// one), on their admin port's /metrics, with job, node and kubernetes_node
// labels.
func checkPodMonitors(t *testing.T, objs []Object, services []string) {
	t.Helper()
	ws := Workloads(objs)
	got := map[string]*monitoringv1.PodMonitor{}
	for _, o := range objs {
		if pm, ok := o.Typed.(*monitoringv1.PodMonitor); ok {
			got[pm.Labels["app.kubernetes.io/name"]] = pm
		}
	}
	for _, comp := range services {
		pm := got[comp]
		if pm == nil {
			t.Errorf("no PodMonitor for %s", comp)
			continue
		}
		delete(got, comp)
		if pm.Labels["release"] != "kube-prometheus-stack" {
			t.Errorf("PodMonitor %s: labels %v lack metrics.podMonitors.labels", pm.Name, pm.Labels)
		}
		if pm.Spec.JobLabel != "app.kubernetes.io/name" {
			t.Errorf("PodMonitor %s: jobLabel %q", pm.Name, pm.Spec.JobLabel)
		}
		if len(pm.Spec.PodMetricsEndpoints) != 1 {
			t.Fatalf("PodMonitor %s: %d endpoints, want 1", pm.Name, len(pm.Spec.PodMetricsEndpoints))
		}
		ep := pm.Spec.PodMetricsEndpoints[0]
		var targets []string
		for _, r := range ep.RelabelConfigs {
			targets = append(targets, r.TargetLabel)
		}
		if !slices.Contains(targets, "node") || !slices.Contains(targets, "kubernetes_node") {
			t.Errorf("PodMonitor %s: relabelings set %v, want node and kubernetes_node", pm.Name, targets)
		}
		matched := 0
		for _, w := range ws {
			all := len(pm.Spec.Selector.MatchLabels) > 0 && len(pm.Spec.Selector.MatchExpressions) == 0
			for k, v := range pm.Spec.Selector.MatchLabels {
				if w.PodLabels[k] != v {
					all = false
				}
			}
			if !all {
				continue
			}
			matched++
			if w.Component() != comp {
				t.Errorf("PodMonitor %s selects %s", pm.Name, w.Key())
			}
			if ep.Port == nil || !hasPort(w, *ep.Port) {
				t.Errorf("PodMonitor %s: port %v is not a container port of %s", pm.Name, ep.Port, w.Key())
			}
			if ep.Path != "/metrics" {
				t.Errorf("PodMonitor %s: path %q", pm.Name, ep.Path)
			}
		}
		if matched == 0 {
			t.Errorf("PodMonitor %s selects no rendered pod (%v)", pm.Name, pm.Spec.Selector.MatchLabels)
		}
	}
	for comp := range got {
		t.Errorf("unexpected PodMonitor for %s", comp)
	}
}

func hasPort(w Workload, name string) bool {
	for _, c := range w.Pod.Containers {
		for _, p := range c.Ports {
			if p.Name == name {
				return true
			}
		}
	}
	return false
}

// checkRules: the rendered PrometheusRule's groups are those of
// monitoring/rules.yaml, the threshold's recording rule set to
// vector(threshold).
func checkRules(t *testing.T, objs []Object, threshold string) {
	t.Helper()
	var rules []*monitoringv1.PrometheusRule
	for _, o := range objs {
		if r, ok := o.Typed.(*monitoringv1.PrometheusRule); ok {
			rules = append(rules, r)
		}
	}
	if len(rules) != 1 {
		t.Fatalf("%d PrometheusRules, want 1", len(rules))
	}
	if rules[0].Labels["release"] != "kube-prometheus-stack" {
		t.Errorf("PrometheusRule %s: labels %v lack metrics.prometheusRule.labels", rules[0].Name, rules[0].Labels)
	}
	b, err := os.ReadFile(filepath.Join(rend.ChartDir(), "monitoring", "rules.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var want monitoringv1.PrometheusRuleSpec
	if err := yaml.UnmarshalStrict(b, &want); err != nil {
		t.Fatalf("monitoring/rules.yaml: %v", err)
	}
	set := 0
	for g := range want.Groups {
		for r := range want.Groups[g].Rules {
			if want.Groups[g].Rules[r].Record == thresholdRecord {
				want.Groups[g].Rules[r].Expr = intstr.FromString("vector(" + threshold + ")")
				set++
			}
		}
	}
	if set != 1 {
		t.Fatalf("monitoring/rules.yaml has %d recording rules %s, want 1", set, thresholdRecord)
	}
	if !reflect.DeepEqual(rules[0].Spec, want) {
		g, _ := yaml.Marshal(rules[0].Spec)
		w, _ := yaml.Marshal(want)
		t.Errorf("PrometheusRule %s differs from monitoring/rules.yaml with threshold %s:\n--- rendered\n%s\n--- want\n%s", rules[0].Name, threshold, g, w)
	}
}
