package harness

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sensornode/sensornode/libs/hdfsretry"
	"github.com/sensornode/sensornode/loadtest/perfparse"
	"github.com/sensornode/sensornode/loadtest/pipeline"
	"github.com/sensornode/sensornode/loadtest/report"
	"github.com/sensornode/sensornode/loadtest/stats"
)

// headToHead writes pictures at the steady rate into camera 1 while both
// edge-forwarder and MirrorMaker 2 run, and compares their latency.
func (br *backendRun) headToHead(ctx context.Context, size string, m *report.Mirror, mm *pipeline.Proc, fwName string) error {
	h := br.h
	phase := "h2h/" + size
	n := max(10, int(math.Round(h.cfg.Rate*h.cfg.HeadToHead.Seconds())))
	interval := time.Duration(float64(time.Second) / h.cfg.Rate)
	h.progress("%s %s: edge-forwarder and MirrorMaker 2 side by side, %d pictures at %g/s", br.backend, phase, n, h.cfg.Rate)
	start := time.Now()
	next := start
	for range n {
		if d := time.Until(next); d > 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(d):
			}
		}
		if err := br.drop(1, size, phase); err != nil {
			return err
		}
		next = next.Add(interval)
	}
	if err := br.waitArrived(ctx, phase, StageCloud, h.cfg.ArrivalTimeout); err != nil {
		return err
	}
	if err := br.waitArrived(ctx, phase, StageMirror, h.cfg.ArrivalTimeout); err != nil {
		return err
	}
	end := time.Now()
	h.mark(br.backend, phase, start, end)
	pics := br.ledger.Phase(phase)
	m.ForwarderLatency = stats.Summarize(Latencies(pics, StageEdge, StageCloud))
	m.MirrorLatency = stats.Summarize(Latencies(pics, StageEdge, StageMirror))
	m.ForwarderUsage = br.procUsage(fwName, start, end)
	m.MirrorUsage = br.procUsage(mm.Spec.Name, start, end)
	h.progress("%s %s: edge → cloud p50/p99 forwarder %.1f/%.1f ms, MirrorMaker 2 %.1f/%.1f ms", br.backend, phase,
		m.ForwarderLatency.P50, m.ForwarderLatency.P99, m.MirrorLatency.P50, m.MirrorLatency.P99)
	return nil
}

// javaSpec runs a Java main class on the cluster's Kafka classpath.
func (br *backendRun) javaSpec(name, service string, heap []string, log4j, mainClass string, args ...string) (pipeline.Spec, error) {
	cl := br.d.Cluster
	if cl.KafkaClasspath == "" {
		return pipeline.Spec{}, errors.New("no Kafka classpath: set SENSORNODE_LOADTEST_KAFKA_CLASSPATH (devstack provides one)")
	}
	java := cl.Java
	if java == "" {
		java = "java"
	}
	argv := append(append([]string{}, heap...), "-XX:+UseG1GC", "-Djava.awt.headless=true",
		"-Dlog4j.configuration=file:"+log4j, "-cp", cl.KafkaClasspath, mainClass)
	return pipeline.Spec{
		Name: name, Service: service, Path: java, Args: append(argv, args...),
		Env: []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "LANG=C.UTF-8"},
		Dir: br.d.WorkDir, Log: filepath.Join(br.d.LogDir, name+".log"),
	}, nil
}

const toolsLog4j = `log4j.rootLogger=WARN, stderr
log4j.appender.stderr=org.apache.log4j.ConsoleAppender
log4j.appender.stderr.Target=System.err
log4j.appender.stderr.layout=org.apache.log4j.PatternLayout
log4j.appender.stderr.layout.ConversionPattern=[%d] %p %m (%c)%n
`

const mirrorLog4j = `log4j.rootLogger=INFO, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.org.apache.kafka.clients=WARN
log4j.logger.org.apache.kafka.common=WARN
log4j.logger.org.reflections=ERROR
`

// writeConf writes a configuration file (0600: it may hold a password).
func (br *backendRun) writeConf(name, content string) (string, error) {
	dir := filepath.Join(br.d.WorkDir, "conf")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	p := filepath.Join(dir, name)
	return p, os.WriteFile(p, []byte(content), 0o600)
}

func propsText(props map[string]string, prefix string) string {
	keys := make([]string, 0, len(props))
	for k := range props {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%s%s = %s\n", prefix, k, props[k])
	}
	return b.String()
}

// startMirror starts MirrorMaker 2 in dedicated mode mirroring the drain
// topic of size from the edge to the cloud (as edge.<topic>, created by the
// harness beforehand with LogAppendTime).
func (br *backendRun) startMirror(size string) (*pipeline.Proc, error) {
	cl := br.d.Cluster
	edge, err := pipeline.JavaClientProps(cl.Edge)
	if err != nil {
		return nil, err
	}
	cloud, err := pipeline.JavaClientProps(cl.Cloud)
	if err != nil {
		return nil, err
	}
	rf := strconv.Itoa(cl.CloudRF)
	name := br.d.Prefix + "mm2-" + size
	flow := map[string]string{
		"enabled": "true", "topics": regexp.QuoteMeta(br.drainTopic(size)), "group.id": name,
		"offset.storage.topic": name + "-offsets", "config.storage.topic": name + "-configs", "status.storage.topic": name + "-status",
	}
	common := map[string]string{
		"clusters": mirrorAlias + ", cloud", "cloud->" + mirrorAlias + ".enabled": "false",
		"replication.factor": rf, "checkpoints.topic.replication.factor": rf, "heartbeats.topic.replication.factor": rf,
		"offset-syncs.topic.replication.factor": rf, "offset-syncs.topic.location": "target",
		"offset.storage.replication.factor": rf, "config.storage.replication.factor": rf, "status.storage.replication.factor": rf,
		"emit.heartbeats.enabled": "false", "emit.checkpoints.enabled": "false", "sync.group.offsets.enabled": "false",
		"sync.topic.acls.enabled": "false", "sync.topic.configs.enabled": "false",
		"refresh.topics.enabled": "false", "refresh.groups.enabled": "false", "tasks.max": "1",
		"plugin.discovery":                                  "service_load",
		"cloud.producer.acks":                               "all",
		"cloud.producer.enable.idempotence":                 "true",
		"cloud.producer.max.request.size":                   "8388608",
		mirrorAlias + ".consumer.max.partition.fetch.bytes": "8388608",
		mirrorAlias + ".consumer.fetch.max.bytes":           "16777216",
	}
	text := propsText(common, "") + propsText(edge, mirrorAlias+".") + propsText(cloud, "cloud.") + propsText(flow, mirrorAlias+"->cloud.")
	conf, err := br.writeConf("mm2-"+size+".properties", text)
	if err != nil {
		return nil, err
	}
	l4j, err := br.writeConf("mm2-log4j.properties", mirrorLog4j)
	if err != nil {
		return nil, err
	}
	// The heap of connect-mirror-maker.sh, what a user of the distribution gets.
	spec, err := br.javaSpec("mirrormaker2-"+size, "mirrormaker2", []string{"-Xms256m", "-Xmx2g"}, l4j,
		"org.apache.kafka.connect.mirror.MirrorMaker", conf)
	if err != nil {
		return nil, err
	}
	return br.group.Start(spec)
}

// producerPerf runs Kafka's ProducerPerformance: n records of recordBytes
// to a 1-partition edge topic, acks=all, idempotent, as fast as it can.
func (br *backendRun) producerPerf(ctx context.Context, size string, recordBytes, n int) *report.Perf {
	out := &report.Perf{}
	props, err := pipeline.JavaClientProps(br.d.Cluster.Edge)
	if err != nil {
		out.Err = err.Error()
		return out
	}
	props["acks"] = "all"
	props["enable.idempotence"] = "true"
	props["max.request.size"] = "8388608"
	conf, err := br.writeConf("producer-perf-"+size+".properties", propsText(props, ""))
	if err != nil {
		out.Err = err.Error()
		return out
	}
	l4j, err := br.writeConf("tools-log4j.properties", toolsLog4j)
	if err != nil {
		out.Err = err.Error()
		return out
	}
	// The heap of kafka-producer-perf-test.sh.
	spec, err := br.javaSpec("producer-perf-"+size, "producer-performance", []string{"-Xmx512m"}, l4j,
		"org.apache.kafka.tools.ProducerPerformance", "--topic", br.perfTopic(size), "--num-records", strconv.Itoa(n),
		"--record-size", strconv.Itoa(recordBytes), "--throughput", "-1", "--producer.config", conf)
	if err != nil {
		out.Err = err.Error()
		return out
	}
	p, err := pipeline.Start(spec)
	if err != nil {
		out.Err = err.Error()
		return out
	}
	br.h.sampler.Track(spec.Name, spec.Service, p.PID())
	select {
	case <-p.Done():
	case <-time.After(br.h.cfg.ArrivalTimeout):
		_ = p.Stop(5 * time.Second)
		out.Err = fmt.Sprintf("did not finish within %v", br.h.cfg.ArrivalTimeout)
	case <-ctx.Done():
		_ = p.Stop(5 * time.Second)
		out.Err = ctx.Err().Error()
	}
	out.Usage = br.drainUsage(spec.Name, p.Started(), time.Now())
	logText, _ := os.ReadFile(spec.Log)
	if out.Err == "" && p.ExitErr() != nil {
		out.Err = fmt.Sprintf("%v: %s", p.ExitErr(), tail(spec.Log, 5))
	}
	if out.Err == "" {
		res, err := perfparse.Parse(string(logText))
		if err != nil {
			out.Err = fmt.Sprintf("%v: %s", err, tail(spec.Log, 5))
		}
		out.Result = res
	}
	return out
}

// rawHDFS writes the same pictures with a plain HDFS client, one after the
// other (create, write, close), and measures files/s and per-file time.
func (br *backendRun) rawHDFS(ctx context.Context, size string, pics []Pic) (report.Rate, stats.Summary) {
	dir := br.d.HDFSRoot + "/raw/" + size
	r := report.Rate{}
	if err := br.h.hdfs.MkdirAll(dir, 0o755); err != nil {
		r.Err = err.Error()
		return r, stats.Summary{}
	}
	var lat []float64
	start := time.Now()
	for _, p := range pics {
		data := br.h.factory.Picture(p.Size, p.Camera, p.Seq)
		t0 := time.Now()
		w, err := br.h.hdfs.Create(dir + "/" + p.Key + ".jpg")
		if err == nil {
			if _, err = w.Write(data); err != nil {
				w.Close()
			} else {
				cctx, cancel := context.WithTimeout(ctx, time.Minute)
				err = hdfsretry.Close(w, time.Second, hdfsretry.UntilDone(cctx))
				cancel()
			}
		}
		if err != nil {
			r.Err = err.Error()
			return r, stats.Summarize(lat)
		}
		lat = append(lat, float64(time.Since(t0))/float64(time.Millisecond))
		r.N++
		r.Bytes += int64(len(data))
	}
	secs := time.Since(start).Seconds()
	r.Seconds = secs
	r.PerSec = float64(r.N) / secs
	r.MBPerSec = float64(r.Bytes) / 1e6 / secs
	return r, stats.Summarize(lat)
}
