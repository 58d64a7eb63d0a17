package ingest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"path"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/sensornode/sensornode/libs/archive"
	"github.com/sensornode/sensornode/libs/bus"
	"github.com/sensornode/sensornode/libs/bus/bustest"
	"github.com/sensornode/sensornode/libs/messages"
	"github.com/sensornode/sensornode/libs/messages/jpegsynth"
	"github.com/sensornode/sensornode/libs/svc/svctest"
)

func testConfig() Config {
	c := DefaultConfig()
	c.ShutdownTimeout = 2 * time.Second
	c.Kafka.Brokers = []string{"127.0.0.1:9092"}
	c.Kafka.MaxFetchBytes, c.Kafka.QueueMaxBytes = 1<<20, 1<<21
	c.Kafka.SessionTimeout = 10 * time.Second
	c.DLQMaxMessageBytes = 1 << 20
	c.HDFS = HDFSConfig{NameNodes: []string{"127.0.0.1:8020"}, User: "test", RPCTimeout: time.Second,
		WriteTimeout: time.Second, CloseTimeout: time.Second, TmpDir: "/t/_tmp"}
	c.PictureLayout = "/t/camera/{camera}/{yyyy}/{MM}/{dd}/{HH}{mm}{ss}-{key}.jpg"
	c.MaxPictureBytes = messages.DefaultMaxPictureBytes
	c.TemperatureDirLayout = "/t/temperature/{node}/{yyyy}/{MM}/{dd}/{HH}"
	c.TemperatureFormat = FormatJSONL
	c.TemperatureRotateInterval = 20 * time.Millisecond
	c.TemperatureFlushRecords = 1000
	c.TemperatureIndexDirs = 4
	c.PictureStore = StoreFiles
	c.PictureBundleDir = "/t/bundles"
	c.PictureBundleMaxBytes = 128 << 20
	c.PictureBundleMaxAge = 50 * time.Millisecond
	c.PictureBundleIndexKeys = 1000
	c.CommitInterval = 5 * time.Millisecond
	c.RetryMaxInterval = 20 * time.Millisecond
	c.CheckInterval = time.Hour
	return c
}

// newCluster is an in-memory Kafka cluster with the input topics
// (cameraData: one partition, temperatureData: three) and their
// dead-letter topics, less those named in without.
func newCluster(without ...string) *bustest.Cluster {
	cl := bustest.NewCluster()
	for name, parts := range map[string]int{messages.TopicCamera: 1, messages.TopicTemperature: 3,
		messages.DeadLetterTopic(messages.TopicCamera): 1, messages.DeadLetterTopic(messages.TopicTemperature): 1} {
		if !slices.Contains(without, name) {
			_ = cl.CreateTopic(name, parts, nil)
		}
	}
	return cl
}

// run is an ingester consuming from a cluster as member of group
// cfg.Kafka.GroupID, dead-lettering to it.
type run struct {
	in    *Ingester
	m     *Metrics
	cl    *bustest.Cluster
	cons  *bustest.Consumer
	group string
	// halt stops the ingester (once) and returns Run's error.
	halt func() error
}

func start(t *testing.T, cfg Config, fs FS, cl *bustest.Cluster) *run {
	t.Helper()
	return startWith(t, cfg, fs, cl, nil)
}

// startWith is start with a hook run once the ingester and its consumer
// exist, before Run.
func startWith(t *testing.T, cfg Config, fs FS, cl *bustest.Cluster, hook func(*run)) *run {
	t.Helper()
	dlq, err := cl.NewProducer(cfg.DLQProducerConfig())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = dlq.Close() })
	m := NewMetrics(prometheus.NewRegistry())
	in, err := New(cfg, fs, dlq, slog.New(slog.NewTextHandler(io.Discard, nil)), m, nil)
	if err != nil {
		t.Fatal(err)
	}
	cc := cfg.Kafka
	cc.Rebalance = in.Rebalance()
	cons, err := cl.NewConsumer(cc)
	if err != nil {
		t.Fatal(err)
	}
	r := &run{in: in, m: m, cl: cl, cons: cons, group: cc.GroupID}
	if hook != nil {
		hook(r)
	}
	r.halt = svctest.Background(func(ctx context.Context) error { return in.Run(ctx, cons) })
	t.Cleanup(func() { r.stop() })
	return r
}

// stop stops the ingester, then closes its consumer, in Serve's order.
func (r *run) stop() error {
	err := r.halt()
	r.cons.Close()
	return err
}

// crash stops the ingester; its consumer is gone without a word, as with
// a killed process: the group drops it once its session times out.
func (r *run) crash() {
	_ = r.halt()
	r.cons.LoseSession()
}

// committed is the group's committed offset of tp (0: none).
func (r *run) committed(tp bus.TopicPartition) int64 { return r.cl.Committed(r.group)[tp] }

func (r *run) isPaused(tp bus.TopicPartition) bool { return slices.Contains(r.cons.Paused(), tp) }

// deadLetterRecords is what the dead-letter topics hold.
func deadLetterRecords(cl *bustest.Cluster) []*bus.Message {
	return append(cl.Records(messages.DeadLetterTopic(messages.TopicCamera)), cl.Records(messages.DeadLetterTopic(messages.TopicTemperature))...)
}

// logEnd is the offset after the last record of tp.
func logEnd(cl *bustest.Cluster, tp bus.TopicPartition) int64 {
	n := int64(0)
	for _, m := range cl.Records(tp.Topic) {
		if m.Partition == tp.Partition {
			n++
		}
	}
	return n
}

var (
	camTP  = bus.TopicPartition{Topic: messages.TopicCamera, Partition: 0}
	tempTP = bus.TopicPartition{Topic: messages.TopicTemperature, Partition: 2}
)

func appendMsg(t *testing.T, cl *bustest.Cluster, tp bus.TopicPartition, e messages.Encoded) {
	t.Helper()
	if _, err := cl.Append(&bus.Message{Topic: tp.Topic, Partition: tp.Partition, Key: e.Key, Value: e.Value, Headers: e.Headers}); err != nil {
		t.Fatal(err)
	}
}

func mustPicture(t *testing.T, cam string, at time.Time, seed uint64, f messages.Form) (messages.Picture, messages.Encoded) {
	t.Helper()
	p := messages.NewPicture(cam, "node1", at, jpegsynth.Picture(jpegsynth.Size320x188, seed))
	e, err := messages.EncodePicture(p, f)
	if err != nil {
		t.Fatal(err)
	}
	return p, e
}

func mustReading(t *testing.T, node string, at time.Time, c float64) messages.Encoded {
	t.Helper()
	e, err := messages.EncodeTemperature(messages.TemperatureReading{NodeID: node, ReadAt: at, TemperatureCelsius: c, Source: "synthetic"}, messages.FormBinary)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// storedReadings parses every temperature file, which must all be of
// format ("": any), and counts identities. The only other file allowed is
// the Avro schema file at the layout's root.
func storedReadings(t *testing.T, fs *memFS, format string) map[string]int {
	t.Helper()
	out := map[string]int{}
	for name, b := range readingFiles(t, fs) {
		f, ok := archive.FormatOf(name)
		if !ok || format != "" && f != format {
			t.Errorf("%s: not a %s readings file", name, format)
		}
		rs, err := archive.DecodeReadings(b, f)
		if err != nil {
			t.Fatalf("parse %s: %v", name, err)
		}
		for _, r := range rs {
			out[r.Identity()]++
		}
	}
	return out
}

// readingFiles are the files under /t/temperature but the Avro schema
// file, which must hold the schema if it is there.
func readingFiles(t *testing.T, fs *memFS) map[string][]byte {
	t.Helper()
	files := fs.under("/t/temperature")
	const schema = "/t/temperature/" + "reading.v1.avsc"
	if b, ok := files[schema]; ok && string(b) != archive.ReadingSchemaJSON {
		t.Errorf("%s does not hold the schema", schema)
	}
	delete(files, schema)
	return files
}

func TestPicturesStoredOnceByKey(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		at := time.Date(2026, 5, 1, 12, 30, 45, 123_000_000, time.UTC)
		cl := newCluster()
		p1, e1 := mustPicture(t, "C1", at, 1, messages.FormBinary)
		p2, e2 := mustPicture(t, "C2", at.Add(time.Second), 2, messages.FormJSON)
		appendMsg(t, cl, camTP, e1)
		appendMsg(t, cl, camTP, e2)
		appendMsg(t, cl, camTP, e1) // forwarded twice
		jsonKey := string(e2.Key)   // the JSON form keeps whole seconds
		e2.Key = nil                // a legacy producer without a key
		appendMsg(t, cl, camTP, e2)
		bogus := e1
		bogus.Key = []byte(messages.PictureKey("C9", at, sha256.Sum256([]byte("other"))))
		appendMsg(t, cl, camTP, bogus) // a well-formed key of another picture: not trusted

		fs := newMemFS()
		r := start(t, testConfig(), fs, cl)
		svctest.Eventually(t, 10*time.Second, "all committed", func() bool { return r.committed(camTP) == 5 })

		files := fs.under("/t/camera")
		want := map[string][]byte{
			"/t/camera/C1/2026/05/01/123045-" + p1.Key() + ".jpg": p1.Data,
			"/t/camera/C2/2026/05/01/123046-" + jsonKey + ".jpg":  p2.Data,
		}
		if len(files) != len(want) {
			t.Errorf("files = %v, want %d", keys(files), len(want))
		}
		for name, data := range want {
			if !bytes.Equal(files[name], data) {
				t.Errorf("%s: not stored byte-identical", name)
			}
		}
		if got := testutil.ToFloat64(r.m.messages.WithLabelValues(kindPicture, resultDuplicate)); got != 3 {
			t.Errorf("duplicates = %v, want 3", got)
		}
		// By node: the binary form names node1, the JSON form no node.
		for node, want := range map[string]float64{"node1": 1, "unknown": 1} {
			if got := testutil.ToFloat64(r.m.storedByNode.WithLabelValues(kindPicture, node)); got != want {
				t.Errorf("stored pictures from %s = %v, want %v", node, got, want)
			}
		}
		if n := len(fs.under("/t/_tmp")); n != 0 {
			t.Errorf("%d temporary files left", n)
		}
	})
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestReadingsExactlyOnceAcrossDuplicatesAndRestart(t *testing.T) {
	for _, format := range archive.Formats {
		t.Run(format, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				cfg := testConfig()
				cfg.TemperatureFormat = format
				cl := newCluster()
				base := time.Date(2026, 5, 1, 12, 59, 50, 0, time.UTC)
				want := map[string]int{}
				for i := range 40 {
					node := fmt.Sprintf("node%d", i%3+1)
					at := base.Add(time.Duration(i) * 500 * time.Millisecond).Add(time.Duration(i) * time.Nanosecond) // crosses an hour
					e := mustReading(t, node, at, 40+float64(i)/10)
					appendMsg(t, cl, tempTP, e)
					if i%5 == 0 {
						appendMsg(t, cl, tempTP, e) // forwarded twice
					}
					want[identity(node, at, 40+float64(i)/10, "synthetic")] = 1
				}
				fs := newMemFS()
				r := start(t, cfg, fs, cl)
				end := logEnd(cl, tempTP)
				svctest.Eventually(t, 10*time.Second, "all committed", func() bool { return r.committed(tempTP) == end })
				if err := r.stop(); err != nil {
					t.Fatal(err)
				}
				checkReadings(t, storedReadings(t, fs, format), want)
				for node, n := range map[string]float64{"node1": 14, "node2": 13, "node3": 13} {
					if got := testutil.ToFloat64(r.m.storedByNode.WithLabelValues(kindTemperature, node)); got != n {
						t.Errorf("stored readings from %s = %v, want %v", node, got, n)
					}
				}
				// Names carry partition and offsets; node-hours are separate dirs.
				for name := range readingFiles(t, fs) {
					if !strings.Contains(name, "/"+messages.TopicTemperature+"+2+") || !strings.HasSuffix(name, "."+format) {
						t.Errorf("file name %s lacks topic+partition+offsets.%s", name, format)
					}
				}
				hours := map[string]bool{}
				for name := range readingFiles(t, fs) {
					hours[name[:len("/t/temperature/nodeX/2026/05/01/HH")]] = true
				}
				if len(hours) != 6 {
					t.Errorf("node-hour dirs = %v, want 3 nodes x 2 hours", hours)
				}
				if _, ok := fs.under("/t/temperature")["/t/temperature/"+archive.ReadingSchemaFile]; ok != (format == FormatAvro) {
					t.Errorf("schema file %s written: %v, want %v", archive.ReadingSchemaFile, ok, format == FormatAvro)
				}

				// Restart from scratch (offsets lost), with other batch
				// boundaries, so other file names: what is stored is known
				// by reading the files back, and nothing is written twice.
				cfg.Kafka.GroupID += "-restarted"
				cfg.TemperatureFlushRecords = 7
				r2 := start(t, cfg, fs, cl)
				svctest.Eventually(t, 10*time.Second, "all committed again", func() bool { return r2.committed(tempTP) == end })
				checkReadings(t, storedReadings(t, fs, format), want)
				if got := testutil.ToFloat64(r2.m.messages.WithLabelValues(kindTemperature, resultDuplicate)); got != float64(end) {
					t.Errorf("duplicates after the restart = %v, want all %d records", got, end)
				}
			})
		})
	}
}

// A change of SENSORNODE_TEMPERATURE_FORMAT stores nothing twice: the
// files of the format before count when a directory is read back.
func TestReadingsFormatSwitchStoresNothingTwice(t *testing.T) {
	for _, tt := range []struct{ from, to string }{{FormatJSONL, FormatAvro}, {FormatAvro, FormatCSV}} {
		t.Run(tt.from+"-"+tt.to, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				cfg := testConfig()
				cfg.TemperatureFormat = tt.from
				cl := newCluster()
				at := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
				want := map[string]int{}
				for i := range 10 {
					appendMsg(t, cl, tempTP, mustReading(t, "node1", at.Add(time.Duration(i)*time.Second), 45))
					want[identity("node1", at.Add(time.Duration(i)*time.Second), 45, "synthetic")] = 1
				}
				fs := newMemFS()
				r := start(t, cfg, fs, cl)
				svctest.Eventually(t, 10*time.Second, "all committed", func() bool { return r.committed(tempTP) == 10 })
				if err := r.stop(); err != nil {
					t.Fatal(err)
				}
				// The same records again (offsets lost), in the new format.
				cfg.TemperatureFormat = tt.to
				cfg.Kafka.GroupID += "-switched"
				r2 := start(t, cfg, fs, cl)
				svctest.Eventually(t, 10*time.Second, "all committed again", func() bool { return r2.committed(tempTP) == 10 })
				checkReadings(t, storedReadings(t, fs, ""), want)
			})
		})
	}
}

// A readings file name already taken by other readings (the topic was
// deleted and recreated, so its offsets restarted) keeps them; the new
// readings go to a content-hash name that a retry of the flush finds
// again (for Avro, whose header holds a random sync marker, too): here
// the flush's next file fails once, and the whole flush is retried.
func TestReadingsFileNameTakenByOtherReadings(t *testing.T) {
	for _, format := range archive.Formats {
		t.Run(format, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				cfg := testConfig()
				cfg.TemperatureFormat = format
				at := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
				fs := newMemFS()
				want := map[string]int{}
				var old []Reading
				for i := range 2 {
					ts := at.Add(time.Duration(i) * time.Second)
					old = append(old, Reading{Node: "node1", ReadAt: ts, Celsius: 30, Source: "synthetic", Topic: tempTP.Topic, Partition: tempTP.Partition, Offset: int64(2 * i)})
					want[identity("node1", ts, 30, "synthetic")] = 1
				}
				b, err := archive.EncodeReadings(old, format)
				if err != nil {
					t.Fatal(err)
				}
				taken := "/t/temperature/node1/2026/05/01/12/" + archive.TempFileName(tempTP.Topic, tempTP.Partition, 0, 2, format)
				fs.files[taken] = b
				cl := newCluster()
				for i := range 4 { // node1 at offsets 0 and 2, node2 at 1 and 3
					node := fmt.Sprintf("node%d", i%2+1)
					ts := at.Add(time.Duration(i) * time.Second)
					appendMsg(t, cl, tempTP, mustReading(t, node, ts, 50))
					want[identity(node, ts, 50, "synthetic")] = 1
				}
				failed := false
				fs.setFail(func(op, name string) bool {
					if op == "rename" && strings.Contains(name, "/node2/") && !failed {
						failed = true
						return true
					}
					return false
				})
				r := start(t, cfg, fs, cl)
				svctest.Eventually(t, 10*time.Second, "all committed", func() bool { return r.committed(tempTP) == 4 })
				if err := r.stop(); err != nil {
					t.Fatal(err)
				}
				if !failed {
					t.Fatal("node2's file never failed")
				}
				checkReadings(t, storedReadings(t, fs, format), want)
				if !bytes.Equal(fs.files[taken], b) {
					t.Errorf("%s was changed", taken)
				}
				files := readingFiles(t, fs)
				if len(files) != 3 {
					t.Errorf("files: %v, want the taken one, node1's under a content-hash name and node2's", keys(files))
				}
				// The hash in the name: of the file's content, or of its
				// readings as JSON Lines for Avro.
				for name, b := range files {
					parts := strings.Split(strings.TrimSuffix(path.Base(name), "."+format), "+")
					if len(parts) != 5 {
						continue
					}
					content := b
					if format == FormatAvro {
						rs, err := archive.DecodeReadings(b, format)
						if err != nil {
							t.Fatal(err)
						}
						content, _ = archive.EncodeReadings(rs, FormatJSONL)
					}
					if sum := sha256.Sum256(content); parts[4] != hex.EncodeToString(sum[:4]) {
						t.Errorf("%s: hash in the name is not %x of its content", name, sum[:4])
					}
				}
			})
		})
	}
}

func checkReadings(t *testing.T, got, want map[string]int) {
	t.Helper()
	for id := range want {
		if got[id] != 1 {
			t.Errorf("reading %s stored %d times, want 1", id, got[id])
		}
	}
	for id, n := range got {
		if want[id] == 0 {
			t.Errorf("unexpected reading %s stored %d times", id, n)
		}
	}
}

// A crash in the middle of a flush (some node-hour files renamed, others
// not, offsets not committed) loses nothing and duplicates nothing.
func TestTornFlushRecovers(t *testing.T) {
	for _, format := range archive.Formats {
		t.Run(format, func(t *testing.T) { testTornFlushRecovers(t, format) })
	}
}

func testTornFlushRecovers(t *testing.T, format string) {
	synctest.Test(t, func(t *testing.T) {
		cfg := testConfig()
		cfg.TemperatureFormat = format
		cfg.TemperatureRotateInterval = time.Hour
		cfg.TemperatureFlushRecords = 30
		cl := newCluster()
		at := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
		want := map[string]int{}
		for i := range 30 {
			node := fmt.Sprintf("node%d", i%3+1) // three nodes interleaved in one partition
			ts := at.Add(time.Duration(i) * time.Second)
			appendMsg(t, cl, tempTP, mustReading(t, node, ts, 50))
			want[identity(node, ts, 50, "synthetic")] = 1
		}
		fs := newMemFS()
		// The second file's rename fails: node1 is renamed, node2 and node3
		// not; its temporary file stays (its removal fails too), as after
		// a crash.
		fs.setFail(func(op, name string) bool {
			return op == "rename" && strings.Contains(name, "/node2/") || op == "remove"
		})
		r := start(t, cfg, fs, cl)
		svctest.Eventually(t, 10*time.Second, "blocked", func() bool { return testutil.ToFloat64(r.m.blocked) == 1 })
		if c := r.committed(tempTP); c != 0 {
			t.Fatalf("committed %d with a torn flush", c)
		}
		if !r.isPaused(tempTP) {
			t.Errorf("partition not paused while blocked")
		}
		// "Crash": abandon the run; the new member starts at the committed 0.
		r.crash()
		fs.setFail(nil)
		if n := len(fs.under("/t/_tmp")); n == 0 {
			t.Fatalf("expected a leftover temporary file")
		}
		cfg.TemperatureRotateInterval = 20 * time.Millisecond
		r2 := start(t, cfg, fs, cl)
		svctest.Eventually(t, 10*time.Second, "all committed", func() bool { return r2.committed(tempTP) == 30 })
		checkReadings(t, storedReadings(t, fs, format), want)
		if n := len(fs.under("/t/_tmp")); n != 0 {
			t.Errorf("%d temporary files left after restart", n)
		}
		if got := testutil.ToFloat64(r2.m.tmpRemoved); got < 1 {
			t.Errorf("tmp files removed = %v, want >= 1", got)
		}
	})
}

func TestHDFSDownPausesCommitsNothingResumes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		at := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
		cl := newCluster()
		for i := range 10 {
			_, e := mustPicture(t, "C3", at.Add(time.Duration(i)*time.Second), uint64(i), messages.FormBinary)
			appendMsg(t, cl, camTP, e)
		}
		fs := newMemFS()
		// The NameNode fails every operation on the fifth picture (offset 4).
		fs.setFail(func(op, name string) bool { return op != "ping" && strings.Contains(name, "/120004-") })
		r := start(t, testConfig(), fs, cl)
		svctest.Eventually(t, 10*time.Second, "blocked", func() bool { return testutil.ToFloat64(r.m.blocked) == 1 })
		time.Sleep(50 * time.Millisecond) // several retries
		if c := r.committed(camTP); c > 4 {
			t.Errorf("committed %d past the failing picture at offset 4", c)
		}
		if err := r.in.probe.Ready(); err == nil || !strings.Contains(err.Error(), condHDFS) {
			t.Errorf("Ready() = %v, want hdfs not ready", err)
		}
		fs.setFail(nil)
		svctest.Eventually(t, 10*time.Second, "all committed", func() bool { return r.committed(camTP) == 10 })
		if n := len(fs.under("/t/camera")); n != 10 {
			t.Errorf("%d pictures stored, want 10", n)
		}
		if testutil.ToFloat64(r.m.hdfsErrors.WithLabelValues("stat")) < 1 {
			t.Errorf("hdfs errors not counted")
		}
		if r.isPaused(camTP) {
			t.Errorf("still paused after recovery")
		}
	})
}

func TestMalformedGoToDeadLetterTopic(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cl := newCluster()
		tests := []struct {
			name       string
			tp         bus.TopicPartition
			value      string
			headers    []messages.Header
			wantReason string
		}{
			{"garbage", camTP, "\x00\x01garbage", nil, "unknown-form"},
			{"empty", camTP, "", nil, "empty"},
			{"bad base64", camTP, `{"id":"C1","date":"20260501","time":"120000","value":"!!!"}`, nil, "bad-base64"},
			{"not a jpeg", camTP, `{"id":"C1","date":"20260501","time":"120000","value":"aGVsbG8gd29ybGQ"}`, nil, "not-jpeg"},
			{"bad temperature", tempTP, "hot", []messages.Header{{Key: messages.HeaderSchema, Value: []byte("1")},
				{Key: messages.HeaderKind, Value: []byte("temperature")}, {Key: messages.HeaderNode, Value: []byte("node1")},
				{Key: messages.HeaderTime, Value: []byte("2026-05-01T12:00:00Z")}}, "bad-temperature"},
		}
		for _, tt := range tests {
			appendMsg(t, cl, tt.tp, messages.Encoded{Key: []byte(tt.name), Value: []byte(tt.value), Headers: tt.headers})
		}
		fs := newMemFS()
		r := start(t, testConfig(), fs, cl)
		svctest.Eventually(t, 10*time.Second, "all committed", func() bool {
			return r.committed(camTP) == logEnd(cl, camTP) && r.committed(tempTP) == logEnd(cl, tempTP)
		})
		got := map[string]*bus.Message{}
		for _, m := range deadLetterRecords(cl) {
			got[string(m.Key)] = m
		}
		for _, tt := range tests {
			m := got[tt.name]
			if m == nil {
				t.Errorf("%s: not dead-lettered", tt.name)
				continue
			}
			if m.Topic != messages.DeadLetterTopic(tt.tp.Topic) {
				t.Errorf("%s: topic %s, want %s", tt.name, m.Topic, messages.DeadLetterTopic(tt.tp.Topic))
			}
			if r, _ := messages.HeaderValue(m.Headers, messages.HeaderDLQReason); string(r) != tt.wantReason {
				t.Errorf("%s: reason %q, want %q", tt.name, r, tt.wantReason)
			}
			if o, _ := messages.HeaderValue(m.Headers, messages.HeaderDLQTopic); string(o) != tt.tp.Topic {
				t.Errorf("%s: original topic header %q", tt.name, o)
			}
			if string(m.Value) != tt.value {
				t.Errorf("%s: value %q, want the original", tt.name, m.Value)
			}
		}
		if got := testutil.ToFloat64(r.m.deadLettered.WithLabelValues("unknown-form")); got != 1 {
			t.Errorf("dead_lettered{reason=unknown-form} = %v, want 1", got)
		}
		if n := len(fs.under("/t")); n != 0 {
			t.Errorf("files written for malformed messages: %v", keys(fs.under("/t")))
		}
	})
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		mod     func(c *Config)
		wantErr string
	}{
		{name: "ok", mod: func(*Config) {}},
		{name: "temperature layout lacks hour", mod: func(c *Config) { c.TemperatureDirLayout = "/t/{node}/{yyyy}/{MM}/{dd}" }, wantErr: "lacks {HH}"},
		{name: "format", mod: func(c *Config) { c.TemperatureFormat = "parquet" }, wantErr: "SENSORNODE_TEMPERATURE_FORMAT"},
		{name: "avro", mod: func(c *Config) { c.TemperatureFormat = FormatAvro }},
		{name: "avro schema without a fixed root", mod: func(c *Config) {
			c.TemperatureFormat = FormatAvro
			c.TemperatureDirLayout = "/{node}/{yyyy}/{MM}/{dd}/{HH}"
		}, wantErr: "fixed directory"},
		{name: "tmp dir root", mod: func(c *Config) { c.HDFS.TmpDir = "/" }, wantErr: "SENSORNODE_HDFS_TMP_DIR"},
		{name: "namenode", mod: func(c *Config) { c.HDFS.NameNodes = []string{"nn"} }, wantErr: "not host:port"},
		{name: "no topics", mod: func(c *Config) { c.Kafka.Topics = nil }, wantErr: "no topics"},
		{name: "session timeout too short to fence HDFS work", mod: func(c *Config) { c.Kafka.SessionTimeout = time.Second }, wantErr: "SENSORNODE_CLOUD_KAFKA_SESSION_TIMEOUT"},
		{name: "session timeout above the rebalance timeout", mod: func(c *Config) { c.Kafka.SessionTimeout = 2 * time.Minute }, wantErr: "SENSORNODE_CLOUD_KAFKA_SESSION_TIMEOUT"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := testConfig()
			tt.mod(&c)
			svctest.Succeeds(t, "Validate()", c.Validate(), tt.wantErr)
		})
	}
}
