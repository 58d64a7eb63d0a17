package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"image"
	"image/jpeg"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/sensornode/sensornode/libs/archive"
	"github.com/sensornode/sensornode/libs/messages"
	"github.com/sensornode/sensornode/libs/messages/jpegsynth"
)

const (
	defaultPictures = "/sensornode/camera/{camera}/{yyyy}/{MM}/{dd}/{HH}{mm}{ss}-{key}.jpg"
	defaultTemps    = "/sensornode/temperature/{node}/{yyyy}/{MM}/{dd}/{HH}"
)

// clock is a settable time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) { c.mu.Lock(); defer c.mu.Unlock(); c.t = c.t.Add(d) }

var now = time.Date(2026, 5, 3, 10, 20, 0, 0, time.UTC)

func testStore(t *testing.T, fsys testFS, pictures string, mod func(*Config)) (*Store, *clock) {
	t.Helper()
	cfg := Config{PictureLayout: pictures, TemperatureDirLayout: defaultTemps, ListingTTL: time.Second}
	if mod != nil {
		mod(&cfg)
	}
	s, err := newStore(fsys, cfg, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	c := &clock{t: now}
	s.now = c.now
	return s, c
}

// putPicture stores a picture through the layout as ingest does, and
// returns its key.
func putPicture(t *testing.T, fsys testFS, layout, camera, node string, at time.Time, data []byte) string {
	t.Helper()
	l, err := archive.ParseLayout(layout, []string{"key"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	key := messages.PictureKey(camera, at, sha256.Sum256(data))
	name, err := l.RenderPath(archive.Vars{Camera: camera, Node: node, Key: key, T: at})
	if err != nil {
		t.Fatal(err)
	}
	fsys.Put(name, data)
	return key
}

func TestNewRefusesUnlistableLayouts(t *testing.T) {
	tests := []struct {
		name, pictures, temps, wantErr string
	}{
		{name: "default", pictures: defaultPictures, temps: defaultTemps},
		{name: "flat", pictures: "/lt/1/camera/{camera}/{key}.jpg", temps: defaultTemps},
		{name: "node below camera", pictures: "/p/{camera}/{node}/{yyyy}/{key}.jpg", temps: defaultTemps},
		{name: "no camera", pictures: "/p/{yyyy}/{key}.jpg", temps: defaultTemps, wantErr: "{camera} must be in a directory"},
		{name: "camera in the file name only", pictures: "/p/{yyyy}/{camera}-{key}.jpg", temps: defaultTemps, wantErr: "{camera} must be in a directory"},
		{name: "camera below time", pictures: "/p/{yyyy}/{camera}/{key}.jpg", temps: defaultTemps, wantErr: "only literal directories"},
		{name: "camera with time", pictures: "/p/{camera}{yyyy}/{key}.jpg", temps: defaultTemps, wantErr: "above the time placeholders"},
		{name: "node above camera", pictures: "/p/{node}/{camera}/{key}.jpg", temps: defaultTemps, wantErr: "only literal directories"},
		{name: "key in a directory", pictures: "/p/{camera}/{key}/x.jpg", temps: defaultTemps, wantErr: "{key} must be in the file name"},
		{name: "no key", pictures: "/p/{camera}/x.jpg", temps: defaultTemps, wantErr: "lacks {key}"},
		{name: "temperatures below time", pictures: defaultPictures, temps: "/t/{yyyy}/{node}/{MM}/{dd}/{HH}", wantErr: "only literal directories"},
		{name: "temperatures lack hour", pictures: defaultPictures, temps: "/t/{node}/{yyyy}/{MM}/{dd}", wantErr: "lacks {HH}"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := newStore(newTestFS(), Config{PictureLayout: tt.pictures, TemperatureDirLayout: tt.temps}, nil)
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("New(%q, %q) = %v, want error containing %q", tt.pictures, tt.temps, err, tt.wantErr)
			}
		})
	}
}

// TestBrowse browses the same pictures stored under every kind of layout.
func TestBrowse(t *testing.T) {
	layouts := []string{
		defaultPictures,
		"/lt/1/camera/{camera}/{key}.jpg",
		"/p/cam-{camera}/{yyyy}{MM}{dd}/{HH}/{mm}{ss}_{key}.jpg",
		"/p/{camera}/{node}/{yyyy}/{MM}/{dd}/{key}.jpg",
		"/p/{camera}/{yyyy}/{MM}/{camera}-{dd}{HH}-{key}.jpg",
	}
	day1 := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	day2 := time.Date(2026, 5, 3, 0, 0, 0, 0, time.UTC)
	times := []time.Time{
		day1.Add(3*time.Hour + 5*time.Second),
		day1.Add(3*time.Hour + 59*time.Minute + 59*time.Second),
		day1.Add(4 * time.Hour),
		day2.Add(10*time.Hour + 15*time.Minute), // the newest, in the current hour
	}
	for _, layout := range layouts {
		t.Run(layout, func(t *testing.T) {
			fsys := newTestFS()
			var keys []string
			for i, at := range times {
				keys = append(keys, putPicture(t, fsys, layout, "C1", "node1", at, []byte{byte(i), 1, 2}))
			}
			other := putPicture(t, fsys, layout, "C2", "node2", day1, []byte("x"))
			// Foreign files next to the pictures.
			l, _ := archive.ParseLayout(layout, nil, nil)
			dir, _, _ := l.DirOf(archive.Vars{Camera: "C1", Node: "node1", T: times[0]}, archive.Hour)
			fsys.Put(dir+"/README", []byte("hello"))
			fsys.Put(dir+"/x.jpg.tmp", []byte("partial"))
			s, _ := testStore(t, fsys, layout, nil)
			ctx := context.Background()

			if got, err := s.Cameras(ctx); err != nil || !slices.Equal(got, []string{"C1", "C2"}) {
				t.Errorf("Cameras() = %v, %v; want [C1 C2]", got, err)
			}
			if got, err := s.Latest(ctx, "C1"); err != nil || got.Key != keys[3] || !got.Taken.Equal(times[3]) || got.Size != 3 {
				t.Errorf("Latest(C1) = %+v, %v; want key %s", got, err, keys[3])
			}
			if got, err := s.Latest(ctx, "C2"); err != nil || got.Key != other {
				t.Errorf("Latest(C2) = %+v, %v; want key %s", got, err, other)
			}
			if got, err := s.Days(ctx, "C1"); err != nil || !slices.Equal(got, []time.Time{day2, day1}) {
				t.Errorf("Days(C1) = %v, %v; want [%v %v]", got, err, day2, day1)
			}
			want := []HourCount{{day1.Add(3 * time.Hour), 2}, {day1.Add(4 * time.Hour), 1}}
			if got, err := s.Hours(ctx, "C1", day1.Add(5*time.Hour)); err != nil || !slices.Equal(got, want) {
				t.Errorf("Hours(C1, day1) = %v, %v; want %v", got, err, want)
			}
			got, err := s.Hour(ctx, "C1", day1.Add(3*time.Hour+30*time.Minute))
			if err != nil || len(got) != 2 || got[0].Key != keys[0] || got[1].Key != keys[1] || got[0].Camera != "C1" {
				t.Errorf("Hour(C1, 03:00) = %+v, %v; want keys %v", got, err, keys[:2])
			}
			if got, err := s.Hour(ctx, "C1", day1.Add(5*time.Hour)); err != nil || len(got) != 0 {
				t.Errorf("Hour(C1, 05:00) = %+v, %v; want none", got, err)
			}
			for i, k := range keys {
				if b, p, err := readPicture(s, "C1", k); err != nil || !bytes.Equal(b, []byte{byte(i), 1, 2}) || p.Key != k || p.Size != 3 {
					t.Errorf("Open(C1, %s) read %v, %+v, %v", k, b, p, err)
				}
			}
			if _, err := s.Latest(ctx, "C3"); !errors.Is(err, ErrNotFound) {
				t.Errorf("Latest(C3) = %v, want ErrNotFound", err)
			}
		})
	}
}

func TestOpenRefuses(t *testing.T) {
	fsys := newTestFS()
	at := time.Date(2026, 5, 1, 3, 0, 5, 0, time.UTC)
	key := putPicture(t, fsys, defaultPictures, "C1", "", at, []byte("jpeg"))
	big := putPicture(t, fsys, defaultPictures, "C1", "", at, bytes.Repeat([]byte("j"), 2048))
	s, _ := testStore(t, fsys, defaultPictures, func(c *Config) { c.MaxPictureBytes = 1024 })
	tests := []struct {
		name, camera, key string
		want              error
	}{
		{name: "other camera's key", camera: "C2", key: key, want: ErrNotFound},
		{name: "traversal camera", camera: "../C1", key: key, want: ErrNotFound},
		{name: "encoded slash", camera: "C1%2F..", key: key, want: ErrNotFound},
		{name: "slash in key", camera: "C1", key: "C1/../../etc/passwd", want: ErrNotFound},
		{name: "not a key", camera: "C1", key: "passwd", want: ErrNotFound},
		{name: "traversal key", camera: "C1", key: "C1-20260501T030005Z-../../../x", want: ErrNotFound},
		{name: "missing", camera: "C1", key: "C1-20260501T030005Z-0000000000000000", want: ErrNotFound},
		{name: "too large", camera: "C1", key: big, want: ErrTooLarge},
		{name: "empty camera", camera: "", key: key, want: ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if r, _, err := s.Open(context.Background(), tt.camera, tt.key); !errors.Is(err, tt.want) {
				if r != nil {
					r.Close()
				}
				t.Errorf("Open(%q, %q) = %v, want %v", tt.camera, tt.key, err, tt.want)
			}
		})
	}
	// Nothing outside the picture tree was ever touched.
	for _, op := range fsys.Ops() {
		if _, name, _ := strings.Cut(op, " "); !strings.HasPrefix(name, "/sensornode/camera/C1/") {
			t.Errorf("HDFS %s: outside /sensornode/camera/C1/", op)
		}
	}
}

func TestListingCache(t *testing.T) {
	fsys := newTestFS()
	past := time.Date(2026, 5, 1, 3, 0, 5, 0, time.UTC)
	putPicture(t, fsys, defaultPictures, "C1", "", past, []byte("a"))
	putPicture(t, fsys, defaultPictures, "C1", "", now.Add(-time.Minute), []byte("b"))
	s, c := testStore(t, fsys, defaultPictures, func(c *Config) { c.ListingTTL = 10 * time.Second })
	ctx := context.Background()
	pastDir, currentDir := "/sensornode/camera/C1/2026/05/01", "/sensornode/camera/C1/2026/05/03"
	hour := func(h time.Time) {
		t.Helper()
		if ps, err := s.Hour(ctx, "C1", h); err != nil || len(ps) != 1 {
			t.Fatalf("Hour(%v) = %v, %v; want one picture", h, ps, err)
		}
	}
	reads := func(dir string, want int) {
		t.Helper()
		if got := fsys.Count("readdir", dir); got != want {
			t.Errorf("%d listings of %s, want %d", got, dir, want)
		}
	}
	for range 3 {
		hour(past)
		hour(now)
	}
	reads(pastDir, 1)
	reads(currentDir, 1)
	c.add(11 * time.Second) // past the TTL of current listings
	hour(past)
	hour(now)
	reads(pastDir, 1)
	reads(currentDir, 2)
	c.add(100 * time.Second) // past the TTL of past listings too
	hour(past)
	reads(pastDir, 2)
	if hits := testutil.ToFloat64(s.m.listings.WithLabelValues("hit")); hits != 5 {
		t.Errorf("listing cache hits = %v, want 5", hits)
	}

	// Bounded: with room for one listing, two directories evict each other.
	s, _ = testStore(t, fsys, defaultPictures, func(c *Config) { c.ListingCacheEntries = 1 })
	before := fsys.Count("readdir", pastDir)
	hour(past)
	hour(now)
	hour(past)
	reads(pastDir, before+2)

	// An HDFS failure is an error, and not cached.
	fsys.SetFail(func(op, name string) error {
		if op == "readdir" {
			return errInjected
		}
		return nil
	})
	s, _ = testStore(t, fsys, defaultPictures, nil)
	if _, err := s.Hour(ctx, "C1", past); !errors.Is(err, errInjected) {
		t.Errorf("Hour with a failing HDFS = %v, want the failure", err)
	}
	if n := testutil.ToFloat64(s.m.hdfsErrors.WithLabelValues("readdir")); n != 1 {
		t.Errorf("hdfs readdir errors = %v, want 1", n)
	}
	fsys.SetFail(nil)
	hour(past)
}

func TestConcurrentMissesShareOneListing(t *testing.T) {
	fsys := newTestFS()
	at := time.Date(2026, 5, 1, 3, 0, 5, 0, time.UTC)
	putPicture(t, fsys, defaultPictures, "C1", "", at, []byte("a"))
	entered, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	fsys.SetFail(func(op, name string) error {
		if op == "readdir" {
			once.Do(func() { close(entered) })
			<-release
		}
		return nil
	})
	// fail runs under MemFS's lock: one ReadDir at a time, so a second
	// ReadDir would wait for release too; with singleflight there is none.
	s, _ := testStore(t, fsys, defaultPictures, nil)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() { _, _ = s.Hour(context.Background(), "C1", at) })
	}
	<-entered
	time.Sleep(50 * time.Millisecond) // let the others join the flight
	close(release)
	wg.Wait()
	if n := fsys.Count("readdir", "/sensornode/camera/C1/2026/05/01"); n != 1 {
		t.Errorf("%d listings for 8 concurrent cold requests, want 1", n)
	}
}

func TestThumbnail(t *testing.T) {
	fsys := newTestFS()
	at := time.Date(2026, 5, 1, 3, 0, 5, 0, time.UTC)
	pic := jpegsynth.Picture(image.Pt(640, 480), 1)
	k1 := putPicture(t, fsys, defaultPictures, "C1", "", at, pic)
	k2 := putPicture(t, fsys, defaultPictures, "C1", "", at.Add(time.Second), jpegsynth.Picture(image.Pt(640, 480), 2))
	small := putPicture(t, fsys, defaultPictures, "C1", "", at.Add(2*time.Second), jpegsynth.Picture(image.Pt(100, 50), 3))
	dir := t.TempDir()
	s, _ := testStore(t, fsys, defaultPictures, func(c *Config) { c.ThumbDir = dir; c.ThumbWidth = 160 })
	ctx := context.Background()

	b, err := s.Thumbnail(ctx, "C1", k1)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := jpeg.DecodeConfig(bytes.NewReader(b))
	if err != nil || cfg.Width != 160 || cfg.Height != 120 {
		t.Errorf("thumbnail is %dx%d (%v), want 160x120", cfg.Width, cfg.Height, err)
	}
	if kept, err := os.ReadFile(filepath.Join(dir, k1+".jpg")); err != nil || !bytes.Equal(kept, b) {
		t.Errorf("thumbnail not kept in %s: %v", dir, err)
	}
	opens := fsys.Count("open", "/sensornode/camera/C1/2026/05/01/030005-"+k1+".jpg")
	if b2, err := s.Thumbnail(ctx, "C1", k1); err != nil || !bytes.Equal(b2, b) {
		t.Errorf("second Thumbnail = %v, want the same bytes", err)
	}
	if n := fsys.Count("open", "/sensornode/camera/C1/2026/05/01/030005-"+k1+".jpg"); n != opens {
		t.Errorf("picture opened again for a kept thumbnail")
	}
	if b, err := s.Thumbnail(ctx, "C1", small); err != nil || !bytes.Equal(b, fsys.Data("/sensornode/camera/C1/2026/05/01/030007-"+small+".jpg")) {
		t.Errorf("Thumbnail of a picture narrower than the width = %v; want the picture itself", err)
	}
	if hit, made := testutil.ToFloat64(s.m.thumbs.WithLabelValues("hit")), testutil.ToFloat64(s.m.thumbs.WithLabelValues("made")); hit != 1 || made != 2 {
		t.Errorf("thumbnails hit %v, made %v; want 1, 2", hit, made)
	}
	if _, err := s.Thumbnail(ctx, "C2", k1); !errors.Is(err, ErrNotFound) {
		t.Errorf("Thumbnail(C2, key of C1) = %v, want ErrNotFound", err)
	}

	// Room for about one thumbnail: the least recently used goes.
	dir2 := t.TempDir()
	s, _ = testStore(t, fsys, defaultPictures, func(c *Config) { c.ThumbDir = dir2; c.ThumbWidth = 160; c.ThumbMaxBytes = int64(len(b)) * 3 / 2 })
	if _, err := s.Thumbnail(ctx, "C1", k1); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Thumbnail(ctx, "C1", k2); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir2, k1+".jpg")); !os.IsNotExist(err) {
		t.Errorf("the least recently used thumbnail is still there (%v)", err)
	}
	if n := testutil.ToFloat64(s.m.evicted); n != 1 {
		t.Errorf("evicted %v, want 1", n)
	}
	// A restarted store takes the kept thumbnails over.
	s, _ = testStore(t, fsys, defaultPictures, func(c *Config) { c.ThumbDir = dir2; c.ThumbWidth = 160 })
	if _, err := s.Thumbnail(ctx, "C1", k2); err != nil || testutil.ToFloat64(s.m.thumbs.WithLabelValues("hit")) != 1 {
		t.Errorf("a kept thumbnail was not used after a restart (%v)", err)
	}
}

func TestReadings(t *testing.T) {
	fsys := newTestFS()
	h0 := time.Date(2026, 5, 1, 23, 0, 0, 0, time.UTC)
	write := func(dir, name, format string, rs ...archive.Reading) {
		b, err := archive.EncodeReadings(rs, format)
		if err != nil {
			t.Fatal(err)
		}
		fsys.Put(dir+"/"+name, b)
	}
	r := func(node string, at time.Time, c float64) archive.Reading {
		return archive.Reading{Node: node, ReadAt: at, Celsius: c, Source: "sysfs", Topic: "temperatureData"}
	}
	d0, d1 := "/sensornode/temperature/node1/2026/05/01/23", "/sensornode/temperature/node1/2026/05/02/00"
	write(d0, "temperatureData+0+1+2.jsonl", archive.FormatJSONL, r("node1", h0.Add(10*time.Minute), 40), r("node1", h0.Add(5*time.Minute), 41))
	write(d0, "temperatureData+1+1+1.csv", archive.FormatCSV, r("node1", h0.Add(20*time.Minute), 42))
	write(d0, "temperatureData+2+1+1.avro", archive.FormatAvro, r("node1", h0.Add(30*time.Minute), 46))
	fsys.Put("/sensornode/temperature/"+archive.ReadingSchemaFile, []byte(archive.ReadingSchemaJSON))
	write(d1, "temperatureData+0+3+4.jsonl", archive.FormatJSONL, r("node1", h0.Add(70*time.Minute), 43), r("node1", h0.Add(3*time.Hour), 44))
	fsys.Put(d1+"/corrupt+0+5+5.jsonl", []byte("{not json\n"))
	fsys.Put(d1+"/notes.txt", []byte("foreign"))
	write("/sensornode/temperature/node2/2026/05/01/23", "temperatureData+0+1+1.jsonl", archive.FormatJSONL, r("node2", h0, 50))
	s, _ := testStore(t, fsys, defaultPictures, nil)
	ctx := context.Background()

	if got, err := s.Nodes(ctx); err != nil || !slices.Equal(got, []string{"node1", "node2"}) {
		t.Errorf("Nodes() = %v, %v", got, err)
	}
	tests := []struct {
		name     string
		from, to time.Time
		want     []float64
	}{
		{name: "two hours across midnight", from: h0, to: h0.Add(2 * time.Hour), want: []float64{41, 40, 42, 46, 43}},
		{name: "one hour", from: h0, to: h0.Add(time.Hour), want: []float64{41, 40, 42, 46}},
		{name: "within an hour", from: h0.Add(6 * time.Minute), to: h0.Add(20 * time.Minute), want: []float64{40}},
		{name: "a week", from: h0.Add(-72 * time.Hour), to: h0.Add(96 * time.Hour), want: []float64{41, 40, 42, 46, 43, 44}},
		{name: "empty range", from: h0, to: h0},
		{name: "nothing stored", from: h0.Add(-48 * time.Hour), to: h0.Add(-47 * time.Hour)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rs, err := s.Readings(ctx, "node1", tt.from, tt.to)
			var got []float64
			for _, r := range rs {
				got = append(got, r.Celsius)
				if r.Node != "node1" || r.Source != "sysfs" {
					t.Errorf("reading %+v", r)
				}
			}
			if err != nil || !slices.Equal(got, tt.want) {
				t.Errorf("Readings(node1, %v, %v) = %v, %v; want %v", tt.from, tt.to, got, err, tt.want)
			}
		})
	}
	if n := testutil.ToFloat64(s.m.skipped.WithLabelValues("readings")); n < 1 {
		t.Errorf("skipped readings files = %v, want the corrupt one counted", n)
	}
	if _, err := s.Readings(ctx, "../node1", h0, h0.Add(time.Hour)); !errors.Is(err, ErrNotFound) {
		t.Errorf("Readings(../node1) = %v, want ErrNotFound", err)
	}
	fsys.SetFail(func(op, name string) error {
		if op == "open" {
			return errInjected
		}
		return nil
	})
	if _, err := s.Readings(ctx, "node1", h0, h0.Add(time.Hour)); !errors.Is(err, errInjected) {
		t.Errorf("Readings with HDFS failing = %v, want the failure", err)
	}
}
