// Command loadtest drives the real sensornode pipeline (camera-producer,
// edge-forwarder, cloud-ingest-hdfs, temp-producer) on devstack or on a
// cluster given by environment, measures every stage of every picture and
// compares the services with Kafka's ProducerPerformance, MirrorMaker 2 and
// a plain HDFS client. See ../../README.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/sensornode/sensornode/libs/svc"
	"github.com/sensornode/sensornode/loadtest/harness"
	"github.com/sensornode/sensornode/loadtest/pipeline"
	"github.com/sensornode/sensornode/tools/devstack"
)

func main() { svc.Main("loadtest", run, nil) }

// profiles are the named parameter sets; flags given explicitly override.
var profiles = map[string]map[string]string{
	// About a minute: one size, both backends, steady phases and a small
	// drain (100 pictures) on the bundle store, no baselines. 1 MiB
	// bundles: the drain spans about eight (see bundle-max-mb in the
	// README).
	"smoke": {"sizes": "640x480", "cameras": "5", "rate": "2", "duration": "20s", "backends": "confluent,franz",
		"stores": "avro", "bundle-max-age": "2s", "bundle-max-mb": "1", "drain-mb": "1", "baselines": "false", "temp": "true", "verify": "-1"},
	// About fifteen minutes on a 2-core machine: every size, the drains
	// (ingest on both stores) and every baseline on the first backend, the
	// second backend too. 8 MiB bundles: a 48 MB drain spans five rolled
	// by size and the remainder (see bundle-max-mb in the README).
	"standard": {"sizes": "320x188,640x480,1280x720,1920x1080", "cameras": "5", "rate": "1", "duration": "30s",
		"backends": "confluent,franz", "stores": "files,avro", "bundle-max-age": "2s", "bundle-max-mb": "8", "drain-mb": "48", "baselines": "true",
		"head-to-head": "10s", "temp": "true", "verify": "50"},
	// A fleet: 100 cameras at 1 picture/s for 5 minutes, edge -> cloud ->
	// HDFS in bundles (default roll age), no drains; the report says
	// whether and where the machine saturated.
	"fleet": {"sizes": "640x480", "cameras": "100", "rate": "1", "duration": "5m", "backends": "confluent",
		"stores": "avro", "bundle-max-age": "0s", "drain-mb": "0", "baselines": "false", "temp": "false", "verify": "50", "timeout": "5m"},
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("loadtest", flag.ContinueOnError)
	profile := fs.String("profile", "standard", "parameter set: smoke, standard or fleet (flags below override it)")
	sizes := fs.String("sizes", "", "picture sizes, comma separated (320x188, 640x480, 1280x720, 1920x1080 or any WxH)")
	cameras := fs.Int("cameras", 0, "simulated nodes: one camera-producer (and temp-producer) each")
	rate := fs.Float64("rate", 0, "pictures per second per camera in the steady phases")
	duration := fs.Duration("duration", 0, "steady phase length per size")
	form := fs.String("form", "binary", "message form of the camera producers: binary or json (thesis)")
	backends := fs.String("backends", "", "Kafka backends of the services, in order: confluent,franz")
	drainMB := fs.Int("drain-mb", -1, "backlog every stage drains per size (cloud-ingest-hdfs once per store), in MB of pictures (0: no drain phases)")
	stores := fs.String("stores", "", "cloud-ingest-hdfs picture stores, in order: files,avro (steady phases on the first, an ingest drain on each)")
	bundleAge := fs.Duration("bundle-max-age", -1, "avro store: SENSORNODE_PICTURE_BUNDLE_MAX_AGE (0: the service's default, 60s)")
	bundleMB := fs.Int("bundle-max-mb", 0, "avro store: SENSORNODE_PICTURE_BUNDLE_MAX_BYTES in MiB (0: the service's default, 128)")
	baselines := fs.Bool("baselines", false, "run ProducerPerformance, MirrorMaker 2 and the plain HDFS client (needs -drain)")
	h2h := fs.Duration("head-to-head", 0, "with baselines: how long edge-forwarder and MirrorMaker 2 forward side by side per size")
	temp := fs.Bool("temp", false, "run a temp-producer per node too")
	verify := fs.Int("verify", 0, "pictures per phase read back from HDFS and compared by SHA-256 (-1: all)")
	timeout := fs.Duration("timeout", 3*time.Minute, "longest wait for the last picture of a phase")
	dsDir := fs.String("devstack-dir", "", "devstack directory (default $SENSORNODE_DEVSTACK_DIR, else the repo's .devstack)")
	portBase := fs.Int("port-base", 0, "devstack port base when the stack must be created (0: the dir's or 29000)")
	cloudTLS := fs.Bool("cloud-tls", false, "devstack: talk to the cloud broker over SASL_SSL (SCRAM-SHA-512) like a real deployment")
	results := fs.String("results", "", "results base directory (default <repo>/loadtest/results)")
	workDir := fs.String("workdir", "", "scratch directory for binaries and spool dirs (default <repo>/.run/loadtest)")
	keep := fs.Bool("keep-data", false, "keep the run's topics, HDFS files (/loadtest/<run>) and spool directories (deleted by default)")
	verbose := fs.Bool("v", false, "log the harness's own warnings to stderr")
	serviceEnv := serviceEnvFlag{}
	fs.Var(serviceEnv, "service-env", "service:KEY=V,KEY=V extra environment of a service's processes, set last (repeatable; "+
		"backend/service: that backend's only): edge-forwarder:SENSORNODE_EDGE_KAFKA_MAX_FETCH_BYTES=4194304, franz/edge-forwarder:GOMEMLIMIT=24MiB")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w: %v", svc.ErrUsage, err)
	}
	prof, ok := profiles[*profile]
	if !ok {
		return fmt.Errorf("%w: unknown profile %q (smoke, standard, fleet)", svc.ErrUsage, *profile)
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	for name, v := range prof {
		if !set[name] {
			if err := fs.Set(name, v); err != nil {
				return err
			}
		}
	}

	repo, err := devstack.RepoRoot(".")
	if err != nil {
		return err
	}
	if *results == "" {
		*results = filepath.Join(repo, "loadtest", "results")
	}
	if *workDir == "" {
		*workDir = filepath.Join(repo, ".run", "loadtest")
	}
	level := slog.LevelError
	if *verbose {
		level = slog.LevelWarn
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	cluster, external, err := pipeline.ClusterFromEnv()
	if err != nil {
		return err
	}
	if !external {
		dir := *dsDir
		if dir == "" {
			if dir, err = devstack.DefaultDir(); err != nil {
				return err
			}
		}
		fmt.Fprintf(stdout, "devstack in %s: starting or reusing it\n", dir)
		st, err := pipeline.UpDevstack(ctx, dir, *portBase, slog.New(slog.NewTextHandler(stdout, nil)))
		if err != nil {
			return fmt.Errorf("devstack: %w", err)
		}
		cluster = pipeline.FromDevstack(st, *cloudTLS)
	} else {
		fmt.Fprintf(stdout, "cluster from the environment: edge %s, cloud %s, HDFS %s\n",
			strings.Join(cluster.Edge.Brokers, ","), strings.Join(cluster.Cloud.Brokers, ","), strings.Join(cluster.NameNodes, ","))
	}

	cfg := harness.Config{
		Profile: *profile, Command: "loadtest " + strings.Join(args, " "), Repo: repo,
		ResultsBase: *results, WorkDir: *workDir, Cluster: cluster,
		Sizes: svc.SplitList(*sizes), Cameras: *cameras, Rate: *rate, Steady: *duration, Form: *form,
		Backends: svc.SplitList(*backends), DrainMB: *drainMB, Stores: svc.SplitList(*stores), BundleMaxAge: *bundleAge, BundleMaxMB: *bundleMB,
		Baselines: *baselines, HeadToHead: *h2h,
		TempProducers: *temp, Verify: *verify, KeepData: *keep, ArrivalTimeout: *timeout, Out: stdout, Log: log,
		ServiceEnv: serviceEnv,
	}
	if strings.TrimSpace(cfg.Command) == "loadtest" {
		cfg.Command = "loadtest -profile " + *profile
	}
	dir, res, err := harness.Run(ctx, cfg)
	if dir != "" {
		fmt.Fprintf(stdout, "\nreport: %s\n", filepath.Join(dir, "report.md"))
	}
	if res != nil && len(res.Failures) > 0 {
		fmt.Fprintf(stdout, "FAILED:\n")
		for _, f := range res.Failures {
			fmt.Fprintf(stdout, "  - %s\n", f)
		}
	}
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return err
		}
		return err
	}
	fmt.Fprintf(stdout, "PASSED\n")
	return nil
}

// serviceEnvFlag collects -service-env values (harness.Config.ServiceEnv).
type serviceEnvFlag map[string][]string

func (f serviceEnvFlag) String() string { return fmt.Sprint(map[string][]string(f)) }

func (f serviceEnvFlag) Set(s string) error {
	name, env, err := harness.ParseEnvSpec(s)
	if err != nil {
		return err
	}
	f[name] = append(f[name], env...)
	return nil
}
