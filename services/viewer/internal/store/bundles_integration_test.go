//go:build integration

package store

import (
	"bytes"
	"context"
	"image"
	"image/jpeg"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/sensornode/sensornode/libs/bundle"
	"github.com/sensornode/sensornode/libs/messages/jpegsynth"
	"github.com/sensornode/sensornode/tools/devstack/devstacktest"
)

// TestIntegrationStoreReadsBundles writes bundles with libs/bundle into
// the devstack's HDFS under the bundle store's layout, beside a picture
// file, and reads both through the store.
func TestIntegrationStoreReadsBundles(t *testing.T) {
	c, cfg, pl := hdfsTestConfig(t, "viewer-bundles")
	h := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	fileKey := putHDFSPicture(t, c, pl, "C1", h.Add(time.Second), jpegsynth.Picture(image.Pt(320, 240), 1))
	put := func(partition int32, ingest time.Time, first int64, shots []shot) (string, []string) {
		name, data, idx, keys := makeBundle(t, "cameraData", partition, first, shots)
		path := bundlePath(cfg.PictureBundleDir, "cameraData", partition, ingest, name)
		devstacktest.WriteHDFS(t, c, path, data)
		devstacktest.WriteHDFS(t, c, bundle.IndexName(path), idx)
		return path, keys
	}
	var shots0 []shot
	for i := range 4 {
		shots0 = append(shots0, shot{"C1", h.Add(time.Duration(10+i) * time.Second), jpegsynth.Picture(image.Pt(640, 480), uint64(10+i))})
	}
	_, k0 := put(0, h, 100, shots0)
	late := jpegsynth.Picture(image.Pt(640, 480), 20)
	_, k1 := put(1, h.Add(time.Hour), 7, []shot{
		{"C1", h.Add(59 * time.Minute), late},
		{"C2", h.Add(time.Hour), jpegsynth.Picture(image.Pt(320, 240), 21)},
	})
	// A bundle whose index does not parse, and a temporary file.
	bad, _ := put(0, h, 200, []shot{{"C3", h, jpegsynth.Picture(image.Pt(320, 240), 30)}})
	devstacktest.WriteHDFS(t, c, bundle.IndexName(bad)+".tmp", []byte("x"))
	if err := c.Remove(bundle.IndexName(bad)); err != nil {
		t.Fatal(err)
	}
	devstacktest.WriteHDFS(t, c, bundle.IndexName(bad), []byte("not an index\n"))

	s, err := New(c, cfg, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if cams, err := s.Cameras(ctx); err != nil || !slices.Equal(cams, []string{"C1", "C2"}) {
		t.Errorf("Cameras() = %v, %v; want [C1 C2]", cams, err)
	}
	ps, err := s.Hour(ctx, "C1", h)
	want := append(append([]string{fileKey}, k0...), k1[0])
	if err != nil || !slices.Equal(keysOf(ps), want) {
		t.Errorf("Hour(C1) = %v, %v; want %v", keysOf(ps), err, want)
	}
	if p, err := s.Latest(ctx, "C1"); err != nil || p.Key != k1[0] {
		t.Errorf("Latest(C1) = %+v, %v; want %s", p, err, k1[0])
	}
	if days, err := s.Days(ctx, "C2"); err != nil || !slices.Equal(days, []time.Time{h.Truncate(24 * time.Hour)}) {
		t.Errorf("Days(C2) = %v, %v", days, err)
	}
	for i, key := range k0 {
		if got, p, err := readPicture(s, "C1", key); err != nil || !bytes.Equal(got, shots0[i].data) || p.Size != int64(len(got)) {
			t.Errorf("Open(%s) read %d bytes (Size %d), %v; want the picture's %d", key, len(got), p.Size, err, len(shots0[i].data))
		}
	}
	th, err := s.Thumbnail(ctx, "C1", k1[0])
	if err != nil {
		t.Fatal(err)
	}
	if cfg, err := jpeg.DecodeConfig(bytes.NewReader(th)); err != nil || cfg.Width != 160 {
		t.Errorf("thumbnail of a bundled picture: %d wide, %v", cfg.Width, err)
	}
	if n := testutil.ToFloat64(s.m.skipped.WithLabelValues("bundle_index")); n != 1 {
		t.Errorf("skipped bundle indexes = %v; want 1", n)
	}
}
