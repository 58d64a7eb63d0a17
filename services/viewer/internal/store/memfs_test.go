package store

import (
	"errors"
	"io"
	"io/fs"
	"slices"
	"strings"
	"sync"
	"testing/fstest"
)

// memFS is an in-memory fileSystem over fstest.MapFS for the store's logic
// (no HDFS behaviour beyond listing, stat and read). fail makes an
// operation fail; ops counts them by op+" "+name, read the bytes read of
// each file (by its name as asked).
type memFS struct {
	mu    sync.Mutex
	files fstest.MapFS // by path without the leading "/"
	fail  func(op, name string) error
	ops   map[string]int
	read  map[string]int64
}

func newMemFS() *memFS {
	return &memFS{files: fstest.MapFS{}, ops: map[string]int{}, read: map[string]int64{}}
}

// bytesRead is how many bytes of name were read.
func (f *memFS) bytesRead(name string) int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.read[name]
}

func (f *memFS) put(name string, b []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.files[strings.TrimPrefix(name, "/")] = &fstest.MapFile{Data: b}
}

func (f *memFS) data(name string) []byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.files[strings.TrimPrefix(name, "/")].Data
}

func (f *memFS) count(op, name string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.ops[op+" "+name]
}

// check counts op and asks fail; it returns the unrooted name.
func (f *memFS) check(op, name string) (string, error) {
	f.ops[op+" "+name]++
	if f.fail != nil {
		if err := f.fail(op, name); err != nil {
			return "", err
		}
	}
	if name = strings.Trim(name, "/"); name == "" {
		name = "."
	}
	return name, nil
}

func (f *memFS) ReadDir(dir string) ([]fs.FileInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	name, err := f.check("readdir", dir)
	if err != nil {
		return nil, err
	}
	des, err := fs.ReadDir(f.files, name)
	if err != nil {
		return nil, err
	}
	out := make([]fs.FileInfo, 0, len(des))
	for _, de := range des {
		fi, err := de.Info()
		if err != nil {
			return nil, err
		}
		out = append(out, fi)
	}
	return out, nil
}

func (f *memFS) Stat(name string) (fs.FileInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n, err := f.check("stat", name)
	if err != nil {
		return nil, err
	}
	return fs.Stat(f.files, n)
}

func (f *memFS) OpenReader(name string) (io.ReadCloser, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n, err := f.check("open", name)
	if err != nil {
		return nil, err
	}
	r, err := f.files.Open(n)
	if err != nil {
		return nil, err
	}
	return &countingFile{File: r, fs: f, name: name}, nil
}

// ReadRange reads [off, off+n) of a file, counting only those bytes.
func (f *memFS) ReadRange(name string, off, n int64) ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p, err := f.check("readrange", name)
	if err != nil {
		return nil, err
	}
	mf, ok := f.files[p]
	if !ok {
		return nil, fs.ErrNotExist
	}
	if off < 0 || n < 0 || off+n > int64(len(mf.Data)) {
		return nil, io.ErrUnexpectedEOF
	}
	f.read[name] += n
	return slices.Clone(mf.Data[off : off+n]), nil
}

type countingFile struct {
	fs.File
	fs   *memFS
	name string
}

func (c *countingFile) Read(b []byte) (int, error) {
	n, err := c.File.Read(b)
	c.fs.mu.Lock()
	c.fs.read[c.name] += int64(n)
	c.fs.mu.Unlock()
	return n, err
}

var errInjected = errors.New("injected hdfs failure")
