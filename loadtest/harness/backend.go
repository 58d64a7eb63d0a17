package harness

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/sensornode/sensornode/libs/bundlestore"
	"github.com/sensornode/sensornode/libs/bus"
	"github.com/sensornode/sensornode/libs/messages"
	"github.com/sensornode/sensornode/loadtest/pipeline"
	"github.com/sensornode/sensornode/loadtest/procfs"
	"github.com/sensornode/sensornode/loadtest/report"
	"github.com/sensornode/sensornode/loadtest/saturation"
	"github.com/sensornode/sensornode/loadtest/stats"
)

// logAppendTime makes each record carry its leader's append time.
var logAppendTime = map[string]string{"message.timestamp.type": "LogAppendTime"}

// mirrorAlias is MirrorMaker 2's name for the edge cluster: it mirrors
// topic T to mirrorAlias + "." + T on the cloud cluster.
const mirrorAlias = "edge"

const stopTimeout = 30 * time.Second

// backendRun runs the pipeline on one Kafka backend.
type backendRun struct {
	h         *Harness
	backend   string
	d         *pipeline.Deployment
	baselines bool
	group     *pipeline.Group
	procs     map[string]*pipeline.Proc
	procsMu   sync.Mutex
	ledger    *Ledger
	readings  *readings
	edgeObs   *kafkaObserver
	cloudObs  *kafkaObserver
	hdfsObs   *hdfsObserver
	bundles   *bundlestore.Reader // the run's bundle store
	seqMu     sync.Mutex
	seq       map[int]uint64
	result    report.Backend
	start     time.Time
	end       time.Time // when its services were stopped
	steadyWin [2]time.Time
	baseline  []report.SizeBaselines
}

// Topics of the drains: the edge topic camera-producer-1 drains into (not
// matched by the pipeline forwarder's pattern), the cloud topic of the
// drain forwarder and its (unused) temperature topic, ProducerPerformance's
// topic and MirrorMaker 2's copy.
func (br *backendRun) drainTopic(size string) string { return br.d.Prefix + "drain" + size }
func (br *backendRun) drainCloudTopic(size string) string {
	return br.d.Prefix + "drain" + size + "-cameraData"
}
func (br *backendRun) drainTempTopic(size string) string {
	return br.d.Prefix + "drain" + size + "-temperatureLocal"
}
func (br *backendRun) perfTopic(size string) string   { return br.d.Prefix + "perf" + size }
func (br *backendRun) mirrorTopic(size string) string { return mirrorAlias + "." + br.drainTopic(size) }

func (br *backendRun) run(ctx context.Context) error {
	h, d := br.h, br.d
	br.start = time.Now()
	h.progress("=== backend %s: topics %s*, HDFS %s", br.backend, d.Prefix, d.HDFSRoot)
	if len(h.res.Backends) == 0 {
		h.res.Settings.ServiceEnv = reportEnv(d, h.cfg.ServiceEnv)
		h.res.Settings.Prefix = strings.TrimSuffix(d.Prefix, br.backend+"-") + "<backend>-"
		h.res.Settings.HDFSRoot = strings.TrimSuffix(d.HDFSRoot, br.backend) + "<backend>"
	}
	if err := br.createTopics(ctx); err != nil {
		return err
	}
	for n := 1; n <= d.Nodes; n++ {
		if err := os.MkdirAll(d.SpoolDir(n), 0o755); err != nil {
			return err
		}
	}
	if err := br.startObservers(ctx); err != nil {
		return err
	}
	defer br.closeObservers()
	br.group = pipeline.NewGroup(h.sampler)
	defer func() {
		if err := br.group.StopAll(stopTimeout); err != nil {
			h.note("stopping %s services: %v", br.backend, err)
		}
	}()
	if err := br.startServices(ctx); err != nil {
		return err
	}
	if err := br.rest(ctx); err != nil {
		return err
	}
	// Steady phases, every size, then the drains.
	br.steadyWin[0] = time.Now()
	for _, size := range h.cfg.Sizes {
		sr := report.SizeResult{Size: size}
		st, err := br.steady(ctx, size)
		if st != nil {
			sr.Steady = st
		}
		br.result.Sizes = append(br.result.Sizes, sr)
		if err != nil {
			return fmt.Errorf("steady %s: %w", size, err)
		}
	}
	br.steadyWin[1] = time.Now()
	br.result.Usage = br.usage(br.steadyWin[0], br.steadyWin[1], func(s string) bool { return isService(s) })
	if h.cfg.DrainMB > 0 {
		for i, size := range h.cfg.Sizes {
			h.profiler.setPhase(br.backend, "drain/"+size)
			dr, sb, err := br.drain(ctx, size)
			h.profiler.setPhase(br.backend, "")
			br.result.Sizes[i].Drain = dr
			if sb != nil {
				br.baseline = append(br.baseline, *sb)
			}
			if err != nil {
				return fmt.Errorf("drain %s: %w", size, err)
			}
		}
	}
	br.fillSizes()
	return br.finish(ctx)
}

// rest samples the services, ready and idle, for the memory table.
func (br *backendRun) rest(ctx context.Context) error {
	h := br.h
	h.progress("%s rest: every service ready, no pictures for %v", br.backend, h.cfg.Rest)
	start := time.Now()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(h.cfg.Rest):
	}
	h.sampler.SampleAll()
	h.mark(br.backend, restPhase, start, time.Now())
	return br.crashCheck()
}

func isService(s string) bool {
	switch s {
	case pipeline.CameraProducer, pipeline.TempProducer, pipeline.EdgeForwarder, pipeline.CloudIngest:
		return true
	}
	return false
}

// createTopics creates every topic of the run with LogAppendTime and
// checks that the brokers took the setting.
func (br *backendRun) createTopics(ctx context.Context) error {
	d := br.d
	edge := d.EdgeTopicSpecs(logAppendTime)
	cloud := d.CloudTopicSpecs(logAppendTime, 1)
	if br.h.cfg.DrainMB > 0 {
		for _, size := range br.h.cfg.Sizes {
			edge = append(edge, d.EdgeTopic(br.drainTopic(size), 1, logAppendTime), d.EdgeTopic(br.drainTempTopic(size), 1, nil))
			cloud = append(cloud, d.CloudTopic(br.drainCloudTopic(size), 1, logAppendTime))
			if br.baselines {
				edge = append(edge, d.EdgeTopic(br.perfTopic(size), 1, logAppendTime))
				cloud = append(cloud, d.CloudTopic(br.mirrorTopic(size), 1, logAppendTime))
			}
		}
	}
	for _, c := range []struct {
		name  string
		cfg   bus.Config
		specs []bus.TopicSpec
	}{{"edge", d.Cluster.Edge, edge}, {"cloud", d.Cluster.Cloud, cloud}} {
		adm, err := bus.NewAdmin(c.cfg)
		if err != nil {
			return fmt.Errorf("%s admin: %w", c.name, err)
		}
		cctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		err = adm.EnsureTopics(cctx, c.specs)
		if err == nil {
			var tc map[string]string
			tc, err = adm.TopicConfig(cctx, c.specs[0].Name)
			if err == nil && tc["message.timestamp.type"] != "LogAppendTime" {
				err = fmt.Errorf("topic %s has message.timestamp.type=%q, want LogAppendTime", c.specs[0].Name, tc["message.timestamp.type"])
			}
		}
		cancel()
		adm.Close()
		if err != nil {
			return fmt.Errorf("%s topics: %w", c.name, err)
		}
	}
	br.h.progress("created %d edge and %d cloud topics (LogAppendTime)", len(edge), len(cloud))
	return nil
}

func (br *backendRun) startObservers(ctx context.Context) error {
	d, h := br.d, br.h
	var edgeTopics []string
	for n := 1; n <= d.Nodes; n++ {
		edgeTopics = append(edgeTopics, d.NodeTopic(n))
	}
	if h.cfg.DrainMB > 0 {
		for _, size := range h.cfg.Sizes {
			edgeTopics = append(edgeTopics, br.drainTopic(size))
		}
	}
	edgeTopics = append(edgeTopics, d.LocalTempTopic())
	cloudTopics := []string{d.CloudCameraTopic()}
	if h.cfg.DrainMB > 0 {
		for _, size := range h.cfg.Sizes {
			cloudTopics = append(cloudTopics, br.drainCloudTopic(size))
			if br.baselines {
				cloudTopics = append(cloudTopics, br.mirrorTopic(size))
			}
		}
	}
	obsCfg := func(c bus.Config, group string, topics []string) bus.ConsumerConfig {
		c.Backend = "" // the harness always observes with the default backend
		c.ClientID = "loadtest-observer"
		return bus.ConsumerConfig{Config: c, GroupID: group, Topics: topics, MaxFetchBytes: 8 << 20, QueueMaxBytes: 64 << 20, SessionTimeout: 30 * time.Second}
	}
	var err error
	log := h.log.With("observer", "edge")
	br.edgeObs, err = observeKafka(ctx, obsCfg(d.Cluster.Edge, d.Prefix+"observer-edge", edgeTopics), log,
		handleEdge(br.ledger, br.readings, d.LocalTempTopic(), log))
	if err != nil {
		return fmt.Errorf("edge observer: %w", err)
	}
	br.cloudObs, err = observeKafka(ctx, obsCfg(d.Cluster.Cloud, d.Prefix+"observer-cloud", cloudTopics), h.log.With("observer", "cloud"),
		handleCloud(br.ledger, cloudTopics, mirrorAlias+"."))
	if err != nil {
		return fmt.Errorf("cloud observer: %w", err)
	}
	var dirs []string
	for n := 1; n <= d.Nodes; n++ {
		dirs = append(dirs, d.PictureDir()+"/"+messages.CameraID(n))
	}
	br.hdfsObs = observeHDFS(ctx, h.hdfs, dirs, br.bundles, br.ledger, time.Second, h.log.With("observer", "hdfs"))
	return nil
}

func (br *backendRun) closeObservers() {
	if br.hdfsObs != nil {
		br.hdfsObs.Close()
	}
	for _, o := range []*kafkaObserver{br.edgeObs, br.cloudObs} {
		if o != nil {
			_ = o.Close()
		}
	}
}

// startProc starts a service and waits until it is ready.
func (br *backendRun) startProc(ctx context.Context, spec pipeline.Spec) (*pipeline.Proc, error) {
	rctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	p, err := pipeline.StartReady(rctx, br.group, spec, br.d.SpareAdmin)
	if p != nil {
		br.procsMu.Lock()
		br.procs[spec.Name] = p
		br.procsMu.Unlock()
	}
	if err != nil {
		return p, fmt.Errorf("%w; log tail:\n%s", err, tail(spec.Log, 15))
	}
	return p, nil
}

func (br *backendRun) proc(name string) *pipeline.Proc {
	br.procsMu.Lock()
	defer br.procsMu.Unlock()
	return br.procs[name]
}

func (br *backendRun) startServices(ctx context.Context) error {
	d, h := br.d, br.h
	specs := []pipeline.Spec{d.IngestSpec(), d.ForwarderSpec()}
	if h.cfg.TempProducers {
		for n := 1; n <= d.Nodes; n++ {
			specs = append(specs, d.TempProducerSpec(n))
		}
	}
	for n := 1; n <= d.Nodes; n++ {
		specs = append(specs, d.CameraProducerSpec(n, ""))
	}
	h.progress("starting %d services on %s", len(specs), br.backend)
	errs := make([]error, len(specs))
	var wg sync.WaitGroup
	for i, s := range specs {
		wg.Go(func() { _, errs[i] = br.startProc(ctx, s) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	h.progress("all services ready")
	return nil
}

// crashCheck fails with the first service that exited on its own.
func (br *backendRun) crashCheck() error {
	for _, p := range br.group.Crashed() {
		return fmt.Errorf("%s exited unexpectedly (%v); log tail:\n%s", p.Spec.Name, p.ExitErr(), tail(p.Spec.Log, 20))
	}
	if o := br.edgeObs; o != nil && o.Err() != nil {
		return fmt.Errorf("edge observer: %w", o.Err())
	}
	if o := br.cloudObs; o != nil && o.Err() != nil {
		return fmt.Errorf("cloud observer: %w", o.Err())
	}
	return nil
}

func (br *backendRun) nextSeq(cam int) uint64 {
	br.seqMu.Lock()
	defer br.seqMu.Unlock()
	br.seq[cam]++
	return br.seq[cam]
}

// drop writes one picture of camera cam into its spool directory and
// records it.
func (br *backendRun) drop(cam int, size, phase string) error {
	seq := br.nextSeq(cam)
	data := br.h.factory.Picture(size, cam, seq)
	camID := messages.CameraID(cam)
	_, _, err := Drop(br.d.SpoolDir(cam), camID, seq, data, time.Now, func(ready time.Time) {
		final := StageHDFS
		if strings.HasPrefix(phase, "kdrain/") || strings.HasPrefix(phase, "h2h/") {
			final = StageCloud
		}
		br.ledger.Add(&Pic{Key: Key(camID, ready, data, br.h.form), Camera: cam, Size: size, Phase: phase, Seq: seq,
			Bytes: len(data), SHA: sha(data), Ready: ready, Final: final})
	})
	return err
}

// waitArrived waits until every picture of phase reached stage, printing
// progress; it fails on a crash, ctx or the timeout.
func (br *backendRun) waitArrived(ctx context.Context, phase, stage string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	lastPrint := time.Now()
	for {
		total, got := br.ledger.Count(phase, stage)
		if got >= total {
			return nil
		}
		if err := br.crashCheck(); err != nil {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: %d of %d pictures reached %s within %v", phase, got, total, stage, timeout)
		}
		if time.Since(lastPrint) >= 5*time.Second {
			br.printCounts(phase)
			lastPrint = time.Now()
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

func (br *backendRun) printCounts(phase string) {
	total, e := br.ledger.Count(phase, StageEdge)
	_, c := br.ledger.Count(phase, StageCloud)
	_, hd := br.ledger.Count(phase, StageHDFS)
	line := fmt.Sprintf("%s %s: written %d, edge %d, cloud %d, hdfs %d", br.backend, phase, total, e, c, hd)
	if br.baselines {
		if _, m := br.ledger.Count(phase, StageMirror); m > 0 {
			line += fmt.Sprintf(", mirror %d", m)
		}
	}
	br.h.progress("%s", line)
}

// steady writes pictures at the configured rate from every camera for the
// steady duration, waits for all of them in HDFS and measures.
func (br *backendRun) steady(ctx context.Context, size string) (*report.Steady, error) {
	h := br.h
	cfg := h.cfg
	phase := "steady/" + size
	perCam := max(1, int(math.Round(cfg.Rate*cfg.Steady.Seconds())))
	interval := time.Duration(float64(time.Second) / cfg.Rate)
	h.progress("%s %s: %d cameras x %d pictures at %g/s each", br.backend, phase, cfg.Cameras, perCam, cfg.Rate)
	storeDir := br.storeDir(br.d.PictureStore)
	nnBefore, nnBeforeErr := br.nameNodeObjects(ctx, storeDir)
	start := time.Now()
	var wg sync.WaitGroup
	errs := make([]error, cfg.Cameras+1)
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for cam := 1; cam <= cfg.Cameras; cam++ {
		offset := time.Duration(float64(interval) * float64(cam-1) / float64(cfg.Cameras))
		wg.Go(func() {
			next := start.Add(offset)
			for i := 0; i < perCam; i++ {
				if d := time.Until(next); d > 0 {
					select {
					case <-wctx.Done():
						return
					case <-time.After(d):
					}
				}
				if err := br.drop(cam, size, phase); err != nil {
					errs[cam] = err
					cancel()
					return
				}
				next = next.Add(interval)
			}
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	tick := time.NewTicker(5 * time.Second)
writing:
	for {
		select {
		case <-done:
			break writing
		case <-tick.C:
			br.printCounts(phase)
			if err := br.crashCheck(); err != nil {
				cancel()
				<-done
				tick.Stop()
				return nil, err
			}
		}
	}
	tick.Stop()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	written := time.Now()
	load1 := math.NaN()
	if la, err := procfs.LoadAvg(); err == nil {
		load1 = la[0]
	}
	err := br.waitArrived(ctx, phase, StageHDFS, cfg.ArrivalTimeout)
	end := time.Now()
	var nn *report.NameNodeObjects
	if err == nil {
		// Every picture committed (in the bundle store: rolled).
		nnAfter, nnAfterErr := br.nameNodeObjects(ctx, storeDir)
		_, hdfsN := br.ledger.Count(phase, StageHDFS)
		o := objectsPerPicture(nnBefore, nnAfter, hdfsN, errors.Join(nnBeforeErr, nnAfterErr))
		nn = &o
	}
	h.mark(br.backend, phase, start, end)
	pics := br.ledger.Phase(phase)
	st := &report.Steady{
		OfferedPerSec: cfg.Rate * float64(cfg.Cameras),
		Duration:      report.Duration(cfg.Steady),
		Stages:        stages(pics),
		Completeness:  br.completeness(ctx, pics, 0),
		Usage:         br.usage(start, end, isService),
		Store:         br.d.PictureStore,
		NameNode:      nn,
	}
	first := pics[0].Ready
	for _, p := range pics {
		if p.Ready.Before(first) {
			first = p.Ready
		}
	}
	if _, last, n := Span(pics, StageHDFS); n > 0 && last.After(first) {
		var bytes int64
		for _, p := range pics {
			if p.HDFSN > 0 {
				bytes += int64(p.Bytes)
			}
		}
		st.PicturesPerSec = float64(n) / last.Sub(first).Seconds()
		st.MBPerSec = float64(bytes) / 1e6 / last.Sub(first).Seconds()
	}
	st.Saturation = br.saturation(pics, start, written, load1, st.OfferedPerSec)
	if v := st.Saturation; v.Saturated {
		h.progress("%s %s: saturated: %s", br.backend, phase, strings.Join(v.Reasons, "; "))
	}
	e2e := st.Stages.EndToEnd
	h.progress("%s %s: %d pictures, end to end p50 %.1f ms p99 %.1f ms, producer mean %.1f ms, forwarder mean %.1f ms, ingest mean %.1f ms",
		br.backend, phase, len(pics), e2e.P50, e2e.P99, st.Stages.Producer.Mean, st.Stages.Forwarder.Mean, st.Stages.Ingest.Mean)
	if err != nil {
		return st, err
	}
	if !st.Completeness.OK() {
		h.fail("%s %s incomplete: %+v", br.backend, phase, st.Completeness)
	}
	return st, nil
}

// saturation judges whether the machine kept up while the pictures of a
// steady phase were written (from start to written): every sampled
// process's CPU (services and devstack JVMs), the load average when the
// writing ended, each stage's backlog per second and the offered
// pictures/s.
func (br *backendRun) saturation(pics []Pic, start, written time.Time, load1, offered float64) *saturation.Verdict {
	in := saturation.Input{Cores: br.h.res.Machine.CPUs, Load1: load1, Offered: offered}
	if math.IsNaN(load1) {
		in.Load1 = 0
	}
	for _, sr := range br.h.sampler.Snapshot() {
		if u := pipeline.UsageIn(sr, start, written); u.Samples > 1 {
			in.Processes = append(in.Processes, saturation.Process{Name: sr.Name, CPUCores: u.CPUCore})
		}
	}
	times := func(stage string) []time.Time {
		out := make([]time.Time, len(pics))
		for i, p := range pics {
			if stage == "ready" {
				out[i] = p.Ready
			} else {
				out[i] = at(p, stage)
			}
		}
		return out
	}
	for _, q := range []struct{ name, from, to string }{
		{"producer", "ready", StageEdge}, {"forwarder", StageEdge, StageCloud}, {"ingest", StageCloud, StageHDFS},
	} {
		in.Backlogs = append(in.Backlogs, saturation.Backlog{Stage: q.name,
			Samples: saturation.Queue(times(q.from), times(q.to), start, written, time.Second)})
	}
	v := saturation.Judge(in)
	return &v
}

func stages(pics []Pic) report.Stages {
	return report.Stages{
		Producer:  stats.Summarize(Latencies(pics, "ready", StageEdge)),
		Forwarder: stats.Summarize(Latencies(pics, StageEdge, StageCloud)),
		Ingest:    stats.Summarize(Latencies(pics, StageCloud, StageHDFS)),
		EndToEnd:  stats.Summarize(Latencies(pics, "ready", StageHDFS)),
	}
}

// usage aggregates the sampled processes whose service passes keep over
// [from, to].
func (br *backendRun) usage(from, to time.Time, keep func(string) bool) []report.Usage {
	var us []pipeline.Usage
	for _, sr := range br.h.sampler.Snapshot() {
		if keep(sr.Service) {
			us = append(us, pipeline.UsageIn(sr, from, to))
		}
	}
	var out []report.Usage
	for _, su := range pipeline.ByService(us) {
		out = append(out, report.Usage{Service: su.Service, Instances: su.Instances, CPUCores: su.CPUCore, RSSMean: su.RSSMean, RSSMax: su.RSSMax})
	}
	return out
}

// procUsage is one process's usage over [from, to].
func (br *backendRun) procUsage(name string, from, to time.Time) *report.Usage {
	return br.processUsage(name, from, to, false)
}

// drainUsage is procUsage of a process started in [from, to] (a drain's
// process, a baseline tool) or whose peak was reset at from: its peak RSS
// is also read from VmHWM, which sees a peak between two samples.
func (br *backendRun) drainUsage(name string, from, to time.Time) *report.Usage {
	return br.processUsage(name, from, to, true)
}

// processUsage is process name's usage over [from, to], its peak from the
// samples and, with hwm, VmHWM; nil without a sample in it.
func (br *backendRun) processUsage(name string, from, to time.Time, hwm bool) *report.Usage {
	for _, sr := range br.h.sampler.Snapshot() {
		if sr.Name != name {
			continue
		}
		u := pipeline.UsageIn(sr, from, to)
		if u.Samples == 0 {
			return nil
		}
		peak := u.RSSMax
		if hwm {
			peak = max(peak, u.HWM)
		}
		return &report.Usage{Service: u.Service, Instances: 1, CPUCores: u.CPUCore, RSSMean: u.RSSMean, RSSMax: peak}
	}
	return nil
}

// fillSizes sets the mean picture and record sizes per size.
func (br *backendRun) fillSizes() {
	for i := range br.result.Sizes {
		sr := &br.result.Sizes[i]
		var pb, rb []float64
		for _, p := range br.ledger.Phase("steady/" + sr.Size) {
			pb = append(pb, float64(p.Bytes))
			if p.EdgeN > 0 {
				rb = append(rb, float64(p.RecordBytes))
			}
		}
		sr.MeanPictureBytes, sr.MeanRecordBytes = stats.Mean(pb), stats.Mean(rb)
	}
}

// finish stops the producers, waits until the readings are stored, stops
// the rest and checks completeness of everything this backend produced.
func (br *backendRun) finish(ctx context.Context) error {
	h, d := br.h, br.d
	h.progress("%s: stopping the producers", br.backend)
	var errs []error
	for n := 1; n <= d.Nodes; n++ {
		for _, name := range []string{fmt.Sprintf("%s-%d", pipeline.CameraProducer, n), fmt.Sprintf("%s-%d", pipeline.TempProducer, n)} {
			if p := br.proc(name); p != nil {
				if err := p.Stop(stopTimeout); err != nil {
					errs = append(errs, err)
				}
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		h.fail("%s: a producer did not stop cleanly: %v", br.backend, err)
	}
	if err := br.crashCheck(); err != nil {
		return err
	}
	if h.cfg.TempProducers {
		// Readings are written out every rotate interval; wait for all
		// (the verdict comes after every service stopped: readingsVerdict).
		deadline := time.Now().Add(60 * time.Second)
		for {
			edge, _ := br.readings.snapshot()
			stored, err := br.storedReadings()
			if err == nil && coversAll(stored, edge) {
				break
			}
			if time.Now().After(deadline) {
				break
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(time.Second):
			}
		}
	}
	if err := br.group.StopAll(stopTimeout); err != nil {
		h.fail("%s: a service did not stop cleanly: %v", br.backend, err)
	}
	br.end = time.Now()
	if err := br.crashCheck(); err != nil {
		return err
	}
	// A last listing after everything stopped.
	br.hdfsObs.Close()
	br.hdfsObs.listOnce()
	all := br.ledger.All()
	var phases []string
	for _, p := range all {
		if !slices.Contains(phases, p.Phase) {
			phases = append(phases, p.Phase)
		}
	}
	var total report.Completeness
	for _, ph := range phases {
		c := br.completeness(ctx, br.ledger.Phase(ph), h.cfg.Verify)
		br.result.Phases = append(br.result.Phases, report.PhaseCompleteness{Phase: ph, Completeness: c})
		total = total.Add(c)
		for i := range br.result.Sizes {
			if st := br.result.Sizes[i].Steady; st != nil && "steady/"+br.result.Sizes[i].Size == ph {
				st.Completeness = c
			}
		}
	}
	total.Unexpected += br.ledger.Unknown(StageHDFS)
	br.result.Completeness = total
	if !br.result.Completeness.OK() {
		h.fail("%s: %d of %d pictures missing in HDFS, %d unexpected files, %d size and %d checksum mismatches (first missing: %s)",
			br.backend, br.result.Completeness.Missing, len(all), br.result.Completeness.Unexpected,
			br.result.Completeness.SizeMismatch, br.result.Completeness.ChecksumMismatch, strings.Join(br.result.Completeness.MissingKeys, ", "))
	}
	if h.cfg.TempProducers {
		rd, err := br.readingsVerdict(ctx)
		if err != nil {
			h.fail("%s: %v", br.backend, err)
		}
		br.result.Readings = rd
		if msg := readingsFailure(rd); msg != "" {
			h.fail("%s: %s", br.backend, msg)
		}
		if br.readings.bad > 0 {
			h.fail("%s: %d undecodable readings on the edge topic", br.backend, br.readings.bad)
		}
	}
	c := br.result.Completeness
	h.progress("%s done: %d pictures for HDFS, %d there; %d Kafka drain pictures, %d of them on the cloud; readings %d on the edge, %d in HDFS",
		br.backend, c.Produced, c.HDFS, c.CloudFinal, c.CloudFinal-c.CloudFinalMissing, br.result.Readings.Edge, br.result.Readings.HDFS)
	return nil
}

func coversAll(stored, edge map[string]int) bool {
	if len(edge) == 0 {
		return false
	}
	for id := range edge {
		if stored[id] == 0 {
			return false
		}
	}
	return true
}

func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
