//go:build integration

package ingest

import (
	"errors"
	"os"
	"path"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sensornode/sensornode/tools/devstack/devstacktest"
	"github.com/sensornode/sensornode/tools/devstack/faultproxy"
)

// On real HDFS, a write whose deadline has passed is not renamed into
// place and leaves no temporary file; one within its deadline is.
func TestIntegrationHDFSWriteAtomicFenced(t *testing.T) {
	fx := newIFixtureNoTopics(t)
	cfg := fx.config()
	fs := NewHDFS(cfg.HDFS)
	t.Cleanup(func() { _ = fs.Close() })
	tmp, final := cfg.HDFS.TmpDir+"/fenced.tmp", fx.root+"/out/fenced"
	err := fs.WriteAtomic(tmp, final, []byte("late"), time.Now().Add(-time.Millisecond))
	if !errors.Is(err, ErrFenced) {
		t.Fatalf("WriteAtomic past its deadline = %v, want ErrFenced", err)
	}
	for _, name := range []string{tmp, final} {
		if _, err := fx.fs.Stat(name); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s after a fenced write: stat err %v, want not found", name, err)
		}
	}
	if err := fs.WriteAtomic(tmp, final, []byte("in time"), time.Now().Add(time.Minute)); err != nil {
		t.Fatalf("WriteAtomic within its deadline = %v", err)
	}
	if b, err := fx.fs.ReadFile(final); err != nil || string(b) != "in time" {
		t.Errorf("%s = %q, %v; want %q", final, b, err, "in time")
	}
}

// What the bundle store's fence rests on, on real HDFS: a directory is
// removed with a file in it still open for write by another client (whose
// Close then fails), Create does not make a missing directory, and a
// rename whose source directory was removed fails and moves nothing.
func TestIntegrationHDFSTakeoverPrimitives(t *testing.T) {
	fx := newIFixtureNoTopics(t)
	cfg := fx.config()
	zombie, owner := NewHDFS(cfg.HDFS), NewHDFS(cfg.HDFS) // two clients: two leases
	t.Cleanup(func() { _, _ = zombie.Close(), owner.Close() })
	dir := cfg.HDFS.TmpDir + "/part+0/zombie"
	if err := zombie.MkdirAll(dir); err != nil {
		t.Fatal(err)
	}
	open, err := zombie.Create(dir + "/0-open.tmp")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := open.Write([]byte("a bundle being written")); err != nil {
		t.Fatal(err)
	}
	closed := dir + "/1-closed.tmp"
	w, err := zombie.Create(closed)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte("a bundle about to be renamed")); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}

	if err := owner.RemoveAll(dir); err != nil {
		t.Fatalf("remove a directory with a file open for write by another client: %v", err)
	}
	final := fx.root + "/bundles/x/0/x+0+1+1.avro"
	if err := zombie.Rename(closed, final, time.Now().Add(time.Minute)); err == nil {
		t.Error("rename from a removed directory succeeded")
	}
	if _, err := fx.fs.Stat(final); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s after the failed rename: stat err %v, want not found", final, err)
	}
	if err := open.Close(time.Now().Add(10 * time.Second)); err == nil {
		t.Error("close of a file whose directory was removed while it was open succeeded")
	}
	if _, err := zombie.Create(dir + "/2-new.tmp"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("create in the removed directory: %v, want not found (Create must not make it again)", err)
	}
	if _, err := fx.fs.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s: stat err %v, want not found", dir, err)
	}
}

// TestIntegrationBundleZombieRenameFenced: member A of two passes the time
// fence of its first bundle's rename and is paused right before the
// NameNode call (the window the time fence leaves open); its link to
// Kafka is cut, so the group gives its partition to member B, which takes
// it over (removing A's temporary directory) and stores the pictures.
// Then A goes on: its rename fails, its bundle is abandoned as fenced and
// it commits nothing; every picture is in exactly one committed bundle,
// and no two bundles overlap.
func TestIntegrationBundleZombieRenameFenced(t *testing.T) {
	fx := newIFixture(t, 1)
	proxy := fx.cloudProxy(t)
	p := fx.producer(t)
	const n = 12
	want := map[[32]byte]bool{}
	msgs := fx.pictures(t, "C8", "node8", time.Date(2026, 5, 8, 9, 0, 0, 0, time.UTC), 0, n, want)
	cfg := fx.config()
	cfg.PictureStore = StoreAvro
	cfg.PictureBundleMaxBytes = int64(len(msgs[0].Value)) * 7 / 2 // about four pictures a bundle
	cfg.PictureBundleMaxAge = time.Hour                           // A rolls by size only
	cfg.Kafka.SessionTimeout = 6 * time.Second

	// A: through the proxy, paused before its first bundle's rename.
	cfgA := cfg
	cfgA.Kafka.Brokers = []string{fx.st.CloudProxiedBootstrap()}
	opts, paused, release := pauseAtRename(".avro")
	a := fx.startOpts(t, cfgA, opts)
	t.Cleanup(func() { closeOnce(release) }) // before a's stop: cleanups run last first
	publishAll(t, p, msgs)
	final := waitPaused(t, paused, "its first bundle's rename")
	commitsBefore := a.metric("sensornode_ingest_commits_total", "result", "ok") // of offset 0: nothing

	// A's link to Kafka is cut: its session times out and the group gives
	// the partition to B, which takes it over and stores the pictures.
	proxy.Cut()
	cfgB := cfg
	cfgB.PictureBundleMaxAge = time.Second
	b := fx.start(t, cfgB)
	waitUntil(t, "B committed every picture", 2*time.Minute, func() bool { return fx.committed(t)[fx.camTopic] == n })
	if got := b.metric("sensornode_ingest_tmp_files_removed_total"); got < 1 {
		t.Errorf("B removed %v temporary files, want A's bundle", got)
	}

	// A goes on: its rename fails, nothing of it is committed.
	closeOnce(release)
	waitUntil(t, "A abandoned its bundle as fenced", time.Minute, func() bool {
		return a.metric("sensornode_ingest_bundles_abandoned_total", "reason", "fenced") >= 1
	})
	a.stop()
	if got := a.metric("sensornode_ingest_bundles_committed_total"); got != 0 {
		t.Errorf("A committed %v bundles", got)
	}
	if got := a.metric("sensornode_ingest_commits_total", "result", "ok"); got != commitsBefore {
		t.Errorf("A committed offsets %v times after its pause", got-commitsBefore)
	}
	if !strings.Contains(fx.logs.String(), "reason=fenced first=0 last=3") {
		t.Errorf("no WARN naming A's fenced bundle (offsets 0-3)")
	}
	b.stop()
	if c := fx.committed(t)[fx.camTopic]; c != n {
		t.Errorf("committed %d, want %d", c, n)
	}
	if _, err := fx.fs.Stat(final); err == nil {
		// B's first bundle may have A's name (same offsets): then it is
		// B's, and checkBundles reads it through B's index.
		t.Logf("%s committed (by B: A's rename failed)", path.Base(final))
	}
	fx.checkBundles(t, want)
	if tmps := fx.tmpFiles(t); len(tmps) != 0 {
		t.Errorf("temporary files left: %q", tmps)
	}
}

// cloudProxy is the devstack's cloud faultproxy, the stack taken for this
// test alone (Exclusive).
func (fx *ifixture) cloudProxy(t *testing.T) *faultproxy.Proxy {
	t.Helper()
	// The cloud faultproxy's port first, then the stack to ourselves: the
	// order of the end-to-end chaos test, which takes Exclusive (through
	// KillForTest) while it holds the port.
	var proxy *faultproxy.Proxy
	waitUntil(t, "the cloud faultproxy's port", 5*time.Minute, func() bool {
		var err error
		proxy, err = faultproxy.New(fx.st.CloudProxiedBootstrap(), fx.st.CloudProxiedTarget())
		return err == nil
	})
	devstacktest.Exclusive(t, fx.st)
	t.Cleanup(func() { _ = proxy.Close() })
	return proxy
}

// pauseAtRename returns options that pause a member's first rename into
// a name ending in suffix once it passed the time fence, right before the
// NameNode call: the final name is sent on paused, and the rename goes on
// once release is closed.
func pauseAtRename(suffix string) (opts Options, paused <-chan string, release chan struct{}) {
	p, release := make(chan string, 1), make(chan struct{})
	var once sync.Once
	return Options{BeforeRename: func(_, final string) {
		if strings.HasSuffix(final, suffix) {
			once.Do(func() {
				p <- final
				<-release
			})
		}
	}}, p, release
}

// waitPaused waits for pauseAtRename's pause and returns its final name.
func waitPaused(t *testing.T, paused <-chan string, what string) string {
	t.Helper()
	select {
	case final := <-paused:
		t.Logf("A paused before renaming %s", path.Base(final))
		return final
	case <-time.After(2 * time.Minute):
		t.Fatalf("A never reached %s", what)
		return ""
	}
}

// failListFS fails every listing of the temporary directory itself (its
// subdirectories list), as a NameNode that times out listing a directory
// of many leftover files would.
type failListFS struct {
	FS
	tmp string
}

func (f *failListFS) ReadDir(dir string) ([]os.FileInfo, error) {
	if strings.TrimSuffix(dir, "/") == strings.TrimSuffix(f.tmp, "/") {
		return nil, errors.New("injected: listing timed out")
	}
	return f.FS.ReadDir(dir)
}

// TestIntegrationReadingsZombieRenameFenced: the readings flush is fenced
// by the takeover as bundles are. Member A of two passes the time fence of
// a readings file's rename and is paused right before the NameNode call;
// its link to Kafka is cut, so the group gives its partition to member B,
// which takes it over (removing A's temporary directory) and stores the
// readings. B cannot list the temporary directory itself: before the
// takeover fence, B's removal of leftover temporary files (A's) on
// assignment failed, was retried later and B went on meanwhile, and A's
// rename stored readings a second time; the takeover lists only the
// partition's own directory, and B writes nothing before it is done. Then
// A goes on: its rename fails, its flush is given up as fenced and it
// commits nothing; every reading is stored once.
func TestIntegrationReadingsZombieRenameFenced(t *testing.T) {
	fx := newIFixture(t, 1)
	proxy := fx.cloudProxy(t)
	p := fx.producer(t)
	const n = 12
	want := map[string]bool{}
	msgs := fx.readings(t, "node9", 42, time.Date(2026, 5, 9, 9, 0, 0, 0, time.UTC), 0, n, want)
	cfg := fx.config()
	cfg.Kafka.SessionTimeout = 6 * time.Second

	// A: through the proxy, flushing every four readings, paused before
	// its first file's rename.
	cfgA := cfg
	cfgA.Kafka.Brokers = []string{fx.st.CloudProxiedBootstrap()}
	cfgA.TemperatureRotateInterval, cfgA.TemperatureFlushRecords = time.Hour, 4
	opts, paused, release := pauseAtRename(".jsonl")
	a := fx.startOpts(t, cfgA, opts)
	t.Cleanup(func() { closeOnce(release) }) // before a's stop: cleanups run last first
	publishAll(t, p, msgs)
	final := waitPaused(t, paused, "its first readings file's rename")
	commitsBefore := a.metric("sensornode_ingest_commits_total", "result", "ok")

	// A's link to Kafka is cut: the group gives the partition to B, which
	// takes it over and reads the readings (to store them in other files
	// than A's).
	proxy.Cut()
	b := fx.startOpts(t, cfg, Options{WrapFS: func(f FS) FS { return &failListFS{FS: f, tmp: cfg.HDFS.TmpDir} }})
	waitUntil(t, "B read readings", 2*time.Minute, func() bool { return b.metric("sensornode_ingest_pending_readings") > 0 })

	// A goes on: its rename fails, nothing of it is written or committed.
	closeOnce(release)
	waitUntil(t, "A's flush fenced", time.Minute, func() bool { return strings.Contains(fx.logs.String(), "readings flush fenced") })
	waitUntil(t, "B committed every reading", 2*time.Minute, func() bool { return fx.committed(t)[fx.tempTopic] == n })
	if got := b.metric("sensornode_ingest_tmp_files_removed_total"); got < 1 {
		t.Errorf("B removed %v temporary files, want A's readings file", got)
	}
	a.stop()
	if got := a.metric("sensornode_ingest_commits_total", "result", "ok"); got != commitsBefore {
		t.Errorf("A committed offsets %v times after its pause", got-commitsBefore)
	}
	if got := a.metric("sensornode_ingest_fenced_writes_total"); got < 1 {
		t.Errorf("A: fenced writes = %v, want >= 1", got)
	}
	b.stop()
	if _, err := fx.fs.Stat(final); err == nil {
		t.Errorf("%s, A's file, renamed into place after B took the partition over", path.Base(final))
	}
	got := fx.readingCounts(t)
	if len(got) != n {
		t.Errorf("%d readings stored, want %d", len(got), n)
	}
	for id, c := range got {
		if !want[id] || c != 1 {
			t.Errorf("reading %s stored %d times (expected: %v)", id, c, want[id])
		}
	}
	if c := fx.committed(t)[fx.tempTopic]; c != n {
		t.Errorf("committed %d, want %d", c, n)
	}
	if tmps := fx.tmpFiles(t); len(tmps) != 0 {
		t.Errorf("temporary files left: %q", tmps)
	}
}

func closeOnce(c chan struct{}) {
	select {
	case <-c:
	default:
		close(c)
	}
}

// On real HDFS, renames skip making a directory they went into before,
// and a rename into one removed meanwhile (by another client) makes it
// again; a rename whose source is gone still fails and moves nothing.
func TestIntegrationHDFSRenameIntoRemovedDir(t *testing.T) {
	fx := newIFixtureNoTopics(t)
	cfg := fx.config()
	h := newHDFS(cfg.HDFS)
	t.Cleanup(func() { _ = h.Close() })
	if err := h.MkdirAll(cfg.HDFS.TmpDir); err != nil {
		t.Fatal(err)
	}
	dir := fx.root + "/out/2026/12/07/09"
	write := func(name, data string) string {
		t.Helper()
		tmp := cfg.HDFS.TmpDir + "/" + name + ".tmp"
		w, err := h.Create(tmp)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write([]byte(data)); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(time.Now().Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		return tmp
	}
	deadline := time.Now().Add(time.Minute)
	if err := h.Rename(write("a", "a"), dir+"/a", deadline); err != nil {
		t.Fatalf("first rename into %s: %v", dir, err)
	}
	if !h.made[dir] {
		t.Fatalf("%s not remembered after a rename into it", dir)
	}
	if err := fx.fs.RemoveAll(fx.root + "/out"); err != nil {
		t.Fatal(err)
	}
	if err := h.Rename(write("b", "b"), dir+"/b", deadline); err != nil {
		t.Fatalf("rename into %s after another client removed it: %v", dir, err)
	}
	if b, err := fx.fs.ReadFile(dir + "/b"); err != nil || string(b) != "b" {
		t.Errorf("%s/b = %q, %v; want %q", dir, b, err, "b")
	}
	gone := cfg.HDFS.TmpDir + "/gone.tmp"
	if err := h.Rename(gone, dir+"/c", deadline); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("rename of a missing source = %v, want not found", err)
	}
	if _, err := fx.fs.Stat(dir + "/c"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s/c after a failed rename: stat err %v, want not found", dir, err)
	}
}
