package localrun

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sensornode/sensornode/libs/bus"
	"github.com/sensornode/sensornode/loadtest/pipeline"
)

// Images runs every service from its image with the container engine
// (`make run-images`) instead of as a local binary.
type Images struct {
	// Docker is the docker CLI; its environment (DOCKER_HOST,
	// DOCKER_CONFIG) is this process's.
	Docker string
	// Registry and Tag name the images: Registry/<service>:Tag.
	Registry, Tag string
	// User is the container's user (uid:gid).
	User string
	// Emulated lists the nodes whose producers run the linux/arm/v7
	// images (under qemu on an amd64 host).
	Emulated []int
	// Refs pins "<service> <platform>" to a platform's own manifest
	// (Registry/<service>@sha256:...), filled by Resolve. The engine keeps
	// one image per tag, so one tag cannot serve two platforms at once.
	Refs map[string]string
}

// Ref is the image node's service runs on platform: pinned by Resolve,
// else by tag.
func (im *Images) Ref(service, platform string) string {
	if r, ok := im.Refs[service+" "+platform]; ok {
		return r
	}
	return im.Registry + "/" + service + ":" + im.Tag
}

// Resolve pins service's image for platform to that platform's manifest
// in the registry's index and pulls it.
func (im *Images) Resolve(ctx context.Context, service, platform string) error {
	tagged := im.Registry + "/" + service + ":" + im.Tag
	out, err := im.docker(ctx, "manifest", "inspect", "--insecure", tagged)
	if err != nil {
		return fmt.Errorf("image %s: %w (make images builds and pushes this tree's images)", tagged, err)
	}
	var index struct {
		Manifests []struct {
			Digest   string `json:"digest"`
			Platform struct {
				OS           string `json:"os"`
				Architecture string `json:"architecture"`
				Variant      string `json:"variant"`
			} `json:"platform"`
		} `json:"manifests"`
	}
	if err := json.Unmarshal([]byte(out), &index); err != nil {
		return fmt.Errorf("%s: not an image index: %w", tagged, err)
	}
	for _, m := range index.Manifests {
		p := m.Platform.OS + "/" + m.Platform.Architecture
		if m.Platform.Variant != "" {
			p += "/" + m.Platform.Variant
		}
		if p != platform {
			continue
		}
		ref := im.Registry + "/" + service + "@" + m.Digest
		if _, err := im.docker(ctx, "pull", "--quiet", "--platform", platform, ref); err != nil {
			return err
		}
		if im.Refs == nil {
			im.Refs = map[string]string{}
		}
		im.Refs[service+" "+platform] = ref
		return nil
	}
	return fmt.Errorf("%s has no %s image (make images builds linux/amd64, linux/arm64, linux/arm/v7)", tagged, platform)
}

// Validate checks the settings before anything starts.
func (im *Images) Validate() error {
	var errs []error
	if im.Docker == "" {
		errs = append(errs, errors.New("images: no docker CLI"))
	}
	if im.Registry == "" || im.Tag == "" {
		errs = append(errs, errors.New("images: registry and tag are required"))
	}
	if im.User == "" {
		errs = append(errs, errors.New("images: no user"))
	}
	return errors.Join(errs...)
}

// EmulatedPlatform is what the emulated nodes run: the thesis's boards.
const EmulatedPlatform = "linux/arm/v7"

// NativePlatform is the engine's own platform.
func NativePlatform() string {
	if runtime.GOARCH == "arm" {
		return EmulatedPlatform
	}
	return "linux/" + runtime.GOARCH
}

// Platform is what node n (0: a service of no node) runs.
func (im *Images) Platform(n int) string {
	for _, e := range im.Emulated {
		if e == n && n > 0 {
			return EmulatedPlatform
		}
	}
	return NativePlatform()
}

// Mount is a bind mount, at the same path inside the container unless
// Container is set.
type Mount struct {
	Host, Container string
	ReadOnly        bool
}

func (m Mount) arg() string {
	c := m.Container
	if c == "" {
		c = m.Host
	}
	s := m.Host + ":" + c
	if m.ReadOnly {
		s += ":ro"
	}
	return s
}

// ContainerName is the engine's name for a process of the run.
func ContainerName(name string) string { return "sensornode-run-" + name }

// hostOnlyEnv are variables of the local process that describe this
// machine, not the service: the image has its own.
var hostOnlyEnv = map[string]bool{"PATH": true, "HOME": true}

// Spec turns the spec of a local process into one that runs the same
// service from its image: `docker run` in the foreground (it forwards
// SIGTERM to the container, its output goes to the same log file) on the
// host network, with a read-only root filesystem, as the non-root user,
// with mounts at their own paths so the service's environment stays as
// it is. Only variable names are on the command line (`-e NAME`): the
// values come from the docker CLI's environment, so no secret shows in
// ps.
func (im *Images) Spec(s pipeline.Spec, platform string, mounts []Mount) pipeline.Spec {
	args := []string{"run", "--rm", "--name", ContainerName(s.Name),
		"--network", "host", "--read-only", "--tmpfs", "/tmp:size=16m,mode=1777",
		"--user", im.User, "--platform", platform, "--stop-timeout", "30"}
	for _, m := range mounts {
		args = append(args, "-v", m.arg())
	}
	var env []string
	for _, e := range os.Environ() {
		if strings.HasPrefix(e, "DOCKER_") {
			env = append(env, e)
		}
	}
	for _, e := range s.Env {
		k, _, _ := strings.Cut(e, "=")
		env = append(env, e)
		if !hostOnlyEnv[k] {
			args = append(args, "-e", k)
		}
	}
	args = append(args, im.Ref(s.Service, platform))
	args = append(args, s.Args...)
	s.Path, s.Args, s.Env = im.Docker, args, env
	return s
}

// docker runs the CLI with a deadline and returns its trimmed output.
func (im *Images) docker(ctx context.Context, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, im.Docker, args...).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("docker %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return strings.TrimSpace(string(out)), nil
}

// Remove removes the named containers if they exist (left over by a run
// that was killed; the CLI that a stop timeout kills leaves its container
// running).
func (im *Images) Remove(ctx context.Context, names []string) error {
	if len(names) == 0 {
		return nil
	}
	args := []string{"rm", "-f"}
	for _, n := range names {
		args = append(args, ContainerName(n))
	}
	_, err := im.docker(ctx, args...)
	if err != nil && strings.Contains(err.Error(), "No such container") {
		return nil
	}
	return err
}

// PID is the host PID of the container's process (for the sampler: the
// docker CLI's own PID says nothing about the service).
func (im *Images) PID(ctx context.Context, name string) (int, error) {
	out, err := im.docker(ctx, "inspect", "-f", "{{.State.Pid}}", ContainerName(name))
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(out)
}

// chownTree hands a directory tree to the container user (uid:gid) when
// this process may (root); otherwise the tree must already be writable
// for it.
func chownTree(root, user string) error {
	uidS, gidS, _ := strings.Cut(user, ":")
	uid, err := strconv.Atoi(uidS)
	if err != nil {
		return fmt.Errorf("user %q: %w", user, err)
	}
	gid := uid
	if gidS != "" {
		if gid, err = strconv.Atoi(gidS); err != nil {
			return fmt.Errorf("user %q: %w", user, err)
		}
	}
	if os.Geteuid() != 0 {
		return nil
	}
	return filepath.Walk(root, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, gid)
	})
}

// secretCopy copies a file the container user may not read (the
// devstack's SCRAM password, mode 0600) into dir, readable by that user
// only, and returns a read-only mount of the copy at the original path.
func secretCopy(src, dir, user string) (Mount, error) {
	b, err := os.ReadFile(src)
	if err != nil {
		return Mount{}, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return Mount{}, err
	}
	dst := filepath.Join(dir, filepath.Base(src))
	if err := os.Remove(dst); err != nil && !errors.Is(err, os.ErrNotExist) {
		return Mount{}, err
	}
	if err := os.WriteFile(dst, b, 0o400); err != nil {
		return Mount{}, err
	}
	if err := chownTree(dir, user); err != nil {
		return Mount{}, err
	}
	return Mount{Host: dst, Container: src, ReadOnly: true}, nil
}

// names lists the names of every process of the run.
func (r *runner) names() []string {
	names := []string{pipeline.EdgeForwarder, pipeline.CloudIngest, pipeline.Viewer}
	for n := 1; n <= r.d.Nodes; n++ {
		names = append(names, fmt.Sprintf("%s-%d", pipeline.CameraProducer, n), fmt.Sprintf("%s-%d", pipeline.TempProducer, n))
	}
	return names
}

// prepareImages readies the containers before any admin port is chosen
// (pulls take seconds, in which another run on this machine may take a
// port): it removes containers left over from an earlier run, pins and
// pulls the image of every service on every platform it runs on, and
// returns the mounts of every service: the cluster's TLS and SASL files,
// read-only.
func (r *runner) prepareImages(ctx context.Context) ([]Mount, error) {
	im := r.cfg.Images
	if err := im.Remove(ctx, r.names()); err != nil {
		return nil, err
	}
	var common []Mount
	seen := map[string]bool{}
	for _, c := range []bus.Config{r.d.Cluster.Edge, r.d.Cluster.Cloud} {
		for _, f := range []string{c.TLS.CAFile, c.TLS.CertFile, c.TLS.KeyFile, c.SASL.PasswordFile} {
			if f == "" || seen[f] {
				continue
			}
			seen[f] = true
			fi, err := os.Stat(f)
			if err != nil {
				return nil, err
			}
			m := Mount{Host: f, ReadOnly: true}
			if fi.Mode().Perm()&0o004 == 0 { // not world-readable: a copy for the container user
				if m, err = secretCopy(f, filepath.Join(r.cfg.WorkDir, "images", "secrets"), im.User); err != nil {
					return nil, err
				}
			}
			common = append(common, m)
		}
	}
	type pair struct{ service, platform string }
	var pairs []pair
	for _, s := range []string{pipeline.CloudIngest, pipeline.EdgeForwarder, pipeline.Viewer} {
		pairs = append(pairs, pair{s, NativePlatform()})
	}
	for n := 1; n <= r.d.Nodes; n++ {
		for _, s := range []string{pipeline.CameraProducer, pipeline.TempProducer} {
			if p := (pair{s, im.Platform(n)}); !slices.Contains(pairs, p) {
				pairs = append(pairs, p)
			}
		}
	}
	for _, p := range pairs {
		if err := im.Resolve(ctx, p.service, p.platform); err != nil {
			return nil, err
		}
		fmt.Fprintf(r.cfg.Out, "  %-17s %-12s %s\n", p.service, p.platform, im.Ref(p.service, p.platform))
	}
	return common, nil
}

// containerSpecs turns the local specs into `docker run`s: node N's
// producers on that node's platform, with common and their own mounts.
func (r *runner) containerSpecs(specs []pipeline.Spec, common []Mount) []pipeline.Spec {
	out := make([]pipeline.Spec, 0, len(specs))
	for _, s := range specs {
		node, mounts := r.mounts(s, common)
		out = append(out, r.cfg.Images.Spec(s, r.cfg.Images.Platform(node), mounts))
	}
	return out
}

// mounts is what s's container mounts besides common, and the node it
// belongs to (0: none): the node's directory (spool, quarantine, archive)
// for a camera-producer, the viewer's directory (users file, thumbnails)
// for the viewer.
func (r *runner) mounts(s pipeline.Spec, common []Mount) (int, []Mount) {
	node := 0
	for n := 1; n <= r.d.Nodes; n++ {
		if s.Name == fmt.Sprintf("%s-%d", pipeline.CameraProducer, n) || s.Name == fmt.Sprintf("%s-%d", pipeline.TempProducer, n) {
			node = n
		}
	}
	mounts := slices.Clone(common)
	switch s.Service {
	case pipeline.CameraProducer:
		mounts = append(mounts, Mount{Host: r.d.NodeDir(node)})
	case pipeline.Viewer:
		mounts = append(mounts, Mount{Host: filepath.Join(r.cfg.WorkDir, "viewer")})
	}
	return node, mounts
}
