package hdfscli

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sensornode/sensornode/libs/archive"
	"github.com/sensornode/sensornode/libs/bundle"
	"github.com/sensornode/sensornode/libs/bundlestore/bundlestoretest"
	"github.com/sensornode/sensornode/libs/messages"
)

var h3 = time.Date(2026, 5, 1, 3, 0, 0, 0, time.UTC)

func shot(camera string, at time.Time, data string) bundlestoretest.Shot {
	return bundlestoretest.Shot{Camera: camera, At: at, Data: []byte(data)}
}

// putFile stores a picture in the files store as ingest does; it returns
// its key and path.
func putFile(t *testing.T, fsys *bundlestoretest.MemFS, camera string, at time.Time, data string) (string, string) {
	t.Helper()
	l, err := archive.ParseLayout(DefaultPictureLayout, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	key := messages.PictureKey(camera, at, sha256.Sum256([]byte(data)))
	p, err := l.RenderPath(archive.Vars{Camera: camera, Key: key, T: at})
	if err != nil {
		t.Fatal(err)
	}
	fsys.Put(p, []byte(data))
	return key, p
}

// fixture: C1 has a file only, a picture in both stores, one in a bundle
// only and one in the next hour; C2 one in a bundle.
type fixture struct {
	fsys                 *bundlestoretest.MemFS
	s                    *Stores
	fileOnly, both, bndl string
	nextHour, c2         string
	filePath, bundlePath string
	data                 map[string]string
}

func newFixture(t *testing.T) fixture {
	t.Helper()
	f := fixture{fsys: bundlestoretest.NewMemFS(), data: map[string]string{}}
	f.fileOnly, f.filePath = putFile(t, f.fsys, "C1", h3.Add(time.Second), "file")
	f.both, _ = putFile(t, f.fsys, "C1", h3.Add(2*time.Second), "both")
	var recs []bundle.Record
	f.bundlePath, recs = bundlestoretest.Put(t, f.fsys, DefaultBundleDir, "cameraData", 0, h3.Add(time.Hour), 10, []bundlestoretest.Shot{
		shot("C1", h3.Add(2*time.Second), "both"),
		shot("C1", h3.Add(3*time.Second), "bundle"),
		shot("C2", h3.Add(3*time.Second), "c2"),
		shot("C1", h3.Add(time.Hour), "next hour"),
	})
	if recs[0].Key != f.both {
		t.Fatalf("one picture, two keys: %s, %s", recs[0].Key, f.both)
	}
	f.bndl, f.c2, f.nextHour = recs[1].Key, recs[2].Key, recs[3].Key
	for k, v := range map[string]string{f.fileOnly: "file", f.both: "both", f.bndl: "bundle", f.c2: "c2", f.nextHour: "next hour"} {
		f.data[k] = v
	}
	s, err := NewStores(f.fsys, StoreConfig{PictureLayout: DefaultPictureLayout, BundleDir: DefaultBundleDir})
	if err != nil {
		t.Fatal(err)
	}
	f.s = s
	return f
}

func TestList(t *testing.T) {
	f := newFixture(t)
	day := h3.Truncate(24 * time.Hour)
	type item struct{ key, stores string }
	for _, tc := range []struct {
		name     string
		camera   string
		from, to time.Time
		res      archive.Resolution
		want     []item
	}{
		{"hour", "C1", h3, h3.Add(time.Hour), archive.Hour, []item{{f.fileOnly, "files"}, {f.both, "files+bundle"}, {f.bndl, "bundle"}}},
		{"day", "C1", day, day.Add(24 * time.Hour), archive.Day, []item{{f.fileOnly, "files"}, {f.both, "files+bundle"}, {f.bndl, "bundle"}, {f.nextHour, "bundle"}}},
		{"other camera", "C2", h3, h3.Add(time.Hour), archive.Hour, []item{{f.c2, "bundle"}}},
		{"no pictures", "C9", h3, h3.Add(time.Hour), archive.Hour, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ls, err := f.s.List(context.Background(), tc.camera, tc.from, tc.to, tc.res)
			var got []item
			for _, l := range ls {
				got = append(got, item{l.Key, l.Stores()})
			}
			if err != nil || !slices.Equal(got, tc.want) {
				t.Errorf("List(%s, %v) = %v, %v; want %v", tc.camera, tc.from, got, err, tc.want)
			}
		})
	}
	if _, err := f.s.List(context.Background(), "../x", h3, h3.Add(time.Hour), archive.Hour); err == nil {
		t.Error("List of a camera id that is not path-safe: no error")
	}
	var b bytes.Buffer
	ls, _ := f.s.List(context.Background(), "C1", h3, h3.Add(time.Hour), archive.Hour)
	WriteListing(&b, ls)
	if lines := strings.Split(strings.TrimSpace(b.String()), "\n"); len(lines) != 3 ||
		!strings.Contains(lines[0], f.filePath) || !strings.Contains(lines[1], "files+bundle") || !strings.Contains(lines[2], f.bundlePath+" [") {
		t.Errorf("listing:\n%s", b.String())
	}
}

func TestGet(t *testing.T) {
	f := newFixture(t)
	for _, tc := range []struct {
		name       string
		give       string
		wantStores string
		wantErr    error
	}{
		{"file", f.fileOnly, "files", nil},
		{"both: the file", f.both, "files+bundle", nil},
		{"bundle", f.bndl, "bundle", nil},
		{"other camera's bundle", f.c2, "bundle", nil},
		{"unknown", strings.Replace(f.bndl, "C1-", "C7-", 1), "", ErrNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := f.fsys.Count("readrange", f.bundlePath)
			b, l, err := f.s.Get(context.Background(), tc.give)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Errorf("Get(%s) = %v; want %v", tc.give, err, tc.wantErr)
				}
				return
			}
			if err != nil || string(b) != f.data[tc.give] || l.Stores() != tc.wantStores {
				t.Errorf("Get(%s) = %q, %s, %v; want %q from %s", tc.give, b, l.Stores(), err, f.data[tc.give], tc.wantStores)
			}
			wantReads := 0
			if tc.wantStores == "bundle" {
				wantReads = 1
			}
			if n := f.fsys.Count("readrange", f.bundlePath) - before; n != wantReads {
				t.Errorf("Get(%s) made %d ranged reads of the bundle; want %d", tc.give, n, wantReads)
			}
		})
	}
	if _, _, err := f.s.Get(context.Background(), "junk"); err == nil || !strings.Contains(err.Error(), "not a picture key") {
		t.Errorf("Get(junk) = %v; want: not a picture key", err)
	}
	// A file whose bytes are not the key's.
	f.fsys.Put(f.filePath, []byte("changed"))
	if _, _, err := f.s.Get(context.Background(), f.fileOnly); err == nil || !strings.Contains(err.Error(), "do not hash to the key") {
		t.Errorf("Get of a changed file = %v; want a hash error", err)
	}
}

func TestExport(t *testing.T) {
	f := newFixture(t)
	dir := filepath.Join(t.TempDir(), "out")
	var done []string
	n, err := f.s.Export(f.bundlePath, dir, func(e Exported) { done = append(done, e.Key) })
	want := []string{f.both, f.bndl, f.c2, f.nextHour}
	if err != nil || n != 4 || !slices.Equal(done, want) {
		t.Fatalf("Export = %d, %v, %v; want %v", n, done, err, want)
	}
	for _, k := range want {
		if b, err := os.ReadFile(filepath.Join(dir, k+".jpg")); err != nil || string(b) != f.data[k] {
			t.Errorf("%s.jpg = %q, %v; want %q", k, b, err, f.data[k])
		}
	}
	for _, tc := range []struct {
		name string
		give string
		want string
	}{
		{"a picture file", f.filePath, "not a committed bundle name"},
		{"a directory", DefaultBundleDir + "/cameraData/0", "not a committed bundle name"},
		{"an index", bundle.IndexName(f.bundlePath), "not a committed bundle name"},
		{"missing", DefaultBundleDir + "/cameraData/0/cameraData+0+1+2.avro", "file does not exist"},
		{"relative", "cameraData+0+10+13.avro", "file does not exist"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, err := f.s.Export(tc.give, t.TempDir(), func(Exported) {})
			if n != 0 || err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Export(%s) = %d, %v; want an error with %q", tc.give, n, err, tc.want)
			}
		})
	}
}

func TestNewStoresRefusesBadConfig(t *testing.T) {
	for _, tc := range []struct {
		name string
		give StoreConfig
	}{
		{"no key in layout", StoreConfig{PictureLayout: "/x/{camera}/{yyyy}.jpg"}},
		{"key in a directory", StoreConfig{PictureLayout: "/x/{camera}/{key}/a.jpg"}},
		{"relative layout", StoreConfig{PictureLayout: "x/{camera}/{key}.jpg"}},
		{"negative lookahead", StoreConfig{PictureLayout: DefaultPictureLayout, Lookahead: -time.Hour}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := NewStores(bundlestoretest.NewMemFS(), tc.give); err == nil {
				t.Errorf("NewStores(%+v): no error", tc.give)
			}
		})
	}
}
