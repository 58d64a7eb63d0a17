package store

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/jpeg"
	"io"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/sensornode/sensornode/libs/bundle"
	"github.com/sensornode/sensornode/libs/bundlestore"
	"github.com/sensornode/sensornode/libs/bundlestore/bundlestoretest"
	"github.com/sensornode/sensornode/libs/messages/jpegsynth"
)

const bundleRoot = "/sensornode/bundles"

// shot is one picture to bundle.
type shot struct {
	camera string
	at     time.Time
	data   []byte
}

// putBundle writes a committed bundle of topic/partition with offsets from
// first on, and its index, into the hour directory of ingest (as
// cloud-ingest-hdfs does); it returns the bundle's path and the keys.
func putBundle(t *testing.T, fsys testFS, topic string, partition int32, ingest time.Time, first int64, shots []shot) (string, []string) {
	t.Helper()
	name, data, idx, keys := makeBundle(t, topic, partition, first, shots)
	path := bundlePath(bundleRoot, topic, partition, ingest, name)
	fsys.Put(path, data)
	fsys.Put(bundle.IndexName(path), idx)
	return path, keys
}

// bundlePath is where cloud-ingest-hdfs commits bundle name of
// topic/partition whose first picture it read at ingest.
func bundlePath(root, topic string, partition int32, ingest time.Time, name string) string {
	return bundlestoretest.Path(root, topic, partition, ingest, name)
}

// makeBundle writes the shots with libs/bundle: the bundle's committed
// name, its bytes, its index's bytes and the pictures' keys.
func makeBundle(tb testing.TB, topic string, partition int32, first int64, shots []shot) (name string, data, idx []byte, keys []string) {
	tb.Helper()
	var ss []bundlestoretest.Shot
	for _, sh := range shots {
		ss = append(ss, bundlestoretest.Shot{Camera: sh.camera, At: sh.at, Data: sh.data})
	}
	name, data, idx, recs := bundlestoretest.Make(tb, topic, partition, first, ss)
	for _, r := range recs {
		keys = append(keys, r.Key)
	}
	return name, data, idx, keys
}

func bundled(c *Config) { c.PictureBundleDir = bundleRoot }

// readPicture opens a picture and reads it whole.
func readPicture(s *Store, camera, key string) ([]byte, Picture, error) {
	r, p, err := s.Open(context.Background(), camera, key)
	if err != nil {
		return nil, Picture{}, err
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	return b, p, err
}

func keysOf(ps []Picture) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.Key)
	}
	return out
}

func TestBundlesMergedWithFiles(t *testing.T) {
	ctx := context.Background()
	day1 := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	h3 := day1.Add(3 * time.Hour)
	fsys := newTestFS()
	// Files: C1 at 03:00:01; the migration wrote 03:00:02 to both stores.
	fileKey := putPicture(t, fsys, defaultPictures, "C1", "", h3.Add(time.Second), []byte("file"))
	both := putPicture(t, fsys, defaultPictures, "C1", "", h3.Add(2*time.Second), []byte("both"))
	// Bundles of two partitions: one ingested in the capture hour, one an
	// hour later (captured at 03:59), one at 05:00 (C2 only), and one with
	// a picture ingested 5 hours after its capture (beyond the lookahead).
	_, k1 := putBundle(t, fsys, "cameraData", 0, h3, 10, []shot{
		{"C1", h3.Add(2 * time.Second), []byte("both")},
		{"C1", h3.Add(3 * time.Second), []byte("bundle-a")},
	})
	_, k2 := putBundle(t, fsys, "cameraData", 1, h3.Add(time.Hour), 0, []shot{
		{"C1", h3.Add(59 * time.Minute), []byte("bundle-b")},
		{"C2", h3.Add(time.Hour), []byte("c2")},
	})
	_, k3 := putBundle(t, fsys, "cameraData", 0, h3.Add(5*time.Hour), 20, []shot{
		{"C1", h3.Add(10 * time.Second), []byte("late")},
		{"C3", h3.Add(5 * time.Hour), []byte("c3")},
	})
	if k1[0] != both {
		t.Fatalf("the same picture has keys %s and %s", k1[0], both)
	}
	// Foreign and uncommitted files beside the bundles.
	dir := bundlestore.HourDir(bundleRoot+"/cameraData/0", h3)
	fsys.Put(dir+"/cameraData+0+30+31.avro.tmp", []byte("partial"))
	fsys.Put(dir+"/README", []byte("hello"))
	fsys.Put(dir+"/cameraData+0+40+41.avro", []byte("no index"))

	s, _ := testStore(t, fsys, defaultPictures, bundled)
	if got, err := s.Cameras(ctx); err != nil || !slices.Equal(got, []string{"C1", "C2", "C3"}) {
		t.Errorf("Cameras() = %v, %v; want [C1 C2 C3]", got, err)
	}
	got, err := s.Hour(ctx, "C1", h3)
	want := []string{fileKey, both, k1[1], k2[0]} // not k3[0]: ingested beyond the lookahead
	if err != nil || !slices.Equal(keysOf(got), want) {
		t.Errorf("Hour(C1, 03:00) = %v, %v; want %v", keysOf(got), err, want)
	}
	if got, err := s.Hours(ctx, "C1", day1); err != nil || !slices.Equal(got, []HourCount{{h3, 4}}) {
		t.Errorf("Hours(C1) = %v, %v; want 4 at 03:00", got, err)
	}
	if got, err := s.Days(ctx, "C2"); err != nil || !slices.Equal(got, []time.Time{day1}) {
		t.Errorf("Days(C2) = %v, %v; want [%v]", got, err, day1)
	}
	if got, err := s.Latest(ctx, "C1"); err != nil || got.Key != k2[0] {
		t.Errorf("Latest(C1) = %+v, %v; want %s", got, err, k2[0])
	}
	if got, err := s.Latest(ctx, "C3"); err != nil || got.Key != k3[1] {
		t.Errorf("Latest(C3) = %+v, %v; want %s", got, err, k3[1])
	}
	for key, data := range map[string]string{fileKey: "file", both: "both", k1[1]: "bundle-a", k2[0]: "bundle-b"} {
		if b, p, err := readPicture(s, "C1", key); err != nil || string(b) != data || p.Size != int64(len(data)) || p.Key != key {
			t.Errorf("Open(%s) = %q, %+v, %v; want %q", key, b, p, err, data)
		}
	}
	if _, _, err := s.Open(ctx, "C1", k3[0]); !errors.Is(err, ErrNotFound) {
		t.Errorf("Open(%s), ingested beyond the lookahead = %v; want ErrNotFound", k3[0], err)
	}
	if _, _, err := s.Open(ctx, "C2", k1[1]); !errors.Is(err, ErrNotFound) {
		t.Errorf("Open of C1's key as C2's = %v; want ErrNotFound", err)
	}
}

func TestBundleLookahead(t *testing.T) {
	ctx := context.Background()
	h := time.Date(2026, 5, 1, 3, 0, 0, 0, time.UTC)
	fsys := newTestFS()
	_, k := putBundle(t, fsys, "cameraData", 0, h.Add(3*time.Hour), 0, []shot{{"C1", h, []byte("x")}})
	for _, tc := range []struct {
		lookahead time.Duration
		want      int
	}{{2 * time.Hour, 0}, {4 * time.Hour, 1}} {
		s, _ := testStore(t, fsys, defaultPictures, func(c *Config) { bundled(c); c.BundleLookahead = tc.lookahead })
		if got, err := s.Hour(ctx, "C1", h); err != nil || len(got) != tc.want {
			t.Errorf("lookahead %v: Hour = %v, %v; want %d pictures", tc.lookahead, keysOf(got), err, tc.want)
		}
		_, _, err := s.Open(ctx, "C1", k[0])
		if (err == nil) != (tc.want == 1) {
			t.Errorf("lookahead %v: Open = %v", tc.lookahead, err)
		}
	}
}

func TestBundleIndexCachedAndCorruptSkipped(t *testing.T) {
	ctx := context.Background()
	h := time.Date(2026, 5, 1, 3, 0, 0, 0, time.UTC)
	fsys := newTestFS()
	good, k := putBundle(t, fsys, "cameraData", 0, h, 0, []shot{{"C1", h, []byte("x")}})
	bad, _ := putBundle(t, fsys, "cameraData", 0, h, 5, []shot{{"C1", h.Add(time.Second), []byte("y")}})
	fsys.Put(bundle.IndexName(bad), []byte("sensornode-bundle-index 1\ntopic cameraData\n"))
	s, _ := testStore(t, fsys, defaultPictures, bundled)
	for range 3 {
		if got, err := s.Hour(ctx, "C1", h); err != nil || !slices.Equal(keysOf(got), k) {
			t.Errorf("Hour = %v, %v; want %v", keysOf(got), err, k)
		}
	}
	for _, p := range []string{good, bad} {
		if n := fsys.Count("open", bundle.IndexName(p)); n != 1 {
			t.Errorf("index %s opened %d times; want 1 (cached)", p, n)
		}
	}
	if n := testutil.ToFloat64(s.m.skipped.WithLabelValues("bundle_index")); n != 1 {
		t.Errorf("skipped bundle indexes = %v; want 1", n)
	}
}

func TestBundleOpenIsOneRangedRead(t *testing.T) {
	ctx := context.Background()
	h := time.Date(2026, 5, 1, 3, 0, 0, 0, time.UTC)
	var shots []shot
	for i := range 5 {
		shots = append(shots, shot{"C1", h.Add(time.Duration(i) * time.Second), jpegsynth.Picture(image.Pt(640, 480), uint64(i))})
	}
	fsys := newTestFS()
	path, keys := putBundle(t, fsys, "cameraData", 0, h, 0, shots)
	s, _ := testStore(t, fsys, defaultPictures, bundled)
	b, p, err := readPicture(s, "C1", keys[2])
	if err != nil || !bytes.Equal(b, shots[2].data) || p.Size != int64(len(b)) {
		t.Errorf("Open read %d bytes (Size %d), %v; want the %d of the picture", len(b), p.Size, err, len(shots[2].data))
	}
	size := int64(len(fsys.Data(path)))
	if n, got := fsys.Count("readrange", path), fsys.BytesRead(path); n != 1 || got > size/3 || got < int64(len(b)) {
		t.Errorf("Open read the bundle (%d bytes) %d times, %d bytes; want one ranged read of one block", size, n, got)
	}
	if n := fsys.Count("open", path); n != 0 {
		t.Errorf("the bundle was opened for a sequential read %d times", n)
	}
	// A thumbnail reads the block too, and scales it.
	th, err := s.Thumbnail(ctx, "C1", keys[3])
	if err != nil {
		t.Fatal(err)
	}
	if cfg, err := jpeg.DecodeConfig(bytes.NewReader(th)); err != nil || cfg.Width != DefaultThumbWidth {
		t.Errorf("thumbnail: %d wide, %v; want %d", cfg.Width, err, DefaultThumbWidth)
	}
	if n := fsys.Count("readrange", path); n != 2 {
		t.Errorf("%d ranged reads after Open and Thumbnail; want 2", n)
	}
}

func TestBundleBlockOfAnotherKeyRefused(t *testing.T) {
	ctx := context.Background()
	h := time.Date(2026, 5, 1, 3, 0, 0, 0, time.UTC)
	fsys := newTestFS()
	path, keys := putBundle(t, fsys, "cameraData", 0, h, 0, []shot{{"C1", h, []byte("a")}, {"C1", h.Add(time.Second), []byte("b")}})
	// Swap the keys in the index: each entry now names the other's block.
	x, err := bundle.ParseIndex(bytes.NewReader(fsys.Data(bundle.IndexName(path))))
	if err != nil {
		t.Fatal(err)
	}
	x.Entries[0].Key, x.Entries[1].Key = x.Entries[1].Key, x.Entries[0].Key
	var idx bytes.Buffer
	if _, err := x.WriteTo(&idx); err != nil {
		t.Fatal(err)
	}
	fsys.Put(bundle.IndexName(path), idx.Bytes())
	s, _ := testStore(t, fsys, defaultPictures, bundled)
	if _, _, err := s.Open(ctx, "C1", keys[0]); err == nil {
		t.Error("Open served a block holding another key")
	}
}

func TestNoBundleDirIsNoBundleStore(t *testing.T) {
	ctx := context.Background()
	fsys := newTestFS()
	putPicture(t, fsys, defaultPictures, "C1", "", now, []byte("x"))
	s, _ := testStore(t, fsys, defaultPictures, bundled)
	if got, err := s.Cameras(ctx); err != nil || !slices.Equal(got, []string{"C1"}) {
		t.Errorf("Cameras() = %v, %v", got, err)
	}
	if _, err := s.Latest(ctx, "C1"); err != nil {
		t.Errorf("Latest = %v", err)
	}
	if n := fsys.Count("readdir", bundleRoot); n != 1 {
		t.Errorf("the missing bundle directory was listed %d times; want once (cached)", n)
	}
}

func TestBundleLatestSearchIsBounded(t *testing.T) {
	ctx := context.Background()
	newest := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	fsys := newTestFS()
	// The newest directory holds a picture ingested 2 hours after its
	// capture; the one before holds a newer capture; 3 hours before, an
	// older one (not read: beyond the lookahead after the first hit).
	putBundle(t, fsys, "cameraData", 0, newest, 30, []shot{{"C1", newest.Add(-2*time.Hour + 10*time.Minute), []byte("late")}})
	_, k := putBundle(t, fsys, "cameraData", 0, newest.Add(-time.Hour), 20, []shot{{"C1", newest.Add(-30 * time.Minute), []byte("newer")}})
	old, _ := putBundle(t, fsys, "cameraData", 0, newest.Add(-3*time.Hour), 10, []shot{{"C1", newest.Add(-3 * time.Hour), []byte("old")}})
	// A camera last seen more than bundleLatestHours directories ago.
	putBundle(t, fsys, "cameraData", 1, newest.Add(-bundleLatestHours*time.Hour), 0, []shot{{"C9", newest.Add(-bundleLatestHours * time.Hour), []byte("gone")}})
	var idx []string
	for i := range bundleLatestHours {
		p, _ := putBundle(t, fsys, "cameraData", 1, newest.Add(-time.Duration(i)*time.Hour), int64(i+1)*10, []shot{{"C2", newest.Add(-time.Duration(i) * time.Hour), []byte{byte(i)}}})
		idx = append(idx, bundle.IndexName(p))
	}
	s, _ := testStore(t, fsys, defaultPictures, bundled)
	if got, err := s.Latest(ctx, "C1"); err != nil || got.Key != k[0] {
		t.Errorf("Latest(C1) = %+v, %v; want %s", got, err, k[0])
	}
	if n := fsys.Count("open", bundle.IndexName(old)); n != 0 {
		t.Errorf("an index beyond the lookahead after the newest hit was read %d times", n)
	}
	if _, err := s.Latest(ctx, "C9"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Latest(C9), %d hour directories back = %v; want ErrNotFound (bounded search)", bundleLatestHours, err)
	}
	// A camera of the file store only: the bundles whose hour and the
	// lookahead after it are older than its newest picture are not read.
	opens := func() int {
		n := 0
		for _, name := range idx {
			n += fsys.Count("open", name)
		}
		return n
	}
	s, _ = testStore(t, fsys, defaultPictures, bundled) // cold index cache
	before := opens()
	file := putPicture(t, fsys, defaultPictures, "C5", "", newest.Add(-time.Hour), []byte("f"))
	if got, err := s.Latest(ctx, "C5"); err != nil || got.Key != file {
		t.Errorf("Latest(C5) = %+v, %v; want %s", got, err, file)
	}
	if read := opens() - before; read != 4 {
		t.Errorf("Latest of a camera whose file is an hour old read %d bundle indexes of a partition; want 4 (that hour, lookahead 2h)", read)
	}
}

func TestBundleDaysReadsAboutOneIndexADay(t *testing.T) {
	day := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	fsys := newTestFS()
	var idx []string
	for i := range 48 {
		h := day.Add(time.Duration(i) * time.Hour)
		p, _ := putBundle(t, fsys, "cameraData", int32(i%2), h, int64(i)*10, []shot{{"C1", h.Add(time.Minute), []byte{byte(i)}}})
		idx = append(idx, bundle.IndexName(p))
	}
	s, _ := testStore(t, fsys, defaultPictures, bundled)
	want := []time.Time{day.Add(24 * time.Hour), day}
	if got, err := s.Days(context.Background(), "C1"); err != nil || !slices.Equal(got, want) {
		t.Errorf("Days(C1) = %v, %v; want %v", got, err, want)
	}
	read := 0
	for _, name := range idx {
		read += fsys.Count("open", name)
	}
	// Per partition, the first hours of the first day (the day before
	// might be in them) and the first hour of the next one.
	if read > 8 {
		t.Errorf("Days read %d of %d indexes; want about one a day", read, len(idx))
	}
}
