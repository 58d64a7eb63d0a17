package deploycheck

import (
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
)

const validDeployment = `
apiVersion: apps/v1
kind: Deployment
metadata:
  name: demo
spec:
  selector:
    matchLabels: {app: demo}
  template:
    metadata:
      labels: {app: demo}
    spec:
      containers:
        - name: demo
          image: example/demo:1
`

// TestDecodeStrict proves the decoder is strict: the deploy tests rely on
// it to reject what a lenient decoder would silently drop.
func TestDecodeStrict(t *testing.T) {
	tests := []struct {
		name    string
		give    string
		wantErr string // "" = must decode
	}{
		{name: "valid", give: validDeployment},
		{name: "two documents and an empty one", give: validDeployment + "\n---\n# only a comment\n---\n" + strings.Replace(validDeployment, "name: demo\nspec", "name: demo2\nspec", 1)},
		{name: "unknown field", give: strings.Replace(validDeployment, "image: example/demo:1", "image: example/demo:1\n          imagePullPolicyy: Always", 1), wantErr: "unknown field"},
		{name: "wrong case", give: strings.Replace(validDeployment, "containers:", "Containers:", 1), wantErr: "unknown field"},
		{name: "duplicate key", give: strings.Replace(validDeployment, "  name: demo\n", "  name: demo\n  name: again\n", 1), wantErr: "already set"},
		{name: "wrong type", give: strings.Replace(validDeployment, "spec:\n  selector", "spec:\n  replicas: two\n  selector", 1), wantErr: "replicas"},
		{name: "unknown kind", give: "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\n", wantErr: "unsupported apiVersion/kind"},
		{name: "no name", give: "apiVersion: v1\nkind: ConfigMap\nmetadata: {}\n", wantErr: "without metadata.name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs, err := DecodeStrict([]byte(tt.give))
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("DecodeStrict() error = %v, want nil", err)
				}
				if len(objs) == 0 {
					t.Fatal("DecodeStrict() = no objects")
				}
				if _, ok := objs[0].Typed.(*appsv1.Deployment); !ok {
					t.Fatalf("DecodeStrict()[0] = %T, want *appsv1.Deployment", objs[0].Typed)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("DecodeStrict() error = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestServiceOfImage(t *testing.T) {
	tests := []struct{ give, want string }{
		{"ghcr.io/sensornode/camera-producer:0.1.0", "camera-producer"},
		{"localhost:5000/sensornode/edge-forwarder:dev", "edge-forwarder"},
		{"master-watcher@sha256:abcd", "master-watcher"},
		{"apache/kafka:3.9.1", ""},
		{"zookeeper:3.8.4", ""},
	}
	for _, tt := range tests {
		if got := ServiceOfImage(tt.give); got != tt.want {
			t.Errorf("ServiceOfImage(%q) = %q, want %q", tt.give, got, tt.want)
		}
	}
}

// TestCheckPolicyCatchesViolations: a pod without the rules fails each one.
func TestCheckPolicyCatchesViolations(t *testing.T) {
	objs, err := DecodeStrict([]byte(validDeployment))
	if err != nil {
		t.Fatal(err)
	}
	ws := Workloads(objs)
	if len(ws) != 1 {
		t.Fatalf("Workloads() = %d, want 1", len(ws))
	}
	errs := CheckPolicy(ws[0])
	joined := ""
	for _, e := range errs {
		joined += e.Error() + "\n"
	}
	for _, want := range []string{"enableServiceLinks", "runAsNonRoot", "seccompProfile", "no securityContext", "missing liveness"} {
		if !strings.Contains(joined, want) {
			t.Errorf("CheckPolicy() misses %q; got:\n%s", want, joined)
		}
	}
}
