// Command fwddrain measures where edge-forwarder's memory goes while it
// drains a backlog (issue 14). It writes one backlog per picture size into
// an edge topic, then, round after round, starts the forwarder binary once
// per backend and configuration variant (interleaved, so that the shared
// machine's load falls on all of them alike) on a new consumer group and
// cloud topic, and measures, until the last picture reached the cloud:
//
//   - the drain rate (pictures/s from the first picture in the cloud to the
//     last) and the startup time;
//   - the process's RSS every 50 ms (/proc/PID/status: VmRSS, RssAnon,
//     RssFile) and, every 250 ms, its /metrics (the Go runtime's memory
//     classes, the Kafka clients' buffered bytes, the in-flight window);
//     the scrape nearest the RSS peak is the attribution;
//   - a heap profile near the peak (fetched whenever the RSS rises past
//     its highest so far by 2 MiB, one fetch at a time).
//
// The forwarder is started as the load test's drain phase starts its second
// one (pipeline.Deployment.ExtraForwarderSpec, pipeline.Start), with the
// variant's environment set last; /proc is read with loadtest/procfs. It is
// not a load test run: that measures the whole pipeline once per backend
// (one configuration per run, a drain of 1-2 s sampled each second), while
// this needs interleaved variants of one service, 50 ms samples and the
// runtime's memory classes at the peak.
//
// The JSON of every run goes to -out; the summary (medians, and each
// round's rate as a ratio to the first variant's in the same round) to
// stdout, again from a JSON file with -summarize. Pictures are random bytes
// of the given sizes: the forwarder passes bytes through untouched by
// default. A variant may name its own binary (name@path:), to compare
// builds. Every topic of the run is deleted at its end (each drain copies
// the backlog into a cloud topic of its own: tens of GB over many rounds).
//
//	go build -o /tmp/edge-forwarder ./services/edge-forwarder/cmd/edge-forwarder
//	go run ./loadtest/cmd/fwddrain -bin /tmp/edge-forwarder -backends confluent,franz \
//	    -sizes 79000,230000 -mb 48 -rounds 3 -variant 'before:' \
//	    -variant 'after:SENSORNODE_EDGE_KAFKA_QUEUE_MAX_BYTES=4194304' \
//	    -variant 'otherbuild@/tmp/edge-forwarder-2:' -out runs.json
//	go run ./loadtest/cmd/fwddrain -summarize runs.json -base before
package main

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sensornode/sensornode/libs/messages"
	"github.com/sensornode/sensornode/loadtest/harness"
	"github.com/sensornode/sensornode/loadtest/pipeline"
	"github.com/sensornode/sensornode/loadtest/procfs"
	"github.com/sensornode/sensornode/tools/devstack"
	"github.com/sensornode/sensornode/tools/localrun/promtext"
)

type variant struct {
	Name string
	Bin  string // empty: -bin
	Env  []string
}

type variants []variant

func (v *variants) String() string { return fmt.Sprint(*v) }
func (v *variants) Set(s string) error {
	name, env, err := harness.ParseEnvSpec(s)
	if err != nil {
		return fmt.Errorf("variant: %w", err)
	}
	name, bin, _ := strings.Cut(name, "@")
	*v = append(*v, variant{name, bin, env})
	return nil
}

// Peak is the process's memory at the /metrics scrape nearest its RSS
// peak, in bytes.
type Peak struct {
	RSS, RSSAnon, RSSFile float64
	// Go runtime (go_memstats_*): heap in use, heap idle not returned,
	// stacks, other runtime structures (sys minus heap and stacks), and
	// next_gc (the heap size the GC lets the heap grow to).
	HeapInuse, HeapIdleKept, Stacks, OtherSys, NextGC float64
	// KafkaBuffered per client (sensornode_kafka_client_buffered_bytes).
	KafkaBuffered map[string]float64
	InflightBytes float64
	At            float64 // seconds since start
}

// Run is one forwarder drain.
type Run struct {
	Round          int
	Backend        string
	Variant        string
	Bin            string
	Env            []string
	Size           int
	Pictures       int
	StartupSeconds float64
	DrainSeconds   float64
	PerSec         float64
	MBPerSec       float64
	PeakRSS        float64 // highest /proc sample, bytes
	PeakRSSAt      float64
	// HWM is the process's peak RSS (VmHWM) at its last sample: its peak
	// since start, which a spike shorter than the 50 ms samples (a Go
	// memory limit returns memory at once) does not escape. 0: unknown.
	HWM          float64
	RestRSS      float64 // first sample after /readyz
	Peak         Peak    // at the scrape with the highest RSS
	MaxHeapInuse float64
	MaxKafka     map[string]float64 // per client, highest seen
	HeapProfile  string
	Err          string `json:",omitempty"`
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "fwddrain:", err)
		os.Exit(1)
	}
}

func run() error {
	var vs variants
	bin := flag.String("bin", "", "edge-forwarder binary (required)")
	backends := flag.String("backends", "confluent,franz", "Kafka backends, comma separated")
	sizes := flag.String("sizes", "79000,230000", "picture sizes in bytes (640x480 ≈ 79000, 1280x720 ≈ 230000)")
	mb := flag.Int("mb", 48, "backlog per size in MB (at least 100 pictures)")
	rounds := flag.Int("rounds", 3, "rounds; each runs every backend x variant once")
	out := flag.String("out", "fwddrain.json", "JSON of every run")
	profiles := flag.String("profiles", "", "directory for heap profiles (empty: none)")
	statsEvery := flag.Duration("stats-interval", 500*time.Millisecond, "SENSORNODE_*_KAFKA_STATS_INTERVAL of the forwarder")
	timeout := flag.Duration("timeout", 3*time.Minute, "longest drain")
	flag.Var(&vs, "variant", "name[@binary]:KEY=V,KEY=V extra forwarder environment, and a binary other than -bin (repeatable; default one variant 'default')")
	summarize := flag.String("summarize", "", "print the summary of this -out file and exit (no run)")
	base := flag.String("base", "", "variant the same-round ratios are taken to (default: the first)")
	flag.Parse()
	if *summarize != "" {
		b, err := os.ReadFile(*summarize)
		if err != nil {
			return err
		}
		var runs []Run
		if err := json.Unmarshal(b, &runs); err != nil {
			return fmt.Errorf("%s: %w", *summarize, err)
		}
		if *base == "" && len(runs) > 0 {
			*base = runs[0].Variant
		}
		summary(os.Stdout, runs, *base)
		return nil
	}
	if *bin == "" {
		return errors.New("-bin is required")
	}
	if len(vs) == 0 {
		vs = variants{{Name: "default"}}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	st, err := devstack.Open(os.Getenv("SENSORNODE_DEVSTACK_DIR"))
	if err != nil {
		return err
	}
	cluster := pipeline.FromDevstack(st, false)
	edge := strings.Split(st.EdgeBootstrap(), ",")
	cloud := []string{st.CloudBootstrap()}
	ecl, err := kgo.NewClient(kgo.SeedBrokers(edge...), kgo.MaxBufferedBytes(64<<20),
		// As camera-producer: no compression (JPEG), batches of about 1 MB
		// (librdkafka's batch.size).
		kgo.ProducerBatchCompression(kgo.NoCompression()), kgo.ProducerBatchMaxBytes(1e6))
	if err != nil {
		return err
	}
	defer ecl.Close()
	ccl, err := kgo.NewClient(kgo.SeedBrokers(cloud...))
	if err != nil {
		return err
	}
	defer ccl.Close()
	eadm, cadm := kadm.NewClient(ecl), kadm.NewClient(ccl)
	prefix := fmt.Sprintf("fwddrain-%d-", time.Now().Unix())
	big := "9437184" // 9 MiB: room for the largest picture
	// Every topic goes when the run ends: a run copies its backlog into a
	// cloud topic per drain (tens of GB over a run of many rounds).
	defer deletePrefixed(eadm, prefix)
	defer deletePrefixed(cadm, prefix)
	tempTopic := prefix + "temp"
	if err := create(ctx, eadm, tempTopic, 3, map[string]*string{"min.insync.replicas": ptr("2")}); err != nil {
		return err
	}
	// The forwarders' cloud temperature topic (Deployment.CloudTempTopic):
	// the temperature topic stays empty.
	if err := create(ctx, cadm, prefix+messages.TopicTemperature, 1, nil); err != nil {
		return err
	}
	logDir, err := os.MkdirTemp("", "fwddrain-logs-")
	if err != nil {
		return err
	}
	defer os.Remove(logDir) // kept if a failed drain's log is in it
	var runs []Run
	for _, sz := range strings.Split(*sizes, ",") {
		size, err := strconv.Atoi(sz)
		if err != nil {
			return fmt.Errorf("size %q: %w", sz, err)
		}
		n := min(max(int(math.Ceil(float64(*mb)*1e6/float64(size))), 100), 10000)
		topic := prefix + "edge-" + sz
		if err := create(ctx, eadm, topic, 3, map[string]*string{"min.insync.replicas": ptr("2"), "max.message.bytes": &big}); err != nil {
			return err
		}
		if err := backlog(ctx, ecl, topic, n, size); err != nil {
			return err
		}
		// franz-go's fetch slots are shared by the brokers: whether the
		// pictures' leader is the idle temperature topic's matters.
		fmt.Fprintf(os.Stderr, "backlog %s: %d pictures of %d bytes; leaders: pictures %d, temperatures %d\n",
			topic, n, size, leader(ctx, eadm, topic), leader(ctx, eadm, tempTopic))
		for r := 1; r <= *rounds; r++ {
			for _, be := range strings.Split(*backends, ",") {
				for vi, v := range vs {
					name := fmt.Sprintf("%s-%s-%s-%d", sz, be, v.Name, r)
					ct := prefix + "cloud-" + strconv.Itoa(r) + "-" + be + "-" + strconv.Itoa(vi) + "-" + sz
					if err := create(ctx, cadm, ct, 1, map[string]*string{"max.message.bytes": &big}); err != nil {
						return err
					}
					prof := ""
					if *profiles != "" {
						prof = filepath.Join(*profiles, name+".heap.pb.gz")
					}
					// The load test's second forwarder (its drain phases),
					// with the variant's environment set last.
					b := cmp.Or(v.Bin, *bin)
					d := &pipeline.Deployment{Cluster: cluster, Bins: pipeline.Binaries{pipeline.EdgeForwarder: b}, Backend: be,
						Prefix: prefix, LogDir: logDir, Pprof: true, Extra: map[string][]string{pipeline.EdgeForwarder: append([]string{
							"SENSORNODE_EDGE_KAFKA_STATS_INTERVAL=" + statsEvery.String(),
							"SENSORNODE_CLOUD_KAFKA_STATS_INTERVAL=" + statsEvery.String(),
						}, v.Env...)}}
					res := drain(ctx, d.ExtraForwarderSpec(name, prefix+name, topic, ct, tempTopic), ccl, ct, n, *timeout, prof)
					res.Round, res.Backend, res.Variant, res.Bin, res.Env, res.Size, res.Pictures = r, be, v.Name, b, v.Env, size, n
					deleteTopics(cadm, ct)
					runs = append(runs, res)
					fmt.Fprintf(os.Stderr, "%s: %.0f pictures/s, peak RSS %.1f MiB (heap %.1f, kafka %v) %s\n",
						name, res.PerSec, res.PeakRSS/mib, res.Peak.HeapInuse/mib, mibs(res.Peak.KafkaBuffered), res.Err)
					if err := ctx.Err(); err != nil {
						return err
					}
				}
			}
		}
	}
	b, err := json.MarshalIndent(runs, "", " ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(*out, b, 0o644); err != nil {
		return err
	}
	summary(os.Stdout, runs, cmp.Or(*base, vs[0].Name))
	return nil
}

const mib = 1 << 20

func ptr(s string) *string { return &s }

func mibs(m map[string]float64) string {
	var parts []string
	for _, k := range slices.Sorted(func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}) {
		parts = append(parts, fmt.Sprintf("%s %.1f", k, m[k]/mib))
	}
	return strings.Join(parts, ", ")
}

// leader is the leader of topic's partition 0 (-1 if unknown).
func leader(ctx context.Context, adm *kadm.Client, topic string) int32 {
	td, err := adm.ListTopics(ctx, topic)
	if err != nil || len(td[topic].Partitions) == 0 {
		return -1
	}
	return td[topic].Partitions[0].Leader
}

// deletePrefixed deletes every topic whose name starts with prefix.
func deletePrefixed(adm *kadm.Client, prefix string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	td, err := adm.ListTopics(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, "delete topics:", err)
		return
	}
	var names []string
	for name := range td {
		if strings.HasPrefix(name, prefix) {
			names = append(names, name)
		}
	}
	deleteTopics(adm, names...)
}

// deleteTopics deletes the named topics, reporting errors on stderr.
func deleteTopics(adm *kadm.Client, names ...string) {
	if len(names) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := adm.DeleteTopics(ctx, names...)
	if err == nil {
		err = resp.Error()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "delete topics:", err)
	}
}

func create(ctx context.Context, adm *kadm.Client, topic string, rf int16, cfg map[string]*string) error {
	resp, err := adm.CreateTopics(ctx, 1, rf, cfg, topic)
	if err != nil {
		return err
	}
	for _, r := range resp {
		if r.Err != nil {
			return fmt.Errorf("create %s: %w", topic, r.Err)
		}
	}
	return nil
}

func backlog(ctx context.Context, cl *kgo.Client, topic string, n, size int) error {
	val := make([]byte, size)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	for i := range n {
		v := make([]byte, size)
		_, _ = rand.Read(val[:64])
		copy(v, val)
		wg.Add(1)
		cl.Produce(ctx, &kgo.Record{Topic: topic, Key: []byte(fmt.Sprintf("pic-%d", i)), Value: v}, func(_ *kgo.Record, err error) {
			defer wg.Done()
			if err != nil {
				mu.Lock()
				if first == nil {
					first = err
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return first
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// drain starts the forwarder of spec, on an admin address of its own (the
// load test's may be in use), and measures it until the cloud topic holds
// n pictures.
func drain(ctx context.Context, spec pipeline.Spec, ccl *kgo.Client, cloudTopic string, n int, timeout time.Duration, profPath string) (res Run) {
	res.MaxKafka = map[string]float64{}
	admin, err := freeAddr()
	if err != nil {
		res.Err = err.Error()
		return res
	}
	spec.AdminAddr, spec.Env = admin, append(slices.Clone(spec.Env), "SENSORNODE_ADMIN_ADDR="+admin) // the last wins
	p, err := pipeline.Start(spec)
	if err != nil {
		res.Err = err.Error()
		return res
	}
	start := p.Started()
	defer func() {
		if err := p.Stop(30 * time.Second); err != nil && res.Err == "" {
			res.Err = "stop: " + err.Error()
		}
		if res.Err != "" {
			res.Err += " (log " + spec.Log + ")"
		} else {
			_ = os.Remove(spec.Log)
		}
	}()
	pid := p.PID()
	hc := &http.Client{Timeout: 2 * time.Second}

	var mu sync.Mutex
	var peakRSS, lastRSS, lastAnon, lastFile, profiledAt float64
	fetching := false
	stopSampling := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { // /proc every 50 ms
		defer wg.Done()
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			if ps, err := procfs.Read(pid); err == nil {
				rss, anon, file := float64(ps.RSSBytes), float64(ps.RSSAnonBytes), float64(ps.RSSFileBytes)
				mu.Lock()
				lastRSS, lastAnon, lastFile = rss, anon, file
				res.HWM = max(res.HWM, float64(ps.HWMBytes))
				if rss > peakRSS {
					peakRSS, res.PeakRSSAt = rss, time.Since(start).Seconds()
				}
				if profPath != "" && !fetching && rss > profiledAt+2*mib {
					fetching, profiledAt = true, rss
					go func() {
						if err := fetchHeap(hc, admin, profPath); err == nil {
							mu.Lock()
							res.HeapProfile = profPath
							mu.Unlock()
						}
						mu.Lock()
						fetching = false
						mu.Unlock()
					}()
				}
				mu.Unlock()
			}
			select {
			case <-stopSampling:
				return
			case <-t.C:
			}
		}
	}()
	go func() { // /metrics every 250 ms
		defer wg.Done()
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			ss, err := promtext.Scrape(sctx, hc, admin)
			cancel()
			if err == nil {
				p := peakOf(ss)
				mu.Lock()
				p.RSS, p.RSSAnon, p.RSSFile, p.At = lastRSS, lastAnon, lastFile, time.Since(start).Seconds()
				if res.RestRSS == 0 {
					res.RestRSS = lastRSS
				}
				res.MaxHeapInuse = max(res.MaxHeapInuse, p.HeapInuse)
				for k, v := range p.KafkaBuffered {
					res.MaxKafka[k] = max(res.MaxKafka[k], v)
				}
				if p.RSS >= res.Peak.RSS {
					res.Peak = p
				}
				mu.Unlock()
			}
			select {
			case <-stopSampling:
				return
			case <-t.C:
			}
		}
	}()

	// Arrivals: the cloud topic's end offset.
	var first time.Time
	deadline := time.Now().Add(timeout)
	adm := kadm.NewClient(ccl)
	for {
		if time.Now().After(deadline) {
			res.Err = "timeout"
			break
		}
		if err := ctx.Err(); err != nil {
			res.Err = err.Error()
			break
		}
		if !p.Running() {
			res.Err = "forwarder exited"
			break
		}
		ends, err := adm.ListEndOffsets(ctx, cloudTopic)
		var end int64
		if err == nil {
			ends.Each(func(o kadm.ListedOffset) { end += o.Offset })
		}
		now := time.Now()
		if end > 0 && first.IsZero() {
			first = now
			res.StartupSeconds = now.Sub(start).Seconds()
		}
		if end >= int64(n) {
			res.DrainSeconds = now.Sub(first).Seconds()
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond) // one more scrape after the last arrival
	close(stopSampling)
	wg.Wait()
	for {
		mu.Lock()
		f := fetching
		mu.Unlock()
		if !f {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	res.PeakRSS = peakRSS
	if res.DrainSeconds > 0 {
		res.PerSec = float64(n) / res.DrainSeconds
		if res.Size > 0 {
			res.MBPerSec = res.PerSec * float64(res.Size) / 1e6
		}
	}
	return res
}

func peakOf(ss promtext.Samples) Peak {
	get := func(name string) float64 {
		v, _ := ss.Sum(name, nil)
		return v
	}
	p := Peak{KafkaBuffered: map[string]float64{}}
	p.HeapInuse = get("go_memstats_heap_inuse_bytes")
	p.HeapIdleKept = get("go_memstats_heap_idle_bytes") - get("go_memstats_heap_released_bytes")
	p.Stacks = get("go_memstats_stack_inuse_bytes")
	p.OtherSys = get("go_memstats_sys_bytes") - get("go_memstats_heap_sys_bytes") - get("go_memstats_stack_sys_bytes")
	p.NextGC = get("go_memstats_next_gc_bytes")
	p.InflightBytes = get("sensornode_forwarder_inflight_bytes")
	for _, s := range ss {
		if s.Name == "sensornode_kafka_client_buffered_bytes" {
			p.KafkaBuffered[s.Labels["client"]] = s.Value
		}
	}
	return p
}

func fetchHeap(hc *http.Client, admin, path string) error {
	resp, err := hc.Get("http://" + admin + "/debug/pprof/heap")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("heap profile: %s", resp.Status)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// summary prints, per size, backend and variant, the medians over rounds,
// and each round's drain rate as a ratio to the first variant's (base) in
// the same round: on a shared machine the rounds' rates move together.
func summary(w io.Writer, runs []Run, base string) {
	type key struct {
		size    int
		backend string
		variant string
	}
	type roundKey struct {
		size    int
		backend string
		round   int
	}
	var order []key
	groups := map[key][]Run{}
	baseRate := map[roundKey]float64{}
	for _, r := range runs {
		k := key{r.Size, r.Backend, r.Variant}
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], r)
		if r.Variant == base && r.Err == "" {
			baseRate[roundKey{r.Size, r.Backend, r.Round}] = r.PerSec
		}
	}
	fmt.Fprintf(w, "| size | backend | variant | runs | pictures/s (median; each) | same-round ratio to %s (median; each) | peak RSS MiB (median; each) | VmHWM MiB (median; each) | at the peak: anon / file / Go heap in use / heap idle kept / stacks / other Go sys / Kafka buffered (MiB, median) |\n", base)
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|")
	for _, k := range order {
		g := groups[k]
		var rate, ratio, rss, hwm, anon, file, heap, idle, stk, other, kafka []float64
		var rs, qs, ps, hs []string
		for _, r := range g {
			if r.Err != "" {
				rs = append(rs, "err")
				continue
			}
			rate = append(rate, r.PerSec)
			if b, ok := baseRate[roundKey{r.Size, r.Backend, r.Round}]; ok && b > 0 {
				ratio = append(ratio, r.PerSec/b)
				qs = append(qs, fmt.Sprintf("%.2f", r.PerSec/b))
			}
			rss = append(rss, r.PeakRSS/mib)
			hwm = append(hwm, max(r.HWM, r.PeakRSS)/mib)
			hs = append(hs, fmt.Sprintf("%.1f", max(r.HWM, r.PeakRSS)/mib))
			anon = append(anon, r.Peak.RSSAnon/mib)
			file = append(file, r.Peak.RSSFile/mib)
			heap = append(heap, r.Peak.HeapInuse/mib)
			idle = append(idle, r.Peak.HeapIdleKept/mib)
			stk = append(stk, r.Peak.Stacks/mib)
			other = append(other, r.Peak.OtherSys/mib)
			var kb float64
			for _, v := range r.Peak.KafkaBuffered {
				kb += v
			}
			kafka = append(kafka, kb/mib)
			rs = append(rs, fmt.Sprintf("%.0f", r.PerSec))
			ps = append(ps, fmt.Sprintf("%.1f", r.PeakRSS/mib))
		}
		fmt.Fprintf(w, "| %d | %s | %s | %d | %.0f (%s) | %.2f (%s) | %.1f (%s) | %.1f (%s) | %.1f / %.1f / %.1f / %.1f / %.1f / %.1f / %.1f |\n",
			k.size, k.backend, k.variant, len(g), median(rate), strings.Join(rs, ", "), median(ratio), strings.Join(qs, ", "),
			median(rss), strings.Join(ps, ", "), median(hwm), strings.Join(hs, ", "),
			median(anon), median(file), median(heap), median(idle), median(stk), median(other), median(kafka))
	}
}
