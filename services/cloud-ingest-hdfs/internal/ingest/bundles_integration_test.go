//go:build integration

package ingest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sensornode/sensornode/libs/bundle"
	"github.com/sensornode/sensornode/tools/devstack"
)

var errKilled = errors.New("killed")

// killableFS is an FS that dies, as a killed process's HDFS client does:
// once killed nothing more reaches HDFS (an open bundle stays as a
// temporary file, uncommitted).
type killableFS struct {
	FS
	killed  atomic.Bool
	mu      sync.Mutex
	writers []FileWriter
}

// release closes what the dead client left open (the files stay
// temporary), as the end of a process does: no goroutine of it outlives
// the test.
func (k *killableFS) release() {
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, w := range k.writers {
		_ = w.Close(time.Now().Add(5 * time.Second))
	}
	k.writers = nil
}

func (k *killableFS) dead() error {
	if k.killed.Load() {
		return errKilled
	}
	return nil
}

func (k *killableFS) Stat(name string) (int64, bool, error) {
	if err := k.dead(); err != nil {
		return 0, false, err
	}
	return k.FS.Stat(name)
}

func (k *killableFS) WriteAtomic(tmp, final string, data []byte, deadline time.Time) error {
	if err := k.dead(); err != nil {
		return err
	}
	return k.FS.WriteAtomic(tmp, final, data, deadline)
}

func (k *killableFS) Create(tmp string) (FileWriter, error) {
	if err := k.dead(); err != nil {
		return nil, err
	}
	w, err := k.FS.Create(tmp)
	if err != nil {
		return nil, err
	}
	k.mu.Lock()
	k.writers = append(k.writers, w)
	k.mu.Unlock()
	return &killableWriter{FileWriter: w, k: k}, nil
}

func (k *killableFS) Rename(tmp, final string, deadline time.Time) error {
	if err := k.dead(); err != nil {
		return err
	}
	return k.FS.Rename(tmp, final, deadline)
}

func (k *killableFS) ReadDir(dir string) ([]os.FileInfo, error) {
	if err := k.dead(); err != nil {
		return nil, err
	}
	return k.FS.ReadDir(dir)
}

func (k *killableFS) ReadFile(name string) ([]byte, error) {
	if err := k.dead(); err != nil {
		return nil, err
	}
	return k.FS.ReadFile(name)
}

func (k *killableFS) Remove(name string) error {
	if err := k.dead(); err != nil {
		return err
	}
	return k.FS.Remove(name)
}

type killableWriter struct {
	FileWriter
	k *killableFS
}

func (w *killableWriter) Write(p []byte) (int, error) {
	if err := w.k.dead(); err != nil {
		return 0, err
	}
	return w.FileWriter.Write(p)
}

func (w *killableWriter) Close(deadline time.Time) error {
	if err := w.k.dead(); err != nil {
		return err
	}
	return w.FileWriter.Close(deadline)
}

// TestIntegrationBundleStoreKilledMidBundle: pictures go through the
// bundle store on the devstack (real Kafka, real HDFS); the ingester dies
// with a bundle open (its HDFS client first, so the open bundle stays a
// temporary file as after a kill) and a new one takes over. Then every
// picture is in exactly one committed bundle, byte-identical when read
// through the index with one ranged read, no two bundles overlap, the
// temporary file is gone, and avro-tools counts what the indexes list.
func TestIntegrationBundleStoreKilledMidBundle(t *testing.T) {
	fx := newIFixture(t, 1)
	p := fx.producer(t)
	const n = 30
	want := map[[32]byte]bool{}
	msgs := fx.pictures(t, "C7", "node7", time.Date(2026, 5, 7, 9, 0, 0, 0, time.UTC), 0, n, want)
	cfg := fx.config()
	cfg.PictureStore = StoreAvro
	cfg.PictureBundleMaxBytes = int64(len(msgs[0].Value)) * 7 / 2 // about four pictures a bundle
	cfg.PictureBundleMaxAge = time.Hour                           // only sizes roll before the kill
	kfs := &killableFS{}
	r := fx.startOpts(t, cfg, Options{WrapFS: func(f FS) FS { kfs.FS = f; return kfs }})
	publishAll(t, p, msgs)
	waitUntil(t, "two bundles committed and one open", 2*time.Minute, func() bool {
		return r.metric("sensornode_ingest_bundles_committed_total") >= 2 && r.metric("sensornode_ingest_open_bundle_age_seconds") > 0
	})
	kfs.killed.Store(true)
	r.stop()
	kfs.release()
	if tmps := fx.tmpFiles(t); len(tmps) == 0 {
		t.Fatal("no temporary bundle left by the kill: the test did not kill mid-bundle")
	}
	committedBefore := fx.committed(t)[fx.camTopic]

	cfg.PictureBundleMaxAge = time.Second
	r2 := fx.start(t, cfg)
	waitUntil(t, "every picture committed", 2*time.Minute, func() bool { return fx.committed(t)[fx.camTopic] == n })
	r2.stop()
	if committedBefore >= n {
		t.Errorf("everything was committed before the restart (%d): nothing was in the open bundle", committedBefore)
	}
	if got := r2.metric("sensornode_ingest_tmp_files_removed_total"); got < 1 {
		t.Errorf("temporary files removed = %v, want the killed member's open bundle", got)
	}
	if tmps := fx.tmpFiles(t); len(tmps) != 0 {
		t.Errorf("temporary files left: %q", tmps)
	}

	files := fx.checkBundles(t, want)
	if _, err := fx.fs.Stat(fx.root + "/bundles/" + bundle.SchemaFile); err != nil {
		t.Errorf("schema file: %v", err)
	}

	// avro-tools count over the committed bundles agrees.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	jar, err := devstack.AvroToolsJar(ctx, devstack.Config{})
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, p := range files {
		local := filepath.Join(t.TempDir(), path.Base(p))
		if err := fx.fs.CopyToLocal(p, local); err != nil {
			t.Fatal(err)
		}
		var out, errb bytes.Buffer
		cmd := exec.CommandContext(ctx, fx.st.Java(), "-jar", jar, "count", local)
		cmd.Stdout, cmd.Stderr = &out, &errb
		if err := cmd.Run(); err != nil {
			t.Fatalf("avro-tools count %s: %v\n%s", local, err, errb.String())
		}
		c, err := strconv.Atoi(strings.TrimSpace(out.String()))
		if err != nil {
			t.Fatalf("avro-tools count %s: %q", local, out.String())
		}
		total += c
	}
	if total != n {
		t.Errorf("avro-tools count over %d bundles = %d, want %d", len(files), total, n)
	}
}

// checkBundles checks that every picture of want (by SHA-256) is in
// exactly one committed bundle, byte-identical when read through the
// index with one ranged read, that no two bundles overlap and that no
// other picture is there; it returns the committed bundles' paths.
func (fx *ifixture) checkBundles(t *testing.T, want map[[32]byte]bool) []string {
	t.Helper()
	seen := map[[32]byte]int{}
	var spans []bundle.Span
	var files []string
	fx.walkFiles(t, fx.root+"/bundles", func(p string, b []byte) error {
		s, ok := bundle.ParseName(path.Base(p))
		if !ok {
			return nil
		}
		for _, o := range spans {
			if o.Overlaps(s) {
				t.Errorf("bundles overlap: %v and %v", o, s)
			}
		}
		spans = append(spans, s)
		files = append(files, p)
		idx, err := fx.fs.ReadFile(bundle.IndexName(p))
		if err != nil {
			return fmt.Errorf("index of %s: %w", p, err) // wrapped: not the walk's "does not exist"
		}
		x, err := bundle.ParseIndex(bytes.NewReader(idx))
		if err != nil {
			return err
		}
		f, err := fx.fs.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		for _, e := range x.Entries {
			blk := make([]byte, e.Length)
			if _, err := f.ReadAt(blk, e.Start); err != nil {
				return err
			}
			rec, err := bundle.ReadBlock(blk, x.Sync)
			if err != nil {
				t.Errorf("%s: %s: %v", p, e.Key, err)
				continue
			}
			sum := sha256.Sum256(rec.JPEG)
			if !want[sum] {
				t.Errorf("%s: %s: bytes differ from every picture sent", p, e.Key)
			}
			seen[sum]++
		}
		return nil
	})
	for sum := range want {
		if seen[sum] != 1 {
			t.Errorf("picture %x in %d committed bundles, want 1", sum[:6], seen[sum])
		}
	}
	return files
}

// tmpFiles lists the files (not directories) below the temporary
// directory.
func (fx *ifixture) tmpFiles(t *testing.T) []string {
	t.Helper()
	var out []string
	fx.walkFiles(t, fx.root+"/_tmp", func(p string, _ []byte) error {
		out = append(out, p)
		return nil
	})
	return out
}

// TestIntegrationBundleStoreRebalance: two replicas split the picture
// topic's two partitions; one dies with a bundle open (its HDFS client
// first, as in TestIntegrationBundleStoreKilledMidBundle) and a third
// replica is added: the group splits the partitions between the two left,
// and whoever gets the dead one's partition removes its takeover
// directory (its open bundle) before recovering. Every picture is then in
// exactly one committed bundle, no two bundles overlap, and no temporary
// file is left.
func TestIntegrationBundleStoreRebalance(t *testing.T) {
	fx := newIFixture(t, 2)
	p := fx.producer(t)
	want := map[[32]byte]bool{}
	at := time.Date(2026, 5, 9, 9, 0, 0, 0, time.UTC)
	cfg := fx.config()
	cfg.PictureStore = StoreAvro
	cfg.PictureBundleMaxBytes = int64(len(fx.pictures(t, "C9", "node9", at, 0, 1, map[[32]byte]bool{})[0].Value)) * 7 / 2 // about four pictures a bundle
	cfg.Kafka.SessionTimeout = 6 * time.Second

	cfgA := cfg
	cfgA.PictureBundleMaxAge = time.Hour // A rolls by size only: its last bundle stays open
	kfs := &killableFS{}
	a := fx.startOpts(t, cfgA, Options{WrapFS: func(f FS) FS { kfs.FS = f; return kfs }})
	b := fx.start(t, cfg)
	// Pictures one by one (the key picks the partition) until both
	// replicas committed bundles and A has one open.
	n := 0
	for a.metric("sensornode_ingest_bundles_committed_total") == 0 || b.metric("sensornode_ingest_bundles_committed_total") == 0 ||
		a.metric("sensornode_ingest_open_bundle_age_seconds") == 0 {
		if n == 150 {
			t.Fatalf("after %d pictures: A committed %v bundles, B %v, A's open bundle age %v", n,
				a.metric("sensornode_ingest_bundles_committed_total"), b.metric("sensornode_ingest_bundles_committed_total"),
				a.metric("sensornode_ingest_open_bundle_age_seconds"))
		}
		publishAll(t, p, fx.pictures(t, "C9", "node9", at, n, 1, want))
		n++
		time.Sleep(200 * time.Millisecond)
	}
	kfs.killed.Store(true)
	a.stop()
	kfs.release()
	if tmps := fx.tmpFiles(t); len(tmps) == 0 {
		t.Fatal("no temporary bundle left by the kill: the test did not kill mid-bundle")
	}

	c := fx.start(t, cfg) // added: takes one of the partitions over from B
	for i := 0; c.metric("sensornode_ingest_bundles_committed_total") == 0; i++ {
		if i == 60 {
			t.Fatal("the added replica never committed a bundle")
		}
		publishAll(t, p, fx.pictures(t, "C9", "node9", at, n, 1, want))
		n++
		time.Sleep(500 * time.Millisecond)
	}
	waitUntil(t, "every picture committed", 2*time.Minute, func() bool { return fx.committed(t)[fx.camTopic] == int64(n) })
	b.stop()
	c.stop()
	if got := b.metric("sensornode_ingest_tmp_files_removed_total") + c.metric("sensornode_ingest_tmp_files_removed_total"); got < 1 {
		t.Errorf("temporary files removed = %v, want A's open bundle", got)
	}
	fx.checkBundles(t, want)
	if tmps := fx.tmpFiles(t); len(tmps) != 0 {
		t.Errorf("temporary files left: %q", tmps)
	}
}
