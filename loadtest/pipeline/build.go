package pipeline

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Service names.
const (
	CameraProducer = "camera-producer"
	TempProducer   = "temp-producer"
	EdgeForwarder  = "edge-forwarder"
	CloudIngest    = "cloud-ingest-hdfs"
	// Viewer is the web viewer (make run starts it; the load test does not).
	Viewer = "viewer"
)

// Services are the pipeline's services, in start order downstream first.
var Services = []string{CloudIngest, EdgeForwarder, TempProducer, CameraProducer}

// Binaries maps a service name to its built executable.
type Binaries map[string]string

// Build compiles the services into dir with one `go build` run from the
// repository root (the Go build cache makes repeated builds cheap). The
// version stamped into the binaries is `git describe` of the repository.
func Build(ctx context.Context, repo, dir string, services []string) (Binaries, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	args := []string{"build", "-trimpath",
		"-ldflags", "-X github.com/sensornode/sensornode/libs/svc.Version=" + GitDescribe(ctx, repo),
		"-o", dir + string(filepath.Separator)}
	bins := Binaries{}
	for _, s := range services {
		args = append(args, "./services/"+s+"/cmd/"+s)
		bins[s] = filepath.Join(dir, s)
	}
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = repo
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("go build %s: %w\n%s", strings.Join(services, " "), err, out.String())
	}
	return bins, nil
}

// GitDescribe is `git describe --tags --always --dirty` of repo, or "dev".
func GitDescribe(ctx context.Context, repo string) string {
	return gitOut(ctx, repo, "dev", "describe", "--tags", "--always", "--dirty")
}

// GitRevision is the full HEAD commit, and whether the working tree the
// services were built from differs from it (modified or new files that are
// not ignored).
func GitRevision(ctx context.Context, repo string) string {
	rev := gitOut(ctx, repo, "unknown", "rev-parse", "HEAD")
	if st := gitOut(ctx, repo, "", "status", "--porcelain"); st != "" {
		rev += fmt.Sprintf(" plus uncommitted changes (%d files modified or new)", len(strings.Split(st, "\n")))
	}
	return rev
}

func gitOut(ctx context.Context, repo, fallback string, args ...string) string {
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = repo
	out, err := cmd.Output()
	if err != nil {
		return fallback
	}
	return strings.TrimSpace(string(out))
}
