//go:build integration

package producer

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The V4L2 (go4vl, cgo) source builds for linux/amd64 and linux/arm64 (and
// armv7 with cgo); a build without cgo compiles too and says clearly that
// the camera source is not in it. Each binary's --version runs (foreign
// architectures under qemu-user-static, which tools/scripts/install-deps.sh
// installs along with the cross compilers).
func TestIntegrationCameraSourceCrossBuild(t *testing.T) {
	tests := []struct {
		name       string
		env        []string
		qemu       []string // runner for --version; nil: run natively
		wantCamera string
		wantKafka  string
	}{
		{"linux/amd64 cgo", []string{"GOARCH=amd64", "CGO_ENABLED=1"}, nil, "camera true", "kafka confluent"},
		{"linux/arm64 cgo", []string{"GOARCH=arm64", "CGO_ENABLED=1", "CC=aarch64-linux-gnu-gcc"},
			[]string{"qemu-aarch64-static", "-L", "/usr/aarch64-linux-gnu"}, "camera true", "kafka confluent"},
		{"linux/arm/v7 cgo", []string{"GOARCH=arm", "GOARM=7", "CGO_ENABLED=1", "CC=arm-linux-gnueabihf-gcc"},
			[]string{"qemu-arm-static", "-L", "/usr/arm-linux-gnueabihf"}, "camera true", "kafka franz"},
		{"linux/arm/v7 without cgo", []string{"GOARCH=arm", "GOARM=7", "CGO_ENABLED=0"},
			[]string{"qemu-arm-static"}, "camera false", "kafka franz"},
		{"linux/amd64 without cgo", []string{"GOARCH=amd64", "CGO_ENABLED=0"}, nil, "camera false", "kafka franz"},
	}
	dir := t.TempDir()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bin := filepath.Join(dir, strings.NewReplacer("/", "-", " ", "-").Replace(tt.name))
			build := exec.Command("go", "build", "-o", bin, "github.com/sensornode/sensornode/services/camera-producer/cmd/camera-producer")
			build.Env = append(os.Environ(), append([]string{"GOOS=linux"}, tt.env...)...)
			if out, err := build.CombinedOutput(); err != nil {
				t.Fatalf("go build (%v): %v\n%s", tt.env, err, out)
			}
			args := append(append([]string(nil), tt.qemu...), bin, "--version")
			out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
			if err != nil {
				t.Fatalf("%v: %v\n%s", args, err, out)
			}
			if !strings.Contains(string(out), tt.wantCamera) || !strings.Contains(string(out), tt.wantKafka) {
				t.Errorf("--version = %q, want %q and %q", out, tt.wantCamera, tt.wantKafka)
			}
			if tt.qemu == nil && tt.wantCamera == "camera false" {
				cmd := exec.Command(bin)
				cmd.Env = append(os.Environ(), "SENSORNODE_SOURCE=camera", "SENSORNODE_DIR="+t.TempDir(), "SENSORNODE_ADMIN_ADDR=127.0.0.1:0")
				out, err := cmd.CombinedOutput()
				if code := cmd.ProcessState.ExitCode(); err == nil || code != 1 || !strings.Contains(string(out), "camera source not built") {
					t.Errorf("SENSORNODE_SOURCE=camera without cgo: exit %d, output %q; want exit 1 and \"camera source not built\"", code, tail(string(out), 3))
				}
			}
		})
	}
}
