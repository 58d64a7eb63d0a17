// Package bundlestore reads the bundle picture store that cloud-ingest-hdfs
// writes with SENSORNODE_PICTURE_STORE=avro (libs/bundle is the file
// format): it lists the bundles of a time range, reads their indexes,
// finds a camera's pictures of an hour, fetches one picture by key with
// one ranged read, and iterates every picture of a bundle. The viewer and
// hdfscli read bundles through it.
//
// # Layout
//
// Committed bundles are
// <Dir>/<topic>/<partition>/<yyyy>/<MM>/<dd>/<HH>/<topic>+<p>+<first>+<last>.avro
// beside their index (.avro.idx). The hour directory is the ingest time of
// the bundle's first picture, so a picture captured in hour H is searched
// in the hour directories H .. H+Lookahead of every partition; one
// ingested later than that after its capture is not found under its
// capture hour. Only committed bundles (names bundle.ParseName accepts)
// whose index is there are read; an index is immutable once committed, so
// parsed indexes are cached (bounded) and read once.
//
// It reads through FS, whose ReadDir is told whether a directory may still
// change, so that a caching FS (the viewer's) keeps past hours longer.
package bundlestore

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"iter"
	"path"
	"slices"
	"strconv"
	"time"

	"github.com/sensornode/sensornode/libs/bundle"
	"github.com/sensornode/sensornode/libs/messages"
)

const (
	// DefaultLookahead: hour directories searched after a capture hour.
	DefaultLookahead = 2 * time.Hour
	// DefaultIndexCacheEntries bounds the parsed indexes kept.
	DefaultIndexCacheEntries = 1024
	// LatestHours: Latest searches at most this many newest hour
	// directories of each partition.
	LatestHours = 7 * 24
	// MaxRecordOverhead: a block holds the JPEG and at most this much more
	// (the record's other fields, the block's framing).
	MaxRecordOverhead = 64 << 10
	// maxBlock bounds one block read by Records.
	maxBlock = 64<<20 + MaxRecordOverhead
	// maxIndexFile bounds one index read.
	maxIndexFile = 64 << 20
)

// ErrNotFound is returned for a picture that is in no bundle searched.
var ErrNotFound = errors.New("not found")

// ErrBadPicture is returned for a block whose record is not the picture
// the index names: another key, or JPEG bytes whose SHA-256 is not the
// record's.
var ErrBadPicture = errors.New("bundle: bad picture")

// FS is what a Reader reads through.
type FS interface {
	// ReadDir lists dir; a missing directory is an empty listing (or
	// fs.ErrNotExist). current reports whether dir may still change: a
	// caching FS keeps the listing of a past directory longer.
	ReadDir(dir string, current bool) ([]fs.FileInfo, error)
	// OpenReader opens a file for a sequential read.
	OpenReader(name string) (io.ReadCloser, error)
	// ReadRange reads the n bytes at off of a file, and no others.
	ReadRange(name string, off, n int64) ([]byte, error)
}

// Config says where the bundles are and how to search them.
type Config struct {
	// Dir is cloud-ingest-hdfs's SENSORNODE_PICTURE_BUNDLE_DIR ("": no
	// bundle store; every listing is empty).
	Dir string
	// Lookahead: a picture captured in hour H is searched in the hour
	// directories H .. H+Lookahead; zero: DefaultLookahead.
	Lookahead time.Duration
	// IndexCacheEntries bounds the parsed indexes kept; zero:
	// DefaultIndexCacheEntries.
	IndexCacheEntries int
	// Now is the clock (which directories may still change); nil: time.Now.
	Now func() time.Time
	// OnBadIndex is told of an index that does not parse (its bundle is
	// skipped), once per index; nil: nobody.
	OnBadIndex func(index string, err error)
}

// Reader reads the bundle store. It is safe for concurrent use.
type Reader struct {
	fs      FS
	cfg     Config
	indexes *indexCache
}

// New is a reader of the bundles below cfg.Dir through fsys.
func New(fsys FS, cfg Config) *Reader {
	if cfg.Lookahead <= 0 {
		cfg.Lookahead = DefaultLookahead
	}
	if cfg.IndexCacheEntries <= 0 {
		cfg.IndexCacheEntries = DefaultIndexCacheEntries
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.OnBadIndex == nil {
		cfg.OnBadIndex = func(string, error) {}
	}
	return &Reader{fs: fsys, cfg: cfg, indexes: newIndexCache(cfg.IndexCacheEntries)}
}

// Lookahead is the configured lookahead.
func (r *Reader) Lookahead() time.Duration { return r.cfg.Lookahead }

// Bundle is a committed bundle with its parsed index, and the hour of its
// directory.
type Bundle struct {
	Path  string
	Hour  time.Time
	Index bundle.Index
}

// Picture is where a picture is in a bundle.
type Picture struct {
	Camera string
	Key    string
	Taken  time.Time // capture time, UTC, from the key
	Bundle string    // the bundle's path
	Entry  bundle.Entry
	Sync   [16]byte // the bundle's sync marker
}

func (r *Reader) list(dir string, current bool) ([]fs.FileInfo, error) {
	entries, err := r.fs.ReadDir(dir, current)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return entries, err
}

// Partitions lists <Dir>/<topic>/<partition>; none when the bundle store
// is off or its directory does not exist.
func (r *Reader) Partitions() ([]string, error) {
	if r.cfg.Dir == "" {
		return nil, nil
	}
	root := path.Clean(r.cfg.Dir)
	topics, err := r.list(root, true)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, t := range topics {
		if !t.IsDir() || messages.CheckID("topic", t.Name()) != nil {
			continue
		}
		dir := path.Join(root, t.Name())
		parts, err := r.list(dir, true)
		if err != nil {
			return nil, err
		}
		for _, p := range parts {
			if n, err := strconv.Atoi(p.Name()); p.IsDir() && err == nil && n >= 0 && strconv.Itoa(n) == p.Name() {
				out = append(out, dir+"/"+p.Name())
			}
		}
	}
	return out, nil
}

// HourDir is a partition's directory of hour h.
func HourDir(part string, h time.Time) string {
	h = h.UTC()
	return fmt.Sprintf("%s/%04d/%02d/%02d/%02d", part, h.Year(), int(h.Month()), h.Day(), h.Hour())
}

// HourDirs visits the hour directories of a partition, newest first when
// newest, until visit says stop.
func (r *Reader) HourDirs(ctx context.Context, part string, newest bool, visit func(dir string, hour time.Time) (stop bool, err error)) error {
	widths := []int{4, 2, 2, 2}
	var walk func(dir string, depth int, vals []int) (bool, error)
	walk = func(dir string, depth int, vals []int) (bool, error) {
		if err := ctx.Err(); err != nil {
			return false, err
		}
		if depth == len(widths) {
			h := time.Date(vals[0], time.Month(vals[1]), vals[2], vals[3], 0, 0, 0, time.UTC)
			if h.Year() != vals[0] || int(h.Month()) != vals[1] || h.Day() != vals[2] || h.Hour() != vals[3] {
				return false, nil
			}
			return visit(dir, h)
		}
		// Past directories do not change: a caching FS keeps them longer.
		entries, err := r.list(dir, depth == 0 || r.isCurrent(vals))
		if err != nil {
			return false, err
		}
		type sub struct {
			name string
			v    int
		}
		var subs []sub
		for _, e := range entries {
			v, err := strconv.Atoi(e.Name())
			if e.IsDir() && err == nil && len(e.Name()) == widths[depth] && v >= 0 {
				subs = append(subs, sub{e.Name(), v})
			}
		}
		slices.SortFunc(subs, func(a, b sub) int {
			if newest {
				return cmp.Compare(b.v, a.v)
			}
			return cmp.Compare(a.v, b.v)
		})
		for _, c := range subs {
			if stop, err := walk(dir+"/"+c.name, depth+1, append(slices.Clip(vals), c.v)); err != nil || stop {
				return stop, err
			}
		}
		return false, nil
	}
	_, err := walk(part, 0, nil)
	return err
}

// isCurrent reports whether the directory of the year/month/day prefix
// vals may still change: it reaches now less the lookahead (a bundle is
// committed, and its hour directory made, up to its roll time after its
// hour).
func (r *Reader) isCurrent(vals []int) bool {
	n := r.cfg.Now().Add(-r.cfg.Lookahead).UTC()
	now := []int{n.Year(), int(n.Month()), n.Day()}
	return slices.Compare(vals, now[:len(vals)]) >= 0
}

// BundlesIn lists the committed bundles of one hour directory with their
// parsed indexes (those without an index, or whose index does not parse,
// are left out).
func (r *Reader) BundlesIn(dir string, hour time.Time) ([]Bundle, error) {
	// A bundle is committed into the hour its first picture was read in,
	// up to its roll time later: an hour directory is current until the
	// lookahead after it has passed too.
	entries, err := r.list(dir, hour.Add(time.Hour+r.cfg.Lookahead).After(r.cfg.Now()))
	if err != nil {
		return nil, err
	}
	names := map[string]bool{}
	for _, e := range entries {
		if !e.IsDir() {
			names[e.Name()] = true
		}
	}
	var out []Bundle
	for _, e := range entries {
		if _, ok := bundle.ParseName(e.Name()); !ok || e.IsDir() || !names[bundle.IndexName(e.Name())] {
			continue
		}
		p := dir + "/" + e.Name()
		x, ok, err := r.Index(p)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, Bundle{p, hour, x})
		}
	}
	return out, nil
}

// Bundles lists the committed bundles of every partition whose hour
// directory is in [from, to), oldest hour first.
func (r *Reader) Bundles(ctx context.Context, from, to time.Time) ([]Bundle, error) {
	parts, err := r.Partitions()
	if err != nil {
		return nil, err
	}
	var out []Bundle
	for _, part := range parts {
		for h := from.UTC().Truncate(time.Hour); h.Before(to); h = h.Add(time.Hour) {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			bs, err := r.BundlesIn(HourDir(part, h), h)
			if err != nil {
				return nil, err
			}
			out = append(out, bs...)
		}
	}
	slices.SortStableFunc(out, func(a, b Bundle) int { return a.Hour.Compare(b.Hour) })
	return out, nil
}

// Index is the parsed index of bundle p, cached; ok is false for one that
// does not parse (reported to OnBadIndex once).
func (r *Reader) Index(p string) (bundle.Index, bool, error) {
	c, err := r.index(p)
	return c.x, c.bad == nil, err
}

func (r *Reader) index(p string) (cachedIndex, error) {
	if c, hit := r.indexes.get(p); hit {
		return c, nil
	}
	v, err, _ := r.indexes.group.Do(p, func() (any, error) {
		if c, hit := r.indexes.get(p); hit {
			return c, nil
		}
		c, err := r.readIndex(p)
		if err != nil {
			return nil, err
		}
		r.indexes.put(p, c)
		return c, nil
	})
	if err != nil {
		return cachedIndex{}, err
	}
	return v.(cachedIndex), nil
}

func (r *Reader) readIndex(p string) (cachedIndex, error) {
	name := bundle.IndexName(p)
	rd, err := r.fs.OpenReader(name)
	if err != nil {
		return cachedIndex{}, err
	}
	defer rd.Close()
	data, err := io.ReadAll(io.LimitReader(rd, maxIndexFile+1))
	if err != nil {
		return cachedIndex{}, fmt.Errorf("read %s: %w", name, err)
	}
	var c cachedIndex
	if len(data) > maxIndexFile {
		c.bad = fmt.Errorf("over %d bytes", maxIndexFile)
	} else if c.x, err = bundle.ParseIndex(bytes.NewReader(data)); err != nil {
		c = cachedIndex{bad: err}
	}
	if c.bad != nil {
		r.cfg.OnBadIndex(name, c.bad)
	}
	return c, nil
}

// entryPicture is the picture of an index entry, if it is one of camera
// ("": any) that is listed: its bundle's hour directory is within its
// capture hour .. +lookahead, where Find looks for it (so every listing
// agrees with Pictures and Find).
func (r *Reader) entryPicture(camera string, b Bundle, e bundle.Entry) (Picture, bool) {
	cam, taken, err := messages.ParsePictureKey(e.Key)
	if err != nil || camera != "" && cam != camera {
		return Picture{}, false
	}
	if h := taken.Truncate(time.Hour); b.Hour.Before(h) || !b.Hour.Before(h.Add(r.cfg.Lookahead+time.Hour)) {
		return Picture{}, false
	}
	return Picture{Camera: cam, Key: e.Key, Taken: taken, Bundle: b.Path, Entry: e, Sync: b.Index.Sync}, true
}

// Pictures lists camera's pictures in bundles with from <= Taken < to,
// oldest first, searching the hour directories from .. to+lookahead of
// every partition through their indexes. camera "" lists every camera's.
// A picture in two bundles is listed twice.
func (r *Reader) Pictures(ctx context.Context, camera string, from, to time.Time) ([]Picture, error) {
	last := to.Add(-time.Nanosecond).Truncate(time.Hour).Add(time.Hour + r.cfg.Lookahead)
	bs, err := r.Bundles(ctx, from, last)
	if err != nil {
		return nil, err
	}
	var out []Picture
	for _, b := range bs {
		for _, e := range b.Index.Entries {
			if p, ok := r.entryPicture(camera, b, e); ok && !p.Taken.Before(from) && p.Taken.Before(to) {
				out = append(out, p)
			}
		}
	}
	slices.SortStableFunc(out, func(a, b Picture) int {
		return cmp.Or(a.Taken.Compare(b.Taken), cmp.Compare(a.Key, b.Key))
	})
	return out, nil
}

// Find finds a picture by key in the bundles of its capture hour ..
// +lookahead; a key that does not parse is ErrNotFound too.
func (r *Reader) Find(ctx context.Context, key string) (Picture, error) {
	cam, taken, err := messages.ParsePictureKey(key)
	if err != nil {
		return Picture{}, fmt.Errorf("picture key %q: %w", key, ErrNotFound)
	}
	sec := taken.Truncate(time.Second)
	ps, err := r.Pictures(ctx, cam, sec, sec.Add(time.Second))
	if err != nil {
		return Picture{}, err
	}
	i := slices.IndexFunc(ps, func(p Picture) bool { return p.Key == key })
	if i < 0 {
		return Picture{}, fmt.Errorf("picture %s: %w", key, ErrNotFound)
	}
	return ps[i], nil
}

// Read reads a bundled picture with one ranged read of its block and
// checks that the record is the picture asked for (Check).
func (r *Reader) Read(p Picture) (bundle.Record, error) {
	data, err := r.fs.ReadRange(p.Bundle, p.Entry.Start, p.Entry.Length)
	if err != nil {
		return bundle.Record{}, fmt.Errorf("read %s [%d, +%d): %w", p.Bundle, p.Entry.Start, p.Entry.Length, err)
	}
	rec, err := bundle.ReadBlock(data, p.Sync)
	if err == nil {
		err = Check(rec, p.Key)
	}
	if err != nil {
		return bundle.Record{}, fmt.Errorf("picture %s in %s: %w", p.Key, p.Bundle, err)
	}
	return rec, nil
}

// Check verifies that rec is the picture of key and that its JPEG bytes
// hash to the SHA-256 it carries.
func Check(rec bundle.Record, key string) error {
	if rec.Key != key {
		return fmt.Errorf("%w: the block holds %s", ErrBadPicture, rec.Key)
	}
	if sha256.Sum256(rec.JPEG) != rec.SHA256 {
		return fmt.Errorf("%w: %s: the JPEG's SHA-256 is not the record's", ErrBadPicture, key)
	}
	return nil
}

// Records iterates every picture of bundle p in offset order, reading the
// bundle once from start to end (never whole in memory) along its index;
// each record is checked (Check). A bundle without a readable index, or a
// block that is not its entry's picture, ends the iteration with an error.
func (r *Reader) Records(p string) iter.Seq2[bundle.Record, error] {
	return func(yield func(bundle.Record, error) bool) {
		if _, ok := bundle.ParseName(path.Base(p)); !ok {
			yield(bundle.Record{}, fmt.Errorf("%s: not a committed bundle name (<topic>+<partition>+<first offset>+<last offset>.avro)", p))
			return
		}
		c, err := r.index(p)
		if err == nil && c.bad != nil {
			err = fmt.Errorf("its index does not parse: %w", c.bad)
		}
		if err != nil {
			yield(bundle.Record{}, fmt.Errorf("bundle %s: %w", p, err))
			return
		}
		x := c.x
		rd, err := r.fs.OpenReader(p)
		if err != nil {
			yield(bundle.Record{}, fmt.Errorf("bundle %s: %w", p, err))
			return
		}
		defer rd.Close()
		if _, err := io.CopyN(io.Discard, rd, x.HeaderBytes); err != nil {
			yield(bundle.Record{}, fmt.Errorf("bundle %s: header: %w", p, err))
			return
		}
		var buf []byte
		for _, e := range x.Entries {
			if e.Length > maxBlock {
				yield(bundle.Record{}, fmt.Errorf("bundle %s: block of %s: %d bytes", p, e.Key, e.Length))
				return
			}
			buf = slices.Grow(buf[:0], int(e.Length))[:e.Length]
			if _, err := io.ReadFull(rd, buf); err != nil {
				yield(bundle.Record{}, fmt.Errorf("bundle %s: block of %s at %d: %w", p, e.Key, e.Start, err))
				return
			}
			rec, err := bundle.ReadBlock(buf, x.Sync)
			if err == nil {
				err = Check(rec, e.Key)
			}
			if err != nil {
				yield(bundle.Record{}, fmt.Errorf("bundle %s: block at %d: %w", p, e.Start, err))
				return
			}
			rec.JPEG = bytes.Clone(rec.JPEG)
			if !yield(rec, nil) {
				return
			}
		}
	}
}

// Cameras adds the cameras of the newest hours hour directories of every
// partition.
func (r *Reader) Cameras(ctx context.Context, hours int, cams map[string]bool) error {
	parts, err := r.Partitions()
	if err != nil {
		return err
	}
	for _, part := range parts {
		n := 0
		err := r.HourDirs(ctx, part, true, func(dir string, h time.Time) (bool, error) {
			n++
			bs, err := r.BundlesIn(dir, h)
			for _, b := range bs {
				for _, e := range b.Index.Entries {
					if cam, _, err := messages.ParsePictureKey(e.Key); err == nil {
						cams[cam] = true
					}
				}
			}
			return n >= hours, err
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// Latest finds camera's newest picture in bundles newer than the picture
// (taken, key) found elsewhere (zero taken: none); ok is false when no
// bundle holds a newer one. In every partition it reads the newest hour
// directories first, up to LatestHours of them, and once one holds a
// picture of camera, lookahead more (a newer capture ingested earlier is
// in an older directory); none older than the newest picture found (a
// bundle holds pictures ingested, so captured, before its hour and the
// lookahead, as margin for its roll, have passed).
func (r *Reader) Latest(ctx context.Context, camera string, taken time.Time, key string) (p Picture, ok bool, err error) {
	parts, err := r.Partitions()
	if err != nil {
		return Picture{}, false, err
	}
	best := Picture{Key: key, Taken: taken}
	newer := func(p Picture) bool {
		return best.Key == "" || p.Taken.After(best.Taken) || p.Taken.Equal(best.Taken) && p.Key > best.Key
	}
	for _, part := range parts {
		n := 0
		var hit time.Time
		err := r.HourDirs(ctx, part, true, func(dir string, h time.Time) (bool, error) {
			if n++; n > LatestHours || !hit.IsZero() && h.Before(hit.Add(-r.cfg.Lookahead)) ||
				best.Key != "" && !h.Add(time.Hour+r.cfg.Lookahead).After(best.Taken) {
				return true, nil
			}
			bs, err := r.BundlesIn(dir, h)
			for _, b := range bs {
				for _, e := range b.Index.Entries {
					if p, ok := r.entryPicture(camera, b, e); ok {
						if hit.IsZero() {
							hit = h
						}
						if newer(p) {
							best = p
						}
					}
				}
			}
			return false, err
		})
		if err != nil {
			return Picture{}, false, err
		}
	}
	return best, best.Bundle != "", nil
}

// Days adds the capture days (UTC midnight) of camera's pictures in all
// bundles. An hour directory whose pictures can only be of days already
// in days (captured lookahead before it at the earliest) is not read, so a
// camera with pictures on most days costs about one index read per day.
func (r *Reader) Days(ctx context.Context, camera string, days map[time.Time]bool) error {
	parts, err := r.Partitions()
	if err != nil {
		return err
	}
	known := func(from, to time.Time) bool {
		for d := from.Truncate(24 * time.Hour); !d.After(to); d = d.Add(24 * time.Hour) {
			if !days[d] {
				return false
			}
		}
		return true
	}
	for _, part := range parts {
		err := r.HourDirs(ctx, part, false, func(dir string, h time.Time) (bool, error) {
			if known(h.Add(-r.cfg.Lookahead), h) {
				return false, nil
			}
			bs, err := r.BundlesIn(dir, h)
			for _, b := range bs {
				for _, e := range b.Index.Entries {
					if p, ok := r.entryPicture(camera, b, e); ok {
						days[p.Taken.Truncate(24*time.Hour)] = true
					}
				}
			}
			return false, err
		})
		if err != nil {
			return err
		}
	}
	return nil
}
