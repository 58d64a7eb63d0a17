package ingest

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/sensornode/sensornode/libs/bundle"
	"github.com/sensornode/sensornode/libs/bus"
	"github.com/sensornode/sensornode/libs/bus/bustest"
	"github.com/sensornode/sensornode/libs/messages"
	"github.com/sensornode/sensornode/libs/svc/svctest"
)

func bundleConfig() Config {
	c := testConfig()
	c.PictureStore = StoreAvro
	return c
}

// committedBundles reads every committed bundle under /t/bundles through
// its index (one ranged read per picture, as a reader does) and checks
// that no two bundles of a partition overlap. It returns the pictures by
// key, with how often each key was found.
func committedBundles(t *testing.T, fs *memFS) (pics map[string][]byte, count map[string]int, spans []bundle.Span) {
	t.Helper()
	pics, count = map[string][]byte{}, map[string]int{}
	files := fs.under("/t/bundles")
	for name, data := range files {
		base := name[strings.LastIndexByte(name, '/')+1:]
		s, ok := bundle.ParseName(base)
		if !ok {
			continue
		}
		for _, o := range spans {
			if o.Overlaps(s) {
				t.Errorf("bundles overlap: %v and %v", o, s)
			}
		}
		spans = append(spans, s)
		idx, ok := files[bundle.IndexName(name)]
		if !ok {
			t.Errorf("%s: no index", name)
			continue
		}
		x, err := bundle.ParseIndex(bytes.NewReader(idx))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if x.Size() != int64(len(data)) {
			t.Errorf("%s: %d bytes, index says %d", name, len(data), x.Size())
		}
		for _, e := range x.Entries {
			r, err := bundle.ReadBlock(data[e.Start:e.Start+e.Length], x.Sync)
			if err != nil {
				t.Fatalf("%s: %s: %v", name, e.Key, err)
			}
			if r.Key != e.Key || r.Offset != e.Offset {
				t.Errorf("%s: block of %s@%d holds %s@%d", name, e.Key, e.Offset, r.Key, r.Offset)
			}
			pics[r.Key] = r.JPEG
			count[r.Key]++
		}
	}
	return pics, count, spans
}

// checkPictures checks that every picture of want is in exactly one
// committed bundle, byte-identical, and nothing else is.
func checkPictures(t *testing.T, fs *memFS, want []messages.Picture) []bundle.Span {
	t.Helper()
	pics, count, spans := committedBundles(t, fs)
	for _, p := range want {
		if count[p.Key()] != 1 {
			t.Errorf("picture %s in %d bundles, want 1", p.Key(), count[p.Key()])
		}
		if !bytes.Equal(pics[p.Key()], p.Data) {
			t.Errorf("picture %s: not byte-identical", p.Key())
		}
	}
	if len(count) != len(want) {
		t.Errorf("%d pictures in bundles, want %d", len(count), len(want))
	}
	return spans
}

// appendPictures appends n pictures of one camera to cameraData.
func appendPictures(t *testing.T, cl *bustest.Cluster, seed uint64, n int) []messages.Picture {
	t.Helper()
	at := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	var out []messages.Picture
	for i := range n {
		p, e := mustPicture(t, "C1", at.Add(time.Duration(seed)*time.Hour+time.Duration(i)*time.Second), seed*1000+uint64(i), messages.FormBinary)
		appendMsg(t, cl, camTP, e)
		out = append(out, p)
	}
	return out
}

func TestBundlesRollByAgeAndSize(t *testing.T) {
	for _, tt := range []struct {
		name     string
		maxBytes int64
		maxAge   time.Duration
		bundles  int
	}{
		{name: "age", maxBytes: 128 << 20, maxAge: 50 * time.Millisecond, bundles: 1},
		{name: "size", maxBytes: 1, maxAge: time.Hour, bundles: 6},
	} {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				cfg := bundleConfig()
				cfg.PictureBundleMaxBytes, cfg.PictureBundleMaxAge = tt.maxBytes, tt.maxAge
				cl := newCluster()
				want := appendPictures(t, cl, 1, 6)
				fs := newMemFS()
				r := start(t, cfg, fs, cl)
				svctest.Eventually(t, 10*time.Second, "all committed", func() bool { return r.committed(camTP) == 6 })
				spans := checkPictures(t, fs, want)
				if len(spans) != tt.bundles {
					t.Errorf("bundles = %v, want %d", spans, tt.bundles)
				}
				if got := testutil.ToFloat64(r.m.bundlesCommitted); got != float64(tt.bundles) {
					t.Errorf("bundles committed = %v, want %d", got, tt.bundles)
				}
				if got := testutil.ToFloat64(r.m.storedByNode.WithLabelValues(kindPicture, "node1")); got != 6 {
					t.Errorf("stored from node1 = %v, want 6", got)
				}
				if _, ok := fs.under("/t/bundles")["/t/bundles/"+bundle.SchemaFile]; !ok {
					t.Errorf("no schema file")
				}
				for name := range fs.under("/t/bundles/" + messages.TopicCamera + "/0") {
					// yyyy/MM/dd/HH/name: the ingest hour of the first picture.
					if rest := strings.Split(strings.TrimPrefix(name, "/t/bundles/"+messages.TopicCamera+"/0/"), "/"); len(rest) != 5 {
						t.Errorf("%s: not in <yyyy>/<MM>/<dd>/<HH>/", name)
					}
				}
				if n := len(fs.under("/t/_tmp")); n != 0 {
					t.Errorf("%d temporary files left", n)
				}
			})
		})
	}
}

func TestBundleCommittedOnlyAfterRename(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cl := newCluster()
		want := appendPictures(t, cl, 1, 3)
		fs := newMemFS()
		fs.setFail(func(op, name string) bool { return op == "rename" && strings.HasSuffix(name, ".avro") })
		cfg := bundleConfig()
		cfg.PictureBundleMaxAge = time.Second
		r := start(t, cfg, fs, cl)
		time.Sleep(500 * time.Millisecond) // commits are due every 5 ms; the bundle is open
		synctest.Wait()
		if c := r.committed(camTP); c != 0 {
			t.Errorf("committed %d while the bundle is open", c)
		}
		svctest.Eventually(t, 10*time.Second, "a bundle abandoned", func() bool {
			return testutil.ToFloat64(r.m.bundlesAbandoned.WithLabelValues(abandonError)) >= 2
		})
		if c := r.committed(camTP); c != 0 {
			t.Errorf("committed %d before any bundle was renamed", c)
		}
		if _, count, _ := committedBundles(t, fs); len(count) != 0 {
			t.Errorf("bundles committed: %v", count)
		}
		fs.setFail(nil)
		svctest.Eventually(t, 10*time.Second, "all committed", func() bool { return r.committed(camTP) == 3 })
		checkPictures(t, fs, want)
		if n := len(fs.under("/t/_tmp")); n != 0 {
			t.Errorf("%d temporary files left", n)
		}
		files := fs.under("/t/bundles")
		for name := range files {
			if b, ok := strings.CutSuffix(name, ".idx"); ok && files[b] == nil {
				t.Errorf("index %s without its bundle", name)
			}
		}
	})
}

func TestBundleAbandonedAfterTheFence(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := bundleConfig()
		cl := newCluster()
		want := appendPictures(t, cl, 1, 4)
		fs := newMemFS()
		slow := true
		fs.beforeClose = func(name string) {
			if slow && strings.HasPrefix(name, "/t/_tmp/") {
				slow = false
				time.Sleep(cfg.Kafka.SessionTimeout/2 + time.Second) // a close that outlasts the work deadline
			}
		}
		r := start(t, cfg, fs, cl)
		svctest.Eventually(t, 30*time.Second, "all committed", func() bool { return r.committed(camTP) == 4 })
		if got := testutil.ToFloat64(r.m.bundlesAbandoned.WithLabelValues(abandonFenced)); got != 1 {
			t.Errorf("bundles abandoned at the fence = %v, want 1", got)
		}
		checkPictures(t, fs, want)
		if n := len(fs.under("/t/_tmp")); n != 0 {
			t.Errorf("%d temporary files left", n)
		}
	})
}

func TestBundleRecoverySkipsCommittedOffsets(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := bundleConfig()
		cl := newCluster()
		want := appendPictures(t, cl, 1, 5)
		fs := newMemFS()
		r := start(t, cfg, fs, cl)
		svctest.Eventually(t, 10*time.Second, "all committed", func() bool { return r.committed(camTP) == 5 })
		if err := r.stop(); err != nil {
			t.Fatal(err)
		}
		// A crash between the renames and the commit: Kafka has nothing
		// committed (another group), HDFS has the bundles.
		cfg.Kafka.GroupID += "-crashed"
		want = append(want, appendPictures(t, cl, 2, 2)...)
		r2 := start(t, cfg, fs, cl)
		svctest.Eventually(t, 10*time.Second, "all committed again", func() bool { return r2.committed(camTP) == 7 })
		checkPictures(t, fs, want)
		if got := testutil.ToFloat64(r2.m.messages.WithLabelValues(kindPicture, resultDuplicate)); got != 5 {
			t.Errorf("duplicates = %v, want 5 (the offsets of the committed bundles)", got)
		}
		if got := testutil.ToFloat64(r2.m.messages.WithLabelValues(kindPicture, resultStored)); got != 2 {
			t.Errorf("stored = %v, want 2", got)
		}
	})
}

func TestBundleDuplicateKeysAtNewOffsets(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := bundleConfig()
		cl := newCluster()
		at := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
		p1, e1 := mustPicture(t, "C1", at, 1, messages.FormBinary)
		p2, e2 := mustPicture(t, "C1", at.Add(time.Second), 2, messages.FormBinary)
		appendMsg(t, cl, camTP, e1)
		appendMsg(t, cl, camTP, e2)
		appendMsg(t, cl, camTP, e1) // forwarded twice into the open bundle
		fs := newMemFS()
		r := start(t, cfg, fs, cl)
		svctest.Eventually(t, 10*time.Second, "all committed", func() bool { return r.committed(camTP) == 3 })
		appendMsg(t, cl, camTP, e2) // forwarded again later: a committed bundle holds it
		svctest.Eventually(t, 10*time.Second, "all committed", func() bool { return r.committed(camTP) == 4 })
		if err := r.stop(); err != nil {
			t.Fatal(err)
		}
		// A new member loads the keys from the index files.
		p3, e3 := mustPicture(t, "C1", at.Add(2*time.Second), 3, messages.FormBinary)
		appendMsg(t, cl, camTP, e1)
		appendMsg(t, cl, camTP, e3)
		r2 := start(t, cfg, fs, cl)
		svctest.Eventually(t, 10*time.Second, "all committed", func() bool { return r2.committed(camTP) == 6 })
		checkPictures(t, fs, []messages.Picture{p1, p2, p3})
		if got := testutil.ToFloat64(r.m.messages.WithLabelValues(kindPicture, resultDuplicate)); got != 2 {
			t.Errorf("first member's duplicates = %v, want 2", got)
		}
		if got := testutil.ToFloat64(r2.m.messages.WithLabelValues(kindPicture, resultDuplicate)); got != 1 {
			t.Errorf("second member's duplicates = %v, want 1", got)
		}
	})
}

func TestKeyIndexBound(t *testing.T) {
	x := newKeyIndex(3)
	x.add([]string{"a", "b"})
	x.add([]string{"c"})
	x.add([]string{"d", "e"}) // 5 > 3: the oldest bundle goes
	for _, tt := range []struct {
		give string
		want bool
	}{{"a", false}, {"b", false}, {"c", true}, {"d", true}, {"e", true}} {
		if got := x.has(tt.give); got != tt.want {
			t.Errorf("has(%s) = %v, want %v", tt.give, got, tt.want)
		}
	}
	x.add([]string{"f", "g", "h", "i"}) // the newest bundle stays whole
	if x.has("e") || !x.has("i") || x.n != 4 {
		t.Errorf("after a bundle larger than the bound: n = %d, has(e) = %v, has(i) = %v", x.n, x.has("e"), x.has("i"))
	}
}

func TestBundleRenameRefusedOnOverlap(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := bundleConfig()
		cl := newCluster()
		want := appendPictures(t, cl, 1, 3)
		fs := newMemFS()
		// Another member commits offsets 1-1 in the hour this one writes
		// to, after this one recovered the partition.
		var other string
		fs.fail = func(op, name string) bool {
			if op == "create" && other == "" {
				other = (&Ingester{cfg: cfg}).bundleDir(camTP, time.Now()) + "/" + bundle.Name(camTP.Topic, camTP.Partition, 1, 1)
				fs.files[other] = []byte("someone else's") // fail runs with the lock held
			}
			return false
		}
		r := start(t, cfg, fs, cl)
		svctest.Eventually(t, 10*time.Second, "all committed", func() bool { return r.committed(camTP) == 3 })
		if got := testutil.ToFloat64(r.m.bundlesAbandoned.WithLabelValues(abandonOverlap)); got != 1 {
			t.Errorf("bundles refused for overlap = %v, want 1", got)
		}
		fs.setFail(nil)
		fs.mu.Lock()
		delete(fs.files, other)
		fs.mu.Unlock()
		// Recovered again: offsets up to 1 are skipped, 2 goes to a new
		// bundle; offset 0 was read before the overlap was found and is
		// not in any bundle now (the other member's bundle holds 1 only:
		// a foreign writer this test makes up).
		_, count, spans := committedBundles(t, fs)
		for _, s := range spans {
			if s.First <= 1 {
				t.Errorf("bundle %v overlaps the other member's 1-1", s)
			}
		}
		if count[want[2].Key()] != 1 {
			t.Errorf("picture at offset 2 in %d bundles, want 1", count[want[2].Key()])
		}
	})
}

// manualIngester returns an ingester (not running: the test calls its
// methods) that was just assigned parts (none: camTP), logging to log.
func manualIngester(t *testing.T, cfg Config, fs FS, cl *bustest.Cluster, log io.Writer, parts ...bus.TopicPartition) *Ingester {
	t.Helper()
	cons, err := cl.NewConsumer(cfg.Kafka)
	if err != nil {
		t.Fatal(err)
	}
	in, err := New(cfg, fs, nil, slog.New(slog.NewTextHandler(log, nil)), NewMetrics(prometheus.NewRegistry()), nil)
	if err != nil {
		t.Fatal(err)
	}
	in.cons = cons
	in.pollStart = time.Now()
	if len(parts) == 0 {
		parts = []bus.TopicPartition{camTP}
	}
	in.onAssigned(parts)
	return in
}

// openBundleIngester returns an ingester (not running) owning camTP with
// three pictures in its open bundle (offsets 0..2, none committed), its
// group's committed offsets, and fs.
func openBundleIngester(t *testing.T) (*Ingester, func() int64, *memFS) {
	t.Helper()
	cfg := bundleConfig()
	cfg.PictureBundleMaxAge = time.Hour
	cl := newCluster()
	appendPictures(t, cl, 1, 3)
	fs := newMemFS()
	in := manualIngester(t, cfg, fs, cl, io.Discard)
	for _, m := range cl.Records(camTP.Topic) {
		if err := in.process(context.Background(), m); err != nil {
			t.Fatal(err)
		}
	}
	if bp := in.bundles[camTP]; bp == nil || bp.open == nil || bp.open.w.Len() != 3 {
		t.Fatal("pictures not in an open bundle")
	}
	return in, func() int64 { return cl.Committed(cfg.Kafka.GroupID)[camTP] }, fs
}

// On revoke and shutdown the open bundle is committed, or abandoned with
// nothing committed.
func TestBundleClosedOnRevokeAndShutdown(t *testing.T) {
	for _, tt := range []struct {
		name          string
		end           func(in *Ingester)
		failRename    bool
		wantCommitted int64
		wantBundles   int
	}{
		{name: "revoke", end: func(in *Ingester) { in.onRevoked([]bus.TopicPartition{camTP}, false) }, wantCommitted: 3, wantBundles: 1},
		{name: "revoke, rename fails", end: func(in *Ingester) { in.onRevoked([]bus.TopicPartition{camTP}, false) }, failRename: true},
		{name: "lost", end: func(in *Ingester) { in.onRevoked([]bus.TopicPartition{camTP}, true) }},
		{name: "shutdown", end: func(in *Ingester) { in.finish() }, wantCommitted: 3, wantBundles: 1},
		{name: "shutdown, rename fails", end: func(in *Ingester) { in.finish() }, failRename: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			in, committed, fs := openBundleIngester(t)
			if tt.failRename {
				fs.setFail(func(op, name string) bool { return op == "rename" && strings.Contains(name, ".avro") })
			}
			tt.end(in)
			if c := committed(); c != tt.wantCommitted {
				t.Errorf("committed %d, want %d", c, tt.wantCommitted)
			}
			fs.setFail(nil)
			if _, _, spans := committedBundles(t, fs); len(spans) != tt.wantBundles {
				t.Errorf("bundles = %v, want %d", spans, tt.wantBundles)
			}
			if n := len(fs.under("/t/_tmp")); n != 0 {
				t.Errorf("%d temporary files left", n)
			}
		})
	}
}

// Recovery reads the key index's worth of the newest hours, then only
// names of 24 hour directories more: a newer bundle in an older hour (its
// writer's clock was behind) still sets the position.
func TestBundleRecoveryListsOlderHoursForNames(t *testing.T) {
	cfg := bundleConfig()
	cfg.PictureBundleIndexKeys = 1
	in := &Ingester{cfg: cfg, fs: newMemFS(), m: NewMetrics(prometheus.NewRegistry()), log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	fs := in.fs.(*memFS)
	at := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	put := func(hour int, first, last int64) {
		name := in.bundleDir(camTP, at.Add(time.Duration(hour)*time.Hour)) + "/" + bundle.Name(camTP.Topic, camTP.Partition, first, last)
		var b bytes.Buffer
		x := bundle.Index{Topic: camTP.Topic, Partition: camTP.Partition, HeaderBytes: 100,
			Entries: []bundle.Entry{{Key: messages.PictureKey("C1", at, [32]byte{byte(first)}), Offset: first, CapturedAt: at, Start: 100, Length: 50}}}
		_, _ = x.WriteTo(&b)
		fs.files[name] = []byte("bundle")
		fs.files[bundle.IndexName(name)] = b.Bytes()
	}
	put(0, 100, 100) // the newest hour fills the key index
	for h := 1; h <= recoverSlackHours+1; h++ {
		switch h {
		case 3:
			put(-h, 200, 200) // an older hour, newer offsets (a clock behind)
		case recoverSlackHours + 1:
			put(-h, 300, 300) // past the slack: not listed
		default:
			put(-h, int64(h), int64(h))
		}
	}
	high, found, err := in.recoverBundles(camTP)
	if err != nil {
		t.Fatal(err)
	}
	if high != 200 || len(found) != 1 || found[0].Entries[0].Offset != 100 {
		t.Errorf("recoverBundles = %d, %d indexes, want 200 and the newest hour's index", high, len(found))
	}
}

// The overlap check lists a bundle directory on the first roll into it in
// a takeover, not on every roll; a new takeover lists it again (and finds
// what another member committed there before it).
func TestBundleOverlapListsDirOncePerTakeover(t *testing.T) {
	cfg := bundleConfig()
	cfg.PictureBundleMaxBytes = 1 // a bundle a picture
	cl := newCluster()
	appendPictures(t, cl, 1, 4)
	fs := newMemFS()
	in := manualIngester(t, cfg, fs, cl, io.Discard)
	at := time.Date(2026, 12, 7, 9, 30, 0, 0, time.UTC)
	in.now = func() time.Time { return at } // one hour directory
	dir := in.bundleDir(camTP, at)
	listings := func() int {
		fs.mu.Lock()
		defer fs.mu.Unlock()
		n := 0
		for _, op := range fs.ops {
			if op == "readdir "+dir {
				n++
			}
		}
		return n
	}
	recs := cl.Records(camTP.Topic)
	process := func(m *bus.Message) {
		t.Helper()
		if err := in.process(context.Background(), m); err != nil {
			t.Fatal(err)
		}
	}
	for _, m := range recs[:3] {
		process(m)
	}
	// A roll by size finishes on the next roll or in the poll loop's
	// maintenance, once its close is done: finish the last one now.
	if err := in.roll(camTP, true); err != nil {
		t.Fatal(err)
	}
	if got := testutil.ToFloat64(in.m.bundlesCommitted); got != 3 {
		t.Fatalf("bundles committed = %v, want 3", got)
	}
	if got := listings(); got != 1 {
		t.Errorf("%s listed %d times in 3 rolls of one takeover, want 1", dir, got)
	}

	// Taken over again: after its recovery, before its first roll,
	// another member commits the next offset there (a foreign writer the
	// test makes up); the first roll lists the directory again and
	// refuses to overlap it.
	in.onAssigned([]bus.TopicPartition{camTP})
	planted := false
	fs.setFail(func(op, name string) bool {
		if op == "create" && !planted {
			planted = true
			fs.files[dir+"/"+bundle.Name(camTP.Topic, camTP.Partition, 3, 3)] = []byte("someone else's") // the lock is held
		}
		return false
	})
	before := listings()
	err := in.process(context.Background(), recs[3])
	if err == nil {
		err = in.roll(camTP, true) // the roll it started
	}
	if err == nil {
		t.Fatal("a bundle overlapping another member's was committed")
	}
	if got := listings() - before; got < 1 {
		t.Errorf("%s not listed again after a takeover", dir)
	}
	if got := testutil.ToFloat64(in.m.bundlesAbandoned.WithLabelValues(abandonOverlap)); got != 1 {
		t.Errorf("bundles refused for overlap = %v, want 1", got)
	}
}

// A picture's block fails to reach HDFS (written on the bundle's writer
// goroutine, after its Append returned): the bundle is abandoned, nothing
// of it committed, and its pictures come again and are committed once.
func TestBundleAbandonedWhenABlockWriteFails(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cl := newCluster()
		want := appendPictures(t, cl, 1, 3)
		fs := newMemFS()
		writes, failed := 0, false
		fs.setFail(func(op, name string) bool {
			if op != "write" || !strings.HasPrefix(name, "/t/_tmp/") || failed {
				return false
			}
			writes++
			if writes == 3 { // the header, one picture, then the second picture's block
				failed = true
				return true
			}
			return false
		})
		cfg := bundleConfig()
		cfg.PictureBundleMaxAge = time.Second
		r := start(t, cfg, fs, cl)
		svctest.Eventually(t, 10*time.Second, "all committed", func() bool { return r.committed(camTP) == 3 })
		if got := testutil.ToFloat64(r.m.bundlesAbandoned.WithLabelValues(abandonError)); got != 1 {
			t.Errorf("bundles abandoned = %v, want 1", got)
		}
		checkPictures(t, fs, want)
		if n := len(fs.under("/t/_tmp")); n != 0 {
			t.Errorf("%d temporary files left", n)
		}
	})
}

// A bundle rolled by size closes on its writer's goroutine while the next
// bundle is appended to: the commit stays at the closing bundle's first
// offset until its roll is finished, and when its close fails, both
// bundles are abandoned and the partition is sought back to the closing
// one's first offset; the records then come again and are committed
// once.
func TestBundleClosingHoldsTheCommitAndFailsWithTheNext(t *testing.T) {
	cfg := bundleConfig()
	cfg.PictureBundleMaxBytes = 1 // the first picture rolls its bundle
	cl := newCluster()
	want := appendPictures(t, cl, 1, 2)
	fs := newMemFS()
	fs.setFail(failNthTempClose(1)) // the first bundle's close
	in := manualIngester(t, cfg, fs, cl, io.Discard)
	recs := cl.Records(camTP.Topic)
	if err := in.process(context.Background(), recs[0]); err != nil {
		t.Fatal(err)
	}
	bp := in.bundles[camTP]
	if bp.closing == nil || bp.open != nil {
		t.Fatalf("after a roll by size: closing %v, open %v; want a closing bundle and no open one", bp.closing != nil, bp.open != nil)
	}
	if got := in.commitPoint(camTP); got != recs[0].Offset {
		t.Errorf("commit point while the bundle closes = %d, want its first offset %d", got, recs[0].Offset)
	}
	in.cfg.PictureBundleMaxBytes = 1 << 30 // the next bundle stays open
	if err := in.process(context.Background(), recs[1]); err != nil {
		t.Fatal(err)
	}
	if bp.open == nil || bp.closing == nil {
		t.Fatal("the next picture did not go to a new bundle while the first closes")
	}
	if got := in.commitPoint(camTP); got != recs[0].Offset {
		t.Errorf("commit point with the next bundle open = %d, want the closing bundle's first offset %d", got, recs[0].Offset)
	}
	if err := in.roll(camTP, true); err == nil {
		t.Fatal("roll after a failed close = nil, want an error")
	}
	if got := testutil.ToFloat64(in.m.bundlesAbandoned.WithLabelValues(abandonError)); got != 2 {
		t.Errorf("bundles abandoned = %v, want 2 (the closing one and the next)", got)
	}
	if bp.open != nil || bp.closing != nil || in.part(camTP).rewind != recs[0].Offset || in.part(camTP).next != recs[0].Offset {
		t.Errorf("after the abandon: open %v, closing %v, rewind %d, next %d; want none, none, %d, %d",
			bp.open != nil, bp.closing != nil, in.part(camTP).rewind, in.part(camTP).next, recs[0].Offset, recs[0].Offset)
	}
	if _, count, _ := committedBundles(t, fs); len(count) != 0 {
		t.Errorf("bundles committed: %v", count)
	}
	for _, m := range recs {
		if err := in.process(context.Background(), m); err != nil {
			t.Fatal(err)
		}
	}
	if err := in.roll(camTP, true); err != nil {
		t.Fatal(err)
	}
	checkPictures(t, fs, want)
	if got := in.commitPoint(camTP); got != recs[1].Offset+1 {
		t.Errorf("commit point after the rolls = %d, want %d", got, recs[1].Offset+1)
	}
	if n := len(fs.under("/t/_tmp")); n != 0 {
		t.Errorf("%d temporary files left", n)
	}
}

// A roll by size writes the bundle's index on the writer's goroutine,
// right after the bundle's close, so that the poll loop only renames
// (finishRoll). When the index's write or close fails there, the bundle
// is abandoned (nothing committed, no temporary file left), and its
// records, consumed again, are committed once.
func TestBundleIndexWrittenWithTheClose(t *testing.T) {
	tests := []struct {
		name      string
		failClose int // the n'th close of a temporary file fails (0: none); the bundle's is the 1st, its index's the 2nd
	}{
		{name: "written before finishRoll"},
		{name: "index close fails", failClose: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := bundleConfig()
			cfg.PictureBundleMaxBytes = 1 // the first picture rolls its bundle
			cl := newCluster()
			want := appendPictures(t, cl, 1, 1)
			fs := newMemFS()
			fs.setFail(failNthTempClose(tt.failClose))
			in := manualIngester(t, cfg, fs, cl, io.Discard)
			recs := cl.Records(camTP.Topic)
			if err := in.process(context.Background(), recs[0]); err != nil {
				t.Fatal(err)
			}
			bp := in.bundles[camTP]
			if bp.closing == nil {
				t.Fatal("no bundle closing after a roll by size")
			}
			err := bp.closing.f.wait()
			if tt.failClose != 0 {
				if err == nil {
					t.Fatal("close with a failing index close = nil, want the error")
				}
				if err := in.roll(camTP, true); err == nil {
					t.Fatal("roll after a failed index close = nil, want an error")
				}
				if got := testutil.ToFloat64(in.m.bundlesAbandoned.WithLabelValues(abandonError)); got != 1 {
					t.Errorf("bundles abandoned = %v, want 1", got)
				}
				if n := len(fs.under("/t/_tmp")); n != 0 {
					t.Errorf("%d temporary files left after the abandon", n)
				}
				if err := in.process(context.Background(), recs[0]); err != nil {
					t.Fatal(err)
				}
			} else {
				if err != nil {
					t.Fatal(err)
				}
				idx, ok := fs.under("/t/_tmp")[bp.closing.idxTmp]
				if !ok {
					t.Fatalf("index %q not written when the bundle's close is done", bp.closing.idxTmp)
				}
				x, err := bundle.ParseIndex(bytes.NewReader(idx))
				if err != nil || len(x.Entries) != 1 || x.Entries[0].Key != want[0].Key() {
					t.Errorf("index written = %+v, %v; want the one entry of %s", x.Entries, err, want[0].Key())
				}
			}
			if err := in.roll(camTP, true); err != nil {
				t.Fatal(err)
			}
			checkPictures(t, fs, want)
			if n := len(fs.under("/t/_tmp")); n != 0 {
				t.Errorf("%d temporary files left", n)
			}
		})
	}
}

// failNthTempClose fails the n'th close of a temporary file (a bundle's or
// its index's, in the order they close; n 0: none).
func failNthTempClose(n int) func(op, name string) bool {
	closes := 0
	return func(op, name string) bool {
		if op == "close" && strings.HasPrefix(name, "/t/_tmp/") {
			closes++
			return closes == n
		}
		return false
	}
}
