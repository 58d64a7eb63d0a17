package harness

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/colinmarc/hdfs/v2"
	"github.com/sensornode/sensornode/libs/bundlestore"
	"github.com/sensornode/sensornode/libs/messages"
	"github.com/sensornode/sensornode/loadtest/pipeline"
	"github.com/sensornode/sensornode/loadtest/procfs"
	"github.com/sensornode/sensornode/loadtest/report"
)

// Config is one load test run.
type Config struct {
	Profile string
	// Command is the command line, for the report.
	Command string
	// Repo is the repository root (services are built from it).
	Repo string
	// ResultsBase is where the results directory is created.
	ResultsBase string
	// WorkDir holds binaries, spool directories and scratch files.
	WorkDir string
	Cluster pipeline.Cluster
	// Sizes, in order.
	Sizes []string
	// Cameras is the number of camera producers (one per simulated node).
	Cameras int
	// Rate is pictures per second per camera in the steady phases.
	Rate float64
	// Steady is how long pictures are written per size.
	Steady time.Duration
	// Form is the camera producers' wire form: binary or json.
	Form string
	// Backends are the Kafka backends to run the services on, in order.
	Backends []string
	// DrainMB sizes the backlog every stage drains per size, in megabytes
	// of pictures (camera-producer, edge-forwarder, cloud-ingest-hdfs per
	// store, and the baselines); 0 skips every drain phase.
	DrainMB int
	// Stores are cloud-ingest-hdfs's picture stores ("files", "avro"):
	// the steady phases run on the first, the ingest drain on each.
	Stores []string
	// BundleMaxAge is SENSORNODE_PICTURE_BUNDLE_MAX_AGE for the avro store
	// (0: the service's default, 60 s).
	BundleMaxAge time.Duration
	// BundleMaxMB is SENSORNODE_PICTURE_BUNDLE_MAX_BYTES in MiB (0: the
	// service's default, 128 MiB).
	BundleMaxMB int
	// Baselines runs ProducerPerformance, MirrorMaker 2 and the plain HDFS
	// client (on the first backend only; they do not depend on it).
	Baselines bool
	// HeadToHead is how long the forwarder and MirrorMaker 2 forward new
	// pictures side by side (per size, baselines only).
	HeadToHead time.Duration
	// TempProducers runs a temp-producer per node.
	TempProducers bool
	TempInterval  time.Duration
	// Verify is how many pictures per phase are read back from HDFS and
	// compared by SHA-256 (0: none, <0: all).
	Verify int
	// ArrivalTimeout bounds the wait for the last picture of a phase.
	ArrivalTimeout time.Duration
	// Rest is how long the services are sampled at rest (ready, no
	// picture yet) per backend, for the memory table (0: 3 s).
	Rest time.Duration
	// KeepData leaves the run's topics, HDFS files and spool directories
	// in place (by default they are deleted at the end).
	KeepData bool
	// ServiceEnv is extra environment per service (pipeline.Services
	// names), KEY=V entries set after the harness's own, so they win:
	// to measure a setting (SENSORNODE_EDGE_KAFKA_MAX_FETCH_BYTES,
	// GOMEMLIMIT) without a rebuild. Every instance of the service gets it
	// (the drain phases' second edge-forwarder too); the report lists it.
	// A key "<backend>/<service>" applies to that backend only, after the
	// service's own: a setting for one Kafka client's build (GOMEMLIMIT
	// on franz, whose memory is all Go heap).
	ServiceEnv map[string][]string
	// Out receives progress lines.
	Out io.Writer
	Log *slog.Logger
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	var errs []error
	if len(c.Sizes) == 0 {
		errs = append(errs, errors.New("no sizes"))
	}
	for _, s := range c.Sizes {
		if _, err := ParseSize(s); err != nil {
			errs = append(errs, err)
		}
	}
	if c.Cameras < 1 || c.Cameras > MaxCameras {
		errs = append(errs, fmt.Errorf("cameras %d: want 1..%d", c.Cameras, MaxCameras))
	}
	if c.Rate <= 0 || c.Rate > 1000 {
		errs = append(errs, fmt.Errorf("rate %v: want (0, 1000] pictures/s per camera", c.Rate))
	}
	if c.Steady < time.Second {
		errs = append(errs, fmt.Errorf("steady duration %v: want >= 1s", c.Steady))
	}
	if _, err := messages.ParseForm(c.Form); err != nil {
		errs = append(errs, err)
	}
	if len(c.Backends) == 0 {
		errs = append(errs, errors.New("no backends"))
	}
	for _, b := range c.Backends {
		if b != "confluent" && b != "franz" {
			errs = append(errs, fmt.Errorf("backend %q: want confluent or franz", b))
		}
	}
	if c.DrainMB < 0 {
		errs = append(errs, fmt.Errorf("drain megabytes %d: want >= 0", c.DrainMB))
	}
	if c.Baselines && c.DrainMB == 0 {
		errs = append(errs, errors.New("baselines need drains (drain megabytes > 0)"))
	}
	if len(c.Stores) == 0 {
		errs = append(errs, errors.New("no picture stores"))
	}
	for i, s := range c.Stores {
		if s != StoreFiles && s != StoreAvro {
			errs = append(errs, fmt.Errorf("picture store %q: want %s or %s", s, StoreFiles, StoreAvro))
		}
		if slices.Contains(c.Stores[:i], s) {
			errs = append(errs, fmt.Errorf("picture store %q given twice", s))
		}
	}
	if c.BundleMaxMB < 0 {
		errs = append(errs, fmt.Errorf("bundle max MiB %d: want >= 0", c.BundleMaxMB))
	}
	if c.BundleMaxAge < 0 {
		errs = append(errs, fmt.Errorf("bundle max age %v: want >= 0", c.BundleMaxAge))
	}
	for key, env := range c.ServiceEnv {
		be, svc, scoped := strings.Cut(key, "/")
		if !scoped {
			svc = be
		} else if !slices.Contains(c.Backends, be) {
			errs = append(errs, fmt.Errorf("service environment for %q: backend %q is not one of %s", key, be, strings.Join(c.Backends, ", ")))
		}
		if !slices.Contains(pipeline.Services, svc) {
			errs = append(errs, fmt.Errorf("service environment for %q: want one of %s", key, strings.Join(pipeline.Services, ", ")))
		}
		for _, kv := range env {
			if k, _, ok := strings.Cut(kv, "="); !ok || k == "" {
				errs = append(errs, fmt.Errorf("service environment for %s: %q is not KEY=V", svc, kv))
			}
		}
	}
	return errors.Join(errs...)
}

// ParseEnvSpec parses "name:KEY=V,KEY=V" (the -service-env flag of
// cmd/loadtest, the -variant flag of cmd/fwddrain): a name and
// environment entries; the entries may be empty ("name:").
func ParseEnvSpec(s string) (name string, env []string, err error) {
	name, list, ok := strings.Cut(s, ":")
	if !ok || name == "" {
		return "", nil, fmt.Errorf("%q: want name:KEY=V,KEY=V", s)
	}
	for kv := range strings.SplitSeq(list, ",") {
		if kv = strings.TrimSpace(kv); kv == "" {
			continue
		}
		if k, _, ok := strings.Cut(kv, "="); !ok || k == "" {
			return "", nil, fmt.Errorf("%q: %q is not KEY=V", s, kv)
		}
		env = append(env, kv)
	}
	return name, env, nil
}

// devstackProc names the sampled devstack processes ("devstack/edge-kafka-1").
const devstackProc = "devstack/"

// MaxCameras bounds the simulated nodes (a process pair each).
const MaxCameras = 200

// Harness runs one load test.
type Harness struct {
	cfg        Config
	log        *slog.Logger
	out        io.Writer
	runID      string
	resultsDir string
	start      time.Time
	bins       pipeline.Binaries
	sampler    *pipeline.Sampler
	profiler   *profiler
	factory    *Factory
	hdfs       *hdfs.Client
	res        *report.Result
	form       messages.Form

	mu       sync.Mutex
	runs     []*backendRun
	timeline []span
	outMu    sync.Mutex
}

// span is a named interval of the run, for plots.
type span struct {
	Backend, Name string
	From, To      time.Time
}

// Run runs the load test and writes its results directory. It returns the
// directory, the result, and an error when the run failed (incomplete
// delivery, a crashed service) or could not run at all.
func Run(ctx context.Context, cfg Config) (string, *report.Result, error) {
	if err := cfg.Validate(); err != nil {
		return "", nil, err
	}
	if cfg.Out == nil {
		cfg.Out = io.Discard
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.ArrivalTimeout <= 0 {
		cfg.ArrivalTimeout = 2 * time.Minute
	}
	if cfg.TempInterval <= 0 {
		cfg.TempInterval = time.Second
	}
	if cfg.Rest <= 0 {
		cfg.Rest = defaultRest
	}
	form, _ := messages.ParseForm(cfg.Form)
	now := time.Now().UTC()
	h := &Harness{
		cfg: cfg, log: cfg.Log, out: cfg.Out, start: now, form: form,
		runID:   strings.ToLower(now.Format("20060102t150405")),
		sampler: pipeline.NewSampler(time.Second),
	}
	h.resultsDir = filepath.Join(cfg.ResultsBase, now.Format("20060102T150405Z")+"-"+cfg.Profile)
	// Go heap and Kafka buffers beside every RSS sample; heap profiles at
	// the drains' peaks.
	h.sampler.ScrapeMetrics(time.Second)
	h.profiler = newProfiler(h.resultsDir)
	h.sampler.OnPoint(h.profiler.point)
	if err := os.MkdirAll(filepath.Join(h.resultsDir, "logs"), 0o755); err != nil {
		return "", nil, err
	}
	h.res = &report.Result{Profile: cfg.Profile, Command: cfg.Command, Started: now}
	h.describe(ctx)
	err := h.run(ctx)
	if err != nil {
		h.res.Failures = append(h.res.Failures, "run aborted: "+err.Error())
	}
	h.res.Finished = time.Now().UTC()
	if la, lerr := procfs.LoadAvg(); lerr == nil {
		h.res.Machine.LoadEnd = la
	}
	if werr := h.writeResults(); werr != nil {
		err = errors.Join(err, werr)
	}
	if err == nil && !h.res.Passed() {
		err = fmt.Errorf("load test failed: %s", strings.Join(h.res.Failures, "; "))
	}
	return h.resultsDir, h.res, err
}

func (h *Harness) progress(format string, a ...any) {
	h.outMu.Lock()
	defer h.outMu.Unlock()
	el := time.Since(h.start).Round(time.Second)
	fmt.Fprintf(h.out, "[%6s] %s\n", el, fmt.Sprintf(format, a...))
}

// fail records a failure of the run in the result and shows it.
func (h *Harness) fail(format string, a ...any) { h.record(&h.res.Failures, "FAILURE", format, a...) }

// note records a note on the run in the result and shows it.
func (h *Harness) note(format string, a ...any) { h.record(&h.res.Notes, "note", format, a...) }

// record appends a message to one of the result's lists (under h.mu) and
// shows it as progress, labelled.
func (h *Harness) record(list *[]string, label, format string, a ...any) {
	msg := fmt.Sprintf(format, a...)
	h.mu.Lock()
	*list = append(*list, msg)
	h.mu.Unlock()
	h.progress("%s: %s", label, msg)
}

func (h *Harness) mark(backend, name string, from, to time.Time) {
	h.mu.Lock()
	h.timeline = append(h.timeline, span{Backend: backend, Name: name, From: from, To: to})
	h.mu.Unlock()
}

func (h *Harness) run(ctx context.Context) error {
	cfg := h.cfg
	h.progress("load test %s: results in %s", cfg.Profile, h.resultsDir)
	h.progress("building the services")
	bins, err := pipeline.Build(ctx, cfg.Repo, filepath.Join(cfg.WorkDir, "bin"), []string{
		pipeline.CameraProducer, pipeline.TempProducer, pipeline.EdgeForwarder, pipeline.CloudIngest})
	if err != nil {
		return err
	}
	h.bins = bins
	sctx, stopSampler := context.WithCancel(ctx)
	defer stopSampler()
	go h.sampler.Run(sctx)
	if st := cfg.Cluster.Stack; st != nil {
		// The devstack's JVMs too, for the saturation verdict (which
		// process was CPU-bound); the report's tables show the services.
		for name, pid := range st.PIDs() {
			h.sampler.Track(devstackProc+name, devstackProc, pid)
		}
	}

	h.hdfs, err = hdfs.NewClient(hdfs.ClientOptions{Addresses: cfg.Cluster.NameNodes, User: cfg.Cluster.HDFSUser})
	if err != nil {
		return fmt.Errorf("hdfs client: %w", err)
	}
	defer h.hdfs.Close()

	h.progress("making base pictures: %s x %d cameras", strings.Join(cfg.Sizes, ", "), cfg.Cameras)
	if h.factory, err = NewFactory(h.runID, cfg.Sizes, cfg.Cameras); err != nil {
		return err
	}
	if !cfg.KeepData {
		defer h.cleanup(context.WithoutCancel(ctx))
	}
	for i, b := range cfg.Backends {
		br := h.newBackendRun(b, i == 0 && cfg.Baselines)
		h.mu.Lock()
		h.runs = append(h.runs, br)
		h.mu.Unlock()
		if err := br.run(ctx); err != nil {
			h.fail("backend %s: %v", b, err)
		}
		h.res.Backends = append(h.res.Backends, br.result)
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	return nil
}

// workRunDir holds this run's spool directories.
func (h *Harness) workRunDir() string { return filepath.Join(h.cfg.WorkDir, h.runID) }

// newBackendRun prepares the deployment of one backend: its own topics,
// HDFS root and directories.
func (h *Harness) newBackendRun(backend string, baselines bool) *backendRun {
	prefix := fmt.Sprintf("lt-%s-%s-", h.runID, backend)
	d := &pipeline.Deployment{
		Cluster: h.cfg.Cluster, Bins: h.bins, Backend: backend, Form: h.cfg.Form, Nodes: h.cfg.Cameras,
		Prefix: prefix, HDFSRoot: "/loadtest/" + h.runID + "/" + backend, FlatPictures: true,
		PictureStore: h.cfg.Stores[0], BundleMaxAge: h.cfg.BundleMaxAge, BundleMaxBytes: int64(h.cfg.BundleMaxMB) << 20,
		WorkDir: filepath.Join(h.workRunDir(), backend), LogDir: filepath.Join(h.resultsDir, "logs", backend), Pprof: true,
		Camera:            pipeline.Camera{Source: "directory"},
		TempInterval:      h.cfg.TempInterval,
		TemperatureRotate: 5 * time.Second,
		Extra:             backendEnv(h.cfg.ServiceEnv, backend),
	}
	log := h.log.With("backend", backend)
	bundles := bundlestore.New(bundlestore.HDFS(h.hdfs), bundlestore.Config{Dir: d.BundleDir(),
		OnBadIndex: func(index string, err error) { log.Warn("a bundle index does not parse", "index", index, "err", err) }})
	return &backendRun{
		h: h, backend: backend, d: d, baselines: baselines, bundles: bundles,
		ledger: NewLedger(), readings: newReadings(), seq: map[int]uint64{}, procs: map[string]*pipeline.Proc{},
		result: report.Backend{Backend: backend},
	}
}

// backendEnv is the extra environment per service on backend: each
// service's own (Config.ServiceEnv[service]), then the backend's
// ("<backend>/<service>").
func backendEnv(all map[string][]string, backend string) map[string][]string {
	out := map[string][]string{}
	for key, env := range all {
		if !strings.Contains(key, "/") {
			out[key] = append(out[key], env...)
		}
	}
	for key, env := range all {
		if be, svc, ok := strings.Cut(key, "/"); ok && be == backend {
			out[svc] = append(out[svc], env...)
		}
	}
	return out
}

// reportEnv is settingsEnv of the first backend's deployment d, with
// every backend's own additions (Config.ServiceEnv "<backend>/<service>")
// listed under their key instead of as the service's.
func reportEnv(d *pipeline.Deployment, all map[string][]string) map[string][]string {
	out := settingsEnv(d)
	for key, env := range all {
		if _, svc, ok := strings.Cut(key, "/"); ok {
			out[key] = env
			out[svc] = slices.DeleteFunc(out[svc], func(e string) bool {
				return slices.Contains(env, e) && !slices.Contains(all[svc], e)
			})
		}
	}
	return out
}

// settingsEnv lists each service's environment without secrets, for the
// report: its SENSORNODE_ variables and whatever Config.ServiceEnv added.
func settingsEnv(d *pipeline.Deployment) map[string][]string {
	clean := func(s pipeline.Spec) []string {
		var out []string
		for _, e := range s.Env {
			if (strings.HasPrefix(e, "SENSORNODE_") || slices.Contains(d.Extra[s.Service], e)) && !strings.Contains(e, "_PASSWORD=") {
				out = append(out, e)
			}
		}
		slices.Sort(out)
		return out
	}
	m := map[string][]string{
		pipeline.CameraProducer: clean(d.CameraProducerSpec(1, "")),
		pipeline.EdgeForwarder:  clean(d.ForwarderSpec()),
		pipeline.CloudIngest:    clean(d.IngestSpec()),
	}
	m[pipeline.TempProducer] = clean(d.TempProducerSpec(1))
	return m
}
