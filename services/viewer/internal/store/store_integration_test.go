//go:build integration

package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"image"
	"image/jpeg"
	"io"
	"os"
	"path"
	"testing"
	"time"

	"github.com/colinmarc/hdfs/v2"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/sensornode/sensornode/libs/archive"
	"github.com/sensornode/sensornode/libs/hdfsretry"
	"github.com/sensornode/sensornode/libs/messages"
	"github.com/sensornode/sensornode/libs/messages/jpegsynth"
	"github.com/sensornode/sensornode/tools/devstack/devstacktest"
)

func TestMain(m *testing.M) { devstacktest.Main(m) }

// closeHDFS closes a written file as ingest does: again while the
// NameNode answers that replication is in progress.
func closeHDFS(w io.Closer) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return hdfsretry.Close(w, time.Second, hdfsretry.UntilDone(ctx))
}

// putHDFSPicture stores a picture through the layout and returns its key.
func putHDFSPicture(tb testing.TB, c *hdfs.Client, l archive.Layout, camera string, at time.Time, data []byte) string {
	tb.Helper()
	key := messages.PictureKey(camera, at, sha256.Sum256(data))
	name, err := l.RenderPath(archive.Vars{Camera: camera, Node: "node1", Key: key, T: at})
	if err != nil {
		tb.Fatal(err)
	}
	devstacktest.WriteHDFS(tb, c, name, data)
	return key
}

// hdfsTestConfig is a store configuration over a fresh directory of the
// devstack's HDFS (removed after the test): the default layouts and a
// bundle store below it, 160-pixel thumbnails; the client writes the
// fixtures through pl, the picture layout.
func hdfsTestConfig(t *testing.T, name string) (c *hdfs.Client, cfg Config, pl archive.Layout) {
	t.Helper()
	st := devstacktest.Stack(t)
	c = devstacktest.HDFSClient(t, st)
	root := devstacktest.UniquePath(t, name)
	t.Cleanup(func() { _ = c.RemoveAll(root) })
	cfg = Config{
		PictureLayout:        root + "/camera/{camera}/{yyyy}/{MM}/{dd}/{HH}{mm}{ss}-{key}.jpg",
		TemperatureDirLayout: root + "/temperature/{node}/{yyyy}/{MM}/{dd}/{HH}",
		PictureBundleDir:     root + "/bundles",
		ThumbDir:             t.TempDir(), ThumbWidth: 160,
	}
	pl, err := archive.ParseLayout(cfg.PictureLayout, []string{"key"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c, cfg, pl
}

func TestIntegrationStoreReadsHDFS(t *testing.T) {
	c, cfg, pl := hdfsTestConfig(t, "viewer-store")
	at := time.Date(2026, 5, 1, 12, 30, 45, 0, time.UTC)
	pic := jpegsynth.Picture(image.Pt(640, 480), 7)
	k1 := putHDFSPicture(t, c, pl, "C1", at, pic)
	k2 := putHDFSPicture(t, c, pl, "C1", at.Add(time.Hour), jpegsynth.Picture(image.Pt(320, 240), 8))
	putHDFSPicture(t, c, pl, "C2", at, jpegsynth.Picture(image.Pt(320, 240), 9))
	// A temperature file of each format, and a corrupt one.
	tl, err := archive.ParseLayout(cfg.TemperatureDirLayout, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	dir, err := tl.RenderPath(archive.Vars{Node: "node1", T: at})
	if err != nil {
		t.Fatal(err)
	}
	for i, format := range archive.Formats {
		b, err := archive.EncodeReadings([]archive.Reading{{Node: "node1", ReadAt: at.Add(time.Duration(i) * time.Minute), Celsius: 40 + float64(i), Source: "sysfs"}}, format)
		if err != nil {
			t.Fatal(err)
		}
		devstacktest.WriteHDFS(t, c, dir+"/"+archive.TempFileName("temperatureData", int32(i), 1, 1, format), b)
	}
	devstacktest.WriteHDFS(t, c, dir+"/temperatureData+9+1+1.jsonl", []byte("garbage\n"))

	s, err := New(c, cfg, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := s.Ping(ctx); err != nil {
		t.Errorf("Ping() = %v", err)
	}
	if cams, err := s.Cameras(ctx); err != nil || len(cams) != 2 || cams[0] != "C1" {
		t.Errorf("Cameras() = %v, %v", cams, err)
	}
	if p, err := s.Latest(ctx, "C1"); err != nil || p.Key != k2 {
		t.Errorf("Latest(C1) = %+v, %v; want %s", p, err, k2)
	}
	if days, err := s.Days(ctx, "C1"); err != nil || len(days) != 1 || !days[0].Equal(at.Truncate(24*time.Hour)) {
		t.Errorf("Days(C1) = %v, %v", days, err)
	}
	if hours, err := s.Hours(ctx, "C1", at); err != nil || len(hours) != 2 || hours[0].Count != 1 {
		t.Errorf("Hours(C1) = %v, %v", hours, err)
	}
	if ps, err := s.Hour(ctx, "C1", at); err != nil || len(ps) != 1 || ps[0].Key != k1 || ps[0].Size != int64(len(pic)) {
		t.Errorf("Hour(C1) = %+v, %v; want %s", ps, err, k1)
	}
	if got, p, err := readPicture(s, "C1", k1); err != nil || !bytes.Equal(got, pic) || p.Size != int64(len(pic)) {
		t.Errorf("Open(C1, %s) read %d bytes, %v; want the picture's %d", k1, len(got), err, len(pic))
	}
	if _, _, err := s.Open(ctx, "C2", k1); !errors.Is(err, ErrNotFound) {
		t.Errorf("Open(C2, key of C1) = %v, want ErrNotFound", err)
	}
	th, err := s.Thumbnail(ctx, "C1", k1)
	if cfg, derr := jpeg.DecodeConfig(bytes.NewReader(th)); err != nil || derr != nil || cfg.Width != 160 {
		t.Errorf("Thumbnail(C1, %s) = %v, %v: width %d, want 160", k1, err, derr, cfg.Width)
	}
	if nodes, err := s.Nodes(ctx); err != nil || len(nodes) != 1 || nodes[0] != "node1" {
		t.Errorf("Nodes() = %v, %v", nodes, err)
	}
	rs, err := s.Readings(ctx, "node1", at.Add(-time.Hour), at.Add(time.Hour))
	if err != nil || len(rs) != 3 || rs[0].Celsius != 40 || rs[1].Celsius != 41 || rs[2].Celsius != 42 {
		t.Errorf("Readings(node1) = %+v, %v; want 40, 41 and 42 (one of each format; the corrupt file skipped)", rs, err)
	}
}

// BenchmarkIntegrationHourCold lists one camera hour holding 3,600
// pictures with a cold listing cache (a new store per iteration) against
// the devstack's HDFS. The pictures are written once, under a fixed path,
// and kept for later runs.
func BenchmarkIntegrationHourCold(b *testing.B) {
	st := devstacktest.Stack(b)
	c := devstacktest.HDFSClient(b, st)
	root := "/sensornode-test/viewer-bench-3600"
	cfg := Config{
		PictureLayout:        root + "/camera/{camera}/{yyyy}/{MM}/{dd}/{HH}{mm}{ss}-{key}.jpg",
		TemperatureDirLayout: root + "/temperature/{node}/{yyyy}/{MM}/{dd}/{HH}",
	}
	pl, err := archive.ParseLayout(cfg.PictureLayout, []string{"key"}, nil)
	if err != nil {
		b.Fatal(err)
	}
	hour := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	const n = 3600
	dir, _, err := pl.DirOf(archive.Vars{Camera: "C1", T: hour}, archive.Hour)
	if err != nil {
		b.Fatal(err)
	}
	if fis, err := c.ReadDir(dir); err != nil && !errors.Is(err, os.ErrNotExist) || len(fis) < n {
		writeBenchPictures(b, c, pl, hour, n)
	}
	ctx := context.Background()
	b.ResetTimer()
	for b.Loop() {
		s, err := New(c, cfg, nil)
		if err != nil {
			b.Fatal(err)
		}
		ps, err := s.Hour(ctx, "C1", hour)
		if err != nil || len(ps) != n {
			b.Fatalf("Hour() = %d pictures, %v; want %d", len(ps), err, n)
		}
	}
}

// writeBenchPictures writes n small distinct pictures, one a second from
// hour on, skipping those a cut-short earlier run left.
func writeBenchPictures(b *testing.B, c *hdfs.Client, pl archive.Layout, hour time.Time, n int) {
	pic := jpegsynth.Picture(image.Pt(64, 48), 1)
	work := make(chan int)
	g, gctx := errgroup.WithContext(context.Background())
	for range 4 {
		g.Go(func() error {
			for i := range work {
				// Distinct pictures: the key hashes the bytes.
				data := append(bytes.Clone(pic), byte(i), byte(i>>8))
				at := hour.Add(time.Duration(i) * time.Second)
				key := messages.PictureKey("C1", at, sha256.Sum256(data))
				name, err := pl.RenderPath(archive.Vars{Camera: "C1", Key: key, T: at})
				if err != nil {
					return err
				}
				if _, err := c.Stat(name); err == nil {
					continue
				}
				if err := c.MkdirAll(path.Dir(name), 0o755); err != nil {
					return err
				}
				w, err := c.Create(name)
				if err != nil {
					return err
				}
				if _, err := w.Write(data); err != nil {
					return err
				}
				if err := closeHDFS(w); err != nil {
					return err
				}
			}
			return nil
		})
	}
feed:
	for i := range n {
		select {
		case work <- i:
		case <-gctx.Done():
			break feed
		}
	}
	close(work)
	if err := g.Wait(); err != nil {
		b.Fatal(err)
	}
}
