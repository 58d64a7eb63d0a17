// Command sensornode-run is `make run`: it starts (or reuses) the devstack,
// then five simulated nodes (camera-producer with the synthetic camera and
// temp-producer with a simulated thermal sensor each), edge-forwarder and
// cloud-ingest-hdfs and the web viewer as local processes, and shows a
// dashboard (with the viewer's address and this run's password) until Ctrl-C.
// With --duration and --check (`make run-smoke`) it stops by itself and
// fails unless pictures of every camera and readings arrived in HDFS.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/sensornode/sensornode/libs/svc"
	"github.com/sensornode/sensornode/tools/devstack"
	"github.com/sensornode/sensornode/tools/localrun"
)

func main() { svc.Main("sensornode-run", run, nil) }

func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("sensornode-run", flag.ContinueOnError)
	duration := fs.Duration("duration", 0, "stop after this long (0: run until Ctrl-C)")
	check := fs.Bool("check", false, "at the end, fail unless every camera's pictures and every node's readings of this run are in HDFS")
	nodes := fs.Int("nodes", 5, "simulated nodes")
	backend := fs.String("backend", "", "Kafka backend of every service: confluent or franz (default: the services' default)")
	form := fs.String("form", "binary", "picture message form: binary or json (thesis)")
	width := fs.Int("width", 640, "synthetic camera frame width")
	height := fs.Int("height", 480, "synthetic camera frame height")
	fps := fs.Int("fps", 2, "synthetic camera frame rate (motion detection runs on every frame)")
	events := fs.Duration("event-interval", 10*time.Second, "an object crosses each camera's picture this often (one picture per event: motion's output 'best')")
	tempEvery := fs.Duration("temp-interval", 5*time.Second, "temperature reading interval")
	cloudTLS := fs.Bool("cloud-tls", true, "edge-forwarder and cloud-ingest-hdfs reach the cloud broker over SASL_SSL (SCRAM-SHA-512), as deployed")
	refresh := fs.Duration("refresh", 3*time.Second, "dashboard refresh")
	viewerAddr := fs.String("viewer-addr", "127.0.0.1:8090", "where the web viewer serves its pages (another free loopback port when taken)")
	fromImages := fs.Bool("from-images", false, "run every service from its image with the container engine (make run-images) instead of building it")
	registry := fs.String("image-registry", "127.0.0.1:5000/sensornode", "with --from-images: the images are <registry>/<service>:<tag>")
	tag := fs.String("image-tag", "", "with --from-images: the images' tag (make images pushes $(git describe))")
	docker := fs.String("docker", "docker", "with --from-images: the docker CLI (DOCKER_HOST etc. from the environment)")
	user := fs.String("image-user", "65532:65532", "with --from-images: the containers' user (uid:gid, non-root)")
	emulated := fs.String("emulated-nodes", "5", "with --from-images: comma-separated nodes whose producers run the linux/arm/v7 images (qemu); empty for none")
	dsDir := fs.String("devstack-dir", "", "devstack directory (default $SENSORNODE_DEVSTACK_DIR, else the repo's .devstack)")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w: %v", svc.ErrUsage, err)
	}
	if *nodes < 1 || *nodes > 20 || *fps < 1 || *events < 2*time.Second {
		return fmt.Errorf("%w: need 1..20 nodes, fps >= 1, event interval >= 2s", svc.ErrUsage)
	}
	var images *localrun.Images
	if *fromImages {
		images = &localrun.Images{Docker: *docker, Registry: *registry, Tag: *tag, User: *user}
		for f := range strings.SplitSeq(*emulated, ",") {
			if f = strings.TrimSpace(f); f == "" {
				continue
			}
			n, err := strconv.Atoi(f)
			if err != nil || n < 1 || n > *nodes {
				return fmt.Errorf("%w: --emulated-nodes: %q is not a node of 1..%d", svc.ErrUsage, f, *nodes)
			}
			images.Emulated = append(images.Emulated, n)
		}
		if err := images.Validate(); err != nil {
			return fmt.Errorf("%w: %v", svc.ErrUsage, err)
		}
	}
	repo, err := devstack.RepoRoot(".")
	if err != nil {
		return err
	}
	if *dsDir == "" {
		if *dsDir, err = devstack.DefaultDir(); err != nil {
			return err
		}
	}
	interactive := false
	if fi, err := os.Stdout.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 && !*check {
		interactive = true
	}
	return localrun.Run(ctx, localrun.Config{
		Repo: repo, DevstackDir: *dsDir, WorkDir: filepath.Join(repo, ".run"), Nodes: *nodes, Backend: *backend, Form: *form,
		Width: *width, Height: *height, Framerate: *fps, EventInterval: *events, TempInterval: *tempEvery, CloudTLS: *cloudTLS,
		Duration: *duration, Check: *check, Refresh: *refresh, Interactive: interactive, ViewerAddr: *viewerAddr, Images: images, Out: stdout,
	})
}
