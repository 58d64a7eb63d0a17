package deploycheck

import (
	"fmt"
	"reflect"
	"sort"

	corev1 "k8s.io/api/core/v1"
)

// helmOnlyLabels are labels the chart sets and the Kustomize base drops.
var helmOnlyLabels = map[string]bool{"helm.sh/chart": true, "app.kubernetes.io/managed-by": true}

func withoutHelmLabels(m map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		if !helmOnlyLabels[k] {
			out[k] = v
		}
	}
	return out
}

// CompareWorkloads compares two renderings' workloads: the same set (or,
// with subset, every workload of got exists in want), and per workload the
// same kind, replicas, selector, pod labels (minus Helm's own), and per
// container the same image, env, ports, probes, resources, security
// context, volume mounts; then the rest of the pod spec as a whole.
func CompareWorkloads(want, got []Workload, subset bool) []error {
	var errs []error
	wm := map[string]Workload{}
	for _, w := range want {
		wm[w.Key()] = w
	}
	gm := map[string]Workload{}
	for _, g := range got {
		gm[g.Key()] = g
	}
	keys := func(m map[string]Workload) []string {
		var out []string
		for k := range m {
			out = append(out, k)
		}
		sort.Strings(out)
		return out
	}
	for _, k := range keys(gm) {
		if _, ok := wm[k]; !ok {
			errs = append(errs, fmt.Errorf("%s: only in kustomize", k))
		}
	}
	for _, k := range keys(wm) {
		g, ok := gm[k]
		if !ok {
			if !subset {
				errs = append(errs, fmt.Errorf("%s: only in the chart", k))
			}
			continue
		}
		errs = append(errs, compareOne(wm[k], g)...)
	}
	return errs
}

func compareOne(w, g Workload) []error {
	var errs []error
	diff := func(what string, a, b any) {
		if !reflect.DeepEqual(a, b) {
			errs = append(errs, fmt.Errorf("%s: %s differ:\n  chart:     %+v\n  kustomize: %+v", w.Key(), what, a, b))
		}
	}
	diff("replicas", w.Replicas, g.Replicas)
	diff("selector", w.Selector, g.Selector)
	diff("pod labels", withoutHelmLabels(w.PodLabels), withoutHelmLabels(g.PodLabels))
	diff("pod annotations", w.PodAnnotations, g.PodAnnotations)
	wc, gc := w.Containers(), g.Containers()
	if len(wc) != len(gc) {
		errs = append(errs, fmt.Errorf("%s: %d containers in the chart, %d in kustomize", w.Key(), len(wc), len(gc)))
		return errs
	}
	for i := range wc {
		a, b := wc[i], gc[i]
		p := "container " + a.Name
		diff(p+" name", a.Name, b.Name)
		diff(p+" image", a.Image, b.Image)
		diff(p+" command/args", [2][]string{a.Command, a.Args}, [2][]string{b.Command, b.Args})
		diff(p+" env", EnvMap(a), EnvMap(b))
		diff(p+" ports", a.Ports, b.Ports)
		diff(p+" liveness probe", a.LivenessProbe, b.LivenessProbe)
		diff(p+" readiness probe", a.ReadinessProbe, b.ReadinessProbe)
		diff(p+" resources", a.Resources, b.Resources)
		diff(p+" security context", a.SecurityContext, b.SecurityContext)
		diff(p+" volume mounts", sortedMounts(a.VolumeMounts), sortedMounts(b.VolumeMounts))
	}
	// Everything else in the pod spec (node selector, host network,
	// volumes, security context, ...), containers already compared.
	ws, gs := w.Pod.DeepCopy(), g.Pod.DeepCopy()
	ws.Containers, gs.Containers, ws.InitContainers, gs.InitContainers = nil, nil, nil, nil
	sortVolumes(ws.Volumes)
	sortVolumes(gs.Volumes)
	diff("pod spec", *ws, *gs)
	return errs
}

func sortedMounts(m []corev1.VolumeMount) []corev1.VolumeMount {
	out := append([]corev1.VolumeMount(nil), m...)
	sort.Slice(out, func(i, j int) bool { return out[i].MountPath < out[j].MountPath })
	return out
}

func sortVolumes(v []corev1.Volume) {
	sort.Slice(v, func(i, j int) bool { return v[i].Name < v[j].Name })
}
