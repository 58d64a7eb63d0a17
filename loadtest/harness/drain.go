package harness

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"math"
	"net/http"
	"os"
	"path"
	"slices"
	"time"

	"github.com/sensornode/sensornode/libs/archive"
	"github.com/sensornode/sensornode/loadtest/namenode"
	"github.com/sensornode/sensornode/loadtest/pipeline"
	"github.com/sensornode/sensornode/loadtest/report"
	"github.com/sensornode/sensornode/loadtest/stats"
	"github.com/sensornode/sensornode/tools/hdfscli"
)

func sha(b []byte) [32]byte { return sha256.Sum256(b) }

// kafkaN is the drain backlog at size: DrainMB megabytes of pictures (at
// least 100, at most 10000), so that it spans many produce batches; every
// stage drains as many (ingest once per store).
func (br *backendRun) kafkaN(size string) int {
	b := br.h.factory.BaseSize(size, 1)
	n := int(math.Ceil(float64(br.h.cfg.DrainMB) * 1e6 / float64(max(b, 1))))
	return min(max(n, 100), 10000)
}

// drain measures each stage's capacity at size, each stage alone:
//
//   - camera-producer-1 (switched to its own drain topic) drains a burst of
//     kafkaN pictures written into its spool directory;
//   - (baselines) ProducerPerformance sends as many records of the same size;
//   - (baselines) MirrorMaker 2 mirrors that backlog to the cloud;
//   - a second edge-forwarder instance forwards the same backlog to its own
//     cloud topic; (baselines) then both forward new pictures side by side;
//   - per picture store, cloud-ingest-hdfs, stopped while as many pictures
//     flow through the pipeline to the cloud topic, drains them into HDFS;
//   - (baselines) a plain HDFS client writes the same pictures.
func (br *backendRun) drain(ctx context.Context, size string) (*report.Drain, *report.SizeBaselines, error) {
	h := br.h
	n := br.kafkaN(size)
	dr := &report.Drain{KafkaN: n, HDFSN: n}
	var sb *report.SizeBaselines
	if br.baselines {
		sb = &report.SizeBaselines{Size: size, Pictures: dr.KafkaN, HDFSFiles: dr.HDFSN}
	}
	// Every process's peak RSS from here on (the memory table's drain
	// peaks; read from VmHWM, so a drain shorter than the sampling interval
	// still has its peak), and one sample of all at the end.
	if err := h.sampler.ResetPeaks(); err != nil {
		h.note("drain %s: %v", size, err)
	}
	start := time.Now()
	defer func() {
		h.sampler.SampleAll()
		h.mark(br.backend, "drain/"+size, start, time.Now())
	}()
	if err := br.kafkaDrain(ctx, size, dr, sb); err != nil {
		return dr, sb, err
	}
	if err := br.hdfsDrain(ctx, size, dr, sb); err != nil {
		return dr, sb, err
	}
	return dr, sb, nil
}

func (br *backendRun) kafkaDrain(ctx context.Context, size string, dr *report.Drain, sb *report.SizeBaselines) error {
	h, d := br.h, br.d
	n := dr.KafkaN
	phase := "kdrain/" + size
	timeout := h.cfg.ArrivalTimeout
	h.progress("%s %s: camera-producer-1 switches to %s; %d pictures (%.0f MB) written at once into its spool directory",
		br.backend, phase, br.drainTopic(size), n, float64(n*h.factory.BaseSize(size, 1))/1e6)
	if p := br.proc(pipeline.CameraProducer + "-1"); p != nil {
		if err := p.Stop(stopTimeout); err != nil {
			return err
		}
	}
	prod, err := br.startProc(ctx, d.CameraProducerSpec(1, br.drainTopic(size)))
	if err != nil {
		dr.Producer.Err = err.Error()
		return err
	}
	for range n {
		if err := br.drop(1, size, phase); err != nil {
			return err
		}
	}
	err = br.waitArrived(ctx, phase, StageEdge, timeout)
	h.sampler.SampleAll() // the drain processes' peaks (HWM) right after
	dr.Producer = br.burstRate(phase, StageEdge, prod.Spec.Name)
	h.progress("%s %s: camera-producer sent %d pictures at %.1f/s (%.2f MB/s)", br.backend, phase, dr.Producer.N, dr.Producer.PerSec, dr.Producer.MBPerSec)
	if err != nil {
		dr.Producer.Err = err.Error()
		return err
	}

	pics := br.ledger.Phase(phase)
	if sb != nil {
		var values []float64
		for _, p := range pics {
			values = append(values, float64(p.ValueBytes))
		}
		sb.RecordBytes = int(math.Round(stats.Mean(values)))
		// Three times the count, so that the JVM's warm-up weighs little.
		sb.PerfRecords = 3 * n
		h.progress("%s %s: ProducerPerformance, %d records of %d bytes", br.backend, phase, sb.PerfRecords, sb.RecordBytes)
		sb.Perf = br.producerPerf(ctx, size, sb.RecordBytes, sb.PerfRecords)
		if sb.Perf.Err != "" {
			h.note("ProducerPerformance at %s failed: %s", size, sb.Perf.Err)
		} else {
			h.progress("%s %s: ProducerPerformance %.1f records/s (%.2f MB/s)", br.backend, phase, sb.Perf.Result.RecordsPerSec, sb.Perf.Result.MBPerSec)
		}
	}

	// MirrorMaker 2 drains the backlog (baseline).
	var mm *pipeline.Proc
	if sb != nil {
		sb.Mirror = &report.Mirror{}
		h.progress("%s %s: MirrorMaker 2 mirrors %s", br.backend, phase, br.drainTopic(size))
		mm, err = br.startMirror(size)
		if err == nil {
			err = br.waitArrived(ctx, phase, StageMirror, timeout+time.Minute)
			h.sampler.SampleAll()
			sb.Mirror.Drain = br.rate(phase, StageMirror, mm.Started(), mm.Spec.Name)
			h.progress("%s %s: MirrorMaker 2 mirrored %d pictures at %.1f/s (%.2f MB/s), first after %.1f s", br.backend, phase,
				sb.Mirror.Drain.N, sb.Mirror.Drain.PerSec, sb.Mirror.Drain.MBPerSec, sb.Mirror.Drain.StartupSeconds)
		}
		if err != nil {
			sb.Mirror.Err = err.Error()
			if mm != nil {
				sb.Mirror.Err += "; log tail: " + tail(mm.Spec.Log, 10)
				_ = mm.Stop(stopTimeout)
				mm = nil
			}
			h.note("MirrorMaker 2 at %s failed: %v", size, err)
		}
	}

	// A second edge-forwarder drains the same backlog.
	fwName := pipeline.EdgeForwarder + "-drain"
	fw, err := br.startProc(ctx, d.ExtraForwarderSpec(fwName, d.Prefix+"forwarder-drain"+size, br.drainTopic(size),
		br.drainCloudTopic(size), br.drainTempTopic(size)))
	if err != nil {
		dr.Forwarder.Err = err.Error()
		return err
	}
	err = br.waitArrived(ctx, phase, StageCloud, timeout)
	h.sampler.SampleAll()
	dr.Forwarder = br.rate(phase, StageCloud, fw.Started(), fw.Spec.Name)
	h.progress("%s %s: edge-forwarder forwarded %d pictures at %.1f/s (%.2f MB/s), first after %.1f s", br.backend, phase,
		dr.Forwarder.N, dr.Forwarder.PerSec, dr.Forwarder.MBPerSec, dr.Forwarder.StartupSeconds)
	if err != nil {
		dr.Forwarder.Err = err.Error()
		return err
	}

	// Head to head: both forward the same new pictures at the steady rate.
	if mm != nil {
		if err := br.headToHead(ctx, size, sb.Mirror, mm, fwName); err != nil {
			sb.Mirror.Err = "head to head: " + err.Error()
			h.note("MirrorMaker 2 head to head at %s failed: %v", size, err)
		}
		if err := mm.Stop(stopTimeout); err != nil {
			h.note("stopping MirrorMaker 2: %v", err)
		}
	}
	h.sampler.SampleAll() // the last peaks of the processes stopped here
	if err := fw.Stop(stopTimeout); err != nil {
		return err
	}
	// camera-producer-1 back on its node topic.
	if err := prod.Stop(stopTimeout); err != nil {
		return err
	}
	_, err = br.startProc(ctx, d.CameraProducerSpec(1, ""))
	return err
}

func (br *backendRun) hdfsDrain(ctx context.Context, size string, dr *report.Drain, sb *report.SizeBaselines) error {
	h := br.h
	for i, store := range h.cfg.Stores {
		sd, err := br.storeDrain(ctx, size, store, dr.HDFSN)
		sd.RatioToForwarder = report.DrainRatio(sd.Ingest, dr.Forwarder)
		dr.Stores = append(dr.Stores, sd)
		if i == 0 {
			dr.Ingest = sd.Ingest
		}
		if err != nil {
			return err
		}
	}
	if sb != nil {
		pics := br.ledger.Phase(hdrainPhase(size, h.cfg.Stores[0]))
		h.progress("%s hdrain/%s: plain HDFS client writes the same %d pictures", br.backend, size, len(pics))
		raw, lat := br.rawHDFS(ctx, size, pics)
		sb.RawHDFS, sb.RawHDFSLatency = &raw, lat
		h.progress("%s hdrain/%s: plain HDFS client %.1f files/s (%.2f MB/s)", br.backend, size, raw.PerSec, raw.MBPerSec)
	}
	return nil
}

func hdrainPhase(size, store string) string { return "hdrain/" + size + "/" + store }

// storeDrain stops cloud-ingest-hdfs while n pictures flow to the cloud
// topic, then starts it on store and measures how it drains them: its
// rate, the NameNode objects it added per picture (JMX before the start
// and after the last picture was committed, and by listing the store's
// directory) and its RSS.
func (br *backendRun) storeDrain(ctx context.Context, size, store string, n int) (report.StoreDrain, error) {
	h, d := br.h, br.d
	sd := report.StoreDrain{Store: store}
	if store == StoreAvro {
		sd.BundleMaxAge, sd.BundleMaxMB = report.Duration(d.BundleMaxAge), int(d.BundleMaxBytes>>20)
	}
	phase := hdrainPhase(size, store)
	timeout := h.cfg.ArrivalTimeout
	h.progress("%s %s: cloud-ingest-hdfs stopped while %d pictures flow to the cloud topic", br.backend, phase, n)
	if p := br.proc(pipeline.CloudIngest); p != nil {
		h.sampler.SampleAll() // its last peak (HWM) before it stops
		if err := p.Stop(stopTimeout); err != nil {
			return sd, err
		}
	}
	for i := range n {
		if err := br.drop(1+i%h.cfg.Cameras, size, phase); err != nil {
			return sd, err
		}
	}
	if err := br.waitArrived(ctx, phase, StageCloud, timeout); err != nil {
		return sd, err
	}
	storeDir := br.storeDir(store)
	before, beforeErr := br.nameNodeObjects(ctx, storeDir)
	d.PictureStore = store
	in, err := br.startProc(ctx, d.IngestSpec())
	if err != nil {
		sd.Ingest.Err = err.Error()
		return sd, err
	}
	err = br.waitArrived(ctx, phase, StageHDFS, timeout)
	// One more sample at the end: a drain shorter than the sampling
	// interval would otherwise have only the one taken at the start.
	h.sampler.SampleAll()
	if store == StoreAvro {
		sd.Ingest = br.bundleRate(phase, in.Started(), in.Spec.Name)
	} else {
		sd.Ingest = br.rate(phase, StageHDFS, in.Started(), in.Spec.Name)
	}
	sd.Ingest.Usage = br.drainUsage(in.Spec.Name, in.Started(), time.Now())
	h.progress("%s %s: cloud-ingest-hdfs stored %d pictures at %.1f/s (%.2f MB/s), peak RSS %s MiB", br.backend, phase,
		sd.Ingest.N, sd.Ingest.PerSec, sd.Ingest.MBPerSec, peakMiB(sd.Ingest.Usage))
	if err != nil {
		sd.Ingest.Err = err.Error()
		return sd, err
	}
	after, afterErr := br.nameNodeObjects(ctx, storeDir)
	sd.NameNode = objectsPerPicture(before, after, sd.Ingest.N, errors.Join(beforeErr, afterErr))
	if sd.NameNode.Err == "" {
		h.progress("%s %s: NameNode objects per picture %.4f (JMX), %.4f (store directory)", br.backend, phase,
			sd.NameNode.PerPicture, sd.NameNode.StorePerPicture)
	} else {
		h.note("%s %s: NameNode objects not measured: %s", br.backend, phase, sd.NameNode.Err)
	}
	if c := br.completeness(ctx, br.ledger.Phase(phase), 0); !c.OK() {
		h.fail("%s %s incomplete: %+v", br.backend, phase, c)
	}
	return sd, nil
}

func peakMiB(u *report.Usage) string {
	if u == nil {
		return "?"
	}
	return fmt.Sprintf("%.1f", float64(u.RSSMax)/(1<<20))
}

// storeDir is the HDFS directory of a picture store ("" = files, the
// service's default).
func (br *backendRun) storeDir(store string) string {
	if store == StoreAvro {
		return br.d.BundleDir()
	}
	return br.d.PictureDir()
}

// objectCounts are the NameNode's objects (JMX) and those of a store's
// directory (listing) at one moment.
type objectCounts struct {
	jmx, store namenode.Objects
}

// objectsPerPicture is what a drain of pictures cost the NameNode.
func objectsPerPicture(before, after objectCounts, pictures int, err error) report.NameNodeObjects {
	o := report.NameNodeObjects{Pictures: pictures}
	if err != nil {
		o.Err = err.Error()
		return o
	}
	o.Before, o.After = before.jmx, after.jmx
	o.PerPicture = namenode.PerPicture(before.jmx, after.jmx, pictures)
	o.Store = after.store.Sub(before.store)
	o.StorePerPicture = namenode.PerPicture(before.store, after.store, pictures)
	return o
}

// nameNodeObjects reads the NameNode's object counts from its JMX and
// counts the objects under dir by listing it.
func (br *backendRun) nameNodeObjects(ctx context.Context, dir string) (objectCounts, error) {
	var c objectCounts
	addr := br.d.Cluster.NameNodeHTTP
	if addr == "" {
		return c, errors.New("the NameNode's HTTP address is unknown (SENSORNODE_LOADTEST_NAMENODE_HTTP_ADDR)")
	}
	// A busy NameNode may not answer at once: three tries.
	var err error
	for try := 1; ; try++ {
		rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		c.jmx, err = namenode.Read(rctx, http.DefaultClient, addr)
		cancel()
		if err == nil || try == 3 || ctx.Err() != nil {
			break
		}
		time.Sleep(time.Second)
	}
	if err != nil {
		return c, err
	}
	c.store, err = br.listObjects(dir)
	return c, err
}

// listObjects counts the inodes (directories and files, dir itself
// included) and blocks under dir: a file of size s has ceil(s/block size)
// blocks.
func (br *backendRun) listObjects(dir string) (namenode.Objects, error) {
	var o namenode.Objects
	defs, err := br.h.hdfs.ServerDefaults()
	if err != nil {
		return o, fmt.Errorf("hdfs server defaults: %w", err)
	}
	var walk func(string) error
	walk = func(p string) error {
		entries, err := br.h.hdfs.ReadDir(p)
		if err != nil {
			return err
		}
		o.Files++
		for _, e := range entries {
			if e.IsDir() {
				if err := walk(path.Join(p, e.Name())); err != nil && !errors.Is(err, os.ErrNotExist) {
					return err
				}
				continue
			}
			o.Files++
			o.Blocks += namenode.Blocks(e.Size(), defs.BlockSize)
		}
		return nil
	}
	if err := walk(dir); err != nil && !errors.Is(err, os.ErrNotExist) {
		return o, fmt.Errorf("listing %s: %w", dir, err)
	}
	return o, nil
}

// burstRate is the throughput of pictures written at once: n pictures
// from the first one ready to the last one's arrival at stage.
func (br *backendRun) burstRate(phase, stage, procName string) report.Rate {
	pics := br.ledger.Phase(phase)
	_, last, n := Span(pics, stage)
	r := report.Rate{N: n}
	if n == 0 {
		return r
	}
	first := pics[0].Ready
	for _, p := range pics {
		if p.Ready.Before(first) {
			first = p.Ready
		}
		if !at(p, stage).IsZero() {
			r.Bytes += int64(p.Bytes)
		}
	}
	if last.After(first) {
		r.Seconds = last.Sub(first).Seconds()
		r.PerSec = float64(n) / r.Seconds
		r.MBPerSec = float64(r.Bytes) / 1e6 / r.Seconds
	}
	r.Usage = br.drainUsage(procName, first, last)
	return r
}

// rate is the drain throughput of phase at stage: the pictures that
// arrived after the first batch, over the time from the first to the last
// arrival.
func (br *backendRun) rate(phase, stage string, procStart time.Time, procName string) report.Rate {
	pics := br.ledger.Phase(phase)
	first, last, n := Span(pics, stage)
	r := report.Rate{N: n}
	if n == 0 {
		return r
	}
	for _, p := range pics {
		if !at(p, stage).IsZero() {
			r.Bytes += int64(p.Bytes)
		}
	}
	// Records of one produce batch share its append time: those that
	// arrived with the first one cost no measurable time, so the rate
	// counts the others over first..last.
	var later int64
	for _, p := range pics {
		switch t := at(p, stage); {
		case t.IsZero():
		case t.Equal(first):
			r.Batched++
		default:
			later += int64(p.Bytes)
		}
	}
	switch {
	case last.After(first):
		secs := last.Sub(first).Seconds()
		r.Seconds = secs
		r.PerSec = float64(n-r.Batched) / secs
		r.MBPerSec = float64(later) / 1e6 / secs
	case first.After(procStart):
		// All in one batch (one bundle): process start to arrival, a lower
		// bound that includes the start.
		secs := first.Sub(procStart).Seconds()
		r.Seconds, r.IncludesStartup = secs, true
		r.PerSec = float64(n) / secs
		r.MBPerSec = float64(r.Bytes) / 1e6 / secs
	}
	r.StartupSeconds = first.Sub(procStart).Seconds()
	r.Usage = br.drainUsage(procName, procStart, last)
	return r
}

// bundleRate is the drain throughput of phase into the bundle store (one
// cloud partition): rate's, over the bundles rolled by size. The last
// bundle holds the backlog's remainder and rolls by age
// (-bundle-max-age after its first picture), however fast the ingest
// read it: when at least two bundles came between the first and it, its
// pictures and its wait (from the bundle before it) are left out of the
// rate and reported apart (Tail). With fewer, the rate is rate's, the
// tail included.
func (br *backendRun) bundleRate(phase string, procStart time.Time, procName string) report.Rate {
	r := br.rate(phase, StageHDFS, procStart, procName)
	if r.N == 0 || r.Err != "" {
		return r
	}
	pics := br.ledger.Phase(phase)
	var ts []time.Time
	for _, p := range pics {
		if t := at(p, StageHDFS); !t.IsZero() {
			ts = append(ts, t)
		}
	}
	slices.SortFunc(ts, func(a, b time.Time) int { return a.Compare(b) })
	ts = slices.CompactFunc(ts, func(a, b time.Time) bool { return a.Equal(b) })
	if len(ts) < 4 { // first, two more, the tail
		return r
	}
	first, tail, prev := ts[0], ts[len(ts)-1], ts[len(ts)-2]
	var n int
	var later int64
	for _, p := range pics {
		switch t := at(p, StageHDFS); {
		case t.Equal(tail):
			r.TailN++
		case !t.IsZero() && !t.Equal(first):
			n++
			later += int64(p.Bytes)
		}
	}
	secs := prev.Sub(first).Seconds()
	r.Seconds, r.TailSeconds = secs, tail.Sub(prev).Seconds()
	r.PerSec = float64(n) / secs
	r.MBPerSec = float64(later) / 1e6 / secs
	return r
}

// completeness checks pics against HDFS (or the cloud topic, for those
// whose journey ends there), reading back up to verify of the stored ones
// (-1: all).
func (br *backendRun) completeness(ctx context.Context, pics []Pic, verify int) report.Completeness {
	c := report.Completeness{Produced: len(pics)}
	var stored []Pic
	c.Produced = 0
	for _, p := range pics {
		if p.EdgeN > 0 {
			c.Edge++
			c.EdgeDuplicates += p.EdgeN - 1
		}
		if p.CloudN > 0 {
			c.Cloud++
			c.CloudDuplicates += p.CloudN - 1
		}
		if p.Final == StageCloud {
			c.CloudFinal++
			if p.CloudN == 0 {
				c.CloudFinalMissing++
				c.AddMissingKey(p.Key)
			}
			continue
		}
		c.Produced++
		if p.HDFSN == 0 {
			c.Missing++
			c.AddMissingKey(p.Key)
			continue
		}
		c.HDFS++
		// A second file (or bundle entry) with the same key is unexpected;
		// a bundled picture's size is checked when it is read back.
		c.Unexpected += p.HDFSN - 1
		if p.HDFSSize >= 0 && p.HDFSSize != int64(p.Bytes) {
			c.SizeMismatch++
		}
		stored = append(stored, p)
	}
	want := verify
	if want < 0 || want > len(stored) {
		want = len(stored)
	}
	for i := 0; i < want && ctx.Err() == nil; i++ {
		p := stored[i*len(stored)/want]
		b, err := br.readPicture(p)
		c.Verified++
		switch {
		case err != nil || sha256.Sum256(b) != p.SHA:
			c.ChecksumMismatch++
		case p.HDFSSize < 0 && len(b) != p.Bytes:
			c.SizeMismatch++
		}
	}
	return c
}

// readPicture reads a stored picture's bytes back: its file, or its block
// of its bundle (one ranged read, checked to be the picture of its key, as
// any reader of the bundle store does).
func (br *backendRun) readPicture(p Pic) ([]byte, error) {
	if p.HDFSBundled == nil {
		return br.h.hdfs.ReadFile(p.HDFSPath)
	}
	rec, err := br.bundles.Read(*p.HDFSBundled)
	return rec.JPEG, err
}

// storedReadings reads every temperature file, of any format, and counts
// readings by identity (messages.ReadingIdentity); other files (the Avro
// readings' schema file) are skipped.
func (br *backendRun) storedReadings() (map[string]int, error) {
	out := map[string]int{}
	var files []string
	err := hdfscli.Walk(br.h.hdfs, br.d.TemperatureDir(), func(p string, _ os.FileInfo) { files = append(files, p) })
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	for _, f := range files {
		format, ok := archive.FormatOf(f)
		if !ok {
			continue
		}
		b, err := br.h.hdfs.ReadFile(f)
		if err != nil {
			return nil, err
		}
		rs, err := archive.DecodeReadings(b, format)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		for _, r := range rs {
			out[r.Identity()]++
		}
	}
	return out, nil
}
