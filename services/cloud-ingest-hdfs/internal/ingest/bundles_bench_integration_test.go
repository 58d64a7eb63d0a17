//go:build integration

package ingest

import (
	"context"
	"crypto/rand"
	"fmt"
	"image"
	"io"
	"log/slog"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sensornode/sensornode/libs/bus"
	"github.com/sensornode/sensornode/libs/messages"
	"github.com/sensornode/sensornode/libs/messages/jpegsynth"
	"github.com/sensornode/sensornode/tools/devstack/devstacktest"
)

// timingFS is an FS that adds up the time spent in each kind of call.
type timingFS struct {
	FS
	mu sync.Mutex
	on bool // counting
	d  map[string]time.Duration
}

func (t *timingFS) add(op string, since time.Time) {
	t.mu.Lock()
	if t.on {
		t.d[op] += time.Since(since)
	}
	t.mu.Unlock()
}

func (t *timingFS) count(on bool) {
	t.mu.Lock()
	t.on = on
	t.mu.Unlock()
}

func (t *timingFS) Stat(name string) (int64, bool, error) {
	defer t.add("stat", time.Now())
	return t.FS.Stat(name)
}

func (t *timingFS) WriteAtomic(tmp, final string, data []byte, deadline time.Time) error {
	defer t.add("writeatomic", time.Now())
	return t.FS.WriteAtomic(tmp, final, data, deadline)
}

func (t *timingFS) Create(tmp string) (FileWriter, error) {
	defer t.add("create", time.Now())
	w, err := t.FS.Create(tmp)
	if err != nil {
		return nil, err
	}
	return &timingWriter{FileWriter: w, t: t}, nil
}

func (t *timingFS) Rename(tmp, final string, deadline time.Time) error {
	defer t.add("rename", time.Now())
	return t.FS.Rename(tmp, final, deadline)
}

func (t *timingFS) ReadDir(dir string) ([]os.FileInfo, error) {
	defer t.add("readdir", time.Now())
	return t.FS.ReadDir(dir)
}

type timingWriter struct {
	FileWriter
	t *timingFS
	n int64
}

func (w *timingWriter) Write(p []byte) (int, error) {
	defer w.t.add("write", time.Now())
	n, err := w.FileWriter.Write(p)
	w.n += int64(n)
	return n, err
}

func (w *timingWriter) Close(deadline time.Time) error {
	op := "close-index"
	if w.n >= 64<<10 {
		op = "close-bundle"
	}
	defer w.t.add(op, time.Now())
	return w.FileWriter.Close(deadline)
}

// BenchmarkIntegrationBundleRoll measures a roll of the bundle store
// (close, overlap check, schema check, index write, two renames) on the
// devstack's HDFS, bundles of 16 pictures of 64 KiB (1 MiB), and where
// its time goes (ms/roll per FS call). Appending a bundle's pictures
// (create, 16 writes) is not timed but reported (ms-appends/roll). One
// iteration is one roll; the open bundles accumulate in one hour
// directory, as in a drain.
func BenchmarkIntegrationBundleRoll(b *testing.B) {
	st := devstacktest.Stack(b)
	root := devstacktest.UniquePath(b, "rollbench")
	hc := devstacktest.HDFSClient(b, st)
	b.Cleanup(func() { _ = hc.RemoveAll(root) })
	cfg := storeConfig(st.NameNodeAddr(), root)
	cfg.PictureStore = StoreAvro
	cfg.PictureBundleMaxBytes = 1 << 40    // rolled by the benchmark
	cfg.Kafka.SessionTimeout = time.Minute // the time fence: 30 s after the "poll"
	tfs := &timingFS{FS: NewHDFS(cfg.HDFS), d: map[string]time.Duration{}}
	b.Cleanup(func() { _ = tfs.Close() })
	in, err := New(cfg, tfs, nil, slog.New(slog.NewTextHandler(io.Discard, nil)), NewMetrics(prometheus.NewRegistry()), nil)
	if err != nil {
		b.Fatal(err)
	}
	const perBundle, picBytes = 16, 64 << 10
	tp := bus.TopicPartition{Topic: "cameraData", Partition: 0}
	jpeg := make([]byte, picBytes)
	at := time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)
	var offset int64
	appendBundle := func() {
		for range perBundle {
			_, _ = rand.Read(jpeg)
			p := messages.NewPicture("C1", "node1", at.Add(time.Duration(offset)*time.Second), jpeg)
			if err := in.storeBundled(&bus.Message{Topic: tp.Topic, Partition: tp.Partition, Offset: offset}, p); err != nil {
				b.Fatal(err)
			}
			offset++
		}
	}
	in.pollStart = time.Now()
	appendBundle()
	if err := in.roll(tp, false); err != nil { // the first roll writes the schema file
		b.Fatal(err)
	}
	var appending time.Duration
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		in.pollStart = time.Now() // the run loop's time fence, as after a Poll
		t0 := time.Now()
		appendBundle()
		appending += time.Since(t0)
		tfs.count(true)
		b.StartTimer()
		if err := in.roll(tp, false); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		tfs.count(false)
	}
	b.ReportMetric(float64(appending)/float64(time.Millisecond)/float64(b.N), "ms-appends/roll")
	ops := make([]string, 0, len(tfs.d))
	for k := range tfs.d {
		ops = append(ops, k)
	}
	sort.Strings(ops)
	for _, k := range ops {
		b.ReportMetric(float64(tfs.d[k])/float64(time.Millisecond)/float64(b.N), fmt.Sprintf("ms-%s/roll", k))
	}
}

// BenchmarkIntegrationBundleDrain pushes pictures through the bundle
// store's path on the devstack's HDFS as a drain does, from a consumed
// record on: decode (SHA-256 checked), append to the partition's open
// bundle, rolls by size (8 MiB bundles), with 640x480 pictures of the
// loadtest's kind. One iteration is one picture; MB/s is of picture
// bytes. Run it with -cpuprofile to see where a drain's time goes (Kafka's
// poll is not in it: the edge-forwarder pays that too).
func BenchmarkIntegrationBundleDrain(b *testing.B) {
	st := devstacktest.Stack(b)
	root := devstacktest.UniquePath(b, "drainbench")
	hc := devstacktest.HDFSClient(b, st)
	b.Cleanup(func() { _ = hc.RemoveAll(root) })
	cfg := storeConfig(st.NameNodeAddr(), root)
	cfg.PictureStore = StoreAvro
	cfg.PictureBundleMaxBytes = 8 << 20
	cfg.Kafka.SessionTimeout = time.Minute
	fs := NewHDFS(cfg.HDFS)
	b.Cleanup(func() { _ = fs.Close() })
	in, err := New(cfg, fs, nil, slog.New(slog.NewTextHandler(io.Discard, nil)), NewMetrics(prometheus.NewRegistry()), nil)
	if err != nil {
		b.Fatal(err)
	}
	tp := bus.TopicPartition{Topic: "cameraData", Partition: 0}
	const distinct = 16
	var recs []messages.Encoded
	at := time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)
	var bytes int64
	for i := range distinct {
		jpeg := jpegsynth.Picture(image.Pt(640, 480), uint64(i))
		bytes += int64(len(jpeg))
		e, err := messages.EncodePicture(messages.NewPicture("C1", "node1", at, jpeg), messages.FormBinary)
		if err != nil {
			b.Fatal(err)
		}
		recs = append(recs, e)
	}
	ctx := context.Background()
	b.SetBytes(bytes / distinct)
	b.ResetTimer()
	for i := range b.N {
		in.pollStart = time.Now() // the run loop's time fence, as after a Poll
		e := recs[i%distinct]
		// Each picture's key must be new (the key index): change its
		// capture time, and so its key, by a second per round.
		hs := append([]messages.Header(nil), e.Headers...)
		for j := range hs {
			if hs[j].Key == messages.HeaderTime {
				hs[j].Value = []byte(at.Add(time.Duration(i/distinct) * time.Second).Format(time.RFC3339Nano))
			}
		}
		msg := &bus.Message{Topic: tp.Topic, Partition: tp.Partition, Offset: int64(i), Key: e.Key, Value: e.Value, Headers: hs}
		if err := in.process(ctx, msg); err != nil {
			b.Fatal(err)
		}
	}
	if bp := in.bundles[tp]; bp != nil {
		if err := in.roll(tp, false); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pictures/s")
}

// drainWatch is a consumer that notes when the first record is handed out
// and when the poll loop asks for the one after the n'th (every record
// processed), then cancels the run.
type drainWatch struct {
	bus.Consumer
	n       int
	seen    int
	first   time.Time
	done    time.Time
	cancel  context.CancelFunc
	handed  bool
	polling time.Duration // in the consumer's Poll, from the first record on
}

func (w *drainWatch) Poll(ctx context.Context, maxWait time.Duration) (*bus.Message, error) {
	if w.handed && w.done.IsZero() {
		w.done = time.Now()
		w.cancel()
		return nil, nil
	}
	t0 := time.Now()
	m, err := w.Consumer.Poll(ctx, maxWait)
	if !w.first.IsZero() {
		w.polling += time.Since(t0)
	}
	if m != nil {
		if w.first.IsZero() {
			w.first = time.Now()
		}
		if w.seen++; w.seen == w.n {
			w.handed = true
		}
	}
	return m, err
}

// BenchmarkIntegrationBundleDrainKafka is a drain into the bundle store
// from the devstack's cloud Kafka, the consumer included (the backend of
// SENSORNODE_TEST_KAFKA_BACKEND): b.N pictures of BENCH_SIZE (default
// 640x480, jpegsynth as the loadtest's) are produced into a topic of one
// partition (BENCH_PARTITIONS: more, the pictures spread by key), then read twice by groups of their own with ingest's
// consumer settings: by a bare poll loop (consume-pictures/s: what
// reading alone costs, the part of the forwarder's drain that ingest
// shares), and by the ingester's Run into 8 MiB bundles (pictures/s, from
// the first record handed out to the last one processed; the last
// bundle's roll follows). The timer covers the ingester's drain only.
func BenchmarkIntegrationBundleDrainKafka(b *testing.B) {
	st := devstacktest.Stack(b)
	size := image.Pt(640, 480)
	if s := os.Getenv("BENCH_SIZE"); s != "" {
		if _, err := fmt.Sscanf(s, "%dx%d", &size.X, &size.Y); err != nil {
			b.Fatalf("BENCH_SIZE %q: %v", s, err)
		}
	}
	root := devstacktest.UniquePath(b, "kdrainbench")
	hc := devstacktest.HDFSClient(b, st)
	b.Cleanup(func() { _ = hc.RemoveAll(root) })
	topic := devstacktest.UniqueTopic(b, "kdrainbench")
	partitions := 1
	if s := os.Getenv("BENCH_PARTITIONS"); s != "" {
		if _, err := fmt.Sscan(s, &partitions); err != nil {
			b.Fatalf("BENCH_PARTITIONS %q: %v", s, err)
		}
	}
	devstacktest.CreateTopic(b, st.CloudBootstrap(), topic, partitions, 1)

	cfg := storeConfig(st.NameNodeAddr(), root)
	cfg.PictureStore = StoreAvro
	cfg.PictureBundleMaxBytes = 8 << 20
	cfg.PictureBundleMaxAge = time.Hour
	cfg.MaxPictureBytes = messages.DefaultMaxPictureBytes
	cfg.Kafka.Brokers = []string{st.CloudBootstrap()}
	cfg.Kafka.Topics = []string{topic}
	cfg.Kafka.Backend = devstacktest.KafkaBackend()
	cfg.Kafka.ClientID = "kdrainbench"
	// The service's defaults (environment), as the loadtest runs it
	// (BENCH_FETCH_BYTES, BENCH_QUEUE_BYTES: other consumer bounds).
	cfg.Kafka.SessionTimeout, cfg.Kafka.MaxFetchBytes, cfg.Kafka.QueueMaxBytes = 10*time.Second, 1<<20, 4<<20
	for env, v := range map[string]*int{"BENCH_FETCH_BYTES": &cfg.Kafka.MaxFetchBytes, "BENCH_QUEUE_BYTES": &cfg.Kafka.QueueMaxBytes} {
		if s := os.Getenv(env); s != "" {
			if _, err := fmt.Sscan(s, v); err != nil {
				b.Fatalf("%s %q: %v", env, s, err)
			}
		}
	}
	cfg.CommitInterval, cfg.CheckInterval, cfg.RetryMaxInterval = time.Second, 10*time.Second, 30*time.Second
	cfg.PictureBundleIndexKeys = 100000

	// The backlog: b.N pictures, 16 distinct ones, each key new.
	const distinct = 16
	var jpegs [][]byte
	var picBytes int64
	for i := range distinct {
		j := jpegsynth.Picture(size, uint64(i))
		jpegs = append(jpegs, j)
		picBytes += int64(len(j))
	}
	prod, err := bus.NewProducer(bus.ProducerConfig{Config: cfg.Kafka.Config,
		Linger: 5 * time.Millisecond, MaxMessageBytes: 8 << 20, QueueMaxBytes: 64 << 20, DeliveryTimeout: 2 * time.Minute})
	if err != nil {
		b.Fatal(err)
	}
	at := time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)
	ctx := context.Background()
	var failed atomic.Int64
	for i := range b.N {
		p := messages.NewPicture("C1", "node1", at.Add(time.Duration(i)*time.Second), jpegs[i%distinct])
		e, err := messages.EncodePicture(p, messages.FormBinary)
		if err != nil {
			b.Fatal(err)
		}
		if err := prod.PublishAsync(ctx, bus.FromEncoded(topic, e), func(d bus.Delivery) {
			if d.Err != nil {
				failed.Add(1)
			}
		}); err != nil {
			b.Fatal(err)
		}
	}
	if err := prod.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	prod.Close()
	if n := failed.Load(); n > 0 {
		b.Fatalf("%d pictures not produced", n)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))

	// A bare poll loop with ingest's consumer settings.
	cc := cfg.Kafka
	cc.GroupID = topic + "-poll"
	cons, err := bus.NewConsumer(cc)
	if err != nil {
		b.Fatal(err)
	}
	var first time.Time
	for seen := 0; ; {
		m, err := cons.Poll(ctx, time.Second)
		if err != nil {
			b.Fatal(err)
		}
		if m == nil {
			continue
		}
		if first.IsZero() {
			first = time.Now()
		}
		if seen++; seen == b.N {
			break
		}
	}
	pollSecs := time.Since(first).Seconds()
	cons.Close()

	tfs := &timingFS{FS: NewHDFS(cfg.HDFS), d: map[string]time.Duration{}}
	b.Cleanup(func() { _ = tfs.Close() })
	in, err := New(cfg, tfs, nil, log, NewMetrics(prometheus.NewRegistry()), nil)
	if err != nil {
		b.Fatal(err)
	}
	cc = cfg.Kafka
	cc.GroupID = topic + "-ingest"
	cc.Rebalance = in.Rebalance()
	cons, err = bus.NewConsumer(cc)
	if err != nil {
		b.Fatal(err)
	}
	defer cons.Close()
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w := &drainWatch{Consumer: cons, n: b.N, cancel: cancel}
	b.SetBytes(picBytes / distinct)
	tfs.count(true)
	b.ResetTimer()
	if err := in.Run(rctx, w); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	if w.done.IsZero() {
		b.Fatal("the ingester stopped before the last record")
	}
	secs := w.done.Sub(w.first).Seconds()
	b.ReportMetric(float64(b.N)/secs, "pictures/s")
	b.ReportMetric(float64(b.N)/pollSecs, "consume-pictures/s")
	b.ReportMetric(pollSecs/secs, "ingest/consume")
	// Where the drain's time went: the poll loop in Poll, and the FS
	// calls (all goroutines: blocks are written, and bundles rolled by
	// size closed, on the bundle's writer goroutine), as shares of it.
	b.ReportMetric(w.polling.Seconds()/secs, "share-poll")
	tfs.count(false)
	for op, d := range tfs.d {
		b.ReportMetric(d.Seconds()/secs, "share-fs-"+op)
	}
}
