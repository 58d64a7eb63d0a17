package bundlestore

import (
	"cmp"
	"fmt"
	"io"
	"io/fs"

	"github.com/colinmarc/hdfs/v2"
)

// Client is the read-only part of *hdfs.Client that HDFS needs.
type Client interface {
	ReadDir(dirname string) ([]fs.FileInfo, error)
	Open(name string) (*hdfs.FileReader, error)
}

// HDFS is FS straight over an HDFS client: no caching.
func HDFS(c Client) FS { return clientFS{c} }

type clientFS struct{ c Client }

func (h clientFS) ReadDir(dir string, _ bool) ([]fs.FileInfo, error) { return h.c.ReadDir(dir) }

func (h clientFS) OpenReader(name string) (io.ReadCloser, error) { return h.c.Open(name) }

func (h clientFS) ReadRange(name string, off, n int64) ([]byte, error) {
	return ReadRange(h.c.Open, name, off, n)
}

// ReadRange is one open and one positioned read (ReadAt) of the n bytes at
// off of name.
func ReadRange(open func(string) (*hdfs.FileReader, error), name string, off, n int64) ([]byte, error) {
	r, err := open(name)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	buf := make([]byte, n)
	if got, err := r.ReadAt(buf, off); got < len(buf) {
		return nil, fmt.Errorf("read %d of %d bytes at %d: %w", got, n, off, cmp.Or(err, io.ErrUnexpectedEOF))
	}
	return buf, nil
}
