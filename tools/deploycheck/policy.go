package deploycheck

import (
	"fmt"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
)

// AdminPorts are the admin ports of the sensornode services.
var AdminPorts = map[string]int32{
	"camera-producer":   9101,
	"temp-producer":     9102,
	"edge-forwarder":    9103,
	"cloud-ingest-hdfs": 9104,
	"master-watcher":    9105,
	"viewer":            9106,
	"node-agent":        9107,
}

// Services lists the sensornode services, in a fixed order.
var Services = []string{"camera-producer", "temp-producer", "edge-forwarder", "cloud-ingest-hdfs", "master-watcher", "viewer", "node-agent"}

// NodeAgentParts are the services node-agent runs in one process (the
// chart's nodeAgent.enabled), in the order it starts them.
var NodeAgentParts = []string{"camera-producer", "temp-producer", "master-watcher"}

// ServiceOfImage returns the sensornode service an image runs ("" for
// third-party images such as ZooKeeper or Kafka): the last path element
// before the tag, when it is a service name.
func ServiceOfImage(image string) string {
	ref := image
	if i := strings.Index(ref, "@"); i >= 0 {
		ref = ref[:i]
	}
	if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") {
		ref = ref[:i]
	}
	name := ref[strings.LastIndex(ref, "/")+1:]
	if _, ok := AdminPorts[name]; ok {
		return name
	}
	return ""
}

// CheckPolicy returns every way w breaks the pod rules of STYLE.md §6:
// non-root, read-only root filesystem, all capabilities dropped, no
// privilege escalation, seccomp RuntimeDefault, no service links, CPU and
// memory limits on every container, probes on every long-running container
// (on the admin port with /livez and /readyz for sensornode services),
// Prometheus annotations matching the admin port, and a selector that
// matches the pod template.
func CheckPolicy(w Workload) []error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", w.Key(), fmt.Sprintf(format, args...)))
	}
	for _, msg := range validation.IsDNS1123Label(w.Name) {
		bad("name: %s", msg)
	}
	if w.Kind != "Job" && w.Kind != "Pod" {
		if !w.SelectorMatches() || w.SelectorExpressions > 0 {
			bad("selector %v does not match pod labels %v", w.Selector, w.PodLabels)
		}
	}
	p := w.Pod
	if p.EnableServiceLinks == nil || *p.EnableServiceLinks {
		bad("enableServiceLinks is not false")
	}
	if p.AutomountServiceAccountToken == nil || *p.AutomountServiceAccountToken {
		bad("automountServiceAccountToken is not false")
	}
	psc := p.SecurityContext
	podNonRoot := psc != nil && psc.RunAsNonRoot != nil && *psc.RunAsNonRoot
	podUser := psc != nil && psc.RunAsUser != nil && *psc.RunAsUser > 0
	if !podNonRoot {
		bad("pod securityContext.runAsNonRoot is not true")
	}
	if psc == nil || psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		bad("pod seccompProfile is not RuntimeDefault")
	}
	if p.HostPID || p.HostIPC {
		bad("hostPID/hostIPC")
	}
	for _, c := range w.Containers() {
		cbad := func(format string, args ...any) { bad("container %s: %s", c.Name, fmt.Sprintf(format, args...)) }
		sc := c.SecurityContext
		if sc == nil {
			cbad("no securityContext")
			continue
		}
		if !(sc.RunAsNonRoot != nil && *sc.RunAsNonRoot) && !podNonRoot {
			cbad("runAsNonRoot not set")
		}
		if sc.RunAsUser != nil && *sc.RunAsUser == 0 || sc.RunAsUser == nil && !podUser {
			cbad("runs as uid 0 or without a numeric uid")
		}
		if sc.Privileged != nil && *sc.Privileged {
			cbad("privileged")
		}
		if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
			cbad("allowPrivilegeEscalation is not false")
		}
		if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
			cbad("readOnlyRootFilesystem is not true")
		}
		if sc.Capabilities == nil || !hasCap(sc.Capabilities.Drop, "ALL") || len(sc.Capabilities.Add) > 0 {
			cbad("capabilities: want drop [ALL] and no add")
		}
		if sc.SeccompProfile != nil && sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
			cbad("seccompProfile %s", sc.SeccompProfile.Type)
		}
		for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			if _, ok := c.Resources.Limits[r]; !ok {
				cbad("no %s limit", r)
			}
			if _, ok := c.Resources.Requests[r]; !ok {
				cbad("no %s request", r)
			}
		}
		if lim, ok := c.Resources.Limits[corev1.ResourceMemory]; ok && lim.Value() > 512<<20 {
			cbad("memory limit %s above 512Mi: too much for a 1 GB board", lim.String())
		}
	}
	if !w.LongRunning {
		return errs
	}
	for _, c := range p.Containers {
		cbad := func(format string, args ...any) { bad("container %s: %s", c.Name, fmt.Sprintf(format, args...)) }
		if c.LivenessProbe == nil || c.ReadinessProbe == nil {
			cbad("missing liveness or readiness probe")
			continue
		}
		svc := ServiceOfImage(c.Image)
		if svc == "" {
			continue
		}
		port := AdminPorts[svc]
		for _, pr := range []struct {
			probe *corev1.Probe
			path  string
		}{{c.LivenessProbe, "/livez"}, {c.ReadinessProbe, "/readyz"}} {
			g := pr.probe.HTTPGet
			if g == nil || g.Path != pr.path || resolvePort(c, g.Port) != port {
				cbad("probe for %s: want HTTP GET %s on admin port %d, got %+v", pr.path, pr.path, port, pr.probe.ProbeHandler)
			}
		}
		env := EnvMap(c)
		if got, want := env["SENSORNODE_ADMIN_ADDR"], fmt.Sprintf(":%d", port); got != want {
			cbad("SENSORNODE_ADMIN_ADDR = %q, want %q (the probes' port)", got, want)
		}
		ann := w.PodAnnotations
		if ann["prometheus.io/scrape"] != "true" || ann["prometheus.io/port"] != strconv.Itoa(int(port)) || ann["prometheus.io/path"] != "/metrics" {
			cbad("prometheus annotations %v do not point at :%d/metrics", ann, port)
		}
	}
	return errs
}

func hasCap(caps []corev1.Capability, want corev1.Capability) bool {
	for _, c := range caps {
		if c == want {
			return true
		}
	}
	return false
}

// resolvePort returns the container port a probe targets (by number or by
// the name of one of the container's ports); 0 if unresolved.
func resolvePort(c corev1.Container, p intstr.IntOrString) int32 {
	if p.Type == intstr.Int {
		return p.IntVal
	}
	for _, cp := range c.Ports {
		if cp.Name == p.StrVal {
			return cp.ContainerPort
		}
	}
	return 0
}
