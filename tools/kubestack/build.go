package kubestack

import (
	"context"
	_ "embed"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// The pinned releases. build/wrapper.go.mod holds the matching require and
// staging replace lines; a bump changes both (see README.md).
const (
	K8sVersion  = "v1.37.2"
	KwokVersion = "v0.8.0"
)

var (
	//go:embed build/wrapper.go.mod
	wrapperGoMod []byte
	//go:embed build/wrapper.go.sum
	wrapperGoSum []byte
	//go:embed build/kwok-stages.yaml
	kwokStages []byte
)

// binaries are the programs Build produces, by file name in bin/.
var binaries = []struct{ name, pkg string }{
	{"etcd", "go.etcd.io/etcd/server/v3"},
	{"kube-apiserver", "k8s.io/kubernetes/cmd/kube-apiserver"},
	{"kube-scheduler", "k8s.io/kubernetes/cmd/kube-scheduler"},
	{"kube-controller-manager", "k8s.io/kubernetes/cmd/kube-controller-manager"},
}

// DefaultCacheDir is ~/.cache/sensornode/kubestack.
func DefaultCacheDir() (string, error) {
	d, err := os.UserCacheDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(d, "sensornode", "kubestack"), nil
}

// BuildDir is where Build puts the binaries of the pinned releases under
// cacheDir.
func BuildDir(cacheDir string) string {
	return filepath.Join(cacheDir, "build-"+K8sVersion+"-kwok-"+KwokVersion)
}

// Build builds etcd, kube-apiserver, kube-scheduler,
// kube-controller-manager and kwok into BuildDir(cacheDir)/bin unless its
// .built stamp exists, and returns that bin directory. A cold build takes
// about 12 minutes on 2 cores; the output of each go command goes to
// build.log beside bin/.
func Build(ctx context.Context, cacheDir string, progress io.Writer) (string, error) {
	dir := BuildDir(cacheDir)
	bin := filepath.Join(dir, "bin")
	stamp := filepath.Join(dir, ".built")
	if _, err := os.Stat(stamp); err == nil {
		for _, b := range append(binaryNames(), "kwok") {
			if _, err := os.Stat(filepath.Join(bin, b)); err != nil {
				return "", fmt.Errorf("build cache %s has a .built stamp but lacks %s: delete the directory to rebuild", dir, b)
			}
		}
		return bin, nil
	}
	src := filepath.Join(dir, "src")
	if err := os.MkdirAll(src, 0o755); err != nil {
		return "", err
	}
	if err := os.MkdirAll(bin, 0o755); err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(src, "go.mod"), wrapperGoMod, 0o644); err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(src, "go.sum"), wrapperGoSum, 0o644); err != nil {
		return "", err
	}
	logf, err := os.OpenFile(filepath.Join(dir, "build.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return "", err
	}
	defer logf.Close()

	major, minor, ok := majorMinor(K8sVersion)
	if !ok {
		return "", fmt.Errorf("malformed K8sVersion %q", K8sVersion)
	}
	// Without the version linked in, clients (helm among them) cannot parse
	// the server's version.
	ldflags := strings.Join([]string{
		"-s -w",
		"-X k8s.io/component-base/version.gitVersion=" + K8sVersion,
		"-X k8s.io/component-base/version.gitMajor=" + major,
		"-X k8s.io/component-base/version.gitMinor=" + minor,
		"-X k8s.io/component-base/version.gitTreeState=clean",
	}, " ")
	run := func(dir string, env []string, args ...string) error {
		fmt.Fprintf(logf, "==== kubestack %s: go %s ====\n", time.Now().UTC().Format(time.RFC3339), strings.Join(args, " "))
		if progress != nil {
			fmt.Fprintf(progress, "kubestack build: go %s\n", strings.Join(args, " "))
		}
		cmd := exec.CommandContext(ctx, "go", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), append([]string{"GOWORK=off", "GOFLAGS=-mod=mod"}, env...)...)
		cmd.Stdout, cmd.Stderr = logf, logf
		if err := cmd.Run(); err != nil {
			if ctx.Err() != nil { // killed for it: say so rather than "signal: killed"
				return fmt.Errorf("go %s: %w (a cold build takes about 12 minutes on 2 idle cores; raise kubestack up's --timeout on a busy machine)", args[0], context.Cause(ctx))
			}
			return fmt.Errorf("go %s: %w (see %s)", args[0], err, logf.Name())
		}
		return nil
	}
	for _, b := range binaries {
		if err := run(src, nil, "build", "-trimpath", "-ldflags", ldflags, "-o", filepath.Join(bin, b.name), b.pkg); err != nil {
			return "", err
		}
	}
	// kwok's module has no replace directives, so go install works.
	if err := run(dir, []string{"GOBIN=" + bin, "GOFLAGS="}, "install", "-trimpath", "-ldflags", "-s -w", "sigs.k8s.io/kwok/cmd/kwok@"+KwokVersion); err != nil {
		return "", err
	}
	if err := os.WriteFile(stamp, []byte(K8sVersion+" kwok "+KwokVersion+"\n"), 0o644); err != nil {
		return "", err
	}
	return bin, nil
}

func binaryNames() []string {
	names := make([]string, len(binaries))
	for i, b := range binaries {
		names[i] = b.name
	}
	return names
}

// majorMinor splits "v1.37.2" into "1" and "37".
func majorMinor(v string) (major, minor string, ok bool) {
	parts := strings.Split(strings.TrimPrefix(v, "v"), ".")
	if len(parts) != 3 || parts[0] == "" || parts[1] == "" {
		return "", "", false
	}
	return parts[0], parts[1], true
}
