//go:build deploy

package deploycheck

import (
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// processWide are the variables node-agent reads for the whole process
// (one admin server, one memory limit), not per service: the separate
// containers' values of them are not the combined container's.
var processWide = []string{"SENSORNODE_ADMIN_ADDR", "SENSORNODE_ADMIN_PPROF_ENABLED", "SENSORNODE_SHUTDOWN_TIMEOUT", "SENSORNODE_MEMORY_LIMIT_BYTES"}

// onNode returns the workload of comp pinned to hostname (nil: none).
func onNode(ws []Workload, comp, hostname string) *Workload {
	for _, w := range byComponent(ws, comp) {
		if w.Pod.NodeSelector["kubernetes.io/hostname"] == hostname {
			return &w
		}
	}
	return nil
}

// TestHelmNodeAgent: nodeAgent.enabled replaces each node's
// camera-producer, temp-producer and master-watcher by one node-agent
// pinned like them, whose pod has the union of what theirs had, and each
// service inside it sees (after node-agent's scoping) exactly the
// environment its own container had in the separate rendering with the
// same values.
func TestHelmNodeAgent(t *testing.T) {
	sets := []string{"cameraProducer.form=json", // SENSORNODE_FORM is temp-producer's too
		"tempProducer.extraEnv[0].name=SENSORNODE_RETRY_MIN_INTERVAL", "tempProducer.extraEnv[0].value=3s",
		"masterWatcher.extraEnv[0].name=SENSORNODE_LOG_LEVEL", "masterWatcher.extraEnv[0].value=debug"}
	separate := Workloads(helmObjects(t, []string{"ci/edge-values.yaml"}, sets...))
	objs := helmObjects(t, []string{"ci/edge-values.yaml"}, append([]string{"nodeAgent.enabled=true"}, sets...)...)
	checkPolicy(t, objs)
	ws := Workloads(objs)

	for _, comp := range []string{"camera-producer", "temp-producer"} {
		if got := byComponent(ws, comp); len(got) > 0 {
			t.Errorf("%d %s workloads with nodeAgent.enabled, want none", len(got), comp)
		}
	}
	for _, o := range objs {
		if o.Kind == "Service" && (strings.HasSuffix(o.Name, "-camera-producer") || strings.HasSuffix(o.Name, "-temp-producer")) {
			t.Errorf("Service %s rendered with nodeAgent.enabled", o.Name)
		}
	}

	t.Run("master-watcher's DaemonSet avoids the layout's nodes", func(t *testing.T) {
		mw := byComponent(ws, "master-watcher")
		if len(mw) != 1 || mw[0].Kind != "DaemonSet" {
			t.Fatalf("master-watcher workloads %v, want one DaemonSet", mw)
		}
		var hosts []string
		for _, n := range defaultNodes {
			hosts = append(hosts, n.hostname)
		}
		a := mw[0].Pod.Affinity
		want := corev1.NodeSelectorRequirement{Key: "kubernetes.io/hostname", Operator: corev1.NodeSelectorOpNotIn, Values: hosts}
		if a == nil || a.NodeAffinity == nil || a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil ||
			len(a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms) != 1 ||
			!slices.EqualFunc(a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms[0].MatchExpressions,
				[]corev1.NodeSelectorRequirement{want}, func(x, y corev1.NodeSelectorRequirement) bool {
					return x.Key == y.Key && x.Operator == y.Operator && slices.Equal(x.Values, y.Values)
				}) {
			t.Errorf("master-watcher affinity %+v, want required %+v", a, want)
		}
	})

	agents := byComponent(ws, "node-agent")
	if len(agents) != len(defaultNodes) {
		t.Fatalf("%d node-agent workloads, want %d (one per node)", len(agents), len(defaultNodes))
	}
	for _, n := range defaultNodes {
		t.Run("node-agent on "+n.hostname, func(t *testing.T) {
			w := onNode(ws, "node-agent", n.hostname)
			if w == nil {
				t.Fatalf("no node-agent pinned to %s", n.hostname)
			}
			cam, temp := onNode(separate, "camera-producer", n.hostname), onNode(separate, "temp-producer", n.hostname)
			if cam == nil || temp == nil {
				t.Fatalf("the separate rendering has no camera-producer or temp-producer on %s", n.hostname)
			}
			if w.Kind != "Deployment" || w.Replicas == nil || *w.Replicas != 1 {
				t.Errorf("%s: want a Deployment with 1 replica", w.Key())
			}
			if !maps.Equal(w.Pod.NodeSelector, cam.Pod.NodeSelector) {
				t.Errorf("%s: nodeSelector %v, want camera-producer's %v", w.Key(), w.Pod.NodeSelector, cam.Pod.NodeSelector)
			}
			if w.PodLabels["sensornode.io/node"] != n.id {
				t.Errorf("%s: pod label sensornode.io/node = %q, want %q", w.Key(), w.PodLabels["sensornode.io/node"], n.id)
			}
			if !w.Pod.HostNetwork || w.Pod.DNSPolicy != corev1.DNSClusterFirstWithHostNet {
				t.Errorf("%s: hostNetwork %v dnsPolicy %q, want master-watcher's host network", w.Key(), w.Pod.HostNetwork, w.Pod.DNSPolicy)
			}
			if len(w.Pod.Containers) != 1 {
				t.Fatalf("%s: %d containers, want 1", w.Key(), len(w.Pod.Containers))
			}
			c := w.Pod.Containers[0]
			if !strings.HasPrefix(c.Image, "ghcr.io/sensornode/node-agent:") || ServiceOfImage(c.Image) != "node-agent" {
				t.Errorf("%s: image %s, want ghcr.io/sensornode/node-agent", w.Key(), c.Image)
			}
			env := EnvMap(c)
			if got, want := env["SENSORNODE_NODE_AGENT_SERVICES"], "camera-producer,temp-producer,master-watcher"; got != want {
				t.Errorf("%s: SENSORNODE_NODE_AGENT_SERVICES = %q, want %q", w.Key(), got, want)
			}
			for _, k := range []string{"SENSORNODE_TOPIC", "SENSORNODE_SOURCE", "SENSORNODE_FORM"} {
				if v, ok := env[k]; ok {
					t.Errorf("%s: %s = %q unscoped: it means different things to camera-producer and temp-producer", w.Key(), k, v)
				}
			}
			if got := EnvMap(c)["SENSORNODE_MEMORY_LIMIT_BYTES"]; got != "<resource:node-agent/limits.memory>" {
				t.Errorf("%s: SENSORNODE_MEMORY_LIMIT_BYTES = %q, want node-agent's memory limit", w.Key(), got)
			}
			if c.Resources.Requests.Memory().String() != "40Mi" || c.Resources.Limits.Memory().String() != "192Mi" {
				t.Errorf("%s: memory %v / %v, want nodeAgent.resources 40Mi / 192Mi", w.Key(), c.Resources.Requests.Memory(), c.Resources.Limits.Memory())
			}

			// Each service sees what its own container had.
			mw := byComponent(separate, "master-watcher")[0]
			for _, part := range []struct {
				service string
				own     Workload
			}{{"camera-producer", *cam}, {"temp-producer", *temp}, {"master-watcher", mw}} {
				vars, err := serviceEnv(part.service)
				if err != nil {
					t.Fatal(err)
				}
				got := EffectiveEnv(part.service, env, vars)
				want := map[string]string{}
				for k, v := range EnvMap(container(t, part.own, part.service)) {
					if _, reads := vars[k]; reads {
						want[k] = v
					}
				}
				for _, k := range processWide {
					delete(got, k)
					delete(want, k)
				}
				if !maps.Equal(got, want) {
					t.Errorf("%s: %s sees env\n  %v\nwant its own container's\n  %v", w.Key(), part.service, got, want)
				}
			}

			// The host directories and read-only mounts of the three.
			wantMounts := map[string]string{}
			for _, p := range []struct {
				w    Workload
				name string
			}{{*cam, "camera-producer"}, {*temp, "temp-producer"}, {mw, "master-watcher"}} {
				maps.Copy(wantMounts, hostMounts(p.w, container(t, p.w, p.name)))
			}
			if got := hostMounts(*w, c); !maps.Equal(got, wantMounts) {
				t.Errorf("%s: host mounts %v, want %v", w.Key(), got, wantMounts)
			}
			paths := map[string]bool{}
			for _, m := range c.VolumeMounts {
				if paths[m.MountPath] {
					t.Errorf("%s: %s mounted twice", w.Key(), m.MountPath)
				}
				paths[m.MountPath] = true
				if m.MountPath == "/sys" && !m.ReadOnly {
					t.Errorf("%s: /sys is writable", w.Key())
				}
			}
			if !paths["/etc/sensornode/kube-ca"] {
				t.Errorf("%s: no kube-ca mount for master-watcher's https probes", w.Key())
			}
		})
	}

	t.Run("admin Service and helm test", func(t *testing.T) {
		var svc *corev1.Service
		var test *corev1.Pod
		for _, o := range objs {
			switch x := o.Typed.(type) {
			case *corev1.Service:
				if o.Name == "sensornode-node-agent" {
					svc = x
				}
			case *corev1.Pod:
				test = x
			}
		}
		if svc == nil || len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Port != 9107 || svc.Spec.Selector["app.kubernetes.io/name"] != "node-agent" {
			t.Errorf("Service sensornode-node-agent %+v, want admin 9107 selecting node-agent", svc)
		}
		if test == nil {
			t.Fatal("no helm test pod")
		}
		script := strings.Join(test.Spec.Containers[0].Command, " ")
		if !strings.Contains(script, "sensornode-node-agent:9107") {
			t.Errorf("helm test does not fetch node-agent's /readyz: %s", script)
		}
		for _, gone := range []string{"camera-producer:", "temp-producer:", "master-watcher:"} {
			if strings.Contains(script, gone) {
				t.Errorf("helm test fetches %s, whose pods node-agent replaces: %s", gone, script)
			}
		}
	})
}

// TestHelmNodeAgentVariants: node-agent runs the enabled services only,
// with the host network only when master-watcher is one of them; camera
// mode's device and group, ReplicationController mode and custom nodes
// carry over.
func TestHelmNodeAgentVariants(t *testing.T) {
	tests := []struct {
		name      string
		sets      []string
		services  string
		hostNet   bool
		kind      string
		groups    []int64
		resource  string
		hostMount map[string]string // node1's, besides nothing else
	}{
		{name: "no master-watcher", sets: []string{"masterWatcher.enabled=false"}, services: "camera-producer,temp-producer",
			kind: "Deployment", hostMount: map[string]string{"/camera1": "/mnt/camera1", "/sys": "/sys"}},
		{name: "temp-producer and master-watcher", sets: []string{"cameraProducer.enabled=false", "tempProducer.source=file"},
			services: "temp-producer,master-watcher", hostNet: true, kind: "Deployment", hostMount: map[string]string{"/temp1": "/mnt/temp1"}},
		{name: "camera device plugin", sets: []string{"cameraProducer.source=camera", "cameraProducer.camera.deviceResource=squat.ai/video"},
			services: "camera-producer,temp-producer,master-watcher", hostNet: true, kind: "Deployment", groups: []int64{44}, resource: "squat.ai/video",
			hostMount: map[string]string{"/sys": "/sys"}},
		{name: "camera host device", sets: []string{"cameraProducer.source=camera"},
			services: "camera-producer,temp-producer,master-watcher", hostNet: true, kind: "Deployment", groups: []int64{44},
			hostMount: map[string]string{"/sys": "/sys", "/dev/video0": "/dev/video0"}},
		{name: "replication controllers", sets: []string{"workloadKind=ReplicationController"},
			services: "camera-producer,temp-producer,master-watcher", hostNet: true, kind: "ReplicationController",
			hostMount: map[string]string{"/camera1": "/mnt/camera1", "/sys": "/sys"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs := helmObjects(t, []string{"ci/edge-values.yaml"}, append([]string{"nodeAgent.enabled=true"}, tt.sets...)...)
			checkPolicy(t, objs)
			ws := Workloads(objs)
			agents := byComponent(ws, "node-agent")
			if len(agents) != len(defaultNodes) {
				t.Fatalf("%d node-agents, want %d", len(agents), len(defaultNodes))
			}
			for _, w := range agents {
				if w.Kind != tt.kind {
					t.Errorf("%s: want a %s", w.Key(), tt.kind)
				}
				c := w.Pod.Containers[0]
				if got := EnvMap(c)["SENSORNODE_NODE_AGENT_SERVICES"]; got != tt.services {
					t.Errorf("%s: SENSORNODE_NODE_AGENT_SERVICES = %q, want %q", w.Key(), got, tt.services)
				}
				if w.Pod.HostNetwork != tt.hostNet {
					t.Errorf("%s: hostNetwork %v, want %v", w.Key(), w.Pod.HostNetwork, tt.hostNet)
				}
				if got := w.Pod.SecurityContext.SupplementalGroups; !slices.Equal(got, tt.groups) {
					t.Errorf("%s: supplementalGroups %v, want %v", w.Key(), got, tt.groups)
				}
				if tt.resource != "" {
					if q, ok := c.Resources.Limits[corev1.ResourceName(tt.resource)]; !ok || q.Value() != 1 {
						t.Errorf("%s: limits %v lack %s: 1", w.Key(), c.Resources.Limits, tt.resource)
					}
				}
				if w.Name == "sensornode-node-agent-node1" {
					if got := hostMounts(w, c); !maps.Equal(got, tt.hostMount) {
						t.Errorf("%s: host mounts %v, want %v", w.Key(), got, tt.hostMount)
					}
				}
			}
			if mw := byComponent(ws, "master-watcher"); len(mw) != 0 && !strings.Contains(tt.services, "master-watcher") {
				t.Errorf("master-watcher DaemonSet rendered with masterWatcher.enabled=false")
			}
		})
	}
}

// TestHelmNodeAgentMonitoring: with the PodMonitors on, node-agent's pods
// have one (job node-agent, its admin port) and the producers, whose pods
// it replaces, none; master-watcher keeps its own for the nodes outside
// the layout.
func TestHelmNodeAgentMonitoring(t *testing.T) {
	objs := helmObjects(t, []string{"ci/monitoring-values.yaml"}, "nodeAgent.enabled=true")
	checkPolicy(t, objs)
	want := []string{"node-agent", "edge-forwarder", "cloud-ingest-hdfs", "master-watcher", "viewer"}
	checkPodMonitors(t, objs, want)
}

// TestHelmNodeAgentCustomNodes: node-agent and master-watcher's affinity
// follow nodeSelectorKey and nodes; global tolerations reach node-agent as
// they reach the other pinned workloads, and no more.
func TestHelmNodeAgentCustomNodes(t *testing.T) {
	values := `
nodeSelectorKey: sensornode.io/board
nodes:
  - {hostname: pi-a, number: 7}
  - {hostname: pi-b, number: 8, id: garden, cameraDir: /srv/garden}
  - {hostname: pi-c, number: 9}
tolerations:
  - {key: example.com/board, operator: Exists, effect: NoSchedule}
`
	f := filepath.Join(t.TempDir(), "nodes.yaml")
	if err := os.WriteFile(f, []byte(values), 0o644); err != nil {
		t.Fatal(err)
	}
	objs := helmObjects(t, []string{"ci/edge-values.yaml", f}, "nodeAgent.enabled=true")
	checkPolicy(t, objs)
	ws := Workloads(objs)
	want := map[string]string{"pi-a": "node7", "pi-b": "garden", "pi-c": "node9"}
	agents := byComponent(ws, "node-agent")
	if len(agents) != len(want) {
		t.Fatalf("%d node-agents, want %d", len(agents), len(want))
	}
	global := []corev1.Toleration{{Key: "example.com/board", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}}
	for _, w := range agents {
		board := w.Pod.NodeSelector["sensornode.io/board"]
		if len(w.Pod.NodeSelector) != 1 || want[board] == "" || w.PodLabels["sensornode.io/node"] != want[board] {
			t.Errorf("%s: nodeSelector %v, node label %q", w.Key(), w.Pod.NodeSelector, w.PodLabels["sensornode.io/node"])
		}
		if !reflect.DeepEqual(w.Pod.Tolerations, global) {
			t.Errorf("%s: tolerations %+v, want the global ones %+v", w.Key(), w.Pod.Tolerations, global)
		}
		if board == "pi-b" {
			if got := hostMounts(w, w.Pod.Containers[0])["/camera8"]; got != "/srv/garden" {
				t.Errorf("%s: /camera8 from %q, want /srv/garden", w.Key(), got)
			}
		}
	}
	mw := byComponent(ws, "master-watcher")
	if len(mw) != 1 || mw[0].Pod.Affinity == nil || mw[0].Pod.Affinity.NodeAffinity == nil {
		t.Fatalf("master-watcher %v: want one DaemonSet with a node affinity", mw)
	}
	terms := mw[0].Pod.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms
	if len(terms) != 1 || len(terms[0].MatchExpressions) != 1 || terms[0].MatchExpressions[0].Key != "sensornode.io/board" ||
		!slices.Equal(terms[0].MatchExpressions[0].Values, []string{"pi-a", "pi-b", "pi-c"}) {
		t.Errorf("master-watcher affinity terms %+v, want sensornode.io/board NotIn pi-a, pi-b, pi-c", terms)
	}
}
