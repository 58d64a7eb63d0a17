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
	"errors"
	"io"
	"io/fs"
	"time"

	"github.com/sensornode/sensornode/libs/bundle"
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
