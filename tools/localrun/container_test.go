package localrun

import (
	"slices"
	"strings"
	"testing"

	"github.com/sensornode/sensornode/loadtest/pipeline"
)

func TestImagesSpec(t *testing.T) {
	t.Setenv("DOCKER_HOST", "unix:///engine.sock")
	local := pipeline.Spec{
		Name: "camera-producer-5", Service: "camera-producer", Path: "/repo/.run/bin/camera-producer",
		Env: []string{"PATH=/usr/bin", "HOME=/root", "LANG=C.UTF-8", "SENSORNODE_ADMIN_ADDR=127.0.0.1:29905",
			"SENSORNODE_CLOUD_KAFKA_SASL_PASSWORD=s3cr3t-value"},
		Dir: "/repo/.run", Log: "/repo/.run/logs/camera-producer-5.log", AdminAddr: "127.0.0.1:29905",
	}
	head := []string{"run", "--rm", "--name", "sensornode-run-camera-producer-5", "--network", "host", "--read-only",
		"--tmpfs", "/tmp:size=16m,mode=1777", "--user", "65532:65532"}
	envArgs := []string{"-e", "LANG", "-e", "SENSORNODE_ADMIN_ADDR", "-e", "SENSORNODE_CLOUD_KAFKA_SASL_PASSWORD"}
	for _, tc := range []struct {
		name     string
		refs     map[string]string
		platform string
		mounts   []Mount
		args     []string // after local.Args
		want     []string
	}{
		{
			name: "by tag, no mounts", platform: "linux/amd64",
			want: slices.Concat(head, []string{"--platform", "linux/amd64", "--stop-timeout", "30"}, envArgs,
				[]string{"127.0.0.1:5000/sensornode/camera-producer:v1"}),
		},
		{
			name: "pinned arm/v7 image, spool and secret mounts", platform: "linux/arm/v7",
			refs:   map[string]string{"camera-producer linux/arm/v7": "127.0.0.1:5000/sensornode/camera-producer@sha256:ab"},
			mounts: []Mount{{Host: "/repo/.run/node5"}, {Host: "/repo/.run/images/secrets/pw", Container: "/ds/pw", ReadOnly: true}},
			want: slices.Concat(head, []string{"--platform", "linux/arm/v7", "--stop-timeout", "30",
				"-v", "/repo/.run/node5:/repo/.run/node5", "-v", "/repo/.run/images/secrets/pw:/ds/pw:ro"}, envArgs,
				[]string{"127.0.0.1:5000/sensornode/camera-producer@sha256:ab"}),
		},
		{
			name: "a pin for another platform is not used, args follow the image", platform: "linux/amd64",
			refs: map[string]string{"camera-producer linux/arm/v7": "127.0.0.1:5000/sensornode/camera-producer@sha256:ab"},
			args: []string{"wait-zookeeper", "--timeout", "5s"},
			want: slices.Concat(head, []string{"--platform", "linux/amd64", "--stop-timeout", "30"}, envArgs,
				[]string{"127.0.0.1:5000/sensornode/camera-producer:v1", "wait-zookeeper", "--timeout", "5s"}),
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			im := &Images{Docker: "/usr/bin/docker", Registry: "127.0.0.1:5000/sensornode", Tag: "v1", User: "65532:65532", Refs: tc.refs}
			in := local
			in.Args = tc.args
			got := im.Spec(in, tc.platform, tc.mounts)
			if got.Path != "/usr/bin/docker" {
				t.Errorf("path %q", got.Path)
			}
			if !slices.Equal(got.Args, tc.want) {
				t.Errorf("args\n got %q\nwant %q", got.Args, tc.want)
			}
			// The CLI gets the engine's variables and the service's
			// values (named, not valued, on the command line).
			for _, e := range []string{"DOCKER_HOST=unix:///engine.sock", "SENSORNODE_CLOUD_KAFKA_SASL_PASSWORD=s3cr3t-value", "LANG=C.UTF-8"} {
				if !slices.Contains(got.Env, e) {
					t.Errorf("env lacks %s: %q", e, got.Env)
				}
			}
			for _, a := range got.Args {
				if strings.Contains(a, "s3cr3t-value") {
					t.Errorf("a value on the command line: %q", a)
				}
			}
			if got.Name != local.Name || got.Service != local.Service || got.Log != local.Log || got.AdminAddr != local.AdminAddr {
				t.Errorf("identity changed: %+v", got)
			}
		})
	}
}

func TestImagesPlatformAndValidate(t *testing.T) {
	im := &Images{Docker: "docker", Registry: "r", Tag: "t", User: "65532:65532", Emulated: []int{5}}
	if err := im.Validate(); err != nil {
		t.Fatal(err)
	}
	for n, want := range map[int]string{0: NativePlatform(), 1: NativePlatform(), 5: EmulatedPlatform} {
		if got := im.Platform(n); got != want {
			t.Errorf("node %d: %s, want %s", n, got, want)
		}
	}
	for _, bad := range []Images{{Registry: "r", Tag: "t", User: "u"}, {Docker: "d", Tag: "t", User: "u"}, {Docker: "d", Registry: "r", User: "u"}, {Docker: "d", Registry: "r", Tag: "t"}} {
		if err := bad.Validate(); err == nil {
			t.Errorf("%+v: no error", bad)
		}
	}
}

func TestRunnerMounts(t *testing.T) {
	r := &runner{cfg: Config{WorkDir: "/w"}, d: &pipeline.Deployment{Nodes: 5, WorkDir: "/w"}}
	common := []Mount{{Host: "/ds/ca.pem", ReadOnly: true}}
	for _, tc := range []struct {
		spec   pipeline.Spec
		node   int
		mounts []Mount
	}{
		{pipeline.Spec{Name: "camera-producer-3", Service: pipeline.CameraProducer}, 3, []Mount{common[0], {Host: "/w/node3"}}},
		{pipeline.Spec{Name: "temp-producer-5", Service: pipeline.TempProducer}, 5, common},
		{pipeline.Spec{Name: "viewer", Service: pipeline.Viewer}, 0, []Mount{common[0], {Host: "/w/viewer"}}},
		{pipeline.Spec{Name: "edge-forwarder", Service: pipeline.EdgeForwarder}, 0, common},
	} {
		node, mounts := r.mounts(tc.spec, common)
		if node != tc.node || !slices.Equal(mounts, tc.mounts) {
			t.Errorf("%s: node %d mounts %+v, want %d %+v", tc.spec.Name, node, mounts, tc.node, tc.mounts)
		}
	}
	if len(common) != 1 {
		t.Errorf("common changed: %+v", common)
	}
}
