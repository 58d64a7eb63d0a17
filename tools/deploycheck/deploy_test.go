//go:build deploy

// The deploy tests render the Helm chart and build the Kustomize overlays
// with the helm and kustomize binaries that `make test-deploy` installs
// into .cache/bin, then check the objects decoded strictly into the
// Kubernetes API types. Run: make test-deploy.
package deploycheck

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/sensornode/sensornode/libs/svc/svctest"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

var rend *Renderer

func TestMain(m *testing.M) {
	var err error
	rend, err = NewRenderer()
	if err != nil {
		fmt.Fprintln(os.Stderr, "deploy tests:", err)
		os.Exit(1)
	}
	os.Exit(m.Run())
}

// node is one of the chart's default nodes, as the issue lists them.
type node struct{ hostname, id, camera string }

var defaultNodes = []node{
	{"rpi-master-1", "node1", "C1"},
	{"rpi-master-2", "node2", "C2"},
	{"rpi-master-3", "node3", "C3"},
	{"rpi-node-1", "node4", "C4"},
	{"rpi-node-2", "node5", "C5"},
}

func helmObjects(t *testing.T, files []string, sets ...string) []Object {
	t.Helper()
	out, err := rend.HelmTemplate(files, sets...)
	if err != nil {
		t.Fatalf("helm template %v %v: %v", files, sets, err)
	}
	objs, err := DecodeStrict(out)
	if err != nil {
		t.Fatalf("strict decoding of helm template %v %v:\n%v", files, sets, err)
	}
	return objs
}

func kustomizeObjects(t *testing.T, dir string) []Object {
	t.Helper()
	out, err := rend.KustomizeBuild(dir)
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	objs, err := DecodeStrict(out)
	if err != nil {
		t.Fatalf("strict decoding of kustomize build %s:\n%v", dir, err)
	}
	return objs
}

func byComponent(ws []Workload, comp string) []Workload {
	var out []Workload
	for _, w := range ws {
		if w.Component() == comp {
			out = append(out, w)
		}
	}
	return out
}

func checkPolicy(t *testing.T, objs []Object) {
	t.Helper()
	ws := Workloads(objs)
	if len(ws) == 0 {
		t.Fatal("no workloads rendered")
	}
	for _, w := range ws {
		for _, err := range CheckPolicy(w) {
			t.Error(err)
		}
	}
	checkServices(t, objs, ws)
}

// checkServices: every Service selects at least one rendered pod template
// and its named target ports exist in those pods.
func checkServices(t *testing.T, objs []Object, ws []Workload) {
	t.Helper()
	for _, o := range objs {
		s, ok := o.Typed.(*corev1.Service)
		if !ok {
			continue
		}
		var matched []Workload
		for _, w := range ws {
			if len(s.Spec.Selector) == 0 {
				break
			}
			all := true
			for k, v := range s.Spec.Selector {
				if w.PodLabels[k] != v {
					all = false
				}
			}
			if all {
				matched = append(matched, w)
			}
		}
		if len(matched) == 0 {
			t.Errorf("Service %s selects no rendered pod (selector %v)", o.Name, s.Spec.Selector)
			continue
		}
		for _, p := range s.Spec.Ports {
			if p.TargetPort.StrVal == "" {
				continue
			}
			for _, w := range matched {
				found := false
				for _, c := range w.Pod.Containers {
					if resolvePort(c, p.TargetPort) != 0 {
						found = true
					}
				}
				if !found {
					t.Errorf("Service %s port %s: target %q not a container port of %s", o.Name, p.Name, p.TargetPort.StrVal, w.Key())
				}
			}
		}
	}
}

// objectsOf returns the decoded objects of type T (*networkingv1.Ingress, ...).
func objectsOf[T any](objs []Object) []T {
	var out []T
	for _, o := range objs {
		if x, ok := o.Typed.(T); ok {
			out = append(out, x)
		}
	}
	return out
}

func container(t *testing.T, w Workload, name string) corev1.Container {
	t.Helper()
	for _, c := range w.Containers() {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("%s: no container %s", w.Key(), name)
	return corev1.Container{}
}

// hostMounts maps mountPath -> hostPath for a container.
func hostMounts(w Workload, c corev1.Container) map[string]string {
	vols := map[string]string{}
	for _, v := range w.Pod.Volumes {
		if v.HostPath != nil {
			vols[v.Name] = v.HostPath.Path
		}
	}
	out := map[string]string{}
	for _, m := range c.VolumeMounts {
		if hp, ok := vols[m.Name]; ok {
			out[m.MountPath] = hp
		}
	}
	return out
}

func TestHelmEdge(t *testing.T) {
	objs := helmObjects(t, []string{"ci/edge-values.yaml"})
	checkPolicy(t, objs)
	ws := Workloads(objs)

	for _, comp := range []string{"camera-producer", "temp-producer", "zookeeper", "kafka"} {
		t.Run(comp+" pinned one per node", func(t *testing.T) {
			got := byComponent(ws, comp)
			if len(got) != len(defaultNodes) {
				t.Fatalf("%d %s workloads, want %d (one per node)", len(got), comp, len(defaultNodes))
			}
			seen := map[string]bool{}
			for _, w := range got {
				if w.Kind != "Deployment" || w.Replicas == nil || *w.Replicas != 1 {
					t.Errorf("%s: want a Deployment with 1 replica", w.Key())
				}
				h := w.Pod.NodeSelector["kubernetes.io/hostname"]
				if seen[h] {
					t.Errorf("%s: second %s on node %q", w.Key(), comp, h)
				}
				seen[h] = true
			}
			for _, n := range defaultNodes {
				if !seen[n.hostname] {
					t.Errorf("no %s pinned to %s", comp, n.hostname)
				}
			}
		})
	}

	t.Run("camera-producer per node: own host dir, camera id, topic", func(t *testing.T) {
		for i, n := range defaultNodes {
			var w *Workload
			for _, x := range byComponent(ws, "camera-producer") {
				if x.Pod.NodeSelector["kubernetes.io/hostname"] == n.hostname {
					w = &x
				}
			}
			if w == nil {
				t.Fatalf("no camera-producer on %s", n.hostname)
			}
			c := container(t, *w, "camera-producer")
			env := EnvMap(c)
			num := i + 1
			want := map[string]string{
				"SENSORNODE_NODE_ID":   n.id,
				"SENSORNODE_CAMERA_ID": n.camera,
				"SENSORNODE_TOPIC":     n.id,
				"SENSORNODE_SOURCE":    "directory",
				"SENSORNODE_DIR":       fmt.Sprintf("/camera%d", num),
			}
			for k, v := range want {
				if env[k] != v {
					t.Errorf("%s: %s = %q, want %q", w.Key(), k, env[k], v)
				}
			}
			mounts := hostMounts(*w, c)
			if got, want := mounts[fmt.Sprintf("/camera%d", num)], fmt.Sprintf("/mnt/camera%d", num); got != want {
				t.Errorf("%s: /camera%d from host %q, want %q (mounts %v)", w.Key(), num, got, want, mounts)
			}
			if len(mounts) != 1 {
				t.Errorf("%s: host mounts %v, want only its camera dir", w.Key(), mounts)
			}
		}
	})

	t.Run("temp-producer reads /sys read-only", func(t *testing.T) {
		for _, w := range byComponent(ws, "temp-producer") {
			c := container(t, w, "temp-producer")
			ok := false
			for _, m := range c.VolumeMounts {
				if m.MountPath == "/sys" && m.ReadOnly {
					ok = true
				}
			}
			if !ok || hostMounts(w, c)["/sys"] != "/sys" {
				t.Errorf("%s: no read-only /sys host mount", w.Key())
			}
			if EnvMap(c)["SENSORNODE_NODE_ID"] == "" {
				t.Errorf("%s: no SENSORNODE_NODE_ID", w.Key())
			}
		}
	})

	t.Run("edge-forwarder has no nodeSelector", func(t *testing.T) {
		fw := byComponent(ws, "edge-forwarder")
		if len(fw) != 1 {
			t.Fatalf("%d edge-forwarder workloads, want 1", len(fw))
		}
		if len(fw[0].Pod.NodeSelector) != 0 || fw[0].Pod.Affinity != nil || fw[0].Pod.NodeName != "" {
			t.Errorf("edge-forwarder is pinned: nodeSelector %v, affinity %v", fw[0].Pod.NodeSelector, fw[0].Pod.Affinity)
		}
	})

	t.Run("master-watcher is a host-network DaemonSet", func(t *testing.T) {
		mw := byComponent(ws, "master-watcher")
		if len(mw) != 1 || mw[0].Kind != "DaemonSet" {
			t.Fatalf("master-watcher workloads %v, want one DaemonSet", mw)
		}
		if !mw[0].Pod.HostNetwork || mw[0].Pod.DNSPolicy != corev1.DNSClusterFirstWithHostNet {
			t.Errorf("master-watcher: hostNetwork %v dnsPolicy %q", mw[0].Pod.HostNetwork, mw[0].Pod.DNSPolicy)
		}
	})

	t.Run("kafka waits for zookeeper with master-watcher", func(t *testing.T) {
		for _, w := range byComponent(ws, "kafka") {
			if len(w.Pod.InitContainers) != 1 {
				t.Fatalf("%s: %d init containers, want 1", w.Key(), len(w.Pod.InitContainers))
			}
			ic := w.Pod.InitContainers[0]
			if ServiceOfImage(ic.Image) != "master-watcher" || !slices.Equal(ic.Args, []string{"wait-zookeeper"}) {
				t.Errorf("%s: init container %s %v, want master-watcher wait-zookeeper", w.Key(), ic.Image, ic.Args)
			}
		}
	})

	t.Run("topics job creates node1..node5 and temperatureLocal with RF 3", func(t *testing.T) {
		jobs := byComponent(ws, "create-topics")
		if len(jobs) != 1 {
			t.Fatalf("%d topic jobs, want 1", len(jobs))
		}
		env := EnvMap(jobs[0].Pod.Containers[0])
		if got, want := env["TOPICS"], "node1 node2 node3 node4 node5 temperatureLocal"; got != want {
			t.Errorf("TOPICS = %q, want %q", got, want)
		}
		if env["RF"] != "3" || env["MIN_ISR"] != "2" {
			t.Errorf("RF %q MIN_ISR %q, want 3 and 2", env["RF"], env["MIN_ISR"])
		}
	})

	t.Run("no secret material rendered", func(t *testing.T) {
		for _, o := range objs {
			if o.Kind == "Secret" {
				t.Errorf("chart renders Secret %s: material must come from existing Secrets", o.Name)
			}
		}
		fw := byComponent(ws, "edge-forwarder")[0]
		env := EnvMap(container(t, fw, "edge-forwarder"))
		if _, ok := env["SENSORNODE_CLOUD_KAFKA_SASL_PASSWORD"]; ok {
			t.Error("SASL password passed as a value")
		}
		if env["SENSORNODE_CLOUD_KAFKA_SASL_USERNAME"] != "<secret:sensornode-cloud-kafka-sasl/username>" {
			t.Errorf("SASL username = %q, want it from the Secret", env["SENSORNODE_CLOUD_KAFKA_SASL_USERNAME"])
		}
		secrets := map[string]bool{}
		for _, v := range fw.Pod.Volumes {
			if v.Secret != nil {
				secrets[v.Secret.SecretName] = true
			}
		}
		if !secrets["sensornode-cloud-kafka-tls"] || !secrets["sensornode-cloud-kafka-sasl"] {
			t.Errorf("forwarder secret volumes %v, want the TLS and SASL Secrets", secrets)
		}
	})
}

func TestHelmCloud(t *testing.T) {
	objs := helmObjects(t, []string{"ci/cloud-values.yaml"})
	checkPolicy(t, objs)
	var comps []string
	for _, w := range Workloads(objs) {
		if w.Kind != "Pod" {
			comps = append(comps, w.Component())
		}
	}
	if !slices.Equal(comps, []string{"cloud-ingest-hdfs", "viewer"}) {
		t.Fatalf("cloud workloads %v, want cloud-ingest-hdfs and viewer", comps)
	}
	w := byComponent(Workloads(objs), "cloud-ingest-hdfs")[0]
	env := EnvMap(container(t, w, "cloud-ingest-hdfs"))
	for k, v := range map[string]string{
		"SENSORNODE_CLOUD_KAFKA_BROKERS":            "kafka.cloud.example.net:9093",
		"SENSORNODE_HDFS_NAMENODE_ADDR":             "namenode.hdfs.svc.cluster.local:8020",
		"SENSORNODE_CLOUD_KAFKA_TLS_ENABLED":        "true",
		"SENSORNODE_CLOUD_KAFKA_TLS_CA_FILE":        "/etc/sensornode/cloud-kafka/tls/ca.crt",
		"SENSORNODE_CLOUD_KAFKA_SASL_MECHANISM":     "SCRAM-SHA-512",
		"SENSORNODE_CLOUD_KAFKA_SASL_PASSWORD_FILE": "/etc/sensornode/cloud-kafka/sasl/password",
		// ci/cloud-values.yaml has the cloud install create its topics.
		"SENSORNODE_CREATE_TOPICS":             "true",
		"SENSORNODE_TOPIC_PARTITIONS":          "1",
		"SENSORNODE_TOPIC_REPLICATION_FACTOR":  "3",
		"SENSORNODE_TOPIC_MIN_INSYNC_REPLICAS": "2",
	} {
		if env[k] != v {
			t.Errorf("%s = %q, want %q", k, env[k], v)
		}
	}
}

// TestHelmViewer: the cloud values' viewer reads the ingest's HDFS, gets its
// users from the Secret, caches thumbnails in a bounded emptyDir, serves
// pages on a named port its Service and the optional Ingress point at, and
// the Ingress appears only when enabled, with TLS when given a Secret.
func TestHelmViewer(t *testing.T) {
	objs := helmObjects(t, []string{"ci/cloud-values.yaml"})
	ws := byComponent(Workloads(objs), "viewer")
	if len(ws) != 1 || ws[0].Kind != "Deployment" || ws[0].Replicas == nil || *ws[0].Replicas != 1 {
		t.Fatalf("viewer workloads %v, want one Deployment with 1 replica", ws)
	}
	w := ws[0]
	c := container(t, w, "viewer")
	env := EnvMap(c)
	for k, v := range map[string]string{
		"SENSORNODE_ADMIN_ADDR":             ":9106",
		"SENSORNODE_VIEWER_ADDR":            ":8090",
		"SENSORNODE_VIEWER_USERS_FILE":      "/etc/sensornode/viewer/users/users",
		"SENSORNODE_VIEWER_COOKIE_SECURE":   "true",
		"SENSORNODE_HDFS_NAMENODE_ADDR":     "namenode.hdfs.svc.cluster.local:8020",
		"SENSORNODE_HDFS_USER":              "sensornode",
		"SENSORNODE_VIEWER_THUMB_DIR":       "/var/cache/sensornode/thumbnails",
		"SENSORNODE_VIEWER_THUMB_MAX_BYTES": "483183820", // 90% of 512 MiB
		"SENSORNODE_VIEWER_METRICS_TARGETS": "sensornode-cloud-ingest-hdfs:9104",
	} {
		if env[k] != v {
			t.Errorf("%s = %q, want %q", k, env[k], v)
		}
	}
	for _, k := range []string{"SENSORNODE_PROMETHEUS_URL", "SENSORNODE_ZOOKEEPER_SERVERS"} {
		if _, ok := env[k]; ok {
			t.Errorf("%s rendered without its value set", k)
		}
	}
	if resolvePort(c, intstr.FromString("http")) != 8090 {
		t.Errorf("viewer container has no port http 8090: %v", c.Ports)
	}
	vols := map[string]corev1.Volume{}
	for _, v := range w.Pod.Volumes {
		vols[v.Name] = v
	}
	if th := vols["thumbnails"].EmptyDir; th == nil || th.SizeLimit == nil || th.SizeLimit.String() != "512Mi" {
		t.Errorf("thumbnails volume %+v, want an emptyDir with sizeLimit 512Mi", vols["thumbnails"])
	}
	if u := vols["users"].Secret; u == nil || u.SecretName != "sensornode-viewer-users" {
		t.Errorf("users volume %+v, want the Secret sensornode-viewer-users", vols["users"])
	}
	mounts := map[string]corev1.VolumeMount{}
	for _, m := range c.VolumeMounts {
		mounts[m.Name] = m
	}
	if m := mounts["users"]; m.MountPath != "/etc/sensornode/viewer/users" || !m.ReadOnly {
		t.Errorf("users mount %+v, want read-only at /etc/sensornode/viewer/users", m)
	}
	if m := mounts["thumbnails"]; m.MountPath != "/var/cache/sensornode/thumbnails" {
		t.Errorf("thumbnails mount %+v", m)
	}
	var svc *corev1.Service
	for _, o := range objs {
		if s, ok := o.Typed.(*corev1.Service); ok && o.Name == "sensornode-viewer" {
			svc = s
		}
		if o.Kind == "Ingress" || o.Kind == "Secret" {
			t.Errorf("%s %s rendered by default", o.Kind, o.Name)
		}
	}
	if svc == nil {
		t.Fatal("no Service sensornode-viewer")
	}
	ports := map[string]int32{}
	for _, p := range svc.Spec.Ports {
		ports[p.Name] = p.Port
	}
	if ports["http"] != 8090 || ports["admin"] != 9106 {
		t.Errorf("viewer Service ports %v, want http 8090 and admin 9106", ports)
	}

	t.Run("ingress", func(t *testing.T) {
		for _, tt := range []struct {
			name string
			sets []string
			tls  bool
		}{
			{"with TLS", []string{"viewer.ingress.tlsSecretName=viewer-tls", "viewer.ingress.className=nginx"}, true},
			{"TLS upstream", nil, false},
		} {
			t.Run(tt.name, func(t *testing.T) {
				sets := append([]string{"viewer.ingress.enabled=true", "viewer.ingress.host=viewer.example.net"}, tt.sets...)
				objs := helmObjects(t, []string{"ci/cloud-values.yaml"}, sets...)
				checkPolicy(t, objs)
				ings := objectsOf[*networkingv1.Ingress](objs)
				if len(ings) != 1 {
					t.Fatalf("%d Ingresses, want 1", len(ings))
				}
				ing := ings[0]
				if len(ing.Spec.Rules) != 1 || ing.Spec.Rules[0].Host != "viewer.example.net" || ing.Spec.Rules[0].HTTP == nil {
					t.Fatalf("Ingress rules %+v, want one for viewer.example.net", ing.Spec.Rules)
				}
				for _, p := range ing.Spec.Rules[0].HTTP.Paths {
					b := p.Backend.Service
					if b == nil || b.Name != "sensornode-viewer" || b.Port.Name != "http" {
						t.Errorf("Ingress backend %+v, want the viewer Service's http port (never admin)", p.Backend)
					}
				}
				if got := len(ing.Spec.TLS) == 1 && ing.Spec.TLS[0].SecretName == "viewer-tls" && slices.Equal(ing.Spec.TLS[0].Hosts, []string{"viewer.example.net"}); got != tt.tls {
					t.Errorf("Ingress TLS %+v, want TLS with viewer-tls: %v", ing.Spec.TLS, tt.tls)
				}
			})
		}
	})

	t.Run("invalid", func(t *testing.T) {
		for _, tt := range []struct {
			name string
			sets []string
			want string
		}{
			{"no users Secret", []string{"viewer.auth.existingSecret="}, "needs viewer.auth.existingSecret"},
			{"no HDFS", []string{"cloudIngestHdfs.enabled=false", "cloudIngestHdfs.namenodes=null"}, "needs HDFS"},
			{"ingress without host", []string{"viewer.ingress.enabled=true"}, "needs viewer.ingress.host"},
			{"service on the admin port", []string{"viewer.service.port=9106"}, "admin port"},
			{"typo", []string{"viewer.ingres.enabled=true"}, "additional properties 'ingres' not allowed"},
			{"tiny thumbnail cache", []string{"viewer.thumbnails.sizeLimitMi=1"}, "sizeLimitMi"},
		} {
			t.Run(tt.name, func(t *testing.T) {
				_, err := rend.HelmTemplate([]string{"ci/cloud-values.yaml"}, tt.sets...)
				if err == nil || !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("helm template --set %v: error %v, want one containing %q", tt.sets, err, tt.want)
				}
			})
		}
	})
}

// cloudTopics renders the topic-creation variables on the edge-forwarder
// and cloud-ingest-hdfs only when create is true.
func TestHelmCloudTopics(t *testing.T) {
	topicVars := []string{"SENSORNODE_CREATE_TOPICS", "SENSORNODE_TOPIC_PARTITIONS",
		"SENSORNODE_TOPIC_REPLICATION_FACTOR", "SENSORNODE_TOPIC_MIN_INSYNC_REPLICAS"}
	tests := []struct {
		name   string
		values string
		sets   []string
		comp   string
		want   map[string]string // nil: none of topicVars
	}{
		{name: "edge default", values: "ci/edge-values.yaml", comp: "edge-forwarder"},
		{name: "cloud without create", values: "ci/cloud-values.yaml", sets: []string{"cloudTopics.create=false"}, comp: "cloud-ingest-hdfs"},
		{name: "edge with create", values: "ci/edge-values.yaml", comp: "edge-forwarder",
			sets: []string{"cloudTopics.create=true", "cloudTopics.partitions=6", "cloudTopics.replicationFactor=2", "cloudTopics.minInsyncReplicas=1"},
			want: map[string]string{"SENSORNODE_CREATE_TOPICS": "true", "SENSORNODE_TOPIC_PARTITIONS": "6",
				"SENSORNODE_TOPIC_REPLICATION_FACTOR": "2", "SENSORNODE_TOPIC_MIN_INSYNC_REPLICAS": "1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs := helmObjects(t, []string{tt.values}, tt.sets...)
			ws := byComponent(Workloads(objs), tt.comp)
			if len(ws) != 1 {
				t.Fatalf("%d %s workloads, want 1", len(ws), tt.comp)
			}
			env := EnvMap(container(t, ws[0], tt.comp))
			for _, k := range topicVars {
				got, ok := env[k]
				switch {
				case tt.want == nil && ok:
					t.Errorf("%s = %q rendered, want it absent", k, got)
				case tt.want != nil && got != tt.want[k]:
					t.Errorf("%s = %q, want %q", k, got, tt.want[k])
				}
			}
		})
	}
}

func TestHelmReplicationController(t *testing.T) {
	objs := helmObjects(t, []string{"ci/edge-values.yaml"}, "workloadKind=ReplicationController")
	checkPolicy(t, objs)
	rcs := 0
	for _, o := range objs {
		switch x := o.Typed.(type) {
		case *appsv1.Deployment:
			t.Errorf("Deployment %s rendered with workloadKind=ReplicationController", o.Name)
		case *corev1.ReplicationController:
			rcs++
			if x.Spec.Template == nil || x.Spec.Replicas == nil {
				t.Errorf("ReplicationController %s without template or replicas", o.Name)
			}
		}
	}
	// 5 camera + 5 temp + 5 ZooKeeper + 5 Kafka + 1 forwarder.
	if want := 4*len(defaultNodes) + 1; rcs != want {
		t.Errorf("%d ReplicationControllers, want %d", rcs, want)
	}
	objs = helmObjects(t, []string{"ci/edge-rc-values.yaml"})
	checkPolicy(t, objs)
	for _, w := range Workloads(objs) {
		if w.Kind == "Deployment" {
			t.Errorf("%s in ci/edge-rc-values.yaml", w.Key())
		}
	}
}

func TestHelmCustomNodes(t *testing.T) {
	values := `
nodeSelectorKey: sensornode.io/board
nodes:
  - {hostname: pi-a, number: 7}
  - {hostname: pi-b, number: 8, id: garden, cameraId: GARDEN, cameraDir: /srv/garden}
  - {hostname: pi-c, number: 9}
`
	f := filepath.Join(t.TempDir(), "nodes.yaml")
	if err := os.WriteFile(f, []byte(values), 0o644); err != nil {
		t.Fatal(err)
	}
	objs := helmObjects(t, []string{"ci/edge-values.yaml", f})
	checkPolicy(t, objs)
	want := map[string][4]string{ // board -> id, camera, mount, host dir
		"pi-a": {"node7", "C7", "/camera7", "/mnt/camera7"},
		"pi-b": {"garden", "GARDEN", "/camera8", "/srv/garden"},
		"pi-c": {"node9", "C9", "/camera9", "/mnt/camera9"},
	}
	cams := byComponent(Workloads(objs), "camera-producer")
	if len(cams) != 3 {
		t.Fatalf("%d camera-producers, want 3", len(cams))
	}
	for _, w := range cams {
		board := w.Pod.NodeSelector["sensornode.io/board"]
		exp, ok := want[board]
		if !ok || len(w.Pod.NodeSelector) != 1 {
			t.Errorf("%s: nodeSelector %v", w.Key(), w.Pod.NodeSelector)
			continue
		}
		c := container(t, w, "camera-producer")
		env := EnvMap(c)
		if env["SENSORNODE_NODE_ID"] != exp[0] || env["SENSORNODE_CAMERA_ID"] != exp[1] || env["SENSORNODE_DIR"] != exp[2] {
			t.Errorf("%s: env %v, want id/camera/dir %v", w.Key(), env, exp)
		}
		if hostMounts(w, c)[exp[2]] != exp[3] {
			t.Errorf("%s: host mounts %v, want %s from %s", w.Key(), hostMounts(w, c), exp[2], exp[3])
		}
	}
	job := byComponent(Workloads(objs), "create-topics")[0]
	if got := EnvMap(job.Pod.Containers[0])["TOPICS"]; got != "node7 garden node9 temperatureLocal" {
		t.Errorf("TOPICS = %q", got)
	}
}

func TestHelmCameraMode(t *testing.T) {
	for _, tt := range []struct {
		name     string
		sets     []string
		device   bool // hostPath device mounted
		resource string
	}{
		{name: "host device", sets: []string{"cameraProducer.source=camera"}, device: true},
		{name: "device plugin", sets: []string{"cameraProducer.source=camera", "cameraProducer.camera.deviceResource=squat.ai/video"}, resource: "squat.ai/video"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			objs := helmObjects(t, []string{"ci/edge-values.yaml"}, tt.sets...)
			checkPolicy(t, objs)
			for _, w := range byComponent(Workloads(objs), "camera-producer") {
				c := container(t, w, "camera-producer")
				mounts := hostMounts(w, c)
				if mounts["/sys"] != "/sys" {
					t.Errorf("%s: no /sys host mount: %v", w.Key(), mounts)
				}
				for _, m := range c.VolumeMounts {
					if m.MountPath == "/sys" && !m.ReadOnly {
						t.Errorf("%s: /sys is writable", w.Key())
					}
				}
				_, hasDev := mounts["/dev/video0"]
				if hasDev != tt.device {
					t.Errorf("%s: video device host mount %v, want %v", w.Key(), hasDev, tt.device)
				}
				if EnvMap(c)["SENSORNODE_V4L2_DEVICE"] != "/dev/video0" {
					t.Errorf("%s: SENSORNODE_V4L2_DEVICE not set", w.Key())
				}
				if !slices.Contains(w.Pod.SecurityContext.SupplementalGroups, 44) {
					t.Errorf("%s: supplementalGroups %v lack the video group 44", w.Key(), w.Pod.SecurityContext.SupplementalGroups)
				}
				if tt.resource != "" {
					q, ok := c.Resources.Limits[corev1.ResourceName(tt.resource)]
					if !ok || q.Value() != 1 {
						t.Errorf("%s: limits %v lack %s: 1", w.Key(), c.Resources.Limits, tt.resource)
					}
				}
			}
		})
	}
}

func TestHelmInvalidCombinations(t *testing.T) {
	dupNumber := "nodes:\n  - {hostname: a, number: 1}\n  - {hostname: b, number: 1}\n  - {hostname: c, number: 3}\n"
	dupHost := "nodes:\n  - {hostname: a, number: 1}\n  - {hostname: a, number: 2}\n  - {hostname: c, number: 3}\n"
	dupDir := "nodes:\n  - {hostname: a, number: 1, cameraDir: /x}\n  - {hostname: b, number: 2, cameraDir: /x}\n  - {hostname: c, number: 3}\n"
	tests := []struct {
		name   string
		sets   []string
		want   string
		values string // extra values file content
	}{
		{"typo in a key", []string{"cameraProducr.enabled=true"}, "additional properties 'cameraProducr' not allowed", ""},
		{"typo in a nested key", []string{"kafka.heapOpt=-Xmx1g"}, "additional properties 'heapOpt' not allowed", ""},
		{"unknown workload kind", []string{"workloadKind=StatefulSet"}, "workloadKind", ""},
		{"root user", []string{"podSecurityContext.runAsNonRoot=false"}, "runAsNonRoot", ""},
		{"writable root filesystem", []string{"containerSecurityContext.readOnlyRootFilesystem=false"}, "readOnlyRootFilesystem", ""},
		{"no cloud brokers", []string{"cloudKafka.brokers=null"}, "need cloudKafka.brokers", ""},
		{"bad broker address", []string{"cloudKafka.brokers[0]=no-port"}, "brokers/0", ""},
		{"TLS without Secret", []string{"cloudKafka.tls.existingSecret="}, "needs cloudKafka.tls.existingSecret", ""},
		{"SASL without Secret", []string{"cloudKafka.sasl.existingSecret="}, "needs cloudKafka.sasl.existingSecret", ""},
		{"cert without key", []string{"cloudKafka.tls.certKey=tls.crt"}, "certKey and cloudKafka.tls.keyKey", ""},
		{"kafka without zookeeper", []string{"zookeeper.enabled=false"}, "needs zookeeper.enabled", ""},
		{"no edge kafka", []string{"kafka.enabled=false", "zookeeper.enabled=false"}, "need an edge Kafka", ""},
		{"both edge kafkas", []string{"edgeKafka.brokers[0]=k:9092"}, "not both", ""},
		{"RF above brokers", []string{"topics.replicationFactor=6"}, "exceeds the 5 in-chart brokers", ""},
		{"min ISR above RF", []string{"topics.minInsyncReplicas=4"}, "exceeds topics.replicationFactor", ""},
		{"cloud topics min ISR above RF", []string{"cloudTopics.minInsyncReplicas=4"}, "exceeds cloudTopics.replicationFactor", ""},
		{"cloud topics zero partitions", []string{"cloudTopics.partitions=0"}, "cloudTopics/partitions", ""},
		{"typo in cloud topics", []string{"cloudTopics.replicas=3"}, "additional properties 'replicas' not allowed", ""},
		{"duplicate node number", nil, "duplicate number 1", dupNumber},
		{"duplicate hostname", nil, "duplicate hostname a", dupHost},
		{"duplicate camera dir", nil, "duplicate cameraDir /x", dupDir},
		{"bad node id", []string{"nodes[0].hostname=a", "nodes[0].number=1", "nodes[0].id=Node_1"}, "nodes/0/id", ""},
		{"no nodes", []string{"nodes=null"}, "nodes", ""},
		{"ingest without namenodes", []string{"cloudIngestHdfs.enabled=true"}, "needs cloudIngestHdfs.namenodes", ""},
		{"watcher without masters", []string{"masterWatcher.masters=null"}, "masterWatcher.masters", ""},
		{"vcgencmd", []string{"tempProducer.source=vcgencmd"}, "vcgencmd", ""},
		{"master-watcher without a sink", []string{"masterWatcher.forwardListenAddr=", "zookeeper.enabled=false", "kafka.enabled=false", "edgeKafka.brokers[0]=k:9092"}, "nothing to act on", ""},
		{"TLS server name on confluent", []string{"cloudKafka.tls.serverName=kafka"}, "kafkaBackend=franz", ""},
		{"bad camera source", []string{"cameraProducer.source=usb"}, "source", ""},
		{"node-agent with nothing to run", []string{"nodeAgent.enabled=true", "cameraProducer.enabled=false", "tempProducer.enabled=false",
			"masterWatcher.enabled=false"}, "enable at least one", ""},
		{"node-agent: a service's non-sensornode variable", []string{"nodeAgent.enabled=true", "cameraProducer.extraEnv[0].name=GOMEMLIMIT",
			"cameraProducer.extraEnv[0].value=100MiB"}, "cameraProducer.extraEnv sets GOMEMLIMIT", ""},
		{"node-agent: a service's process-wide variable", []string{"nodeAgent.enabled=true", "masterWatcher.extraEnv[0].name=SENSORNODE_ADMIN_PPROF_ENABLED",
			"masterWatcher.extraEnv[0].value=true"}, "masterWatcher.extraEnv sets SENSORNODE_ADMIN_PPROF_ENABLED", ""},
		{"node-agent: services in extraEnv", []string{"nodeAgent.enabled=true", "nodeAgent.extraEnv[0].name=SENSORNODE_NODE_AGENT_SERVICES",
			"nodeAgent.extraEnv[0].value=temp-producer"}, "derives it", ""},
		{"node-agent typo", []string{"nodeAgent.enable=true"}, "additional properties 'enable' not allowed", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			files := []string{"ci/edge-values.yaml"}
			if tt.values != "" {
				f := filepath.Join(t.TempDir(), "values.yaml")
				if err := os.WriteFile(f, []byte(tt.values), 0o644); err != nil {
					t.Fatal(err)
				}
				files = append(files, f)
			}
			out, err := rend.HelmTemplate(files, tt.sets...)
			if err == nil {
				t.Fatalf("helm template --set %v succeeded, want an error containing %q; rendered %d bytes", tt.sets, tt.want, len(out))
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("helm template --set %v: error %v, want one containing %q", tt.sets, err, tt.want)
			}
		})
	}
}

func TestHelmLintStrict(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(rend.ChartDir(), "ci", "*.yaml"))
	if err != nil || len(files) < 3 {
		t.Fatalf("ci values files %v (%v), want edge, cloud and more", files, err)
	}
	for _, f := range files {
		out, err := Run(rend.Helm, "lint", "--strict", rend.ChartDir(), "-f", f)
		if err != nil {
			t.Errorf("helm lint --strict -f %s: %v\n%s", filepath.Base(f), err, out)
		}
	}
}

// kustomizeCases pairs each overlay and CI combination with the chart
// rendering that must produce the same workloads.
var kustomizeCases = []struct {
	dir    string
	values []string
	sets   []string
	subset bool // kustomize renders a subset of the chart's workloads
}{
	{dir: "overlays/edge", values: []string{"ci/edge-values.yaml"}},
	{dir: "overlays/cloud", values: []string{"ci/cloud-values.yaml"}},
	{dir: "overlays/dev", values: []string{"ci/dev-values.yaml"}},
	{dir: "tests/edge-arm64", values: []string{"ci/edge-values.yaml"}, sets: []string{`nodeSelector.kubernetes\.io/arch=arm64`}},
	{dir: "tests/edge-armv7", values: []string{"ci/edge-values.yaml"}, sets: []string{`nodeSelector.kubernetes\.io/arch=arm`}, subset: true},
	{dir: "tests/edge-network-policies", values: []string{"ci/edge-values.yaml"}},
	{dir: "tests/cloud-viewer-ingress", values: []string{"ci/cloud-values.yaml"}, sets: []string{"viewer.ingress.enabled=true",
		"viewer.ingress.host=viewer.example.net", "viewer.ingress.tlsSecretName=sensornode-viewer-tls"}},
	{dir: "tests/cloud-bundle-store", values: []string{"ci/cloud-values.yaml"}, sets: []string{"cloudIngestHdfs.pictureStore.type=avro"}},
	{dir: "tests/edge-node-agent", values: []string{"ci/edge-values.yaml"}, sets: []string{"nodeAgent.enabled=true"}},
}

func TestKustomizeMatchesChart(t *testing.T) {
	dirs := map[string]bool{}
	for _, pattern := range []string{"overlays/*", "tests/*"} {
		m, _ := filepath.Glob(filepath.Join(rend.Root, "deploy", "kustomize", pattern))
		for _, d := range m {
			rel, _ := filepath.Rel(filepath.Join(rend.Root, "deploy", "kustomize"), d)
			dirs[rel] = true
		}
	}
	for _, c := range kustomizeCases {
		delete(dirs, c.dir)
		t.Run(c.dir, func(t *testing.T) {
			kobjs := kustomizeObjects(t, c.dir)
			checkPolicy(t, kobjs)
			sets := append([]string{"tests.enabled=false"}, c.sets...)
			hobjs := helmObjects(t, c.values, sets...)
			for _, err := range CompareWorkloads(Workloads(hobjs), Workloads(kobjs), c.subset) {
				t.Error(err)
			}
		})
	}
	for d := range dirs {
		t.Errorf("deploy/kustomize/%s is built by no test: add it to kustomizeCases", d)
	}
}

func TestKustomizeBaseUpToDate(t *testing.T) {
	files, err := GenerateKustomize(rend)
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for p := range files {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		got, err := os.ReadFile(filepath.Join(rend.Root, "deploy", "kustomize", p))
		if err != nil {
			t.Errorf("%s: %v (run make kustomize-gen)", p, err)
			continue
		}
		if !bytes.Equal(got, files[p]) {
			t.Errorf("deploy/kustomize/%s differs from the chart's rendering: run make kustomize-gen", p)
		}
	}
}

// renderings are the chart renderings whose env the services must accept.
var renderings = []struct {
	name   string
	values []string
	sets   []string
}{
	{"edge", []string{"ci/edge-values.yaml"}, nil},
	{"cloud", []string{"ci/cloud-values.yaml"}, nil},
	{"cloud-bundles", []string{"ci/cloud-bundles-values.yaml"}, nil},
	{"dev", []string{"ci/dev-values.yaml"}, nil},
	{"edge-rc", []string{"ci/edge-rc-values.yaml"}, nil},
	{"camera-mode", []string{"ci/edge-values.yaml"}, []string{"cameraProducer.source=camera", "tempProducer.source=file", "kafkaBackend=franz"}},
	{"mtls", []string{"ci/cloud-values.yaml"}, []string{"cloudKafka.tls.certKey=tls.crt", "cloudKafka.tls.keyKey=tls.key", "cloudKafka.tls.serverName=kafka", "kafkaBackend=franz"}},
	{"edge-cloud-topics", []string{"ci/edge-values.yaml"}, []string{"cloudTopics.create=true"}},
	{"node-agent", []string{"ci/edge-values.yaml"}, []string{"nodeAgent.enabled=true", "cameraProducer.form=json",
		"tempProducer.extraEnv[0].name=SENSORNODE_RETRY_MIN_INTERVAL", "tempProducer.extraEnv[0].value=3s",
		"nodeAgent.extraEnv[0].name=SENSORNODE_NODE_AGENT_SHARE_KAFKA", "nodeAgent.extraEnv[0].value=false"}},
	{"node-agent-camera", []string{"ci/edge-values.yaml"}, []string{"nodeAgent.enabled=true", "cameraProducer.source=camera",
		"tempProducer.source=file", "kafkaBackend=franz", "masterWatcher.enabled=false"}},
	{"viewer-options", []string{"ci/cloud-values.yaml"}, []string{"viewer.prometheusURL=http://prometheus:9090",
		"viewer.zookeeper.servers[0]=zk-1:2181", "viewer.zookeeper.viewPath=/sensornode/view", "viewer.cookieSecure=false",
		"viewer.ingress.enabled=true", "viewer.ingress.host=viewer.example.net"}},
}

var (
	envOnce sync.Once
	envVars map[string]map[string]EnvVar
	envErr  map[string]error
)

func serviceEnv(svc string) (map[string]EnvVar, error) {
	envOnce.Do(func() {
		envVars, envErr = map[string]map[string]EnvVar{}, map[string]error{}
		for _, s := range Services {
			vars, configs, unresolved, err := ServiceEnv(rend.Root, s)
			switch {
			case err != nil:
				envErr[s] = err
			case len(configs) == 0:
				envErr[s] = fmt.Errorf("no config struct passed to svc.LoadConfig in services/%s (unresolved: %v)", s, unresolved)
			default:
				envVars[s] = vars
			}
		}
		// node-agent reads its parts' variables too, plain and scoped.
		if own, ok := envVars["node-agent"]; ok {
			parts := map[string]map[string]EnvVar{}
			for _, s := range NodeAgentParts {
				parts[s] = envVars[s]
			}
			envVars["node-agent"] = CombinedEnv(own, parts)
		}
	})
	return envVars[svc], envErr[svc]
}

// TestRenderedEnvMatchesServices: every SENSORNODE_ variable the chart sets
// is one the service reads (a misspelt or renamed variable is silently
// ignored by envconfig, so this is the only place it shows), and every
// variable a service marks required is set.
func TestRenderedEnvMatchesServices(t *testing.T) {
	for _, r := range renderings {
		t.Run(r.name, func(t *testing.T) {
			objs := helmObjects(t, r.values, r.sets...)
			reported := map[string]bool{}
			for _, w := range Workloads(objs) {
				for _, c := range w.Containers() {
					svc := ServiceOfImage(c.Image)
					if svc == "" {
						continue
					}
					vars, err := serviceEnv(svc)
					if err != nil {
						if !reported[svc] {
							t.Errorf("%s: %v", svc, err)
							reported[svc] = true
						}
						continue
					}
					env := EnvMap(c)
					for name := range env {
						if !strings.HasPrefix(name, "SENSORNODE_") {
							continue
						}
						if _, ok := vars[name]; !ok {
							t.Errorf("%s container %s: %s is not read by %s", w.Key(), c.Name, name, svc)
						}
					}
					if slices.Equal(c.Args, []string{"wait-zookeeper"}) {
						continue // a subcommand: the service's required vars are not its own
					}
					for name, v := range vars {
						if _, ok := env[name]; v.Required && !ok {
							t.Errorf("%s container %s: required %s not set", w.Key(), c.Name, name)
						}
					}
				}
			}
		})
	}
}

// TestServicesAcceptRenderedEnv starts each service (built for this
// machine) with the environment of each distinct rendered container and
// fails if it refuses that configuration ("<service>: config: ..." on
// stderr, the contract of svc.LoadConfig). It passes a container once the
// service's admin server answers /livez (configuration accepted) or once it
// exits for another reason (configuration accepted, then a dependency such
// as the camera directory or Kafka was missing: logged). Addresses are
// moved to loopback ports; secrets and downward-API values get stand-ins.
func TestServicesAcceptRenderedEnv(t *testing.T) {
	bin := t.TempDir()
	built := map[string]string{}
	build := func(svc string) (string, error) {
		if p, ok := built[svc]; ok {
			return p, nil
		}
		p := filepath.Join(bin, svc)
		if _, err := RunIn(rend.Root, "go", "build", "-o", p, "./services/"+svc+"/cmd/"+svc); err != nil {
			return "", err
		}
		built[svc] = p
		return p, nil
	}
	seen := map[string]bool{}
	for _, r := range renderings {
		objs := helmObjects(t, r.values, r.sets...)
		for _, w := range Workloads(objs) {
			for _, c := range w.Containers() {
				svc := ServiceOfImage(c.Image)
				if svc == "" {
					continue
				}
				env := standInEnv(t, c)
				// One run per service, arguments and set of variable names:
				// per-node copies differ only in values of the same shape.
				var names []string
				for _, e := range env {
					names = append(names, e[:strings.Index(e, "=")])
				}
				sig := r.name + svc + fmt.Sprint(c.Args) + fmt.Sprint(names)
				if seen[sig] {
					continue
				}
				seen[sig] = true
				name := r.name + "/" + w.Name + "/" + c.Name
				t.Run(name, func(t *testing.T) {
					p, err := build(svc)
					if err != nil {
						t.Fatalf("build %s: %v", svc, err)
					}
					runWithEnv(t, p, c.Args, env)
				})
			}
		}
	}
}

// standInEnv turns a container's env into a runnable process environment.
func standInEnv(t *testing.T, c corev1.Container) []string {
	t.Helper()
	var env []string
	for _, e := range c.Env {
		v := e.Value
		if f := e.ValueFrom; f != nil {
			switch {
			case f.FieldRef != nil:
				v = "test-node"
			case f.ResourceFieldRef != nil:
				q := c.Resources.Limits[corev1.ResourceName(strings.TrimPrefix(f.ResourceFieldRef.Resource, "limits."))]
				v = fmt.Sprint(q.Value())
			case f.SecretKeyRef != nil:
				v = "test-secret-value"
			default:
				t.Fatalf("env %s: unsupported valueFrom", e.Name)
			}
		}
		switch e.Name {
		case "SENSORNODE_ADMIN_ADDR", "SENSORNODE_FORWARD_LISTEN_ADDR", "SENSORNODE_VIEWER_ADDR":
			v = svctest.FreeAddr(t)
		case "SENSORNODE_VIEWER_USERS_FILE":
			// The Secret's file: one user (password "secret").
			v = filepath.Join(t.TempDir(), "users")
			if err := os.WriteFile(v, []byte(standInUsers), 0o600); err != nil {
				t.Fatal(err)
			}
		case "SENSORNODE_VIEWER_THUMB_DIR":
			v = t.TempDir() // the emptyDir
		case "SENSORNODE_WAIT_TIMEOUT":
			v = "2s" // wait-zookeeper: give up quickly (no ZooKeeper here)
		}
		env = append(env, e.Name+"="+v)
	}
	sort.Strings(env)
	return env
}

// standInUsers is a users file with the user admin, password "secret"
// (bcrypt, cost 10).
const standInUsers = "admin:$2b$10$JMxhJeXfoB30XNcEqybMMeFDHmXOtoA2kdcSzUd7DqU3HulbSkQme\n"

// The floating edge-forwarder leaves a lost node after the chart's 30 s
// not-ready/unreachable tolerations (Kubernetes's default is 300 s); the
// pinned workloads, which can run nowhere else, get none; global
// tolerations come first; edgeForwarder.tolerations=[] restores
// Kubernetes's default.
func TestHelmForwarderTolerations(t *testing.T) {
	thirty := int64(30)
	chartDefault := []corev1.Toleration{
		{Key: "node.kubernetes.io/not-ready", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: &thirty},
		{Key: "node.kubernetes.io/unreachable", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: &thirty},
	}
	global := corev1.Toleration{Key: "example.com/board", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}
	tests := []struct {
		name          string
		sets          []string
		wantForwarder []corev1.Toleration
		wantPinned    []corev1.Toleration
	}{
		{name: "default", wantForwarder: chartDefault},
		{name: "replication controllers", sets: []string{"workloadKind=ReplicationController"}, wantForwarder: chartDefault},
		{
			name:          "global first",
			sets:          []string{"tolerations[0].key=example.com/board", "tolerations[0].operator=Exists", "tolerations[0].effect=NoSchedule"},
			wantForwarder: append([]corev1.Toleration{global}, chartDefault...),
			wantPinned:    []corev1.Toleration{global},
		},
		{name: "off", sets: []string{"edgeForwarder.tolerations=null"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ws := Workloads(helmObjects(t, []string{"ci/edge-values.yaml"}, tt.sets...))
			fwd := byComponent(ws, "edge-forwarder")
			if len(fwd) != 1 {
				t.Fatalf("%d edge-forwarder workloads, want 1", len(fwd))
			}
			if got := fwd[0].Pod.Tolerations; !reflect.DeepEqual(got, tt.wantForwarder) {
				t.Errorf("edge-forwarder tolerations = %+v, want %+v", got, tt.wantForwarder)
			}
			for _, comp := range []string{"camera-producer", "temp-producer", "zookeeper", "kafka"} {
				for _, w := range byComponent(ws, comp) {
					if got := w.Pod.Tolerations; !reflect.DeepEqual(got, tt.wantPinned) {
						t.Errorf("%s tolerations = %+v, want %+v", w.Key(), got, tt.wantPinned)
					}
				}
			}
		})
	}
}
