package localrun

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/colinmarc/hdfs/v2"
	"github.com/sensornode/sensornode/libs/bus"
	"github.com/sensornode/sensornode/libs/messages"
	"github.com/sensornode/sensornode/loadtest/pipeline"
	"github.com/sensornode/sensornode/tools/hdfscli"
	"github.com/sensornode/sensornode/tools/localrun/promtext"
)

// Config is one `make run`.
type Config struct {
	Repo        string
	DevstackDir string
	// WorkDir holds binaries (bin/), node directories (nodeN/) and logs
	// (logs/): the repository's .run.
	WorkDir string
	Nodes   int
	// Backend is the Kafka backend of every service ("" = default).
	Backend string
	Form    string
	// Synthetic camera: frame size and rate, one object crossing the
	// picture every EventInterval.
	Width, Height, Framerate int
	EventInterval            time.Duration
	TempInterval             time.Duration
	// CloudTLS talks to the cloud broker over SASL_SSL (SCRAM-SHA-512).
	CloudTLS bool
	// Duration stops the run after this long; 0 runs until ctx ends.
	Duration time.Duration
	// Check keeps acknowledged pictures (nodeN/archive) and, at the end,
	// fails unless every camera's pictures and every node's readings of
	// this run are in HDFS.
	Check   bool
	Refresh time.Duration
	// Interactive redraws the dashboard in place (a terminal).
	Interactive bool
	// ViewerAddr is where the web viewer serves its pages (host:port); a
	// free loopback port instead when it is taken.
	ViewerAddr string
	// Images, when set, runs every service from its image with the
	// container engine (`make run-images`) instead of building and
	// starting the binaries.
	Images *Images
	Out    io.Writer
}

// Run runs the pipeline until ctx ends or Duration passes, then stops it.
func Run(ctx context.Context, cfg Config) error {
	out := cfg.Out
	logger := slog.New(slog.NewTextHandler(out, &slog.HandlerOptions{Level: slog.LevelInfo}))
	fmt.Fprintf(out, "make run: devstack in %s (started if needed; jars come from Maven Central on first use)\n", cfg.DevstackDir)
	st, err := pipeline.UpDevstack(ctx, cfg.DevstackDir, 0, logger)
	if err != nil {
		return fmt.Errorf("devstack: %w", err)
	}
	cluster := pipeline.FromDevstack(st, cfg.CloudTLS)
	bins := map[string]string{}
	if cfg.Images != nil {
		if err := cfg.Images.Validate(); err != nil {
			return err
		}
		fmt.Fprintf(out, "services from the images %s/<service>:%s (%s; node(s) %v: %s)\n",
			cfg.Images.Registry, cfg.Images.Tag, NativePlatform(), cfg.Images.Emulated, EmulatedPlatform)
	} else {
		fmt.Fprintf(out, "building the services into %s\n", filepath.Join(cfg.WorkDir, "bin"))
		if bins, err = pipeline.Build(ctx, cfg.Repo, filepath.Join(cfg.WorkDir, "bin"), []string{
			pipeline.CameraProducer, pipeline.TempProducer, pipeline.EdgeForwarder, pipeline.CloudIngest, pipeline.Viewer}); err != nil {
			return err
		}
	}
	d := &pipeline.Deployment{
		Cluster: cluster, Bins: bins, Backend: cfg.Backend, Form: cfg.Form, Nodes: cfg.Nodes,
		HDFSRoot: "/sensornode", WorkDir: cfg.WorkDir, LogDir: filepath.Join(cfg.WorkDir, "logs"),
		ArchivePictures: cfg.Check,
		Camera: pipeline.Camera{Source: "synthetic", Width: cfg.Width, Height: cfg.Height, Framerate: cfg.Framerate,
			EventInterval: cfg.EventInterval, EventDuration: min(3*time.Second, cfg.EventInterval/2), EventGap: 2 * time.Second},
		TempInterval:      cfg.TempInterval,
		TemperatureRotate: 30 * time.Second,
	}
	if err := createTopics(ctx, d); err != nil {
		return err
	}
	for n := 1; n <= d.Nodes; n++ {
		if err := os.MkdirAll(d.SpoolDir(n), 0o755); err != nil {
			return err
		}
		if cfg.Check { // the archive of this run only
			if err := os.RemoveAll(d.ArchiveDir(n)); err != nil {
				return err
			}
		}
		if cfg.Images != nil {
			if err := chownTree(d.NodeDir(n), cfg.Images.User); err != nil {
				return err
			}
		}
	}
	client, err := hdfs.NewClient(hdfs.ClientOptions{Addresses: cluster.NameNodes, User: cluster.HDFSUser})
	if err != nil {
		return fmt.Errorf("hdfs: %w", err)
	}
	defer client.Close()

	sampler := pipeline.NewSampler(2 * time.Second)
	sctx, stopSampler := context.WithCancel(context.Background())
	defer stopSampler()
	go sampler.Run(sctx)
	group := pipeline.NewGroup(sampler)
	r := &runner{cfg: cfg, d: d, st: st.Dir(), group: group, hdfs: client, sampler: sampler,
		http: &http.Client{Timeout: 2 * time.Second}, procs: map[string]*pipeline.Proc{}, readingsSent: map[int]float64{}}
	// Stop everything on the way out, whatever happens; with a fresh
	// context, since ctx may be the cancelled one.
	defer func() { _ = group.StopAll(30 * time.Second) }()

	if r.viewer, err = newViewerLogin(filepath.Join(cfg.WorkDir, "viewer"), cfg.ViewerAddr); err != nil {
		return fmt.Errorf("viewer: %w", err)
	}
	if cfg.Images != nil {
		if err := chownTree(filepath.Join(cfg.WorkDir, "viewer"), cfg.Images.User); err != nil {
			return err
		}
		// After the processes: a docker CLI killed by the stop timeout
		// leaves its container behind.
		defer func() { _ = cfg.Images.Remove(context.Background(), r.names()) }()
	}
	start := time.Now()
	if err := r.start(ctx); err != nil {
		return err
	}
	fmt.Fprintf(out, "all services ready in %s; logs in %s\n", time.Since(start).Round(100*time.Millisecond), d.LogDir)
	fmt.Fprintf(out, "viewer: %s  user %s  password %s  (new every run; only its bcrypt hash is kept, in %s)\n",
		r.viewer.URL(), r.viewer.User, r.viewer.Password, r.viewer.UsersFile)
	runCtx := ctx
	if cfg.Duration > 0 {
		var cancel context.CancelFunc
		runCtx, cancel = context.WithTimeout(ctx, cfg.Duration)
		defer cancel()
	}
	crashed := r.dashboard(runCtx, start)
	fmt.Fprintf(out, "\nstopping: camera and temperature producers first, then edge-forwarder, cloud-ingest-hdfs and the viewer\n")
	if err := r.stop(start); err != nil {
		crashed = errors.Join(crashed, err)
	}
	fmt.Fprintf(out, "stopped. The devstack keeps running (make devstack-down stops it). Pictures: see tools/localrun/README.md (hdfsls, hdfsget).\n")
	if crashed != nil {
		return crashed
	}
	if cfg.Check {
		return r.check(start)
	}
	return nil
}

// createTopics creates the default topics if missing (existing ones are
// left alone): node1..N and temperatureLocal on the edge (RF 3, min ISR 2),
// cameraData, temperatureData and their dead-letter topics on the cloud.
func createTopics(ctx context.Context, d *pipeline.Deployment) error {
	for _, c := range []struct {
		name  string
		cfg   bus.Config
		specs []bus.TopicSpec
	}{{"edge", d.Cluster.Edge, d.EdgeTopicSpecs(nil)}, {"cloud", d.Cluster.Cloud, d.CloudTopicSpecs(nil, 1)}} {
		adm, err := bus.NewAdmin(c.cfg)
		if err != nil {
			return err
		}
		cctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		err = adm.EnsureTopics(cctx, c.specs)
		cancel()
		adm.Close()
		if err != nil {
			return fmt.Errorf("%s topics: %w", c.name, err)
		}
	}
	return nil
}

type runner struct {
	cfg     Config
	d       *pipeline.Deployment
	st      string
	group   *pipeline.Group
	hdfs    *hdfs.Client
	sampler *pipeline.Sampler
	http    *http.Client
	mu      sync.Mutex
	procs   map[string]*pipeline.Proc
	// readingsSent is the largest acknowledged-readings count seen per
	// node (the counters vanish with the producers).
	readingsSent map[int]float64
	viewer       viewerLogin
	// viewerProblem is what the check found wrong with the viewer just
	// before stopping it ("" fine).
	viewerProblem string
}

func (r *runner) start(ctx context.Context) error {
	d := r.d
	var common []Mount
	if r.cfg.Images != nil { // first: the admin ports are chosen below
		var err error
		if common, err = r.prepareImages(ctx); err != nil {
			return err
		}
	}
	specs := []pipeline.Spec{d.IngestSpec(), d.ForwarderSpec()}
	for n := 1; n <= d.Nodes; n++ {
		specs = append(specs, d.TempProducerSpec(n), d.CameraProducerSpec(n, ""))
	}
	var targets []string
	for _, s := range specs {
		targets = append(targets, s.AdminAddr)
	}
	specs = append(specs, d.ViewerSpec(pipeline.ViewerConfig{Addr: r.viewer.Addr, UsersFile: r.viewer.UsersFile,
		ThumbDir: filepath.Join(r.cfg.WorkDir, "viewer", "thumbnails"), MetricsTargets: targets}))
	if r.cfg.Images != nil {
		specs = r.containerSpecs(specs, common)
	}
	errs := make([]error, len(specs))
	var wg sync.WaitGroup
	for i, s := range specs {
		wg.Go(func() {
			rctx, cancel := context.WithTimeout(ctx, 90*time.Second)
			defer cancel()
			p, err := pipeline.StartReady(rctx, r.group, s, d.SpareAdmin)
			if p != nil {
				r.mu.Lock()
				r.procs[s.Name] = p
				r.mu.Unlock()
			}
			if err == nil && r.cfg.Images != nil { // sample the service, not its docker CLI
				if pid, perr := r.cfg.Images.PID(rctx, s.Name); perr == nil && pid > 0 {
					r.sampler.TrackAdmin(s.Name, s.Service, pid, p.Spec.AdminAddr)
				}
			}
			errs[i] = err
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// dashboard redraws until ctx ends; it returns an error when a service
// crashed.
func (r *runner) dashboard(ctx context.Context, start time.Time) error {
	every := r.cfg.Refresh
	if !r.cfg.Interactive {
		every = max(every, 10*time.Second)
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		snap := r.snapshot(start, every)
		if r.cfg.Interactive {
			snap.ClearScreenPrefix = "\033[H\033[2J"
		}
		_ = Render(r.cfg.Out, snap)
		if crashed := r.group.Crashed(); len(crashed) > 0 {
			var errs []error
			for _, p := range crashed {
				errs = append(errs, fmt.Errorf("%s exited unexpectedly (%v); see %s", p.Spec.Name, p.ExitErr(), p.Spec.Log))
			}
			return errors.Join(errs...)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

func (r *runner) scrape(ctx context.Context, name string) (promtext.Samples, bool) {
	p := r.procs[name]
	if p == nil || !p.Running() {
		return nil, false
	}
	ss, err := promtext.Scrape(ctx, r.http, p.Spec.AdminAddr)
	return ss, err == nil
}

func sum(ss promtext.Samples, name string, match map[string]string) float64 {
	if ss == nil {
		return math.NaN()
	}
	v, ok := ss.Sum(name, match)
	if !ok {
		return 0
	}
	return v
}

func (r *runner) snapshot(start time.Time, every time.Duration) Snapshot {
	d := r.d
	s := Snapshot{At: time.Now(), Started: start, LogDir: d.LogDir, HDFSRoot: d.HDFSRoot, Devstack: r.st, RefreshEvery: every}
	if r.cfg.Duration > 0 {
		s.StopHint = fmt.Sprintf("stops by itself after %s (Ctrl-C stops earlier)", r.cfg.Duration)
	} else {
		s.StopHint = "Ctrl-C stops the services cleanly; the devstack keeps running (make devstack-down stops it)."
	}
	sctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	for n := 1; n <= d.Nodes; n++ {
		cam, camOK := r.scrape(sctx, fmt.Sprintf("%s-%d", pipeline.CameraProducer, n))
		tmp, tmpOK := r.scrape(sctx, fmt.Sprintf("%s-%d", pipeline.TempProducer, n))
		ns := NodeStatus{Node: messages.NodeTopic(n), Camera: messages.CameraID(n), Up: camOK && tmpOK,
			PicturesSent: sum(cam, "sensornode_camera_pictures_sent_total", nil),
			Backlog:      sum(cam, "sensornode_camera_backlog_files", nil),
			Quarantined:  sum(cam, "sensornode_camera_pictures_quarantined_total", nil),
			ReadingsSent: sum(tmp, "sensornode_temp_readings_sent_total", nil),
			LastCelsius:  math.NaN(),
		}
		if v, ok := tmp.Sum("sensornode_temp_last_reading_celsius", nil); ok && tmp != nil {
			ns.LastCelsius = v
		}
		if !math.IsNaN(ns.ReadingsSent) {
			r.mu.Lock()
			r.readingsSent[n] = max(r.readingsSent[n], ns.ReadingsSent)
			r.mu.Unlock()
		}
		ns.LatestPicture, ns.LatestAt = latestPicture(r.hdfs, d.PictureDir()+"/"+ns.Camera)
		s.Nodes = append(s.Nodes, ns)
	}
	fw, fwOK := r.scrape(sctx, pipeline.EdgeForwarder)
	s.ForwarderUp = fwOK
	s.ForwardedPictures = sum(fw, "sensornode_forwarder_messages_forwarded_total", map[string]string{"topic": d.CloudCameraTopic(), "result": "ok"})
	s.ForwardedReadings = sum(fw, "sensornode_forwarder_messages_forwarded_total", map[string]string{"topic": d.CloudTempTopic(), "result": "ok"})
	s.ForwardErrors = sum(fw, "sensornode_forwarder_messages_forwarded_total", map[string]string{"result": "error"})
	s.ForwarderLag = sum(fw, "sensornode_kafka_consumer_lag_messages", map[string]string{"client": "edge-consumer"})
	in, inOK := r.scrape(sctx, pipeline.CloudIngest)
	s.IngestUp = inOK
	s.StoredPictures = sum(in, "sensornode_ingest_messages_total", map[string]string{"kind": "picture", "result": "stored"})
	s.StoredReadings = sum(in, "sensornode_ingest_messages_total", map[string]string{"kind": "temperature", "result": "stored"})
	s.DuplicatePictures = sum(in, "sensornode_ingest_messages_total", map[string]string{"kind": "picture", "result": "duplicate"})
	s.DeadLettered = sum(in, "sensornode_ingest_dead_lettered_total", nil)
	s.IngestLag = sum(in, "sensornode_kafka_consumer_lag_messages", map[string]string{"client": "consumer"})
	s.PendingReadings = sum(in, "sensornode_ingest_pending_readings", nil)
	s.ViewerURL, s.ViewerUser = r.viewer.URL(), r.viewer.User
	if r.cfg.Interactive { // the terminal is redrawn: the password must stay on it
		s.ViewerPassword = r.viewer.Password
	}
	if p := r.procs[pipeline.Viewer]; p != nil && p.Running() {
		s.ViewerUp = r.ready(sctx, p.Spec.AdminAddr) == nil
	}
	s.Memory = r.memory()
	for _, p := range r.group.Crashed() {
		s.Problems = append(s.Problems, fmt.Sprintf("%s exited: %v (log %s)", p.Spec.Name, p.ExitErr(), p.Spec.Log))
	}
	return s
}

// memory summarises the newest RSS sample per service.
func (r *runner) memory() string {
	per := map[string][]int64{}
	for _, sr := range r.sampler.Snapshot() {
		if len(sr.Points) > 0 {
			if p := sr.Points[len(sr.Points)-1]; time.Since(p.At) < 10*time.Second {
				per[sr.Service] = append(per[sr.Service], p.RSSBytes)
			}
		}
	}
	var parts []string
	for _, s := range []string{pipeline.CameraProducer, pipeline.TempProducer, pipeline.EdgeForwarder, pipeline.CloudIngest, pipeline.Viewer} {
		v := per[s]
		if len(v) == 0 {
			continue
		}
		parts = append(parts, fmt.Sprintf("%s %.0f MiB x%d", s, float64(slices.Max(v))/(1<<20), len(v)))
	}
	return strings.Join(parts, ", ")
}

// latestPicture finds the newest file under a camera directory of the
// dated layout (<camera>/<yyyy>/<MM>/<dd>/<HHmmss>-<key>.jpg) by walking
// the largest name at each level.
func latestPicture(c *hdfs.Client, dir string) (string, time.Time) {
	for range 4 {
		entries, err := c.ReadDir(dir)
		if err != nil || len(entries) == 0 {
			return "", time.Time{}
		}
		slices.SortFunc(entries, func(a, b os.FileInfo) int { return strings.Compare(b.Name(), a.Name()) })
		top := entries[0]
		dir = path.Join(dir, top.Name())
		if !top.IsDir() {
			return dir, top.ModTime()
		}
	}
	return "", time.Time{}
}

// stop stops the producers, waits (in check mode) until everything they
// sent is stored, then stops the forwarder and the ingest (which writes its
// buffered readings on SIGTERM).
func (r *runner) stop(start time.Time) error {
	var errs []error
	var wg sync.WaitGroup
	var mu sync.Mutex
	for name, p := range r.procs {
		if strings.HasPrefix(name, pipeline.CameraProducer) || strings.HasPrefix(name, pipeline.TempProducer) {
			wg.Go(func() {
				if err := p.Stop(30 * time.Second); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			})
		}
	}
	wg.Wait()
	if r.cfg.Check {
		deadline := time.Now().Add(2 * time.Minute)
		for stable := 0; stable < 2 && time.Now().Before(deadline); {
			time.Sleep(2 * time.Second)
			s := r.snapshot(start, 0)
			if s.ForwarderLag == 0 && s.IngestLag == 0 && s.StoredPictures+s.DuplicatePictures >= s.ForwardedPictures {
				stable++
			} else {
				stable = 0
			}
		}
	}
	if r.cfg.Check {
		r.viewerProblem = r.checkViewer()
	}
	for _, name := range []string{pipeline.EdgeForwarder, pipeline.CloudIngest, pipeline.Viewer} {
		if p := r.procs[name]; p != nil {
			if err := p.Stop(30 * time.Second); err != nil {
				errs = append(errs, err)
			}
		}
	}
	for _, p := range r.group.Crashed() {
		errs = append(errs, fmt.Errorf("%s exited unexpectedly (%v); see %s", p.Spec.Name, p.ExitErr(), p.Spec.Log))
	}
	return errors.Join(errs...)
}

// check verifies that every picture acknowledged during this run (kept in
// nodeN/archive) is in HDFS, byte for byte the same size, found by camera
// and the SHA-256 prefix in its key, that every camera produced at least
// one, and that every node's readings of this run are in HDFS.
func (r *runner) check(start time.Time) error {
	d, out := r.d, r.cfg.Out
	var problems []string
	days := daysBetween(start.Add(-time.Minute), time.Now())
	readingsSent := 0.0
	r.mu.Lock()
	for _, v := range r.readingsSent {
		readingsSent += v
	}
	r.mu.Unlock()
	fmt.Fprintf(out, "\ncheck:\n")
	for n := 1; n <= d.Nodes; n++ {
		cam := messages.CameraID(n)
		archived, err := archivedPictures(d.ArchiveDir(n))
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: reading the archive: %v", cam, err))
			continue
		}
		stored, err := storedPictures(r.hdfs, path.Join(d.PictureDir(), cam), days)
		if err != nil {
			fmt.Fprintf(out, "  %s: %d pictures acknowledged this run; listing HDFS failed\n", cam, len(archived))
			problems = append(problems, fmt.Sprintf("%s: listing its pictures in HDFS: %v", cam, err))
			continue
		}
		missing := 0
		for prefix, size := range archived {
			if got, ok := stored[prefix]; !ok || got != size {
				missing++
			}
		}
		fmt.Fprintf(out, "  %s: %d pictures acknowledged this run, %d of them in HDFS\n", cam, len(archived), len(archived)-missing)
		switch {
		case len(archived) == 0:
			problems = append(problems, fmt.Sprintf("%s produced no picture", cam))
		case missing > 0:
			problems = append(problems, fmt.Sprintf("%s: %d of %d acknowledged pictures are not in HDFS (or differ in size)", cam, missing, len(archived)))
		}
	}
	readings, err := storedReadings(r.hdfs, d.TemperatureDir(), days, start)
	if err != nil {
		problems = append(problems, "reading the temperature files: "+err.Error())
	}
	total := 0
	for n := 1; n <= d.Nodes; n++ {
		node := messages.NodeTopic(n)
		fmt.Fprintf(out, "  %s: %d readings of this run in HDFS\n", node, readings[node])
		total += readings[node]
		if readings[node] == 0 {
			problems = append(problems, fmt.Sprintf("%s: no reading of this run in HDFS", node))
		}
	}
	if float64(total) < readingsSent {
		problems = append(problems, fmt.Sprintf("%d readings in HDFS, but the producers had %0.f acknowledged", total, readingsSent))
	}
	if r.viewerProblem != "" {
		problems = append(problems, "viewer: "+r.viewerProblem)
	} else {
		fmt.Fprintf(out, "  viewer: ready (/readyz 200) and serving its login page at %s\n", r.viewer.URL())
	}
	if len(problems) > 0 {
		return fmt.Errorf("check failed:\n  %s", strings.Join(problems, "\n  "))
	}
	fmt.Fprintf(out, "check passed: pictures of every camera and readings of every node arrived in HDFS, and the viewer was ready\n")
	return nil
}

// archivedPictures maps the first 16 hex digits of each archived picture's
// SHA-256 (the tail of its key) to its size.
func archivedPictures(dir string) (map[string]int64, error) {
	out := map[string]int64{}
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return out, nil
	}
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".jpg") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		sum := sha256.Sum256(b)
		out[hex.EncodeToString(sum[:8])] = int64(len(b))
	}
	return out, nil
}

// daysBetween lists the yyyy/MM/dd directory names (UTC) from a to b.
func daysBetween(a, b time.Time) []string {
	var out []string
	for d := a.UTC().Truncate(24 * time.Hour); !d.After(b.UTC()); d = d.Add(24 * time.Hour) {
		out = append(out, d.Format("2006/01/02"))
	}
	return out
}

// storedReadings counts, per node, the readings read at or after since in
// the JSON Lines files of the given days.
// storedPictures lists the pictures below dir/DAY for every day: the last
// 16 characters of each key (the SHA-256 prefix) to its size. A day with
// no directory has no pictures; any other listing error is returned, so
// that an unreachable NameNode is never reported as pictures missing.
func storedPictures(c hdfscli.DirReader, dir string, days []string) (map[string]int64, error) {
	stored := map[string]int64{}
	for _, day := range days {
		err := hdfscli.Walk(c, path.Join(dir, day), func(p string, fi os.FileInfo) {
			if key, ok := pipeline.PictureKeyFromPath(p); ok {
				stored[key[len(key)-16:]] = fi.Size()
			}
		})
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
	}
	return stored, nil
}

func storedReadings(c *hdfs.Client, root string, days []string, since time.Time) (map[string]int, error) {
	out := map[string]int{}
	nodes, err := c.ReadDir(root)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return out, nil
		}
		return nil, err
	}
	for _, n := range nodes {
		for _, day := range days {
			var files []string
			err := hdfscli.Walk(c, path.Join(root, n.Name(), day), func(p string, _ os.FileInfo) { files = append(files, p) })
			if err != nil && !errors.Is(err, os.ErrNotExist) {
				return nil, err
			}
			for _, f := range files {
				b, err := c.ReadFile(f)
				if err != nil {
					return nil, err
				}
				sc := bufio.NewScanner(bytes.NewReader(b))
				for sc.Scan() {
					var rd struct {
						Node   string    `json:"node"`
						ReadAt time.Time `json:"read_at"`
					}
					if json.Unmarshal(sc.Bytes(), &rd) == nil && !rd.ReadAt.Before(since) {
						out[rd.Node]++
					}
				}
			}
		}
	}
	return out, nil
}

// ready is nil when the admin server at addr answers /readyz with 200.
func (r *runner) ready(ctx context.Context, addr string) error {
	return get(ctx, r.http, "http://"+addr+"/readyz")
}

// checkViewer reports what is wrong with the running viewer: not ready, or
// no login page; "" when both answer.
func (r *runner) checkViewer() string {
	p := r.procs[pipeline.Viewer]
	if p == nil || !p.Running() {
		return "not running"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.ready(ctx, p.Spec.AdminAddr); err != nil {
		return fmt.Sprintf("/readyz on %s: %v (log %s)", p.Spec.AdminAddr, err, p.Spec.Log)
	}
	if err := get(ctx, r.http, r.viewer.URL()+"login"); err != nil {
		return fmt.Sprintf("login page: %v (log %s)", err, p.Spec.Log)
	}
	return ""
}

// get is nil when a GET of url answers 200.
func get(ctx context.Context, c *http.Client, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s", resp.Status)
	}
	return nil
}
