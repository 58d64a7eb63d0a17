package store

import (
	"bytes"
	"cmp"
	"container/list"
	"context"
	"fmt"
	"io"
	"path"
	"slices"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/sensornode/sensornode/libs/bundle"
	"github.com/sensornode/sensornode/libs/messages"
)

// The bundle store (cloud-ingest-hdfs SENSORNODE_PICTURE_STORE=avro) keeps
// pictures in committed bundles
// <BundleDir>/<topic>/<partition>/<yyyy>/<MM>/<dd>/<HH>/<topic>+<p>+<first>+<last>.avro
// beside their index (.avro.idx). The hour directory is the ingest time of
// the bundle's first picture, so a picture captured in hour H is searched
// in the hour directories H .. H+BundleLookahead of every partition; one
// ingested later than that after its capture is not listed under its
// capture hour. Only committed bundles (names bundle.ParseName accepts)
// whose index is there are read; an index is immutable once committed, so
// parsed indexes are cached (bounded) and read once.

const (
	// DefaultBundleLookahead: hour directories searched after a capture hour.
	DefaultBundleLookahead = 2 * time.Hour
	// DefaultIndexCacheEntries bounds the parsed indexes kept.
	DefaultIndexCacheEntries = 1024
	// bundleRecentHours: Cameras looks for cameras in this many newest
	// hour directories of each partition.
	bundleRecentHours = 24
	// bundleLatestHours: Latest searches at most this many newest hour
	// directories of each partition.
	bundleLatestHours = 7 * 24
	// maxRecordOverhead: a block holds the JPEG and at most this much more
	// (the record's other fields, the block's framing).
	maxRecordOverhead = 64 << 10
	// maxIndexFile bounds one index read.
	maxIndexFile = 64 << 20
)

// inBundle is where a picture is in a bundle.
type inBundle struct {
	path  string // the bundle
	entry bundle.Entry
	sync  [16]byte
}

// bundleIndex is a bundle with its parsed index, and the hour of its
// directory.
type bundleIndex struct {
	path string
	hour time.Time
	x    bundle.Index
}

// partitions lists <BundleDir>/<topic>/<partition>; none when the bundle
// store is off or its directory does not exist.
func (s *Store) partitions() ([]string, error) {
	if s.cfg.PictureBundleDir == "" {
		return nil, nil
	}
	topics, err := s.list(path.Clean(s.cfg.PictureBundleDir), true)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, t := range topics {
		if !t.IsDir() || messages.CheckID("topic", t.Name()) != nil {
			continue
		}
		dir := path.Join(s.cfg.PictureBundleDir, t.Name())
		parts, err := s.list(dir, true)
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

// hourDir is a partition's directory of hour h.
func hourDir(part string, h time.Time) string {
	return fmt.Sprintf("%s/%04d/%02d/%02d/%02d", part, h.Year(), int(h.Month()), h.Day(), h.Hour())
}

// hourDirs visits the hour directories of a partition, newest first when
// newest, until visit says stop.
func (s *Store) hourDirs(ctx context.Context, part string, newest bool, visit func(dir string, hour time.Time) (bool, error)) error {
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
		// Past directories do not change: cache them longer.
		entries, err := s.list(dir, depth == 0 || s.isCurrent(vals))
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
func (s *Store) isCurrent(vals []int) bool {
	n := s.now().Add(-s.cfg.BundleLookahead).UTC()
	now := []int{n.Year(), int(n.Month()), n.Day()}
	return slices.Compare(vals, now[:len(vals)]) >= 0
}

// bundlesIn lists the committed bundles of one hour directory with their
// parsed indexes (those without an index, or whose index does not parse,
// are left out).
func (s *Store) bundlesIn(dir string, hour time.Time) ([]bundleIndex, error) {
	// A bundle is committed into the hour its first picture was read in,
	// up to its roll time later: an hour directory is current until the
	// lookahead after it has passed too.
	entries, err := s.list(dir, hour.Add(time.Hour+s.cfg.BundleLookahead).After(s.now()))
	if err != nil {
		return nil, err
	}
	names := map[string]bool{}
	for _, e := range entries {
		if !e.IsDir() {
			names[e.Name()] = true
		}
	}
	var out []bundleIndex
	for _, e := range entries {
		if _, ok := bundle.ParseName(e.Name()); !ok || e.IsDir() || !names[bundle.IndexName(e.Name())] {
			continue
		}
		path := dir + "/" + e.Name()
		x, ok, err := s.index(path)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, bundleIndex{path, hour, x})
		}
	}
	return out, nil
}

// index is the parsed index of bundle path, cached; ok is false for one
// that does not parse (skipped, counted and logged once).
func (s *Store) index(path string) (bundle.Index, bool, error) {
	if c, hit := s.indexes.get(path); hit {
		return c.x, c.ok, nil
	}
	v, err, _ := s.indexes.group.Do(path, func() (any, error) {
		if c, hit := s.indexes.get(path); hit {
			return c, nil
		}
		name := bundle.IndexName(path)
		r, err := s.open(name)
		if err != nil {
			return nil, err
		}
		defer r.Close()
		data, err := io.ReadAll(io.LimitReader(r, maxIndexFile+1))
		if err != nil {
			s.m.hdfsErrors.WithLabelValues("read").Inc()
			return nil, fmt.Errorf("read %s: %w", name, err)
		}
		c := cachedIndex{ok: true}
		if len(data) > maxIndexFile {
			err = fmt.Errorf("over %d bytes", maxIndexFile)
		} else {
			c.x, err = bundle.ParseIndex(bytes.NewReader(data))
		}
		if err != nil {
			c = cachedIndex{}
			s.m.skipped.WithLabelValues("bundle_index").Inc()
			s.log.Warn("a bundle index does not parse; its bundle is skipped", "path", name, "err", err)
		}
		s.indexes.put(path, c)
		return c, nil
	})
	if err != nil {
		return bundle.Index{}, false, err
	}
	c := v.(cachedIndex)
	return c.x, c.ok, nil
}

// entryPicture is the picture of an index entry, if it is one of camera
// that is listed: its bundle's hour directory is within its capture hour
// .. +lookahead, where Open looks for it (so every listing agrees with
// Hour and Open).
func (s *Store) entryPicture(camera string, b bundleIndex, e bundle.Entry) (found, bool) {
	cam, taken, err := messages.ParsePictureKey(e.Key)
	if err != nil || cam != camera {
		return found{}, false
	}
	if h := taken.Truncate(time.Hour); b.hour.Before(h) || !b.hour.Before(h.Add(s.cfg.BundleLookahead+time.Hour)) {
		return found{}, false
	}
	// Size: the block's length, an upper bound of the JPEG's until it is read.
	return found{Picture: Picture{Camera: cam, Key: e.Key, Taken: taken, Size: e.Length},
		bundle: &inBundle{path: b.path, entry: e, sync: b.x.Sync}}, true
}

// bundlePictures lists camera's pictures in bundles with from <= Taken <
// to, searching the hour directories from .. to+lookahead of every
// partition.
func (s *Store) bundlePictures(ctx context.Context, camera string, from, to time.Time) ([]found, error) {
	parts, err := s.partitions()
	if err != nil {
		return nil, err
	}
	var out []found
	last := to.Add(-time.Nanosecond).Truncate(time.Hour).Add(time.Hour + s.cfg.BundleLookahead)
	for _, part := range parts {
		for h := from.Truncate(time.Hour); h.Before(last); h = h.Add(time.Hour) {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			bs, err := s.bundlesIn(hourDir(part, h), h)
			if err != nil {
				return nil, err
			}
			for _, b := range bs {
				for _, e := range b.x.Entries {
					if p, ok := s.entryPicture(camera, b, e); ok && !p.Taken.Before(from) && p.Taken.Before(to) {
						out = append(out, p)
					}
				}
			}
		}
	}
	return out, nil
}

// bundleCameras adds the cameras of the newest bundleRecentHours hour
// directories of every partition.
func (s *Store) bundleCameras(ctx context.Context, cams map[string]bool) error {
	parts, err := s.partitions()
	if err != nil {
		return err
	}
	for _, part := range parts {
		n := 0
		err := s.hourDirs(ctx, part, true, func(dir string, h time.Time) (bool, error) {
			n++
			bs, err := s.bundlesIn(dir, h)
			for _, b := range bs {
				for _, e := range b.x.Entries {
					if cam, _, err := messages.ParsePictureKey(e.Key); err == nil {
						cams[cam] = true
					}
				}
			}
			return n >= bundleRecentHours, err
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// bundleLatest finds camera's newest picture in bundles, unless best (the
// file store's) is newer: in every partition, the newest hour directories
// first, up to bundleLatestHours of them, and once one holds a picture of
// camera, lookahead more (a newer capture ingested earlier is in an older
// directory); none older than best (a bundle holds pictures ingested, so
// captured, before its hour and the lookahead, as margin for its roll,
// have passed).
func (s *Store) bundleLatest(ctx context.Context, camera string, best *found) error {
	parts, err := s.partitions()
	if err != nil {
		return err
	}
	for _, part := range parts {
		n := 0
		var hit time.Time
		err := s.hourDirs(ctx, part, true, func(dir string, h time.Time) (bool, error) {
			if n++; n > bundleLatestHours || !hit.IsZero() && h.Before(hit.Add(-s.cfg.BundleLookahead)) ||
				best.Key != "" && !h.Add(time.Hour+s.cfg.BundleLookahead).After(best.Taken) {
				return true, nil
			}
			bs, err := s.bundlesIn(dir, h)
			for _, b := range bs {
				for _, e := range b.x.Entries {
					if p, ok := s.entryPicture(camera, b, e); ok {
						if hit.IsZero() {
							hit = h
						}
						if newer(p, *best) {
							*best = p
						}
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

// newer reports whether p is newer than best (or best is none).
func newer(p, best found) bool {
	return best.Key == "" || p.Taken.After(best.Taken) || p.Taken.Equal(best.Taken) && p.Key > best.Key
}

// bundleDays adds the capture days of camera's pictures in all bundles.
// An hour directory whose pictures can only be of days already found
// (captured lookahead before it at the earliest) is not read, so a camera
// with pictures on most days costs about one index read per day.
func (s *Store) bundleDays(ctx context.Context, camera string, days map[time.Time]bool) error {
	parts, err := s.partitions()
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
		err := s.hourDirs(ctx, part, false, func(dir string, h time.Time) (bool, error) {
			if known(h.Add(-s.cfg.BundleLookahead), h) {
				return false, nil
			}
			bs, err := s.bundlesIn(dir, h)
			for _, b := range bs {
				for _, e := range b.x.Entries {
					if p, ok := s.entryPicture(camera, b, e); ok {
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

// findInBundle finds a picture in the bundles of its capture hour ..
// +lookahead.
func (s *Store) findInBundle(ctx context.Context, camera, key string, taken time.Time) (found, error) {
	sec := taken.Truncate(time.Second)
	ps, err := s.bundlePictures(ctx, camera, sec, sec.Add(time.Second))
	if err != nil {
		return found{}, err
	}
	i := slices.IndexFunc(ps, func(p found) bool { return p.Key == key })
	if i < 0 {
		return found{}, fmt.Errorf("picture %s: %w", key, ErrNotFound)
	}
	return ps[i], nil
}

// readBundled reads a bundled picture with one ranged read of its block
// and checks the record is the picture asked for.
func (s *Store) readBundled(p found) ([]byte, error) {
	b := p.bundle
	s.m.hdfsOps.WithLabelValues("open").Inc()
	data, err := s.fs.ReadRange(b.path, b.entry.Start, b.entry.Length)
	if err != nil {
		s.m.hdfsErrors.WithLabelValues("read").Inc()
		return nil, fmt.Errorf("read %s [%d, +%d): %w", b.path, b.entry.Start, b.entry.Length, err)
	}
	r, err := bundle.ReadBlock(data, b.sync)
	if err == nil && r.Key != p.Key {
		err = fmt.Errorf("block holds %s", r.Key)
	}
	if err != nil {
		return nil, fmt.Errorf("picture %s in %s: %w", p.Key, b.path, err)
	}
	if int64(len(r.JPEG)) > s.cfg.MaxPictureBytes {
		return nil, fmt.Errorf("picture %s: %d bytes, limit %d: %w", p.Key, len(r.JPEG), s.cfg.MaxPictureBytes, ErrTooLarge)
	}
	return r.JPEG, nil
}

// cachedIndex is a parsed index (ok false: it did not parse).
type cachedIndex struct {
	x  bundle.Index
	ok bool
}

// indexCache keeps parsed indexes, at most max (least recently used
// evicted); they never change, so they do not expire.
type indexCache struct {
	max   int
	group singleflight.Group

	mu     sync.Mutex
	lru    *list.List // of *indexEntry
	byPath map[string]*list.Element
}

type indexEntry struct {
	path string
	c    cachedIndex
}

func newIndexCache(max int) *indexCache {
	return &indexCache{max: max, lru: list.New(), byPath: map[string]*list.Element{}}
}

func (c *indexCache) get(path string) (cachedIndex, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.byPath[path]
	if !ok {
		return cachedIndex{}, false
	}
	c.lru.MoveToFront(el)
	return el.Value.(*indexEntry).c, true
}

func (c *indexCache) put(path string, x cachedIndex) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.byPath[path]; ok {
		c.lru.Remove(el)
	}
	c.byPath[path] = c.lru.PushFront(&indexEntry{path, x})
	for c.lru.Len() > c.max {
		old := c.lru.Back()
		c.lru.Remove(old)
		delete(c.byPath, old.Value.(*indexEntry).path)
	}
}
