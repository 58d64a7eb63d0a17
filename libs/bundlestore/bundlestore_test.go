package bundlestore_test

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sensornode/sensornode/libs/bundle"
	"github.com/sensornode/sensornode/libs/bundlestore"
	"github.com/sensornode/sensornode/libs/bundlestore/bundlestoretest"
)

const root = "/sensornode/bundles"

func shot(camera string, at time.Time, data []byte) bundlestoretest.Shot {
	return bundlestoretest.Shot{Camera: camera, At: at, Data: data}
}

func keysOf(ps []bundlestore.Picture) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.Key)
	}
	return out
}

var h3 = time.Date(2026, 5, 1, 3, 0, 0, 0, time.UTC)

// now is well after every hour the tests use.
func now() time.Time { return h3.Add(30 * 24 * time.Hour) }

func newReader(fsys bundlestore.FS, mod func(*bundlestore.Config)) *bundlestore.Reader {
	cfg := bundlestore.Config{Dir: root, Now: now}
	if mod != nil {
		mod(&cfg)
	}
	return bundlestore.New(fsys, cfg)
}

func TestPartitions(t *testing.T) {
	fsys := bundlestoretest.NewMemFS()
	for _, p := range []string{
		"/cameraData/0/x", "/cameraData/12/x", "/other.topic/3/x",
		"/cameraData/01/x", "/cameraData/-1/x", "/cameraData/p/x", "/cameraData/7", // not partitions
		"/bad topic/0/x", "/_tmp/0/x", "/picture.v1.avsc",
	} {
		fsys.Put(root+p, []byte("x"))
	}
	for _, tc := range []struct {
		name string
		give string
		want []string
	}{
		{"store", root, []string{root + "/_tmp/0", root + "/cameraData/0", root + "/cameraData/12", root + "/other.topic/3"}},
		{"trailing slash", root + "/", []string{root + "/_tmp/0", root + "/cameraData/0", root + "/cameraData/12", root + "/other.topic/3"}},
		{"missing dir", "/nowhere", nil},
		{"off", "", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := newReader(fsys, func(c *bundlestore.Config) { c.Dir = tc.give }).Partitions()
			if err != nil || !slices.Equal(got, tc.want) {
				t.Errorf("Partitions() = %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}

func TestPictures(t *testing.T) {
	fsys := bundlestoretest.NewMemFS()
	// p0 ingested in the capture hour, p1 an hour later, p0 again 5 hours
	// later (beyond the default lookahead).
	_, r1 := bundlestoretest.Put(t, fsys, root, "cameraData", 0, h3, 10, []bundlestoretest.Shot{
		shot("C1", h3.Add(2*time.Second), []byte("a")),
		shot("C2", h3.Add(3*time.Second), []byte("c2")),
		shot("C1", h3.Add(4*time.Second), []byte("b")),
	})
	_, r2 := bundlestoretest.Put(t, fsys, root, "cameraData", 1, h3.Add(time.Hour), 0, []bundlestoretest.Shot{
		shot("C1", h3.Add(59*time.Minute), []byte("c")),
		shot("C1", h3.Add(time.Hour), []byte("next hour")),
	})
	_, r3 := bundlestoretest.Put(t, fsys, root, "cameraData", 0, h3.Add(5*time.Hour), 20, []bundlestoretest.Shot{shot("C1", h3.Add(time.Minute), []byte("late"))})
	// Beside them: a temporary file, a bundle without an index, a foreign file.
	dir := bundlestore.HourDir(root+"/cameraData/0", h3)
	fsys.Put(dir+"/cameraData+0+30+31.avro.tmp", []byte("partial"))
	fsys.Put(dir+"/cameraData+0+40+41.avro", []byte("no index"))
	fsys.Put(dir+"/README", []byte("hello"))
	for _, tc := range []struct {
		name      string
		camera    string
		from, to  time.Time
		lookahead time.Duration
		want      []string
	}{
		{"hour", "C1", h3, h3.Add(time.Hour), 0, []string{r1[0].Key, r1[2].Key, r2[0].Key}},
		{"hour, long lookahead", "C1", h3, h3.Add(time.Hour), 5 * time.Hour, []string{r1[0].Key, r1[2].Key, r3[0].Key, r2[0].Key}},
		{"day", "C1", h3.Truncate(24 * time.Hour), h3.Truncate(24 * time.Hour).Add(24 * time.Hour), 0, []string{r1[0].Key, r1[2].Key, r2[0].Key, r2[1].Key}},
		{"one second", "C1", h3.Add(4 * time.Second), h3.Add(5 * time.Second), 0, []string{r1[2].Key}},
		{"other camera", "C2", h3, h3.Add(time.Hour), 0, []string{r1[1].Key}},
		{"every camera", "", h3, h3.Add(4 * time.Second), 0, []string{r1[0].Key, r1[1].Key}},
		{"unknown camera", "C9", h3, h3.Add(time.Hour), 0, nil},
		{"hour before", "C1", h3.Add(-time.Hour), h3, 0, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newReader(fsys, func(c *bundlestore.Config) { c.Lookahead = tc.lookahead })
			got, err := r.Pictures(context.Background(), tc.camera, tc.from, tc.to)
			if err != nil || !slices.Equal(keysOf(got), tc.want) {
				t.Errorf("Pictures(%q, %v, %v) = %v, %v; want %v", tc.camera, tc.from, tc.to, keysOf(got), err, tc.want)
			}
		})
	}
}

func TestBundles(t *testing.T) {
	fsys := bundlestoretest.NewMemFS()
	a, _ := bundlestoretest.Put(t, fsys, root, "cameraData", 0, h3, 0, []bundlestoretest.Shot{shot("C1", h3, []byte("a"))})
	b, _ := bundlestoretest.Put(t, fsys, root, "cameraData", 1, h3.Add(time.Hour), 0, []bundlestoretest.Shot{shot("C1", h3, []byte("b"))})
	c, _ := bundlestoretest.Put(t, fsys, root, "cameraData", 0, h3.Add(time.Hour), 1, []bundlestoretest.Shot{shot("C1", h3, []byte("c"))})
	for _, tc := range []struct {
		name     string
		from, to time.Time
		want     []string
	}{
		{"one hour", h3, h3.Add(time.Hour), []string{a}},
		{"two hours", h3, h3.Add(2 * time.Hour), []string{a, c, b}},
		{"inside an hour", h3.Add(time.Hour + time.Minute), h3.Add(time.Hour + 2*time.Minute), []string{c, b}},
		{"none", h3.Add(-time.Hour), h3, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bs, err := newReader(fsys, nil).Bundles(context.Background(), tc.from, tc.to)
			var got []string
			for _, b := range bs {
				got = append(got, b.Path)
			}
			if err != nil || !slices.Equal(got, tc.want) {
				t.Errorf("Bundles(%v, %v) = %v, %v; want %v", tc.from, tc.to, got, err, tc.want)
			}
		})
	}
}

func TestIndexCachedAndBadIndexReportedOnce(t *testing.T) {
	fsys := bundlestoretest.NewMemFS()
	good, recs := bundlestoretest.Put(t, fsys, root, "cameraData", 0, h3, 0, []bundlestoretest.Shot{shot("C1", h3, []byte("x"))})
	bad, _ := bundlestoretest.Put(t, fsys, root, "cameraData", 0, h3, 5, []bundlestoretest.Shot{shot("C1", h3.Add(time.Second), []byte("y"))})
	fsys.Put(bundle.IndexName(bad), []byte("sensornode-bundle-index 1\ntopic cameraData\n"))
	var reported []string
	r := newReader(fsys, func(c *bundlestore.Config) { c.OnBadIndex = func(p string, _ error) { reported = append(reported, p) } })
	for range 3 {
		got, err := r.Pictures(context.Background(), "C1", h3, h3.Add(time.Hour))
		if err != nil || !slices.Equal(keysOf(got), []string{recs[0].Key}) {
			t.Errorf("Pictures = %v, %v; want %v", keysOf(got), err, recs[0].Key)
		}
	}
	for _, p := range []string{good, bad} {
		if n := fsys.Count("open", bundle.IndexName(p)); n != 1 {
			t.Errorf("index %s opened %d times; want 1 (cached)", p, n)
		}
	}
	if !slices.Equal(reported, []string{bundle.IndexName(bad)}) {
		t.Errorf("bad indexes reported: %v; want [%s]", reported, bundle.IndexName(bad))
	}
}

func TestFindAndRead(t *testing.T) {
	fsys := bundlestoretest.NewMemFS()
	path, recs := bundlestoretest.Put(t, fsys, root, "cameraData", 0, h3.Add(time.Hour), 0, []bundlestoretest.Shot{
		shot("C1", h3, bytes.Repeat([]byte("a"), 5000)),
		shot("C1", h3.Add(time.Second), bytes.Repeat([]byte("b"), 5000)),
		shot("C2", h3.Add(time.Second), bytes.Repeat([]byte("c"), 5000)),
	})
	// Ingested 4 hours after its capture: beyond the default lookahead.
	_, late := bundlestoretest.Put(t, fsys, root, "cameraData", 0, h3.Add(4*time.Hour), 3, []bundlestoretest.Shot{shot("C1", h3.Add(2*time.Second), []byte("late"))})
	other := strings.Replace(recs[0].Key, "C1-", "C3-", 1)
	for _, tc := range []struct {
		name string
		give string
		want []byte // nil: bundlestore.ErrNotFound
	}{
		{"first", recs[0].Key, recs[0].JPEG},
		{"second", recs[1].Key, recs[1].JPEG},
		{"other camera, same second", recs[2].Key, recs[2].JPEG},
		{"unknown key", other, nil},
		{"beyond the lookahead", late[0].Key, nil},
		{"junk", "not-a-key", nil},
		{"empty", "", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newReader(fsys, nil)
			p, err := r.Find(context.Background(), tc.give)
			if tc.want == nil {
				if !errors.Is(err, bundlestore.ErrNotFound) {
					t.Errorf("Find(%q) = %+v, %v; want bundlestore.ErrNotFound", tc.give, p, err)
				}
				return
			}
			if err != nil || p.Bundle != path {
				t.Fatalf("Find(%q) = %+v, %v; want it in %s", tc.give, p, err, path)
			}
			before := fsys.Count("readrange", path)
			rec, err := r.Read(p)
			if err != nil || !bytes.Equal(rec.JPEG, tc.want) || rec.Key != tc.give {
				t.Errorf("Read(%s) = %s, %d bytes, %v; want %d bytes", tc.give, rec.Key, len(rec.JPEG), err, len(tc.want))
			}
			if n := fsys.Count("readrange", path) - before; n != 1 {
				t.Errorf("Read made %d ranged reads; want 1", n)
			}
			if n := fsys.Count("open", path); n != 0 {
				t.Errorf("the bundle was opened for a sequential read %d times", n)
			}
		})
	}
}

func TestReadRefusesAnotherPicture(t *testing.T) {
	fsys := bundlestoretest.NewMemFS()
	path, recs := bundlestoretest.Put(t, fsys, root, "cameraData", 0, h3, 0, []bundlestoretest.Shot{shot("C1", h3, []byte("a")), shot("C1", h3.Add(time.Second), []byte("b"))})
	r := newReader(fsys, nil)
	p, err := r.Find(context.Background(), recs[0].Key)
	if err != nil {
		t.Fatal(err)
	}
	x, _, err := r.Index(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		give func(bundlestore.Picture) bundlestore.Picture
		want error
	}{
		{"block of another key", func(p bundlestore.Picture) bundlestore.Picture { p.Entry = x.Entries[1]; return p }, bundlestore.ErrBadPicture},
		{"other sync marker", func(p bundlestore.Picture) bundlestore.Picture { p.Sync[0] ^= 1; return p }, bundle.ErrCorrupt},
		{"block cut short", func(p bundlestore.Picture) bundlestore.Picture { p.Entry.Length--; return p }, bundle.ErrCorrupt},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := r.Read(tc.give(p)); !errors.Is(err, tc.want) {
				t.Errorf("Read = %v; want %v", err, tc.want)
			}
		})
	}
}

func TestCheck(t *testing.T) {
	_, _, _, recs := bundlestoretest.Make(t, "cameraData", 0, 0, []bundlestoretest.Shot{shot("C1", h3, []byte("jpeg"))})
	good := recs[0]
	badSum := good
	badSum.JPEG = []byte("jpef")
	for _, tc := range []struct {
		name string
		rec  bundle.Record
		key  string
		want error
	}{
		{"good", good, good.Key, nil},
		{"other key", good, strings.Replace(good.Key, "C1", "C2", 1), bundlestore.ErrBadPicture},
		{"bytes differ from their SHA-256", badSum, good.Key, bundlestore.ErrBadPicture},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := bundlestore.Check(tc.rec, tc.key); !errors.Is(err, tc.want) || (err == nil) != (tc.want == nil) {
				t.Errorf("Check = %v; want %v", err, tc.want)
			}
		})
	}
}

func TestRecords(t *testing.T) {
	shots := []bundlestoretest.Shot{shot("C1", h3, []byte("a")), shot("C2", h3.Add(time.Second), bytes.Repeat([]byte("b"), 100)), shot("C1", h3.Add(2*time.Second), []byte("ccc"))}
	fsys := bundlestoretest.NewMemFS()
	path, recs := bundlestoretest.Put(t, fsys, root, "cameraData", 0, h3, 0, shots)
	dir := bundlestore.HourDir(root+"/cameraData/0", h3)
	// Damaged copies: a truncated bundle, one with a flipped byte in its
	// second picture, one without an index, one whose index does not parse.
	name, data, idx, _ := bundlestoretest.Make(t, "cameraData", 0, 100, shots)
	trunc := dir + "/" + strings.Replace(name, "+100+", "+200+", 1)
	trunc = strings.Replace(trunc, "+102.", "+202.", 1)
	fsys.Put(trunc, data[:len(data)-10])
	fsys.Put(bundle.IndexName(trunc), idx)
	flipped := dir + "/cameraData+0+300+302.avro"
	bad := bytes.Clone(data)
	x, err := bundle.ParseIndex(bytes.NewReader(idx))
	if err != nil {
		t.Fatal(err)
	}
	e := x.Entries[1]
	at := bytes.Index(bad[e.Start:e.Start+e.Length], shots[1].Data)
	if at < 0 {
		t.Fatal("the second picture's bytes are not in its block")
	}
	bad[e.Start+int64(at)+50] ^= 0xff // in the JPEG bytes
	fsys.Put(flipped, bad)
	fsys.Put(bundle.IndexName(flipped), idx)
	noIndex := dir + "/cameraData+0+400+402.avro"
	fsys.Put(noIndex, data)
	badIndex := dir + "/cameraData+0+500+502.avro"
	fsys.Put(badIndex, data)
	fsys.Put(bundle.IndexName(badIndex), []byte("junk\n"))

	for _, tc := range []struct {
		name    string
		give    string
		want    int    // records before the error (or the end)
		wantErr string // "" : none
	}{
		{"whole", path, 3, ""},
		{"truncated", trunc, 2, "EOF"},
		{"a picture's byte flipped", flipped, 1, "SHA-256"},
		{"no index", noIndex, 0, "file does not exist"},
		{"index does not parse", badIndex, 0, "index does not parse"},
		{"not a bundle name", dir + "/README", 0, "not a committed bundle"},
		{"missing", dir + "/cameraData+0+900+901.avro", 0, "file does not exist"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newReader(fsys, nil)
			var got []bundle.Record
			var err error
			for rec, e := range r.Records(tc.give) {
				if e != nil {
					err = e
					break
				}
				got = append(got, rec)
			}
			if len(got) != tc.want || (err == nil) != (tc.wantErr == "") || err != nil && !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("Records(%s): %d records, %v; want %d, error with %q", tc.give, len(got), err, tc.want, tc.wantErr)
			}
			for i, rec := range got {
				if rec.Key != recs[i].Key || !bytes.Equal(rec.JPEG, recs[i].JPEG) {
					t.Errorf("record %d = %s (%q); want %s (%q)", i, rec.Key, rec.JPEG, recs[i].Key, recs[i].JPEG)
				}
			}
		})
	}
	if n := fsys.Count("readrange", path); n != 0 {
		t.Errorf("Records made %d ranged reads; want one sequential read", n)
	}
}

func TestLatestAndDaysAndCameras(t *testing.T) {
	ctx := context.Background()
	fsys := bundlestoretest.NewMemFS()
	_, r1 := bundlestoretest.Put(t, fsys, root, "cameraData", 0, h3, 0, []bundlestoretest.Shot{shot("C1", h3, []byte("a")), shot("C2", h3, []byte("b"))})
	_, r2 := bundlestoretest.Put(t, fsys, root, "cameraData", 1, h3.Add(26*time.Hour), 0, []bundlestoretest.Shot{shot("C1", h3.Add(25*time.Hour), []byte("c"))})
	r := newReader(fsys, nil)
	for _, tc := range []struct {
		name       string
		camera     string
		floorTaken time.Time
		floorKey   string
		want       string // "": none newer
	}{
		{"newest", "C1", time.Time{}, "", r2[0].Key},
		{"older camera", "C2", time.Time{}, "", r1[1].Key},
		{"newer elsewhere", "C1", h3.Add(48 * time.Hour), "C1-20260503T030000Z-0000000000000000", ""},
		{"unknown camera", "C9", time.Time{}, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, ok, err := r.Latest(ctx, tc.camera, tc.floorTaken, tc.floorKey)
			if err != nil || ok != (tc.want != "") || ok && p.Key != tc.want {
				t.Errorf("Latest(%s) = %s, %v, %v; want %q", tc.camera, p.Key, ok, err, tc.want)
			}
		})
	}
	days := map[time.Time]bool{}
	if err := r.Days(ctx, "C1", days); err != nil || len(days) != 2 || !days[h3.Truncate(24*time.Hour)] || !days[h3.Add(24*time.Hour).Truncate(24*time.Hour)] {
		t.Errorf("Days(C1) = %v, %v; want 2026-05-01 and 02", days, err)
	}
	cams := map[string]bool{}
	if err := r.Cameras(ctx, 1, cams); err != nil || len(cams) != 2 {
		t.Errorf("Cameras(newest hour of each partition) = %v, %v; want C1, C2", cams, err)
	}
}

func TestHourReadsOnlyItsIndexes(t *testing.T) {
	fsys := bundlestoretest.NewMemFS()
	var paths []string
	for i := range 12 {
		h := h3.Add(time.Duration(i-4) * time.Hour)
		p, _ := bundlestoretest.Put(t, fsys, root, "cameraData", int32(i%2), h, int64(i)*10, []bundlestoretest.Shot{shot("C1", h, []byte{byte(i)})})
		paths = append(paths, p)
	}
	r := bundlestore.New(fsys, bundlestore.Config{Dir: root, Now: now})
	got, err := r.Pictures(context.Background(), "C1", h3, h3.Add(time.Hour))
	if err != nil || len(got) != 1 {
		t.Fatalf("Pictures(C1, 03:00) = %v, %v; want one picture", keysOf(got), err)
	}
	read := 0
	for i, p := range paths {
		n := fsys.Count("open", bundle.IndexName(p))
		read += n
		// Hours 03, 04, 05 (the lookahead) of both partitions.
		if want := i >= 4 && i <= 6; (n == 1) != want {
			t.Errorf("index of hour %d read %d times; want read: %v", i-4+3, n, want)
		}
		if n := fsys.Count("open", p) + fsys.Count("readrange", p); n != 0 {
			t.Errorf("bundle %s read %d times while listing", p, n)
		}
	}
	if read != 3 {
		t.Errorf("%d indexes read; want 3", read)
	}
}
