package store

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"path"
	"sort"
	"strings"
	"sync"
	"time"
)

// memFS is an in-memory fileSystem for the store's logic (no HDFS
// behaviour beyond listing, stat and read). fail makes an operation fail.
type memFS struct {
	mu    sync.Mutex
	files map[string][]byte
	fail  func(op, name string) error
	ops   map[string]int // by op+" "+name
}

func newMemFS() *memFS { return &memFS{files: map[string][]byte{}, ops: map[string]int{}} }

func (f *memFS) put(name string, b []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.files[name] = b
}

func (f *memFS) count(op, name string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.ops[op+" "+name]
}

func (f *memFS) check(op, name string) error {
	f.ops[op+" "+name]++
	if f.fail != nil {
		return f.fail(op, name)
	}
	return nil
}

type memInfo struct {
	name string
	size int64
	dir  bool
}

func (i memInfo) Name() string       { return i.name }
func (i memInfo) Size() int64        { return i.size }
func (i memInfo) Mode() fs.FileMode  { return 0o644 }
func (i memInfo) ModTime() time.Time { return time.Time{} }
func (i memInfo) IsDir() bool        { return i.dir }
func (i memInfo) Sys() any           { return nil }

func (f *memFS) ReadDir(dir string) ([]fs.FileInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.check("readdir", dir); err != nil {
		return nil, err
	}
	prefix := strings.TrimSuffix(dir, "/") + "/"
	seen := map[string]memInfo{}
	for name, b := range f.files {
		rest, ok := strings.CutPrefix(name, prefix)
		if !ok {
			continue
		}
		if i := strings.IndexByte(rest, '/'); i >= 0 {
			seen[rest[:i]] = memInfo{name: rest[:i], dir: true}
		} else {
			seen[rest] = memInfo{name: rest, size: int64(len(b))}
		}
	}
	if len(seen) == 0 {
		return nil, &fs.PathError{Op: "readdir", Path: dir, Err: fs.ErrNotExist}
	}
	out := make([]fs.FileInfo, 0, len(seen))
	for _, i := range seen {
		out = append(out, i)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name() < out[j].Name() })
	return out, nil
}

func (f *memFS) Stat(name string) (fs.FileInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.check("stat", name); err != nil {
		return nil, err
	}
	if b, ok := f.files[name]; ok {
		return memInfo{name: path.Base(name), size: int64(len(b))}, nil
	}
	for n := range f.files {
		if strings.HasPrefix(n, strings.TrimSuffix(name, "/")+"/") {
			return memInfo{name: path.Base(name), dir: true}, nil
		}
	}
	return nil, &fs.PathError{Op: "stat", Path: name, Err: fs.ErrNotExist}
}

func (f *memFS) OpenReader(name string) (io.ReadCloser, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.check("open", name); err != nil {
		return nil, err
	}
	b, ok := f.files[name]
	if !ok {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	return io.NopCloser(bytes.NewReader(b)), nil
}

var errInjected = errors.New("injected hdfs failure")
