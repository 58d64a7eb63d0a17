// Package store reads what cloud-ingest-hdfs wrote to HDFS: pictures and
// temperature readings, through the layouts of libs/archive. It never
// writes to HDFS: FS holds read methods only (a test checks the whole
// viewer for calls to HDFS write methods). Listings are cached with a TTL,
// thumbnails are made once and kept in a size-bounded directory.
//
// SKELETON: the API the web package is written against. Bodies to come.
package store

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"time"

	"github.com/colinmarc/hdfs/v2"
	"github.com/prometheus/client_golang/prometheus"
)

// ErrNotFound is returned for a camera, node, day or picture that does not
// exist (or an id that cannot exist: not path-safe, not a picture key).
var ErrNotFound = errors.New("not found")

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
}

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
type Store struct{}

// New makes a store over fsys.
func New(fsys FS, cfg Config, reg prometheus.Registerer) (*Store, error) {
	return nil, errors.New("store: not implemented")
}

// Ping checks that HDFS answers (readiness).
func (s *Store) Ping(ctx context.Context) error { return errors.New("not implemented") }

// Cameras lists the cameras that have pictures, sorted.
func (s *Store) Cameras(ctx context.Context) ([]string, error) {
	return nil, errors.New("not implemented")
}

// Latest is a camera's newest picture.
func (s *Store) Latest(ctx context.Context, camera string) (Picture, error) {
	return Picture{}, errors.New("not implemented")
}

// Days lists the days (UTC midnight) a camera has pictures on, newest first.
func (s *Store) Days(ctx context.Context, camera string) ([]time.Time, error) {
	return nil, errors.New("not implemented")
}

// Hours counts a camera's pictures per hour of one day (UTC), hours without pictures left out.
func (s *Store) Hours(ctx context.Context, camera string, day time.Time) ([]HourCount, error) {
	return nil, errors.New("not implemented")
}

// Hour lists a camera's pictures taken in one hour (UTC), oldest first.
func (s *Store) Hour(ctx context.Context, camera string, hour time.Time) ([]Picture, error) {
	return nil, errors.New("not implemented")
}

// Open opens one picture by camera and key; the key must be a picture key
// of that camera. The caller closes the reader.
func (s *Store) Open(ctx context.Context, camera, key string) (io.ReadCloser, Picture, error) {
	return nil, Picture{}, errors.New("not implemented")
}

// Thumbnail is a picture scaled to Config.ThumbWidth, JPEG-encoded, made once.
func (s *Store) Thumbnail(ctx context.Context, camera, key string) ([]byte, error) {
	return nil, errors.New("not implemented")
}

// Nodes lists the nodes that have readings, sorted.
func (s *Store) Nodes(ctx context.Context) ([]string, error) {
	return nil, errors.New("not implemented")
}

// Readings lists a node's readings with from <= ReadAt < to, oldest first.
func (s *Store) Readings(ctx context.Context, node string, from, to time.Time) ([]Reading, error) {
	return nil, errors.New("not implemented")
}
