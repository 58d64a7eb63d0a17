package deploycheck

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/sensornode/sensornode/tools/devstack"
)

// RepoRoot is the repository root above the working directory (see
// devstack.RepoRoot).
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	return devstack.RepoRoot(dir)
}

// Tool returns the path of a tool the Makefile installs into
// <root>/.cache/bin (helm, kustomize), or the path in $SENSORNODE_<TOOL>.
func Tool(root, name, envVar string) (string, error) {
	if p := os.Getenv(envVar); p != "" {
		return filepath.Abs(p)
	}
	p := filepath.Join(root, ".cache", "bin", name)
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("%s not found at %s (run `make test-deploy`, which installs it, or set %s)", name, p, envVar)
	}
	return p, nil
}

// Run runs a command and returns its stdout; on failure the error carries
// stderr.
func Run(name string, args ...string) ([]byte, error) {
	return RunIn("", name, args...)
}

// RunIn is Run in directory dir ("" = the working directory).
func RunIn(dir, name string, args ...string) ([]byte, error) {
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.Bytes(), fmt.Errorf("%s %v: %w\n%s", filepath.Base(name), args, err, stderr.String())
	}
	return stdout.Bytes(), nil
}

// Renderer renders the chart and the overlays of the repository.
type Renderer struct {
	Root      string
	Helm      string
	Kustomize string
}

// NewRenderer locates the repository and its tools.
func NewRenderer() (*Renderer, error) {
	root, err := RepoRoot()
	if err != nil {
		return nil, err
	}
	helm, err := Tool(root, "helm", "SENSORNODE_HELM")
	if err != nil {
		return nil, err
	}
	kz, err := Tool(root, "kustomize", "SENSORNODE_KUSTOMIZE")
	if err != nil {
		return nil, err
	}
	return &Renderer{Root: root, Helm: helm, Kustomize: kz}, nil
}

// ChartDir is the chart's directory.
func (r *Renderer) ChartDir() string { return filepath.Join(r.Root, "deploy", "helm", "sensornode") }

// HelmTemplate renders the chart as release "sensornode" in namespace
// "sensornode" with the given values files (relative to the chart) and
// --set flags.
func (r *Renderer) HelmTemplate(valuesFiles []string, sets ...string) ([]byte, error) {
	args := []string{"template", "sensornode", r.ChartDir(), "--namespace", "sensornode"}
	for _, f := range valuesFiles {
		if !filepath.IsAbs(f) {
			f = filepath.Join(r.ChartDir(), f)
		}
		args = append(args, "-f", f)
	}
	for _, s := range sets {
		args = append(args, "--set", s)
	}
	return Run(r.Helm, args...)
}

// KustomizeBuild builds deploy/kustomize/<dir>.
func (r *Renderer) KustomizeBuild(dir string) ([]byte, error) {
	return Run(r.Kustomize, "build", filepath.Join(r.Root, "deploy", "kustomize", dir))
}
