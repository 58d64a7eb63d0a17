package harness

import (
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"github.com/sensornode/sensornode/loadtest/pipeline"
	"github.com/sensornode/sensornode/loadtest/procfs"
	"github.com/sensornode/sensornode/loadtest/report"
	"github.com/sensornode/sensornode/loadtest/stats"
	"github.com/sensornode/sensornode/loadtest/svgplot"
	"github.com/sensornode/sensornode/tools/devstack"
)

// describe fills machine, versions and settings.
func (h *Harness) describe(ctx context.Context) {
	r, cfg := h.res, h.cfg
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		ci := procfs.ParseCPUInfo(b)
		r.Machine.CPUModel, r.Machine.CPUs = ci.Model, ci.CPUs
	}
	r.Machine.MemBytes, _ = procfs.MemTotal()
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		r.Machine.Kernel = "Linux " + strings.TrimSpace(string(b)) + " " + runtime.GOARCH
	}
	r.Machine.LoadStart, _ = procfs.LoadAvg()

	v := &r.Versions
	v.Go = runtime.Version()
	v.Java = javaVersion(ctx, cfg.Cluster.Java)
	v.Kafka, v.Hadoop = devstack.KafkaVersion, devstack.HadoopVersion
	if cfg.Cluster.Stack == nil {
		v.Kafka = devstack.KafkaVersion + " (tools; brokers: the cluster's own)"
		v.Hadoop = "the cluster's own"
	}
	v.Git = pipeline.GitRevision(ctx, cfg.Repo)
	_, v.Librdkafka = kafka.LibraryVersion()
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			switch d.Path {
			case "github.com/confluentinc/confluent-kafka-go/v2":
				v.Confluent = d.Version
			case "github.com/twmb/franz-go":
				v.FranzGo = d.Version
			case "github.com/colinmarc/hdfs/v2":
				v.ColinmarcFS = d.Version
			}
		}
	}

	s := &r.Settings
	s.Cluster = cfg.Cluster.Name
	s.Cameras, s.RatePerCamera, s.SteadyDuration = cfg.Cameras, cfg.Rate, report.Duration(cfg.Steady)
	s.Form, s.Sizes, s.Backends, s.DrainMB = cfg.Form, cfg.Sizes, cfg.Backends, cfg.DrainMB
	s.Stores, s.BundleMaxAge, s.BundleMaxMB = cfg.Stores, report.Duration(cfg.BundleMaxAge), cfg.BundleMaxMB
	s.HeadToHead = report.Duration(cfg.HeadToHead)
	s.EdgeRF, s.EdgeMinISR, s.CloudRF = cfg.Cluster.EdgeRF, cfg.Cluster.EdgeMinISR, cfg.Cluster.CloudRF
	s.CloudTLS = cfg.Cluster.Cloud.TLS.Enabled
	s.TempProducers = cfg.TempProducers
}

func javaVersion(ctx context.Context, java string) string {
	if java == "" {
		java = "java"
	}
	out, err := exec.CommandContext(ctx, java, "-version").CombinedOutput()
	if err != nil {
		return "unknown (" + err.Error() + ")"
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) > 1 {
		return strings.TrimSpace(lines[0]) + ", " + strings.TrimSpace(lines[1])
	}
	return strings.TrimSpace(lines[0])
}

// writeResults writes report.md, result.json, the CSVs and the plots.
func (h *Harness) writeResults() error {
	for _, br := range h.runs {
		h.res.Baselines.Sizes = append(h.res.Baselines.Sizes, br.baseline...)
	}
	var errs []error
	keep := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	h.fillMemory()
	keep(h.writePictures())
	keep(h.writeSamples())
	keep(h.plots())
	h.res.Files = []string{"result.json", "pictures.csv", "samples.csv", "logs/"}
	b, err := report.JSON(h.res)
	if err == nil {
		err = os.WriteFile(filepath.Join(h.resultsDir, "result.json"), append(b, '\n'), 0o644)
	}
	keep(err)
	f, err := os.Create(filepath.Join(h.resultsDir, "report.md"))
	if err == nil {
		err = report.Render(f, h.res)
		keep(f.Close())
	}
	keep(err)
	return joinErrs(errs)
}

func joinErrs(errs []error) error {
	if len(errs) == 0 {
		return nil
	}
	msgs := make([]string, len(errs))
	for i, e := range errs {
		msgs[i] = e.Error()
	}
	return fmt.Errorf("writing results: %s", strings.Join(msgs, "; "))
}

func tsv(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02T15:04:05.000000Z")
}

func msBetween(a, b time.Time) string {
	if a.IsZero() || b.IsZero() {
		return ""
	}
	return strconv.FormatFloat(float64(b.Sub(a))/float64(time.Millisecond), 'f', 3, 64)
}

// writePictures writes one row per picture with its times and latencies.
func (h *Harness) writePictures() error {
	header := []string{"backend", "phase", "size", "camera", "seq", "key", "bytes", "record_bytes", "ready", "edge", "cloud", "mirror", "hdfs",
		"edge_n", "cloud_n", "mirror_n", "hdfs_n", "hdfs_store", "hdfs_path", "producer_ms", "forwarder_ms", "mirror_ms", "ingest_ms", "end_to_end_ms"}
	return h.writeCSV("pictures.csv", header, func(w *csv.Writer) {
		for _, br := range h.runs {
			for _, p := range br.ledger.All() {
				_ = w.Write([]string{br.backend, p.Phase, p.Size, strconv.Itoa(p.Camera), strconv.FormatUint(p.Seq, 10), p.Key,
					strconv.Itoa(p.Bytes), strconv.Itoa(p.RecordBytes), tsv(p.Ready), tsv(p.Edge), tsv(p.Cloud), tsv(p.Mirror), tsv(p.HDFS),
					strconv.Itoa(p.EdgeN), strconv.Itoa(p.CloudN), strconv.Itoa(p.MirrorN), strconv.Itoa(p.HDFSN),
					p.HDFSStore, p.HDFSPath, msBetween(p.Ready, p.Edge), msBetween(p.Edge, p.Cloud), msBetween(p.Edge, p.Mirror), msBetween(p.Cloud, p.HDFS), msBetween(p.Ready, p.HDFS)})
			}
		}
	})
}

// writeSamples writes every /proc sample.
func (h *Harness) writeSamples() error {
	num := func(v float64) string {
		if math.IsNaN(v) {
			return ""
		}
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	return h.writeCSV("samples.csv", []string{"process", "service", "pid", "time", "cpu_seconds", "rss_bytes", "heap_inuse_bytes", "kafka_buffered_bytes",
		"hwm_bytes", "rss_file_bytes", "go_sys_bytes", "heap_idle_bytes", "heap_released_bytes"}, func(w *csv.Writer) {
		for _, sr := range h.sampler.Snapshot() {
			for _, p := range sr.Points {
				_ = w.Write([]string{sr.Name, sr.Service, strconv.Itoa(p.PID), tsv(p.At), strconv.FormatFloat(p.CPU.Seconds(), 'f', 2, 64), strconv.FormatInt(p.RSSBytes, 10),
					num(p.HeapInuse), num(p.KafkaBuffered), strconv.FormatInt(p.HWMBytes, 10), strconv.FormatInt(p.RSSFileBytes, 10),
					num(p.GoSys), num(p.HeapIdle), num(p.HeapReleased)})
			}
		}
	})
}

// writeCSV writes file in the results directory: the header, then the
// rows that write adds.
func (h *Harness) writeCSV(file string, header []string, write func(*csv.Writer)) error {
	f, err := os.Create(filepath.Join(h.resultsDir, file))
	if err != nil {
		return err
	}
	w := csv.NewWriter(f)
	_ = w.Write(header)
	write(w)
	w.Flush()
	if err := w.Error(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func (h *Harness) writeSVG(file, caption string, render func(io.Writer) error) error {
	f, err := os.Create(filepath.Join(h.resultsDir, file))
	if err != nil {
		return err
	}
	if err := render(f); err != nil {
		f.Close()
		return err
	}
	h.res.Plots = append(h.res.Plots, report.Plot{File: file, Caption: caption})
	return f.Close()
}

// plots draws latency CDFs per stage, throughput and memory over time, and
// RSS per backend.
func (h *Harness) plots() error {
	var errs []error
	stagesDef := []struct{ file, title, from, to string }{
		{"producer", "producer: ready → edge append", "ready", StageEdge},
		{"forwarder", "forwarder: edge append → cloud append", StageEdge, StageCloud},
		{"ingest", "ingest: cloud append → HDFS durable", StageCloud, StageHDFS},
		{"end-to-end", "end to end: ready → HDFS durable", "ready", StageHDFS},
	}
	for _, br := range h.runs {
		for _, sd := range stagesDef {
			var series []svgplot.Series
			for _, size := range h.cfg.Sizes {
				x, y := stats.CDF(Latencies(br.ledger.Phase("steady/"+size), sd.from, sd.to))
				if len(x) > 0 {
					series = append(series, svgplot.Series{Name: size, X: x, Y: y, Step: true})
				}
			}
			c := svgplot.LineChart{Title: fmt.Sprintf("%s latency CDF (%s, steady phases)", sd.title, br.backend),
				XLabel: "ms (log scale)", YLabel: "fraction of pictures", Series: series, LogX: true, LegendBottom: true}
			errs = append(errs, h.writeSVG(fmt.Sprintf("latency-%s-%s.svg", sd.file, br.backend),
				fmt.Sprintf("Latency CDF, %s (%s)", sd.title, br.backend), c.Render))
		}
		errs = append(errs, h.writeSVG("throughput-"+br.backend+".svg", "Pictures per second reaching each stage during the steady phases ("+br.backend+")",
			h.throughputChart(br).Render))
		errs = append(errs, h.writeSVG("rss-"+br.backend+".svg", "Resident memory over time, largest instance per service, drains shaded ("+br.backend+")",
			h.rssChart(br).Render))
	}
	if len(h.runs) > 1 {
		errs = append(errs, h.writeSVG("rss-by-backend.svg", "Mean RSS per service and Kafka backend (steady phases)", h.rssBars().Render))
	}
	if len(h.res.Baselines.Sizes) > 0 {
		errs = append(errs, h.writeSVG("baselines.svg", "Drain throughput in MB/s: sensornode services vs baselines", h.baselineBars().Render))
	}
	return joinErrs(slices.DeleteFunc(errs, func(e error) bool { return e == nil }))
}

// throughputChart counts, per second of the steady phases, the pictures
// that reached each stage (the drains, thousands per second in bursts, are
// in the tables instead).
func (h *Harness) throughputChart(br *backendRun) svgplot.LineChart {
	var pics []Pic
	for _, p := range br.ledger.All() {
		if strings.HasPrefix(p.Phase, "steady/") {
			pics = append(pics, p)
		}
	}
	t0 := br.steadyWin[0]
	var series []svgplot.Series
	for _, st := range []struct{ name, stage string }{{"ready", "ready"}, {"edge", StageEdge}, {"cloud", StageCloud}, {"HDFS", StageHDFS}} {
		counts := map[int]int{}
		maxSec := 0
		for _, p := range pics {
			t := p.Ready
			if st.stage != "ready" {
				t = at(p, st.stage)
			}
			if t.IsZero() {
				continue
			}
			s := int(t.Sub(t0).Seconds())
			counts[s]++
			maxSec = max(maxSec, s)
		}
		if len(counts) == 0 {
			continue
		}
		var x, y []float64
		for s := 0; s <= maxSec; s++ {
			x = append(x, float64(s))
			y = append(y, float64(counts[s]))
		}
		series = append(series, svgplot.Series{Name: st.name, X: x, Y: y, Step: true})
	}
	return svgplot.LineChart{Title: "pictures per second reaching each stage, steady phases (" + br.backend + "; sizes " + strings.Join(h.cfg.Sizes, ", ") + " in turn)",
		XLabel: "seconds since the first steady phase began", YLabel: "pictures/s", Series: series, YFrom0: true}
}

func (h *Harness) rssChart(br *backendRun) svgplot.LineChart {
	from, to := br.start, br.end
	if to.IsZero() {
		to = time.Now()
	}
	perService := map[string]map[int]float64{}
	for _, sr := range h.sampler.Snapshot() {
		if !isService(sr.Service) {
			continue // the Java baselines are in the tables
		}
		for _, p := range sr.Points {
			if p.At.Before(from) || p.At.After(to) {
				continue
			}
			m, ok := perService[sr.Service]
			if !ok {
				m = map[int]float64{}
				perService[sr.Service] = m
			}
			s := int(p.At.Sub(from).Seconds())
			m[s] = math.Max(m[s], float64(p.RSSBytes)/(1<<20))
		}
	}
	names := make([]string, 0, len(perService))
	for n := range perService {
		names = append(names, n)
	}
	slices.Sort(names)
	var series []svgplot.Series
	for _, n := range names {
		var secs []int
		for s := range perService[n] {
			secs = append(secs, s)
		}
		slices.Sort(secs)
		var x, y []float64
		for i, s := range secs {
			if i > 0 && s-secs[i-1] > 3 { // not running meanwhile: break the line
				x, y = append(x, float64(s-1)), append(y, math.NaN())
			}
			x = append(x, float64(s))
			y = append(y, perService[n][s])
		}
		series = append(series, svgplot.Series{Name: n, X: x, Y: y})
	}
	h.mu.Lock()
	timeline := append([]span(nil), h.timeline...)
	h.mu.Unlock()
	var marks []svgplot.Span
	for _, s := range drainSpans(timeline, br.backend, from, to) {
		marks = append(marks, svgplot.Span{Label: s.Label, From: s.From, To: s.To})
	}
	return svgplot.LineChart{Title: "RSS over time, largest instance per service, drains shaded (" + br.backend + ")", XLabel: "seconds since the backend's start", YLabel: "MiB",
		Series: series, YFrom0: true, Spans: marks}
}

func (h *Harness) rssBars() svgplot.BarChart {
	c := svgplot.BarChart{Title: "mean RSS per instance, steady phases", YLabel: "MiB"}
	services := []string{pipeline.CameraProducer, pipeline.TempProducer, pipeline.EdgeForwarder, pipeline.CloudIngest}
	for _, br := range h.runs {
		c.Keys = append(c.Keys, br.backend)
	}
	for _, s := range services {
		g := svgplot.Group{Name: s}
		for _, br := range h.runs {
			v := math.NaN()
			for _, u := range br.result.Usage {
				if u.Service == s {
					v = u.RSSMean / (1 << 20)
				}
			}
			g.Values = append(g.Values, v)
		}
		c.Groups = append(c.Groups, g)
	}
	return c
}

func (h *Harness) baselineBars() svgplot.BarChart {
	c := svgplot.BarChart{Title: "drain throughput, MB/s of pictures (" + h.runs[0].backend + " backend for the services)", YLabel: "MB/s",
		Keys: []string{"camera-producer", "ProducerPerformance", "edge-forwarder", "MirrorMaker 2", "cloud-ingest-hdfs", "plain HDFS client"}}
	br := h.runs[0]
	for _, sb := range h.res.Baselines.Sizes {
		g := svgplot.Group{Name: sb.Size, Values: []float64{math.NaN(), math.NaN(), math.NaN(), math.NaN(), math.NaN(), math.NaN()}}
		for _, sr := range br.result.Sizes {
			if sr.Size == sb.Size && sr.Drain != nil {
				g.Values[0], g.Values[2], g.Values[4] = sr.Drain.Producer.MBPerSec, sr.Drain.Forwarder.MBPerSec, sr.Drain.Ingest.MBPerSec
			}
		}
		if sb.Perf != nil && sb.Perf.Err == "" {
			g.Values[1] = sb.Perf.Result.RecordsPerSec * float64(sb.RecordBytes) / 1e6
		}
		if sb.Mirror != nil && sb.Mirror.Drain.N > 0 {
			g.Values[3] = sb.Mirror.Drain.MBPerSec
		}
		if sb.RawHDFS != nil && sb.RawHDFS.Err == "" {
			g.Values[5] = sb.RawHDFS.MBPerSec
		}
		c.Groups = append(c.Groups, g)
	}
	return c
}
