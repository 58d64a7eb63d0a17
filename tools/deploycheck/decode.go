// Package deploycheck checks the Kubernetes manifests that the Helm chart
// and the Kustomize overlays produce, without a cluster: every object is
// decoded strictly into its Kubernetes API type (unknown or duplicate
// fields fail, field names are case-sensitive, as `kubectl
// --validate=strict` does), and workloads are reduced to a comparable form.
package deploycheck

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// Object is one decoded manifest.
type Object struct {
	APIVersion string
	Kind       string
	Name       string
	// Typed is a pointer to the API type (*appsv1.Deployment, ...).
	Typed any
	// Source is the document's YAML, for messages.
	Source string
}

// Key is "<apiVersion>/<kind>/<name>".
func (o Object) Key() string { return o.APIVersion + "/" + o.Kind + "/" + o.Name }

// Meta returns the object's metadata.
func (o Object) Meta() *metav1.ObjectMeta {
	v := reflect.ValueOf(o.Typed).Elem().FieldByName("ObjectMeta")
	return v.Addr().Interface().(*metav1.ObjectMeta)
}

// types maps apiVersion/kind to a constructor of the typed object. Anything
// else in a rendering is an error: the chart and overlays must only produce
// kinds this package knows how to check.
var apiTypes = map[string]func() any{
	"v1/ConfigMap":                       func() any { return &corev1.ConfigMap{} },
	"v1/Service":                         func() any { return &corev1.Service{} },
	"v1/Pod":                             func() any { return &corev1.Pod{} },
	"v1/ReplicationController":           func() any { return &corev1.ReplicationController{} },
	"v1/ServiceAccount":                  func() any { return &corev1.ServiceAccount{} },
	"apps/v1/Deployment":                 func() any { return &appsv1.Deployment{} },
	"apps/v1/DaemonSet":                  func() any { return &appsv1.DaemonSet{} },
	"apps/v1/StatefulSet":                func() any { return &appsv1.StatefulSet{} },
	"batch/v1/Job":                       func() any { return &batchv1.Job{} },
	"networking.k8s.io/v1/NetworkPolicy": func() any { return &networkingv1.NetworkPolicy{} },
	"networking.k8s.io/v1/Ingress":       func() any { return &networkingv1.Ingress{} },
	"policy/v1/PodDisruptionBudget":      func() any { return &policyv1.PodDisruptionBudget{} },
	// The Prometheus Operator's kinds (metrics.podMonitors, .prometheusRule).
	"monitoring.coreos.com/v1/PodMonitor":     func() any { return &monitoringv1.PodMonitor{} },
	"monitoring.coreos.com/v1/ServiceMonitor": func() any { return &monitoringv1.ServiceMonitor{} },
	"monitoring.coreos.com/v1/PrometheusRule": func() any { return &monitoringv1.PrometheusRule{} },
}

// DecodeStrict splits a YAML stream into documents and decodes each one
// strictly into the API type named by its apiVersion and kind. Empty
// documents are skipped. The first problem of each document is reported;
// all problems are joined.
func DecodeStrict(stream []byte) ([]Object, error) {
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(stream)))
	var (
		out  []Object
		errs []error
	)
	for i := 0; ; i++ {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("document %d: %w", i, err)
		}
		if len(bytes.TrimSpace(stripComments(doc))) == 0 {
			continue
		}
		obj, err := decodeOne(doc)
		if err != nil {
			errs = append(errs, fmt.Errorf("document %d: %w\n%s", i, err, indent(string(doc))))
			continue
		}
		out = append(out, obj)
	}
	return out, errors.Join(errs...)
}

func decodeOne(doc []byte) (Object, error) {
	// YAMLToJSONStrict rejects duplicate keys, which a lenient YAML parser
	// silently resolves to the last one.
	js, err := yaml.YAMLToJSONStrict(doc)
	if err != nil {
		return Object{}, fmt.Errorf("yaml: %w", err)
	}
	var tm metav1.TypeMeta
	if err := sigsjson.UnmarshalCaseSensitivePreserveInts(js, &tm); err != nil {
		return Object{}, fmt.Errorf("type meta: %w", err)
	}
	if tm.APIVersion == "" || tm.Kind == "" {
		return Object{}, errors.New("missing apiVersion or kind")
	}
	newT, ok := apiTypes[tm.APIVersion+"/"+tm.Kind]
	if !ok {
		return Object{}, fmt.Errorf("unsupported apiVersion/kind %s/%s", tm.APIVersion, tm.Kind)
	}
	typed := newT()
	strictErrs, err := sigsjson.UnmarshalStrict(js, typed)
	if err != nil {
		return Object{}, fmt.Errorf("decode %s: %w", tm.Kind, err)
	}
	if len(strictErrs) > 0 {
		return Object{}, fmt.Errorf("strict decode %s: %w", tm.Kind, errors.Join(strictErrs...))
	}
	o := Object{APIVersion: tm.APIVersion, Kind: tm.Kind, Typed: typed, Source: string(doc)}
	o.Name = o.Meta().Name
	if o.Name == "" {
		return Object{}, fmt.Errorf("%s without metadata.name", tm.Kind)
	}
	return o, nil
}

func stripComments(doc []byte) []byte {
	var b bytes.Buffer
	for _, line := range strings.Split(string(doc), "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		b.WriteString(line)
		b.WriteByte('\n')
	}
	return b.Bytes()
}

func indent(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > 40 {
		lines = append(lines[:40], "...")
	}
	return "    | " + strings.Join(lines, "\n    | ")
}
