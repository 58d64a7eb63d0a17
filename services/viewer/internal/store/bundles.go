package store

import (
	"errors"
	"fmt"
	"io"
	"io/fs"

	"github.com/sensornode/sensornode/libs/bundlestore"
)

// The bundle store (cloud-ingest-hdfs SENSORNODE_PICTURE_STORE=avro) is
// read through libs/bundlestore: its layout, the lookahead after a
// capture hour, the index cache, one ranged read per picture. The store
// gives it its cached listings and counts its HDFS operations.

const (
	// DefaultBundleLookahead: hour directories searched after a capture hour.
	DefaultBundleLookahead = bundlestore.DefaultLookahead
	// DefaultIndexCacheEntries bounds the parsed indexes kept.
	DefaultIndexCacheEntries = bundlestore.DefaultIndexCacheEntries
	// bundleRecentHours: Cameras looks for cameras in this many newest
	// hour directories of each partition.
	bundleRecentHours = 24
	// bundleLatestHours: Latest searches at most this many newest hour
	// directories of each partition.
	bundleLatestHours = bundlestore.LatestHours
)

// bundleFS is the bundle reader's view of HDFS: the store's cached
// listings, its counted opens and reads.
type bundleFS struct{ s *Store }

var _ bundlestore.FS = bundleFS{}

func (b bundleFS) ReadDir(dir string, current bool) ([]fs.FileInfo, error) {
	return b.s.list(dir, current)
}

func (b bundleFS) OpenReader(name string) (io.ReadCloser, error) {
	r, err := b.s.open(name)
	if err != nil {
		return nil, err
	}
	return countedReader{r, b.s.m}, nil
}

func (b bundleFS) ReadRange(name string, off, n int64) ([]byte, error) {
	b.s.m.hdfsOps.WithLabelValues("open").Inc()
	data, err := b.s.fs.ReadRange(name, off, n)
	if err != nil {
		b.s.m.hdfsErrors.WithLabelValues("read").Inc()
	}
	return data, err
}

// countedReader counts the read errors of HDFS.
type countedReader struct {
	io.ReadCloser
	m *metrics
}

func (r countedReader) Read(p []byte) (int, error) {
	n, err := r.ReadCloser.Read(p)
	if err != nil && !errors.Is(err, io.EOF) {
		r.m.hdfsErrors.WithLabelValues("read").Inc()
	}
	return n, err
}

// onBadIndex counts and logs an index that does not parse.
func (s *Store) onBadIndex(index string, err error) {
	s.m.skipped.WithLabelValues("bundle_index").Inc()
	s.log.Warn("a bundle index does not parse; its bundle is skipped", "path", index, "err", err)
}

// bundledFound is a bundled picture as the store lists it. Size: the
// block's length, an upper bound of the JPEG's until it is read.
func bundledFound(p bundlestore.Picture) found {
	return found{Picture: Picture{Camera: p.Camera, Key: p.Key, Taken: p.Taken, Size: p.Entry.Length}, bundle: &p}
}

// newer reports whether p is newer than best (or best is none).
func newer(p, best found) bool {
	return best.Key == "" || p.Taken.After(best.Taken) || p.Taken.Equal(best.Taken) && p.Key > best.Key
}

// readBundled reads a bundled picture with one ranged read of its block,
// checked against its key and SHA-256.
func (s *Store) readBundled(p found) ([]byte, error) {
	r, err := s.bundles.Read(*p.bundle)
	if err != nil {
		return nil, err
	}
	if int64(len(r.JPEG)) > s.cfg.MaxPictureBytes {
		return nil, fmt.Errorf("picture %s: %d bytes, limit %d: %w", p.Key, len(r.JPEG), s.cfg.MaxPictureBytes, ErrTooLarge)
	}
	return r.JPEG, nil
}
