package deploycheck

import (
	"fmt"
	"sort"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Workload is any object that runs pods, reduced to what the checks need.
type Workload struct {
	Kind     string // Deployment, ReplicationController, DaemonSet, StatefulSet, Job, Pod
	Name     string
	Labels   map[string]string // object labels
	Replicas *int32
	// Selector is the pod selector as a flat map (matchLabels, or the
	// ReplicationController's map); nil for Jobs and Pods.
	Selector map[string]string
	// SelectorExpressions reports matchExpressions, which the chart never uses.
	SelectorExpressions int
	PodLabels           map[string]string
	PodAnnotations      map[string]string
	Pod                 corev1.PodSpec
	// LongRunning is false for Jobs and bare Pods (helm tests): they need no
	// probes.
	LongRunning bool
}

// Key is "<kind>/<name>".
func (w Workload) Key() string { return w.Kind + "/" + w.Name }

// Workloads extracts the workloads of objs, sorted by Key.
func Workloads(objs []Object) []Workload {
	var out []Workload
	for _, o := range objs {
		var w Workload
		switch t := o.Typed.(type) {
		case *appsv1.Deployment:
			w = fromTemplate(t.Spec.Replicas, t.Spec.Template, t.Spec.Selector, true)
		case *appsv1.DaemonSet:
			w = fromTemplate(nil, t.Spec.Template, t.Spec.Selector, true)
		case *appsv1.StatefulSet:
			w = fromTemplate(t.Spec.Replicas, t.Spec.Template, t.Spec.Selector, true)
		case *corev1.ReplicationController:
			w = Workload{Replicas: t.Spec.Replicas, Selector: t.Spec.Selector, LongRunning: true}
			if t.Spec.Template != nil {
				w.Pod = t.Spec.Template.Spec
				w.PodLabels = t.Spec.Template.Labels
				w.PodAnnotations = t.Spec.Template.Annotations
			}
		case *batchv1.Job:
			w = fromTemplate(nil, t.Spec.Template, nil, false)
		case *corev1.Pod:
			w = Workload{Pod: t.Spec, PodLabels: t.Labels, PodAnnotations: t.Annotations}
		default:
			continue
		}
		w.Kind, w.Name, w.Labels = o.Kind, o.Name, o.Meta().Labels
		out = append(out, w)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key() < out[j].Key() })
	return out
}

// fromTemplate is the workload of an object with a pod template and a
// label selector (nil: none).
func fromTemplate(replicas *int32, tmpl corev1.PodTemplateSpec, sel *metav1.LabelSelector, longRunning bool) Workload {
	w := Workload{Replicas: replicas, Pod: tmpl.Spec, PodLabels: tmpl.Labels, PodAnnotations: tmpl.Annotations, LongRunning: longRunning}
	if sel != nil {
		w.Selector = sel.MatchLabels
		w.SelectorExpressions = len(sel.MatchExpressions)
	}
	return w
}

// Component is the workload's app.kubernetes.io/name label.
func (w Workload) Component() string { return w.Labels["app.kubernetes.io/name"] }

// Containers returns init containers then containers.
func (w Workload) Containers() []corev1.Container {
	return append(append([]corev1.Container(nil), w.Pod.InitContainers...), w.Pod.Containers...)
}

// EnvMap is a container's env as name -> value; valueFrom entries are
// rendered as "<from:...>" so that comparisons see them too.
func EnvMap(c corev1.Container) map[string]string {
	m := map[string]string{}
	for _, e := range c.Env {
		v := e.Value
		if f := e.ValueFrom; f != nil {
			switch {
			case f.FieldRef != nil:
				v = "<field:" + f.FieldRef.FieldPath + ">"
			case f.ResourceFieldRef != nil:
				v = fmt.Sprintf("<resource:%s/%s>", f.ResourceFieldRef.ContainerName, f.ResourceFieldRef.Resource)
			case f.SecretKeyRef != nil:
				v = "<secret:" + f.SecretKeyRef.Name + "/" + f.SecretKeyRef.Key + ">"
			case f.ConfigMapKeyRef != nil:
				v = "<configmap:" + f.ConfigMapKeyRef.Name + "/" + f.ConfigMapKeyRef.Key + ">"
			}
		}
		m[e.Name] = v
	}
	return m
}

// SelectorMatches reports whether every selector label is on the pod.
func (w Workload) SelectorMatches() bool {
	if w.Selector == nil {
		return false
	}
	for k, v := range w.Selector {
		if w.PodLabels[k] != v {
			return false
		}
	}
	return len(w.Selector) > 0
}
