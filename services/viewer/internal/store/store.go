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
//
// Files: store.go builds the Store; pictures.go lists and opens pictures
// (files, and bundles through bundles.go), readings.go lists readings,
// hdfs.go is how HDFS is read (cached listings, counted operations),
// thumbs.go makes and keeps thumbnails.
package store

import (
	"context"
	"errors"
	"fmt"
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
