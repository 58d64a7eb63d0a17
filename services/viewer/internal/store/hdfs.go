package store

import (
	"errors"
	"fmt"
	"io"
	"io/fs"

	"github.com/sensornode/sensornode/libs/archive"
	"github.com/sensornode/sensornode/libs/bundlestore"
)

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
