package report

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"

	"github.com/sensornode/sensornode/loadtest/stats"
)

// Thesis figures (Raspberry Pi 2, Java, Kafka 0.9; mean of 10 pictures):
// Table 5.1 producer and Table 5.2 forwarder processing time in ms. Images
// above 1280x720 hit Kafka's buffer-size error, so there is no figure.
var (
	Thesis51 = map[string]float64{"320x188": 18.8, "640x480": 76.6, "1280x720": 344.8}
	Thesis52 = map[string]float64{"320x188": 4.6, "640x480": 21, "1280x720": 57.9}
)

// Render writes r as Markdown.
func Render(w io.Writer, r *Result) error {
	var b strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	status := "PASSED"
	if !r.Passed() {
		status = "FAILED"
	}
	p("# sensornode load test: %s profile, %s\n\n", r.Profile, status)
	p("Started %s, finished %s (%s).\n\n", r.Started.UTC().Format("2006-01-02 15:04:05 UTC"),
		r.Finished.UTC().Format("15:04:05 UTC"), r.Finished.Sub(r.Started).Round(1e9))
	p("Command: `%s`\n\n", r.Command)
	renderFailures(&b, r)
	renderHeadline(&b, r)
	renderMachine(&b, r)
	renderSettings(&b, r)
	for _, be := range r.Backends {
		renderBackend(&b, r, be)
	}
	renderRSSByBackend(&b, r)
	renderMemory(&b, r)
	renderBaselines(&b, r)
	renderThesis(&b)
	renderCompleteness(&b, r)
	if len(r.Plots) > 0 {
		p("## Plots\n\n")
		for _, pl := range r.Plots {
			p("### %s\n\n![%s](%s)\n\n", pl.Caption, pl.Caption, pl.File)
		}
	}
	if len(r.Files) > 0 {
		p("## Raw data\n\n")
		for _, f := range r.Files {
			p("- `%s`\n", f)
		}
		p("\n")
	}
	renderMethod(&b)
	_, err := io.WriteString(w, b.String())
	return err
}

func renderFailures(b *strings.Builder, r *Result) {
	if len(r.Failures) == 0 && len(r.Notes) == 0 {
		fmt.Fprintf(b, "No failures: every picture written for the pipeline arrived in HDFS exactly once and intact, every drain picture on its cloud topic, every temperature reading in HDFS once; no service crashed.\n\n")
		return
	}
	if len(r.Failures) > 0 {
		fmt.Fprintf(b, "## Failures\n\n")
		for _, f := range r.Failures {
			fmt.Fprintf(b, "- %s\n", oneLine(f))
		}
		fmt.Fprintf(b, "\n")
	}
	if len(r.Notes) > 0 {
		fmt.Fprintf(b, "## Problems and notes\n\n")
		for _, f := range r.Notes {
			fmt.Fprintf(b, "- %s\n", oneLine(f))
		}
		fmt.Fprintf(b, "\n")
	}
}

// renderHeadline picks the figures worth quoting: end-to-end latency and
// drain capacity at 640x480 (the thesis's camera size), or the first size.
func renderHeadline(b *strings.Builder, r *Result) {
	if len(r.Backends) == 0 {
		return
	}
	fmt.Fprintf(b, "## Headline\n\n")
	fmt.Fprintf(b, "| backend | size | end-to-end p50 / p99 (ms) | producer mean (ms) | forwarder mean (ms) | delivered pictures/s | producer drain pictures/s | forwarder drain pictures/s | ingest drain pictures/s | ingest / forwarder drain | complete |\n")
	fmt.Fprintf(b, "|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, be := range r.Backends {
		for _, sr := range be.Sizes {
			if sr.Steady == nil {
				continue
			}
			st := sr.Steady
			var pd, fd, id, rt string = "—", "—", "—", "—"
			if sr.Drain != nil {
				pd, fd = rate(sr.Drain.Producer), rate(sr.Drain.Forwarder)
				id, rt = storeCells(sr.Drain)
			}
			fmt.Fprintf(b, "| %s | %s | %s / %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", be.Backend, sr.Size,
				ms(st.Stages.EndToEnd.P50, st.Stages.EndToEnd.N), ms(st.Stages.EndToEnd.P99, st.Stages.EndToEnd.N),
				ms(st.Stages.Producer.Mean, st.Stages.Producer.N), ms(st.Stages.Forwarder.Mean, st.Stages.Forwarder.N),
				f1(st.PicturesPerSec), pd, fd, id, rt, yesno(st.Completeness.OK()))
		}
	}
	fmt.Fprintf(b, "\n")
}

// storeCells are the ingest drain rate and its ratio to the forwarder's,
// per store ("files 120.5, avro 980.1").
func storeCells(d *Drain) (rates, ratios string) {
	if len(d.Stores) == 0 {
		return rate(d.Ingest), ratio(d.Ingest.PerSec, d.Forwarder.PerSec, d.Ingest.Err+d.Forwarder.Err)
	}
	var rs, qs []string
	for _, sd := range d.Stores {
		rs = append(rs, sd.Store+" "+rate(sd.Ingest))
		qs = append(qs, sd.Store+" "+times(sd.RatioToForwarder))
	}
	return strings.Join(rs, ", "), strings.Join(qs, ", ")
}

// times is a ratio as "0.95×", "—" when unknown.
func times(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "—"
	}
	return fmt.Sprintf("%.2f×", v)
}

func renderMachine(b *strings.Builder, r *Result) {
	m, v := r.Machine, r.Versions
	fmt.Fprintf(b, "## Machine and versions\n\n")
	fmt.Fprintf(b, "| | |\n|---|---|\n")
	fmt.Fprintf(b, "| CPU | %s, %d logical CPUs |\n", m.CPUModel, m.CPUs)
	fmt.Fprintf(b, "| RAM | %.1f GiB |\n", float64(m.MemBytes)/(1<<30))
	fmt.Fprintf(b, "| kernel | %s |\n", m.Kernel)
	fmt.Fprintf(b, "| load average at start / end (1, 5, 15 min) | %.2f %.2f %.2f / %.2f %.2f %.2f |\n",
		m.LoadStart[0], m.LoadStart[1], m.LoadStart[2], m.LoadEnd[0], m.LoadEnd[1], m.LoadEnd[2])
	fmt.Fprintf(b, "| Go | %s |\n| Java | %s |\n| Kafka (brokers, tools) | %s |\n| Hadoop | %s |\n", v.Go, v.Java, v.Kafka, v.Hadoop)
	fmt.Fprintf(b, "| confluent-kafka-go / librdkafka | %s / %s |\n| franz-go | %s |\n| colinmarc/hdfs | %s |\n", v.Confluent, v.Librdkafka, v.FranzGo, v.ColinmarcFS)
	fmt.Fprintf(b, "| sensornode git revision | %s |\n\n", v.Git)
	fmt.Fprintf(b, "Everything (ZooKeeper, 3 edge brokers, the cloud broker, NameNode, DataNode, the services and the harness) ran on this one machine, so the services compete with the JVMs for the same cores: the figures are a lower bound for what the services do on their own.\n\n")
}

func renderSettings(b *strings.Builder, r *Result) {
	s := r.Settings
	fmt.Fprintf(b, "## Settings\n\n")
	fmt.Fprintf(b, "| | |\n|---|---|\n")
	fmt.Fprintf(b, "| cluster | %s |\n", s.Cluster)
	fmt.Fprintf(b, "| cameras (one camera-producer each, directory source) | %d |\n", s.Cameras)
	fmt.Fprintf(b, "| offered rate | %g pictures/s per camera, %g pictures/s in total |\n", s.RatePerCamera, s.RatePerCamera*float64(s.Cameras))
	fmt.Fprintf(b, "| steady phase per size | %s |\n", s.SteadyDuration)
	fmt.Fprintf(b, "| message form | %s |\n", s.Form)
	fmt.Fprintf(b, "| sizes | %s |\n", strings.Join(s.Sizes, ", "))
	fmt.Fprintf(b, "| Kafka backends | %s |\n", strings.Join(s.Backends, ", "))
	if len(s.Stores) > 0 {
		age, size := "60s (default)", "128 MiB (default)"
		if s.BundleMaxAge > 0 {
			age = s.BundleMaxAge.String()
		}
		if s.BundleMaxMB > 0 {
			size = fmt.Sprintf("%d MiB", s.BundleMaxMB)
		}
		fmt.Fprintf(b, "| cloud-ingest-hdfs picture stores | %s (steady phases on %s); bundles roll after %s or at %s |\n", strings.Join(s.Stores, ", "), s.Stores[0], age, size)
	}
	if s.DrainMB > 0 {
		fmt.Fprintf(b, "| drain backlogs per size | %d MB of pictures (at least 100 pictures), the same for every stage and store |\n", s.DrainMB)
	} else {
		fmt.Fprintf(b, "| backlog drains | off |\n")
	}
	fmt.Fprintf(b, "| edge topics | 1 partition each (the chart's `topics.partitions` default), replication factor %d, min.insync.replicas %d, acks=all, idempotent producers |\n", s.EdgeRF, s.EdgeMinISR)
	fmt.Fprintf(b, "| cloud topics | 1 partition each (the chart's `cloudTopics.partitions` default), so ingest writes one open bundle (one HDFS output stream; at a roll the previous bundle's queued blocks and close overlap the next one's); replication factor %d, TLS+SASL %t |\n", s.CloudRF, s.CloudTLS)
	fmt.Fprintf(b, "| temperature producers | %t |\n", s.TempProducers)
	fmt.Fprintf(b, "| topic prefix / HDFS root | `%s` / `%s` |\n\n", s.Prefix, s.HDFSRoot)
	if len(s.ServiceEnv) > 0 {
		fmt.Fprintf(b, "<details><summary>Service environment (secrets left out)</summary>\n\n")
		keys := make([]string, 0, len(s.ServiceEnv))
		for k := range s.ServiceEnv {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			fmt.Fprintf(b, "%s:\n\n```\n%s\n```\n\n", k, strings.Join(s.ServiceEnv[k], "\n"))
		}
		fmt.Fprintf(b, "</details>\n\n")
	}
}

func renderBackend(b *strings.Builder, r *Result, be Backend) {
	fmt.Fprintf(b, "## Kafka backend: %s\n\n", be.Backend)
	sizes := make([]string, 0, len(be.Sizes))
	for _, sr := range be.Sizes {
		sizes = append(sizes, sr.Size)
	}
	head := func(title string) {
		fmt.Fprintf(b, "%s\n\n| | %s |\n|---|%s\n", title, strings.Join(sizes, " | "), strings.Repeat("---|", len(sizes)))
	}
	row := func(name string, f func(SizeResult) string) {
		cells := make([]string, len(be.Sizes))
		for i, sr := range be.Sizes {
			cells[i] = f(sr)
		}
		fmt.Fprintf(b, "| %s | %s |\n", name, strings.Join(cells, " | "))
	}
	stage := func(title string, pick func(Stages) stats.Summary, thesis map[string]float64, thesisName string) {
		head(title)
		if thesis != nil {
			row(thesisName, func(sr SizeResult) string {
				if v, ok := thesis[sr.Size]; ok {
					return f1(v)
				}
				if sr.Size == "1920x1080" {
					return "— (Kafka buffer-size error)"
				}
				return "—"
			})
		}
		get := func(sr SizeResult) (stats.Summary, bool) {
			if sr.Steady == nil {
				return stats.Summary{}, false
			}
			return pick(sr.Steady.Stages), true
		}
		row("sensornode: mean (n)", func(sr SizeResult) string {
			s, ok := get(sr)
			if !ok || s.N == 0 {
				return "—"
			}
			return fmt.Sprintf("**%s** (%d)", f1(s.Mean), s.N)
		})
		row("p50 / p95 / p99", func(sr SizeResult) string {
			s, ok := get(sr)
			if !ok || s.N == 0 {
				return "—"
			}
			return fmt.Sprintf("%s / %s / %s", f1(s.P50), f1(s.P95), f1(s.P99))
		})
		row("min / max", func(sr SizeResult) string {
			s, ok := get(sr)
			if !ok || s.N == 0 {
				return "—"
			}
			return fmt.Sprintf("%s / %s", f1(s.Min), f1(s.Max))
		})
		if thesis != nil {
			row("thesis / sensornode mean", func(sr SizeResult) string {
				s, ok := get(sr)
				v, ok2 := thesis[sr.Size]
				if !ok || !ok2 || s.N == 0 || s.Mean <= 0 {
					return "—"
				}
				return fmt.Sprintf("%.1f×", v/s.Mean)
			})
		}
		fmt.Fprintf(b, "\n")
	}
	stage("### Producer: picture ready → edge topic (like Table 5.1), ms", func(s Stages) stats.Summary { return s.Producer }, Thesis51, "thesis, Raspberry Pi 2 (Table 5.1)")
	stage("### Forwarder: edge topic → cloud topic (like Table 5.2), ms", func(s Stages) stats.Summary { return s.Forwarder }, Thesis52, "thesis, Raspberry Pi 2 (Table 5.2)")
	stage("### Ingest: cloud topic → durable in HDFS, ms", func(s Stages) stats.Summary { return s.Ingest }, nil, "")
	stage("### End to end: picture ready → durable in HDFS, ms", func(s Stages) stats.Summary { return s.EndToEnd }, nil, "")

	head("### Throughput")
	row("mean picture / record bytes", func(sr SizeResult) string {
		return fmt.Sprintf("%s / %s", bytesHuman(sr.MeanPictureBytes), bytesHuman(sr.MeanRecordBytes))
	})
	row("steady: offered → delivered pictures/s (MB/s)", func(sr SizeResult) string {
		if sr.Steady == nil {
			return "—"
		}
		return fmt.Sprintf("%s → %s (%s)", f1(sr.Steady.OfferedPerSec), f1(sr.Steady.PicturesPerSec), f2(sr.Steady.MBPerSec))
	})
	row("steady: store; NameNode objects per picture, JMX (store listing)", func(sr SizeResult) string {
		if sr.Steady == nil || sr.Steady.NameNode == nil {
			return "—"
		}
		return sr.Steady.Store + "; " + objects(*sr.Steady.NameNode)
	})
	row("steady: machine saturated", func(sr SizeResult) string {
		if sr.Steady == nil || sr.Steady.Saturation == nil {
			return "—"
		}
		if sr.Steady.Saturation.Saturated {
			return "**yes** (below)"
		}
		return "no"
	})
	drainRow := func(name string, f func(*Drain) Rate) {
		row(name, func(sr SizeResult) string {
			if sr.Drain == nil {
				return "—"
			}
			return rateMB(f(sr.Drain))
		})
	}
	drainRow("drain: camera-producer pictures/s (MB/s)", func(d *Drain) Rate { return d.Producer })
	drainRow("drain: edge-forwarder pictures/s (MB/s)", func(d *Drain) Rate { return d.Forwarder })
	drainRow("drain: cloud-ingest-hdfs pictures/s (MB/s)", func(d *Drain) Rate { return d.Ingest })
	fmt.Fprintf(b, "\n")
	for _, sr := range be.Sizes {
		if sr.Steady != nil && sr.Steady.Saturation != nil && sr.Steady.Saturation.Saturated {
			fmt.Fprintf(b, "Saturated at %s while the pictures were written:\n\n", sr.Size)
			for _, r := range sr.Steady.Saturation.Reasons {
				fmt.Fprintf(b, "- %s\n", oneLine(r))
			}
			fmt.Fprintf(b, "\n")
		}
	}
	renderStoreDrains(b, be)

	if len(be.Usage) > 0 {
		fmt.Fprintf(b, "### CPU and memory over the steady phases\n\n")
		fmt.Fprintf(b, "| service | instances | CPU per instance (cores) | RSS mean (MiB) | RSS max (MiB) |\n|---|---|---|---|---|\n")
		for _, u := range be.Usage {
			fmt.Fprintf(b, "| %s | %d | %s | %s | %s |\n", u.Service, u.Instances, f3(u.CPUCores), mib(u.RSSMean), mib(float64(u.RSSMax)))
		}
		fmt.Fprintf(b, "\n")
	}
	c := be.Completeness
	fmt.Fprintf(b, "Completeness (%s): %d pictures written for HDFS (steady phases and ingest drains), %d there, %d missing, %d unexpected files, %d size mismatches, %d read back with %d checksum mismatches; %d Kafka drain and head-to-head pictures, %d of them missing on the cloud; duplicates on the edge %d, on the cloud %d (at-least-once on Kafka, collapsed by key in HDFS).",
		be.Backend, c.Produced, c.HDFS, c.Missing, c.Unexpected, c.SizeMismatch, c.Verified, c.ChecksumMismatch, c.CloudFinal, c.CloudFinalMissing, c.EdgeDuplicates, c.CloudDuplicates)
	if rd := be.Readings; rd.Edge > 0 || rd.HDFS > 0 {
		fmt.Fprintf(b, " Temperature readings (by identity: node, read second, source, value): %d on the edge topic, %d in HDFS, %d missing (%d lost, %d not yet written, %d not yet forwarded), %d duplicated, %d unexpected; %d more edge readings shared an identity with another (one reading, stored once).",
			rd.Edge, rd.HDFS, rd.Missing, rd.Lost, rd.NotWritten, rd.NotForwarded, rd.Duplicates, rd.Unexpected, rd.EdgeSameIdentity)
	}
	fmt.Fprintf(b, "\n\n")
}

// renderStoreDrains is cloud-ingest-hdfs draining the same backlog as the
// forwarder into each picture store: rate, ratio, NameNode objects per
// picture, peak RSS (issue 13).
func renderStoreDrains(b *strings.Builder, be Backend) {
	found := false
	for _, sr := range be.Sizes {
		found = found || sr.Drain != nil && len(sr.Drain.Stores) > 0
	}
	if !found {
		return
	}
	fmt.Fprintf(b, "### Ingest drains by picture store\n\n")
	fmt.Fprintf(b, "cloud-ingest-hdfs drains the same backlog (megabytes) as the edge-forwarder, once per store. NameNode objects are files (inodes, directories included) plus blocks: from the NameNode's JMX before the drain and after every picture was committed (bundles rolled, indexes and the schema file included), and by listing the store's directory (only this run's objects; the JMX figure counts every client of the NameNode, the run's temperature files too). Peak RSS is the highest sample of cloud-ingest-hdfs's RSS during the drain (every second and at its end). In the bundle store the rate is over the bundles rolled by size: the last bundle holds the backlog's remainder and rolls by age however fast the ingest read it, so when at least two bundles came between the first and it, its pictures and its wait are shown apart and left out of the rate.\n\n")
	fmt.Fprintf(b, "| size | store | pictures | ingest pictures/s (MB/s) | forwarder pictures/s | ingest / forwarder | NameNode objects per picture: JMX (store listing) | peak RSS (MiB) |\n|---|---|---|---|---|---|---|---|\n")
	for _, sr := range be.Sizes {
		if sr.Drain == nil {
			continue
		}
		for _, sd := range sr.Drain.Stores {
			store := sd.Store
			switch {
			case sd.BundleMaxAge > 0 && sd.BundleMaxMB > 0:
				store += fmt.Sprintf(" (roll %s or %d MiB)", sd.BundleMaxAge, sd.BundleMaxMB)
			case sd.BundleMaxAge > 0:
				store += fmt.Sprintf(" (roll %s)", sd.BundleMaxAge)
			case sd.BundleMaxMB > 0:
				store += fmt.Sprintf(" (roll %d MiB)", sd.BundleMaxMB)
			}
			fmt.Fprintf(b, "| %s | %s | %d | %s | %s | %s | %s | %s |\n", sr.Size, store, sd.Ingest.N, rateMB(sd.Ingest),
				rate(sr.Drain.Forwarder), times(sd.RatioToForwarder), objects(sd.NameNode), usageMax(sd.Ingest.Usage))
		}
	}
	fmt.Fprintf(b, "\n")
}

// objects is NameNode objects per picture: "JMX (store listing)".
func objects(o NameNodeObjects) string {
	switch {
	case o.Err != "":
		return "failed: " + oneLine(o.Err)
	case o.Pictures == 0:
		return "—"
	}
	f4 := func(v float64) string {
		if math.IsNaN(v) {
			return "—"
		}
		return fmt.Sprintf("%.4f", v)
	}
	return fmt.Sprintf("%s (%s)", f4(o.PerPicture), f4(o.StorePerPicture))
}

// renderRSSByBackend puts each service's memory on both backends side by
// side (issue 8: 1 GB boards).
func renderRSSByBackend(b *strings.Builder, r *Result) {
	if len(r.Backends) < 2 {
		return
	}
	services := []string{}
	for _, be := range r.Backends {
		for _, u := range be.Usage {
			if !slices.Contains(services, u.Service) {
				services = append(services, u.Service)
			}
		}
	}
	slices.Sort(services)
	fmt.Fprintf(b, "## Memory by Kafka backend\n\nRSS of each service process during the steady phases (mean / max, MiB; per instance).\n\n| service |")
	for _, be := range r.Backends {
		fmt.Fprintf(b, " %s |", be.Backend)
	}
	fmt.Fprintf(b, "\n|---|%s\n", strings.Repeat("---|", len(r.Backends)))
	for _, s := range services {
		fmt.Fprintf(b, "| %s |", s)
		for _, be := range r.Backends {
			cell := "—"
			for _, u := range be.Usage {
				if u.Service == s {
					cell = fmt.Sprintf("%s / %s", mib(u.RSSMean), mib(float64(u.RSSMax)))
				}
			}
			fmt.Fprintf(b, " %s |", cell)
		}
		fmt.Fprintf(b, "\n")
	}
	fmt.Fprintf(b, "\n")
}

func renderBaselines(b *strings.Builder, r *Result) {
	if len(r.Baselines.Sizes) == 0 {
		return
	}
	fmt.Fprintf(b, "## Baselines on the same stack\n\n")
	drains := func(size string) []struct {
		backend string
		d       *Drain
	} {
		var out []struct {
			backend string
			d       *Drain
		}
		for _, be := range r.Backends {
			for _, sr := range be.Sizes {
				if sr.Size == size && sr.Drain != nil {
					out = append(out, struct {
						backend string
						d       *Drain
					}{be.Backend, sr.Drain})
				}
			}
		}
		return out
	}

	fmt.Fprintf(b, "### Producing: camera-producer vs Kafka's ProducerPerformance\n\n")
	fmt.Fprintf(b, "Both send records of the same size to a 1-partition edge topic (RF %d, acks=all, idempotence on). camera-producer gets its pictures as a burst of files in its spool directory (picks each up, reads it, encodes, sends, deletes it after the ack; time from the first file ready to the last append). ProducerPerformance (kafka-producer-perf-test, heap of its script: 512 MB) sends three times as many records of random bytes as fast as it can, so its JVM warm-up weighs little; its own figure.\n\n", r.Settings.EdgeRF)
	fmt.Fprintf(b, "| size | pictures / records | record bytes | ProducerPerformance records/s (MB/s) | p50 / p99 latency (ms) | RSS max (MiB) | camera-producer pictures/s (MB/s) | ratio camera-producer / ProducerPerformance |\n|---|---|---|---|---|---|---|---|\n")
	for _, sb := range r.Baselines.Sizes {
		pp := "—"
		lat := "—"
		rss := "—"
		var ppRate float64
		if sb.Perf != nil {
			if sb.Perf.Err != "" {
				pp = "failed: " + oneLine(sb.Perf.Err)
			} else {
				ppRate = sb.Perf.Result.RecordsPerSec
				pp = fmt.Sprintf("%s (%s)", f1(ppRate), f2(sb.Perf.Result.RecordsPerSec*float64(sb.RecordBytes)/1e6))
				lat = fmt.Sprintf("%s / %s", f1(sb.Perf.Result.P50Ms), f1(sb.Perf.Result.P99Ms))
			}
			if sb.Perf.Usage != nil {
				rss = mib(float64(sb.Perf.Usage.RSSMax))
			}
		}
		for _, d := range drains(sb.Size) {
			fmt.Fprintf(b, "| %s | %d / %d | %d | %s | %s | %s | %s: %s | %s |\n", sb.Size, sb.Pictures, sb.PerfRecords, sb.RecordBytes, pp, lat, rss,
				d.backend, rateMB(d.d.Producer), ratio(d.d.Producer.PerSec, ppRate, d.d.Producer.Err))
		}
		if len(drains(sb.Size)) == 0 {
			fmt.Fprintf(b, "| %s | %d / %d | %d | %s | %s | %s | — | — |\n", sb.Size, sb.Pictures, sb.PerfRecords, sb.RecordBytes, pp, lat, rss)
		}
	}
	fmt.Fprintf(b, "\n")

	fmt.Fprintf(b, "### Forwarding: edge-forwarder vs MirrorMaker 2\n\n")
	fmt.Fprintf(b, "Drain: each is started against the same backlog on an edge topic and forwards it to its own cloud topic (MirrorMaker 2 in dedicated mode, one task; a second edge-forwarder instance with its own group). Throughput counts the pictures after the first produce batch over the time from the first to the last arrival; startup is process start to first arrival. Head to head: afterwards both run at once and forward the same new pictures at the steady per-camera rate; latency is edge append → cloud append.\n\n")
	fmt.Fprintf(b, "| size | pictures | MirrorMaker 2 drain pictures/s (MB/s) | MM2 startup (s) | edge-forwarder drain pictures/s (MB/s) | forwarder startup (s) | ratio forwarder / MM2 | head to head p50 / p99 ms: forwarder | MirrorMaker 2 | RSS max MiB: forwarder | MirrorMaker 2 |\n|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, sb := range r.Baselines.Sizes {
		m := sb.Mirror
		if m == nil {
			continue
		}
		if m.Err != "" && m.Drain.N == 0 {
			fmt.Fprintf(b, "| %s | %d | failed: %s | | | | | | | | |\n", sb.Size, sb.Pictures, oneLine(m.Err))
			continue
		}
		var fwd Rate
		for _, d := range drains(sb.Size) {
			fwd = d.d.Forwarder // the baseline backend's run (first)
			break
		}
		fmt.Fprintf(b, "| %s | %d | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", sb.Size, sb.Pictures, rateMB(m.Drain), f1(m.Drain.StartupSeconds),
			rateMB(fwd), f1(fwd.StartupSeconds), ratio(fwd.PerSec, m.Drain.PerSec, fwd.Err+m.Drain.Err),
			p50p99(m.ForwarderLatency), p50p99(m.MirrorLatency), usageMax(m.ForwarderUsage), usageMax(m.MirrorUsage))
		if m.Err != "" {
			fmt.Fprintf(b, "\nMirrorMaker 2 at %s: %s\n\n", sb.Size, oneLine(m.Err))
		}
	}
	fmt.Fprintf(b, "\n")

	fmt.Fprintf(b, "### Writing HDFS: cloud-ingest-hdfs vs a plain Go client\n\n")
	fmt.Fprintf(b, "cloud-ingest-hdfs is stopped while the pictures flow through the pipeline to the cloud topic, then started: it drains them (consume, decode, write to a temporary name, close, rename, commit). The plain client (colinmarc/hdfs, one file at a time: create, write, close) then writes the same pictures.\n\n")
	fmt.Fprintf(b, "| size | pictures | plain client files/s (MB/s) | per-file p50 / p99 (ms) | cloud-ingest-hdfs pictures/s (MB/s) | ratio ingest / plain |\n|---|---|---|---|---|---|\n")
	for _, sb := range r.Baselines.Sizes {
		if sb.RawHDFS == nil {
			continue
		}
		raw := rateMB(*sb.RawHDFS)
		ds := drains(sb.Size)
		if len(ds) == 0 {
			fmt.Fprintf(b, "| %s | %d | %s | %s | — | — |\n", sb.Size, sb.HDFSFiles, raw, p50p99(sb.RawHDFSLatency))
		}
		for _, d := range ds {
			fmt.Fprintf(b, "| %s | %d | %s | %s | %s: %s | %s |\n", sb.Size, sb.HDFSFiles, raw, p50p99(sb.RawHDFSLatency), d.backend,
				rateMB(d.d.Ingest), ratio(d.d.Ingest.PerSec, sb.RawHDFS.PerSec, d.d.Ingest.Err+sb.RawHDFS.Err))
		}
	}
	fmt.Fprintf(b, "\n")
}

func renderThesis(b *strings.Builder) {
	fmt.Fprintf(b, "## The original's figures (reference only)\n\n")
	fmt.Fprintf(b, "Raspberry Pi 2 (4× Cortex-A7 900 MHz, 1 GB), Java producer and forwarder, Kafka 0.9, mean of 10 pictures (thesis Tables 5.1 and 5.2). Different hardware and a different definition (per-picture processing time inside the Java program), so compare orders of magnitude, not ratios.\n\n")
	fmt.Fprintf(b, "| ms | 320x188 | 640x480 | 1280x720 | 1920x1080 |\n|---|---|---|---|---|\n")
	fmt.Fprintf(b, "| producer: file → base64 → JSON → local topic (5.1) | 18.8 | 76.6 | 344.8 | Kafka buffer-size error |\n")
	fmt.Fprintf(b, "| forwarder: local topic → base64/JSON → cloud topic (5.2) | 4.6 | 21 | 57.9 | — |\n\n")
}

func renderCompleteness(b *strings.Builder, r *Result) {
	fmt.Fprintf(b, "## Completeness per phase\n\n")
	fmt.Fprintf(b, "Checked after every service stopped. steady: the pipeline at the offered rate; kdrain: Kafka drains and head to head (they end on a cloud topic, not in HDFS); hdrain: the ingest drain.\n\n")
	fmt.Fprintf(b, "| backend | phase | written | edge (dup) | cloud (dup) | for HDFS | in HDFS | missing | unexpected | size mismatch | read back (bad) |\n|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, be := range r.Backends {
		for _, ph := range be.Phases {
			c := ph.Completeness
			fmt.Fprintf(b, "| %s | %s | %d | %d (%d) | %d (%d) | %d | %d | %d | %d | %d | %d (%d) |\n", be.Backend, ph.Phase,
				c.Produced+c.CloudFinal, c.Edge, c.EdgeDuplicates, c.Cloud, c.CloudDuplicates, c.Produced, c.HDFS,
				c.Missing+c.CloudFinalMissing, c.Unexpected, c.SizeMismatch, c.Verified, c.ChecksumMismatch)
		}
	}
	fmt.Fprintf(b, "\n")
}

func renderMethod(b *strings.Builder) {
	fmt.Fprintf(b, "## How this was measured\n\n")
	fmt.Fprintf(b, "- The harness plays the camera: it writes each JPEG to a hidden name in a camera-producer's spool directory and renames it into place (*ready* = the rename). Pictures are realistic synthetic scenes (libs/messages/jpegsynth, quality 85), each made unique by a JPEG comment, so each has its own key.\n")
	fmt.Fprintf(b, "- Every topic the harness creates has `message.timestamp.type=LogAppendTime`, so each record carries the time its partition leader appended it. The harness consumes the edge and cloud topics and notes, per picture key, the edge and cloud append times; the HDFS time is the file's modification time, which the NameNode sets when the file is closed (complete and durable). Broker, NameNode and harness share one clock; broker and NameNode times have millisecond resolution.\n")
	fmt.Fprintf(b, "- Latency percentiles interpolate linearly between ranks. Drain throughput of a started process: the pictures that arrived after its first produce batch (records of one batch share one append time) over the time from the first to the last arrival; of camera-producer (fed a burst of files while running): all pictures over the time from the first file ready to the last append. MB are 10^6 bytes of JPEG.\n")
	fmt.Fprintf(b, "- CPU and RSS come from /proc/PID/stat and /proc/PID/status, sampled every second per process.\n")
	fmt.Fprintf(b, "- Completeness: every picture the harness wrote must be in HDFS exactly once (by key) with the same size; a sample is read back and its SHA-256 compared.\n")
}

func rate(r Rate) string {
	if r.Err != "" {
		return "failed"
	}
	if r.N == 0 {
		return "—"
	}
	if r.IncludesStartup {
		return "≥ " + f1(r.PerSec)
	}
	return f1(r.PerSec)
}

func rateMB(r Rate) string {
	if r.Err != "" {
		return "failed: " + oneLine(r.Err)
	}
	if r.N == 0 {
		return "—"
	}
	if r.IncludesStartup {
		return fmt.Sprintf("≥ %s (%s), one batch", f1(r.PerSec), f2(r.MBPerSec))
	}
	if r.TailN > 0 {
		return fmt.Sprintf("%s (%s); last bundle (%d, rolled by age) %s s later, left out", f1(r.PerSec), f2(r.MBPerSec), r.TailN, f2(r.TailSeconds))
	}
	return fmt.Sprintf("%s (%s)", f1(r.PerSec), f2(r.MBPerSec))
}

func ratio(a, b float64, errs string) string {
	if errs != "" || a <= 0 || b <= 0 || math.IsNaN(a) || math.IsNaN(b) {
		return "—"
	}
	return fmt.Sprintf("%.2f", a/b)
}

func p50p99(s stats.Summary) string {
	if s.N == 0 {
		return "—"
	}
	return fmt.Sprintf("%s / %s", f1(s.P50), f1(s.P99))
}

func usageMax(u *Usage) string {
	if u == nil {
		return "—"
	}
	return mib(float64(u.RSSMax))
}

func ms(v float64, n int) string {
	if n == 0 {
		return "—"
	}
	return f1(v)
}

func f1(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "—"
	}
	return fmt.Sprintf("%.1f", v)
}

func f2(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "—"
	}
	return fmt.Sprintf("%.2f", v)
}

func f3(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "—"
	}
	return fmt.Sprintf("%.3f", v)
}

func mib(v float64) string {
	if math.IsNaN(v) || v <= 0 {
		return "—"
	}
	return fmt.Sprintf("%.1f", v/(1<<20))
}

func bytesHuman(v float64) string {
	switch {
	case math.IsNaN(v) || v <= 0:
		return "—"
	case v >= 1<<20:
		return fmt.Sprintf("%.2f MiB", v/(1<<20))
	case v >= 1<<10:
		return fmt.Sprintf("%.1f KiB", v/(1<<10))
	}
	return fmt.Sprintf("%.0f B", v)
}

func yesno(b bool) string {
	if b {
		return "yes"
	}
	return "**NO**"
}

func oneLine(s string) string {
	s = strings.ReplaceAll(strings.TrimSpace(s), "\n", " ")
	s = strings.ReplaceAll(s, "|", "\\|")
	if len(s) > 600 {
		s = s[:600] + "…"
	}
	return s
}
