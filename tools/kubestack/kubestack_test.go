package kubestack

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestMajorMinor(t *testing.T) {
	tests := []struct {
		give             string
		wantMaj, wantMin string
		wantOK           bool
	}{
		{give: "v1.37.2", wantMaj: "1", wantMin: "37", wantOK: true},
		{give: "1.30.0", wantMaj: "1", wantMin: "30", wantOK: true},
		{give: "v1.37", wantOK: false},
		{give: "", wantOK: false},
	}
	for _, tt := range tests {
		t.Run(tt.give, func(t *testing.T) {
			maj, mn, ok := majorMinor(tt.give)
			if maj != tt.wantMaj || mn != tt.wantMin || ok != tt.wantOK {
				t.Errorf("majorMinor(%q) = %q, %q, %v, want %q, %q, %v", tt.give, maj, mn, ok, tt.wantMaj, tt.wantMin, tt.wantOK)
			}
		})
	}
}

// The committed wrapper module must build the release the constants name:
// a bump of K8sVersion without the module (or the reverse) fails here.
func TestWrapperModuleMatchesVersion(t *testing.T) {
	mod := string(wrapperGoMod)
	_, minor, _ := majorMinor(K8sVersion)
	staging := "v0." + minor + "." + K8sVersion[strings.LastIndex(K8sVersion, ".")+1:]
	for _, want := range []string{
		"k8s.io/kubernetes " + K8sVersion,
		"k8s.io/api => k8s.io/api " + staging,
		"k8s.io/component-base => k8s.io/component-base " + staging,
	} {
		if !strings.Contains(mod, want) {
			t.Errorf("build/wrapper.go.mod lacks %q", want)
		}
	}
	for _, b := range binaries {
		if !strings.Contains(mod, "\t"+b.pkg+"\n") {
			t.Errorf("build/wrapper.go.mod has no tool line for %s", b.pkg)
		}
	}
	if len(wrapperGoSum) == 0 || len(kwokStages) == 0 {
		t.Error("embedded go.sum or kwok stages empty")
	}
}

func TestNodeObject(t *testing.T) {
	tests := []struct {
		give       Node
		wantMaster bool
	}{
		{give: Node{"rpi-master-2", true}, wantMaster: true},
		{give: Node{"rpi-node-1", false}, wantMaster: false},
	}
	for _, tt := range tests {
		t.Run(tt.give.Name, func(t *testing.T) {
			md := nodeObject(tt.give)["metadata"].(map[string]any)
			labels := md["labels"].(map[string]string)
			if got := labels["kubernetes.io/hostname"]; got != tt.give.Name {
				t.Errorf("hostname label = %q, want %q", got, tt.give.Name)
			}
			if _, got := labels["node-role.kubernetes.io/control-plane"]; got != tt.wantMaster {
				t.Errorf("control-plane label present = %v, want %v", got, tt.wantMaster)
			}
			if got := md["annotations"].(map[string]string)[kwokNodeAnnotation]; got != "fake" {
				t.Errorf("kwok annotation = %q, want fake", got)
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		give    Config
		wantErr bool
	}{
		{name: "ok", give: Config{Dir: "/tmp/ks", PortBase: DefaultPortBase}},
		{name: "relative dir", give: Config{Dir: "ks", PortBase: DefaultPortBase}, wantErr: true},
		{name: "low port", give: Config{Dir: "/tmp/ks", PortBase: 80}, wantErr: true},
		{name: "high port", give: Config{Dir: "/tmp/ks", PortBase: 65533}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.give.Validate(); (err != nil) != tt.wantErr {
				t.Errorf("Validate() = %v, want error %v", err, tt.wantErr)
			}
		})
	}
}

func TestNodesCount(t *testing.T) {
	if len(Nodes) != numNodes {
		t.Errorf("len(Nodes) = %d, want numNodes = %d", len(Nodes), numNodes)
	}
}

func TestProcSpec(t *testing.T) {
	tests := []struct {
		give       string
		wantBin    string
		wantMaster int
	}{
		{give: "etcd-1", wantBin: "etcd", wantMaster: 1},
		{give: "kube-apiserver-3", wantBin: "kube-apiserver", wantMaster: 3},
		{give: "kube-controller-manager-2", wantBin: "kube-controller-manager", wantMaster: 2},
		{give: "kwok-rpi-node-1", wantBin: "kwok", wantMaster: 0},
		{give: "kwok-rpi-master-2", wantBin: "kwok", wantMaster: 0},
		// Not master 1's: the node name ends in a number.
		{give: "master-watcher-rpi-node-1", wantBin: "master-watcher", wantMaster: 0},
		{give: "master-watcher-rpi-master-3", wantBin: "master-watcher", wantMaster: 0},
	}
	for _, tt := range tests {
		t.Run(tt.give, func(t *testing.T) {
			bin, m := procSpec(tt.give)
			if bin != tt.wantBin || m != tt.wantMaster {
				t.Errorf("procSpec(%q) = %q, %d, want %q, %d", tt.give, bin, m, tt.wantBin, tt.wantMaster)
			}
		})
	}
	if got := nodeIndex(KwokProcess("rpi-node-2")); got != 4 {
		t.Errorf("nodeIndex(kwok-rpi-node-2) = %d, want 4", got)
	}
	if got := nodeIndex(WatcherProcess("rpi-master-2")); got != 1 {
		t.Errorf("nodeIndex(master-watcher-rpi-master-2) = %d, want 1", got)
	}
}

// Every port of a stack is its own and within base .. base+portCount-1.
func TestPortsDistinct(t *testing.T) {
	const base = DefaultPortBase
	p := portsFrom(base)
	var all []int
	for _, m := range p.Masters {
		all = append(all, m.EtcdClient, m.EtcdPeer, m.APIServer, m.ControllerMgr, m.Scheduler)
	}
	all = append(all, p.Kwok[:]...)
	for _, w := range p.Watchers {
		all = append(all, w.Forward, w.Admin)
	}
	seen := map[int]bool{}
	for _, port := range all {
		if seen[port] {
			t.Errorf("port %d used twice", port)
		}
		if port < base || port >= base+portCount {
			t.Errorf("port %d outside %d..%d", port, base, base+portCount-1)
		}
		seen[port] = true
	}
}

// A node's master-watcher reads only the variables the stack gives it.
func TestEnvironDropsSensornodeVariables(t *testing.T) {
	t.Setenv("SENSORNODE_ADMIN_ADDR", ":9105")
	env := environ([]string{"SENSORNODE_NODE_NAME=rpi-node-1"})
	for _, kv := range env {
		if strings.HasPrefix(kv, "SENSORNODE_") && kv != "SENSORNODE_NODE_NAME=rpi-node-1" {
			t.Errorf("environ kept %s", kv)
		}
	}
	if env[len(env)-1] != "SENSORNODE_NODE_NAME=rpi-node-1" {
		t.Errorf("environ lost the extra variable: %v", env[len(env)-1])
	}
}

// A build cut short by its deadline says so (it said "signal: killed").
func TestBuildTimeoutSaysSo(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	_, err := Build(ctx, t.TempDir(), nil)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Build past its deadline = %v, want context.DeadlineExceeded", err)
	}
}

// A fetched CRD cache is used as it is, without the go command; a stamp
// without its files is an error, not a silent refetch.
func TestPrometheusOperatorCRDsCached(t *testing.T) {
	cache := t.TempDir()
	dir := PrometheusOperatorCRDDir(cache)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, ".fetched"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", "") // no go command to run
	if _, err := PrometheusOperatorCRDs(t.Context(), cache); err == nil || !strings.Contains(err.Error(), "lacks") {
		t.Errorf("PrometheusOperatorCRDs(stamp, no files) = %v, want an error naming the missing file", err)
	}
	var want []string
	for _, kind := range []string{"podmonitors", "servicemonitors", "prometheusrules"} {
		f := filepath.Join(dir, "monitoring.coreos.com_"+kind+".yaml")
		if err := os.WriteFile(f, []byte("kind: CustomResourceDefinition\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		want = append(want, f)
	}
	got, err := PrometheusOperatorCRDs(t.Context(), cache)
	if err != nil || !slices.Equal(got, want) {
		t.Errorf("PrometheusOperatorCRDs(cached) = %v, %v, want %v", got, err, want)
	}
}
