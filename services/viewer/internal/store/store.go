// Package store reads what cloud-ingest-hdfs wrote to HDFS: pictures and
// temperature readings, through the layouts of libs/archive. It never
// writes to HDFS: FS holds read methods only (a test checks the whole
// viewer for calls to HDFS write methods). Listings are cached with a TTL,
// thumbnails are made once and kept in a size-bounded directory.
//
// Every path the store reads is rendered from the configured layouts or
// listed from a directory the layouts name; ids and keys from a request
// only ever fill a layout in, after messages.CheckID and
// messages.ParsePictureKey accepted them.
package store

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"slices"
	"time"

	"github.com/colinmarc/hdfs/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sensornode/sensornode/libs/archive"
	"github.com/sensornode/sensornode/libs/bundlestore"
	"github.com/sensornode/sensornode/libs/messages"
)

// ErrNotFound is returned for a camera, node, day or picture that does not
// exist (or an id that cannot exist: not path-safe, not a picture key).
var ErrNotFound = errors.New("not found")

// ErrTooLarge is returned for a picture over Config.MaxPictureBytes.
var ErrTooLarge = errors.New("picture too large")

// FS is the read-only part of *hdfs.Client the store uses.
type FS interface {
	ReadDir(dirname string) ([]fs.FileInfo, error)
	Stat(name string) (fs.FileInfo, error)
	Open(name string) (*hdfs.FileReader, error)
}

// Config says where the data is and how much to cache.
type Config struct {
	PictureLayout        string        // as cloud-ingest-hdfs's SENSORNODE_PICTURE_LAYOUT
	TemperatureDirLayout string        // as cloud-ingest-hdfs's SENSORNODE_TEMPERATURE_DIR_LAYOUT
	ListingTTL           time.Duration // listings of the current hour/day; older ones are kept longer
	ListingCacheEntries  int           // bound on cached listings
	ThumbDir             string        // where thumbnails are kept (an emptyDir); "" keeps none on disk
	ThumbMaxBytes        int64         // bound on ThumbDir, oldest-used evicted first
	ThumbWidth           int           // pixels
	MaxPictureBytes      int64         // a larger file is refused, not read

	// PictureBundleDir is cloud-ingest-hdfs's SENSORNODE_PICTURE_BUNDLE_DIR:
	// the bundle store, read beside the file store when it exists ("": off).
	PictureBundleDir string
	// BundleLookahead: a picture captured in hour H is searched in the
	// bundle hour directories H .. H+BundleLookahead.
	BundleLookahead time.Duration
	// IndexCacheEntries bounds the parsed bundle indexes kept.
	IndexCacheEntries int

	// Log receives the skipped files; nil: slog.Default().
	Log *slog.Logger
}

// Defaults used for zero Config fields.
const (
	DefaultListingTTL          = 10 * time.Second
	DefaultListingCacheEntries = 4096
	DefaultThumbMaxBytes       = 256 << 20
	DefaultThumbWidth          = 320
	DefaultMaxPictureBytes     = 16 << 20 // cloud-ingest-hdfs's SENSORNODE_MAX_PICTURE_BYTES default
	// pastTTLFactor: listings that cannot change any more (a past hour or
	// day) are kept this many times longer.
	pastTTLFactor = 10
	// maxReadingsFile bounds one temperature file read.
	maxReadingsFile = 64 << 20
)

// Picture is one stored picture.
type Picture struct {
	Camera string
	Key    string    // messages.PictureKey: <camera>-<YYYYMMDDTHHMMSSZ>-<16 hex>
	Taken  time.Time // capture time, UTC, from the key
	Size   int64
}

// Reading is one stored temperature reading.
type Reading struct {
	Node    string
	ReadAt  time.Time
	Celsius float64
	Source  string
}

// HourCount is how many pictures one hour of a day holds.
type HourCount struct {
	Hour  time.Time // start of the hour, UTC
	Count int
}

// fileSystem is what the store reads through: FS with Open returning a
// plain reader, so that tests can fake it.
type fileSystem interface {
	ReadDir(dirname string) ([]fs.FileInfo, error)
	Stat(name string) (fs.FileInfo, error)
	OpenReader(name string) (io.ReadCloser, error)
	// ReadRange reads the n bytes at off of a file, and no others.
	ReadRange(name string, off, n int64) ([]byte, error)
}

type hdfsFS struct{ FS }

func (h hdfsFS) OpenReader(name string) (io.ReadCloser, error) { return h.Open(name) }

// ReadRange is one Open and one ReadAt (a positioned read of those bytes).
func (h hdfsFS) ReadRange(name string, off, n int64) ([]byte, error) {
	return bundlestore.ReadRange(h.Open, name, off, n)
}

// Store reads pictures and readings.
type Store struct {
	fs  fileSystem
	cfg Config
	log *slog.Logger
	m   *metrics
	now func() time.Time

	pics      archive.Layout
	camIndex  int // component of {camera}
	temps     archive.Layout
	nodeIndex int // component of {node}

	listings *listCache
	bundles  *bundlestore.Reader
	thumbs   *thumbs
}

// New makes a store over fsys. It refuses picture layouts it cannot list:
// {camera} must be a directory component below literal directories and
// above every time placeholder, and {key} must be in the file name; the
// temperature layout likewise with {node}.
func New(fsys FS, cfg Config, reg prometheus.Registerer) (*Store, error) {
	return newStore(hdfsFS{fsys}, cfg, reg)
}

func newStore(fsys fileSystem, cfg Config, reg prometheus.Registerer) (*Store, error) {
	if cfg.ListingTTL <= 0 {
		cfg.ListingTTL = DefaultListingTTL
	}
	if cfg.ListingCacheEntries <= 0 {
		cfg.ListingCacheEntries = DefaultListingCacheEntries
	}
	if cfg.ThumbMaxBytes <= 0 {
		cfg.ThumbMaxBytes = DefaultThumbMaxBytes
	}
	if cfg.ThumbWidth <= 0 {
		cfg.ThumbWidth = DefaultThumbWidth
	}
	if cfg.MaxPictureBytes <= 0 {
		cfg.MaxPictureBytes = DefaultMaxPictureBytes
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	pl, err := archive.ParseLayout(cfg.PictureLayout, []string{"key"}, nil)
	if err != nil {
		return nil, fmt.Errorf("picture layout: %w", err)
	}
	ci, err := listable(pl, "camera", pl.Depth()-1)
	if err != nil {
		return nil, fmt.Errorf("picture layout: %w", err)
	}
	if pl.Index("key") != pl.Depth()-1 {
		return nil, fmt.Errorf("picture layout %q: {key} must be in the file name, not a directory", pl)
	}
	tl, err := archive.ParseLayout(cfg.TemperatureDirLayout, []string{"node", "yyyy", "MM", "dd", "HH"}, []string{"key", "camera"})
	if err != nil {
		return nil, fmt.Errorf("temperature layout: %w", err)
	}
	ni, err := listable(tl, "node", tl.Depth())
	if err != nil {
		return nil, fmt.Errorf("temperature layout: %w", err)
	}
	s := &Store{
		fs: fsys, cfg: cfg, log: cfg.Log, m: newMetrics(reg), now: time.Now,
		pics: pl, camIndex: ci, temps: tl, nodeIndex: ni,
	}
	s.listings = newListCache(cfg.ListingCacheEntries, func() time.Time { return s.now() })
	s.bundles = bundlestore.New(bundleFS{s}, bundlestore.Config{
		Dir: cfg.PictureBundleDir, Lookahead: cfg.BundleLookahead, IndexCacheEntries: cfg.IndexCacheEntries,
		Now: func() time.Time { return s.now() }, OnBadIndex: s.onBadIndex,
	})
	s.thumbs, err = newThumbs(cfg.ThumbDir, cfg.ThumbMaxBytes, s.m)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// listable checks that id is in a directory component (below dirs
// components) of its own, below literal components only and above every
// time placeholder, and returns that component's index.
func listable(l archive.Layout, id string, dirs int) (int, error) {
	i := l.Index(id)
	if i < 0 || i >= dirs {
		return 0, fmt.Errorf("%q: {%s} must be in a directory component", l, id)
	}
	for j := range i {
		if !l.Literal(j) {
			return 0, fmt.Errorf("%q: only literal directories may come before {%s}", l, id)
		}
	}
	for _, t := range []string{"yyyy", "MM", "dd", "HH", "mm", "ss"} {
		if l.Holds(i, t) {
			return 0, fmt.Errorf("%q: {%s} must be in a directory above the time placeholders", l, id)
		}
	}
	return i, nil
}

// Ping checks that HDFS answers (readiness).
func (s *Store) Ping(ctx context.Context) error {
	_, err := s.stat("/")
	return err
}

// Cameras lists the cameras that have pictures, sorted: those of the file
// store and those in the bundles of the newest hours.
func (s *Store) Cameras(ctx context.Context) ([]string, error) {
	files, err := s.ids(s.pics, s.camIndex, "camera")
	if err != nil {
		return nil, err
	}
	cams := map[string]bool{}
	if err := s.bundles.Cameras(ctx, bundleRecentHours, cams); err != nil {
		return nil, err
	}
	if len(cams) == 0 {
		return files, nil
	}
	out := files
	for c := range cams {
		out = append(out, c)
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// Nodes lists the nodes that have readings, sorted.
func (s *Store) Nodes(ctx context.Context) ([]string, error) {
	return s.ids(s.temps, s.nodeIndex, "node")
}

// ids lists the directory holding the {id} directories.
func (s *Store) ids(l archive.Layout, index int, id string) ([]string, error) {
	dir, err := l.Prefix(index, archive.Vars{})
	if err != nil {
		return nil, err
	}
	entries, err := s.list(dir, true)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		if f, ok := l.Match(index, e.Name()); ok && messages.CheckID(id, f[id]) == nil {
			out = append(out, f[id])
		}
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// Latest is a camera's newest picture.
func (s *Store) Latest(ctx context.Context, camera string) (Picture, error) {
	if err := messages.CheckID("camera", camera); err != nil {
		return Picture{}, fmt.Errorf("camera: %w", ErrNotFound)
	}
	v := archive.Vars{Camera: camera}
	dir, err := s.pics.Prefix(s.camIndex+1, v)
	if err != nil {
		return Picture{}, fmt.Errorf("camera: %w", ErrNotFound)
	}
	var best found
	if err := s.latest(ctx, camera, dir, s.camIndex+1, s.pics.FieldsOf(s.camIndex+1, v), &best); err != nil {
		return Picture{}, err
	}
	p, ok, err := s.bundles.Latest(ctx, camera, best.Taken, best.Key)
	if err != nil {
		return Picture{}, err
	}
	if ok {
		best = bundledFound(p)
	}
	if best.Key == "" {
		return Picture{}, fmt.Errorf("camera %s: no picture: %w", camera, ErrNotFound)
	}
	return best.Picture, nil
}

// latest descends into the newest directories first and skips those that
// cannot hold anything newer than best.
func (s *Store) latest(ctx context.Context, camera, dir string, depth int, f archive.Fields, best *found) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	entries, err := s.listFor(dir, f)
	if err != nil {
		return err
	}
	if depth == s.pics.Depth()-1 {
		for _, p := range s.filePictures(camera, dir, f, entries, time.Time{}, time.Time{}) {
			if newer(p, *best) {
				*best = p
			}
		}
		return nil
	}
	type child struct {
		dir      string
		f        archive.Fields
		from, to time.Time
		timed    bool
	}
	var children []child
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		g, ok := s.pics.Match(depth, e.Name())
		if !ok || !f.Consistent(g) {
			continue
		}
		m := f.Merge(g)
		from, to, timed := m.Span()
		children = append(children, child{dir + "/" + e.Name(), m, from, to, timed})
	}
	// Untimed directories first (anything may be in them), then the newest.
	slices.SortFunc(children, func(a, b child) int {
		if a.timed != b.timed {
			if a.timed {
				return 1
			}
			return -1
		}
		return b.from.Compare(a.from)
	})
	for _, c := range children {
		if c.timed && best.Key != "" && !c.to.After(best.Taken) {
			continue
		}
		if err := s.latest(ctx, camera, c.dir, depth+1, c.f, best); err != nil {
			return err
		}
	}
	return nil
}

// Days lists the days (UTC midnight) a camera has pictures on, newest first.
func (s *Store) Days(ctx context.Context, camera string) ([]time.Time, error) {
	if err := messages.CheckID("camera", camera); err != nil {
		return nil, fmt.Errorf("camera: %w", ErrNotFound)
	}
	v := archive.Vars{Camera: camera}
	dir, err := s.pics.Prefix(s.camIndex+1, v)
	if err != nil {
		return nil, fmt.Errorf("camera: %w", ErrNotFound)
	}
	days := map[time.Time]bool{}
	if err := s.days(ctx, camera, dir, s.camIndex+1, s.pics.FieldsOf(s.camIndex+1, v), days); err != nil {
		return nil, err
	}
	if err := s.bundles.Days(ctx, camera, days); err != nil {
		return nil, err
	}
	out := make([]time.Time, 0, len(days))
	for d := range days {
		out = append(out, d)
	}
	slices.SortFunc(out, func(a, b time.Time) int { return b.Compare(a) })
	return out, nil
}

// days walks down to the directories of one day each (one with a
// directory or a picture in it counts), or to the files when the day is in
// the file name.
func (s *Store) days(ctx context.Context, camera, dir string, depth int, f archive.Fields, days map[time.Time]bool) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	entries, err := s.listFor(dir, f)
	if err != nil {
		return err
	}
	files := depth == s.pics.Depth()-1
	if from, to, ok := f.Span(); ok && to.Sub(from) <= 24*time.Hour {
		for _, e := range entries {
			if !files && e.IsDir() || files && len(s.filePictures(camera, dir, f, []fs.FileInfo{e}, time.Time{}, time.Time{})) > 0 {
				days[from] = true
				break
			}
		}
		return nil
	}
	if files {
		for _, p := range s.filePictures(camera, dir, f, entries, time.Time{}, time.Time{}) {
			days[p.Taken.Truncate(24*time.Hour)] = true
		}
		return nil
	}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		if g, ok := s.pics.Match(depth, e.Name()); ok && f.Consistent(g) {
			if err := s.days(ctx, camera, dir+"/"+e.Name(), depth+1, f.Merge(g), days); err != nil {
				return err
			}
		}
	}
	return nil
}

// Hours counts a camera's pictures per hour of one day (UTC), hours without pictures left out.
func (s *Store) Hours(ctx context.Context, camera string, day time.Time) ([]HourCount, error) {
	day = day.UTC().Truncate(24 * time.Hour)
	ps, err := s.pictures(ctx, camera, day, day.Add(24*time.Hour), archive.Day)
	if err != nil {
		return nil, err
	}
	var out []HourCount
	for _, p := range ps {
		h := p.Taken.Truncate(time.Hour)
		if n := len(out); n > 0 && out[n-1].Hour.Equal(h) {
			out[n-1].Count++
			continue
		}
		out = append(out, HourCount{Hour: h, Count: 1})
	}
	return out, nil
}

// Hour lists a camera's pictures taken in one hour (UTC), oldest first.
func (s *Store) Hour(ctx context.Context, camera string, hour time.Time) ([]Picture, error) {
	hour = hour.UTC().Truncate(time.Hour)
	ps, err := s.pictures(ctx, camera, hour, hour.Add(time.Hour), archive.Hour)
	if err != nil {
		return nil, err
	}
	out := make([]Picture, len(ps))
	for i, p := range ps {
		out[i] = p.Picture
	}
	return out, nil
}

// found is a picture and where it is: a file (path) or a block of a
// bundle.
type found struct {
	Picture
	path   string
	bundle *bundlestore.Picture
}

// pictures lists a camera's pictures with from <= Taken < to, which lie
// within one res (a day or an hour), oldest first: those of the file store
// and of the bundle store, one per key (a picture may be in both while an
// installation moves from one to the other; the file is kept).
func (s *Store) pictures(ctx context.Context, camera string, from, to time.Time, res archive.Resolution) ([]found, error) {
	if err := messages.CheckID("camera", camera); err != nil {
		return nil, fmt.Errorf("camera: %w", ErrNotFound)
	}
	v := archive.Vars{Camera: camera, T: from}
	dir, depth, err := s.pics.DirOf(v, res)
	if err != nil {
		return nil, fmt.Errorf("camera: %w", ErrNotFound)
	}
	var out []found
	err = s.pics.Walk(ctx, dir, depth, s.pics.Depth()-1, s.pics.FieldsOf(depth, v), from, to, s.listFor,
		func(dir string, f archive.Fields) error {
			entries, err := s.listFor(dir, f)
			if err != nil {
				return err
			}
			out = append(out, s.filePictures(camera, dir, f, entries, from, to)...)
			return nil
		})
	if err != nil {
		return nil, err
	}
	bundled, err := s.bundles.Pictures(ctx, camera, from, to)
	if err != nil {
		return nil, err
	}
	for _, p := range bundled {
		out = append(out, bundledFound(p))
	}
	// Files first among equal keys: SortStable keeps them ahead, Compact keeps the first.
	slices.SortStableFunc(out, func(a, b found) int {
		return cmp.Or(a.Taken.Compare(b.Taken), cmp.Compare(a.Key, b.Key))
	})
	return slices.CompactFunc(out, func(a, b found) bool { return a.Key == b.Key }), nil
}

// filePictures are the pictures of camera among the entries of dir (whose
// path gave f), taken in [from, to) unless from is zero. Other files are
// skipped and counted.
func (s *Store) filePictures(camera, dir string, f archive.Fields, entries []fs.FileInfo, from, to time.Time) []found {
	files, skipped := s.pics.Files(camera, dir, f, entries, from, to)
	if skipped > 0 {
		s.m.skipped.WithLabelValues("picture").Add(float64(skipped))
		s.log.Debug("files that are not pictures of the camera skipped", "dir", dir, "camera", camera, "files", skipped)
	}
	out := make([]found, len(files))
	for i, p := range files {
		out[i] = found{Picture: Picture{Camera: p.Camera, Key: p.Key, Taken: p.Taken, Size: p.Size}, path: p.Path}
	}
	return out
}

// Open opens one picture by camera and key; the key must be a picture key
// of that camera. The caller closes the reader.
// A picture in a bundle is read with one ranged read of its block.
func (s *Store) Open(ctx context.Context, camera, key string) (io.ReadCloser, Picture, error) {
	p, err := s.find(ctx, camera, key)
	if err != nil {
		return nil, Picture{}, err
	}
	if p.bundle != nil {
		data, err := s.readBundled(p)
		if err != nil {
			return nil, Picture{}, err
		}
		p.Size = int64(len(data))
		return io.NopCloser(bytes.NewReader(data)), p.Picture, nil
	}
	r, err := s.open(p.path)
	if err != nil {
		return nil, Picture{}, err
	}
	return r, p.Picture, nil
}

// find renders a picture's path from the layout (or, when the layout holds
// {node}, which a key does not give, finds it in the listing of its
// second) and stats it; a picture not in the file store is looked for in
// the bundles.
func (s *Store) find(ctx context.Context, camera, key string) (found, error) {
	if err := messages.CheckID("camera", camera); err != nil {
		return found{}, fmt.Errorf("camera: %w", ErrNotFound)
	}
	cam, taken, err := messages.ParsePictureKey(key)
	if err != nil || cam != camera {
		return found{}, fmt.Errorf("picture key %q of camera %s: %w", key, camera, ErrNotFound)
	}
	var p found
	if s.pics.Index("node") < 0 {
		name, err := s.pics.RenderPath(archive.Vars{Camera: camera, Key: key, T: taken})
		if err != nil {
			return found{}, fmt.Errorf("picture key %q: %w", key, ErrNotFound)
		}
		fi, err := s.stat(name)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			b, err := s.bundles.Find(ctx, key)
			if errors.Is(err, bundlestore.ErrNotFound) {
				return found{}, fmt.Errorf("picture %s: %w", key, ErrNotFound)
			}
			if err != nil {
				return found{}, err
			}
			p = bundledFound(b)
		case err != nil:
			return found{}, err
		default:
			p = found{Picture: Picture{Camera: camera, Key: key, Taken: taken, Size: fi.Size()}, path: name}
		}
	} else {
		sec := taken.Truncate(time.Second)
		ps, err := s.pictures(ctx, camera, sec, sec.Add(time.Second), archive.Hour)
		if err != nil {
			return found{}, err
		}
		i := slices.IndexFunc(ps, func(p found) bool { return p.Key == key })
		if i < 0 {
			return found{}, fmt.Errorf("picture %s: %w", key, ErrNotFound)
		}
		p = ps[i]
	}
	// A bundled picture's size is its block's, the JPEG's is checked once read.
	if p.bundle != nil && p.Size > s.cfg.MaxPictureBytes+bundlestore.MaxRecordOverhead || p.bundle == nil && p.Size > s.cfg.MaxPictureBytes {
		return found{}, fmt.Errorf("picture %s: %d bytes, limit %d: %w", key, p.Size, s.cfg.MaxPictureBytes, ErrTooLarge)
	}
	return p, nil
}

// Readings lists a node's readings with from <= ReadAt < to, oldest first.
// Files that are not readings (foreign, corrupt) are skipped, counted and
// logged.
func (s *Store) Readings(ctx context.Context, node string, from, to time.Time) ([]Reading, error) {
	if err := messages.CheckID("node", node); err != nil {
		return nil, fmt.Errorf("node: %w", ErrNotFound)
	}
	from, to = from.UTC(), to.UTC()
	if !from.Before(to) {
		return nil, nil
	}
	v := archive.Vars{Node: node, T: from}
	var dir string
	var depth int
	var err error
	switch last := to.Add(-time.Nanosecond); {
	case from.Truncate(time.Hour).Equal(last.Truncate(time.Hour)):
		dir, depth, err = s.temps.DirOf(v, archive.Hour)
	case from.Truncate(24 * time.Hour).Equal(last.Truncate(24 * time.Hour)):
		dir, depth, err = s.temps.DirOf(v, archive.Day)
	default:
		depth = s.nodeIndex + 1
		dir, err = s.temps.Prefix(depth, v)
	}
	if err != nil {
		return nil, fmt.Errorf("node: %w", ErrNotFound)
	}
	var out []Reading
	err = s.temps.Walk(ctx, dir, depth, s.temps.Depth(), s.temps.FieldsOf(depth, v), from, to, s.listFor,
		func(dir string, f archive.Fields) error {
			entries, err := s.listFor(dir, f)
			if err != nil {
				return err
			}
			for _, e := range entries {
				format, ok := archive.FormatOf(e.Name())
				if e.IsDir() || !ok {
					continue
				}
				rs, err := s.readReadings(dir+"/"+e.Name(), format, e.Size())
				if err != nil {
					if errors.Is(err, errHDFS) {
						return err
					}
					s.m.skipped.WithLabelValues("readings").Inc()
					s.log.Warn("a file in a readings directory does not parse as readings; skipped", "path", dir+"/"+e.Name(), "err", err)
					continue
				}
				for _, r := range rs {
					if r.Node == node && !r.ReadAt.Before(from) && r.ReadAt.Before(to) {
						out = append(out, Reading{Node: r.Node, ReadAt: r.ReadAt.UTC(), Celsius: r.Celsius, Source: r.Source})
					}
				}
			}
			return nil
		})
	if err != nil {
		return nil, err
	}
	slices.SortStableFunc(out, func(a, b Reading) int { return a.ReadAt.Compare(b.ReadAt) })
	return out, nil
}

// errHDFS marks errors of HDFS itself (not of a file's content).
var errHDFS = errors.New("hdfs")

func (s *Store) readReadings(name, format string, size int64) ([]archive.Reading, error) {
	if size > maxReadingsFile {
		return nil, fmt.Errorf("%d bytes, limit %d", size, maxReadingsFile)
	}
	r, err := s.open(name)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errHDFS, err)
	}
	defer r.Close()
	data, err := io.ReadAll(io.LimitReader(r, maxReadingsFile))
	if err != nil {
		s.m.hdfsErrors.WithLabelValues("read").Inc()
		return nil, fmt.Errorf("%w: read %s: %w", errHDFS, name, err)
	}
	return archive.DecodeReadings(data, format)
}

// listFor lists dir, whose path gave f: cached for ListingTTL when f's time
// span reaches now or f holds no time, else pastTTLFactor times longer.
func (s *Store) listFor(dir string, f archive.Fields) ([]fs.FileInfo, error) {
	_, to, timed := f.Span()
	return s.list(dir, !timed || to.After(s.now()))
}

func (s *Store) list(dir string, current bool) ([]fs.FileInfo, error) {
	ttl := s.cfg.ListingTTL
	if !current {
		ttl *= pastTTLFactor
	}
	entries, hit, err := s.listings.get(dir, ttl, func(dir string) ([]fs.FileInfo, error) {
		s.m.hdfsOps.WithLabelValues("readdir").Inc()
		e, err := s.fs.ReadDir(dir)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			s.m.hdfsErrors.WithLabelValues("readdir").Inc()
		}
		return e, err
	})
	if hit {
		s.m.listings.WithLabelValues("hit").Inc()
	} else {
		s.m.listings.WithLabelValues("miss").Inc()
	}
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", dir, err)
	}
	return entries, nil
}

func (s *Store) stat(name string) (fs.FileInfo, error) {
	s.m.hdfsOps.WithLabelValues("stat").Inc()
	fi, err := s.fs.Stat(name)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		s.m.hdfsErrors.WithLabelValues("stat").Inc()
		return nil, fmt.Errorf("stat %s: %w", name, err)
	}
	return fi, err
}

func (s *Store) open(name string) (io.ReadCloser, error) {
	s.m.hdfsOps.WithLabelValues("open").Inc()
	r, err := s.fs.OpenReader(name)
	if err != nil {
		s.m.hdfsErrors.WithLabelValues("open").Inc()
		return nil, fmt.Errorf("open %s: %w", name, err)
	}
	return r, nil
}
