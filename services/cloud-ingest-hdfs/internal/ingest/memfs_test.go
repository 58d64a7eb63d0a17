package ingest

import (
	"errors"
	"io/fs"
	"os"
	"path"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
)

// memFS is an in-memory FS. fail decides whether an operation fails.
// Directories exist when made (MkdirAll) or when a file is below them;
// Create, like HDFS's, needs its directory, and a file removed while
// being written stays removed (its Write and Close fail).
type memFS struct {
	mu    sync.Mutex
	files map[string][]byte
	dirs  map[string]bool
	fail  func(op, name string) bool
	// beforeClose, if set, runs (without the lock) before a Create'd
	// file is closed.
	beforeClose func(name string)
	// beforeRename, if set, runs (without the lock) before a Rename or
	// WriteAtomic's rename.
	beforeRename func(tmp, final string)
	ops          []string
}

var errInjected = errors.New("injected hdfs failure")

func newMemFS() *memFS { return &memFS{files: map[string][]byte{}, dirs: map[string]bool{}} }

// isDir reports whether dir exists; the lock is held.
func (f *memFS) isDir(dir string) bool {
	if dir == "/" || f.dirs[dir] {
		return true
	}
	for name := range f.files {
		if strings.HasPrefix(name, dir+"/") {
			return true
		}
	}
	for d := range f.dirs {
		if strings.HasPrefix(d, dir+"/") {
			return true
		}
	}
	return false
}

func (f *memFS) check(op, name string) error {
	f.ops = append(f.ops, op+" "+name)
	if f.fail != nil && f.fail(op, name) {
		return errInjected
	}
	return nil
}

func (f *memFS) Stat(name string) (int64, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.check("stat", name); err != nil {
		return 0, false, err
	}
	b, ok := f.files[name]
	return int64(len(b)), ok || f.isDir(name), nil
}

func (f *memFS) WriteAtomic(tmp, final string, data []byte, deadline time.Time) error {
	f.mu.Lock()
	err := fenced(deadline, "before create "+tmp)
	if err == nil {
		err = f.check("create", tmp)
	}
	if err == nil {
		f.files[tmp] = slices.Clone(data)
	}
	f.mu.Unlock()
	if err != nil {
		return err
	}
	err = f.Rename(tmp, final, deadline)
	if errors.Is(err, ErrFenced) {
		f.mu.Lock()
		delete(f.files, tmp)
		f.mu.Unlock()
	}
	return err // after another failure the temporary file stays, as after a crash
}

func (f *memFS) Create(tmp string) (FileWriter, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.check("create", tmp); err != nil {
		return nil, err
	}
	if !f.isDir(path.Dir(tmp)) {
		return nil, &os.PathError{Op: "create", Path: tmp, Err: os.ErrNotExist}
	}
	f.files[tmp] = nil
	return &memWriter{f: f, name: tmp}, nil
}

func (f *memFS) Rename(tmp, final string, deadline time.Time) error {
	if f.beforeRename != nil {
		f.beforeRename(tmp, final)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := fenced(deadline, "rename "+tmp); err != nil {
		return err
	}
	if err := f.check("rename", final); err != nil {
		return err
	}
	b, ok := f.files[tmp]
	if !ok {
		return os.ErrNotExist
	}
	f.files[final] = b
	delete(f.files, tmp)
	return nil
}

// memWriter appends to its file as it goes: a reader sees the partial
// file, as in HDFS.
type memWriter struct {
	f    *memFS
	name string
}

func (w *memWriter) Write(p []byte) (int, error) {
	w.f.mu.Lock()
	defer w.f.mu.Unlock()
	if err := w.f.check("write", w.name); err != nil {
		return 0, err
	}
	b, ok := w.f.files[w.name]
	if !ok {
		return 0, &os.PathError{Op: "write", Path: w.name, Err: os.ErrNotExist}
	}
	w.f.files[w.name] = append(b, p...)
	return len(p), nil
}

func (w *memWriter) Close(deadline time.Time) error {
	if w.f.beforeClose != nil {
		w.f.beforeClose(w.name)
	}
	w.f.mu.Lock()
	defer w.f.mu.Unlock()
	if err := w.f.check("close", w.name); err != nil {
		return err
	}
	if _, ok := w.f.files[w.name]; !ok {
		return &os.PathError{Op: "close", Path: w.name, Err: os.ErrNotExist}
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

func (f *memFS) ReadDir(dir string) ([]os.FileInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.check("readdir", dir); err != nil {
		return nil, err
	}
	var out []os.FileInfo
	dirs := map[string]bool{}
	addDir := func(name string) {
		if rest, ok := strings.CutPrefix(name, dir+"/"); ok {
			sub, _, _ := strings.Cut(rest, "/")
			if !dirs[sub] {
				dirs[sub] = true
				out = append(out, memInfo{name: sub, dir: true})
			}
		}
	}
	for name, b := range f.files {
		if path.Dir(name) == dir {
			out = append(out, memInfo{name: path.Base(name), size: int64(len(b))})
		} else {
			addDir(name)
		}
	}
	for d := range f.dirs {
		addDir(d)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name() < out[j].Name() })
	return out, nil
}

func (f *memFS) ReadFile(name string) ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.check("read", name); err != nil {
		return nil, err
	}
	b, ok := f.files[name]
	if !ok {
		return nil, os.ErrNotExist
	}
	return slices.Clone(b), nil
}

func (f *memFS) Remove(name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.check("remove", name); err != nil {
		return err
	}
	delete(f.files, name)
	return nil
}

func (f *memFS) MkdirAll(dir string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.check("mkdir", dir); err != nil {
		return err
	}
	f.dirs[dir] = true
	return nil
}

func (f *memFS) RemoveAll(name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.check("removeall", name); err != nil {
		return err
	}
	for n := range f.files {
		if n == name || strings.HasPrefix(n, name+"/") {
			delete(f.files, n)
		}
	}
	for d := range f.dirs {
		if d == name || strings.HasPrefix(d, name+"/") {
			delete(f.dirs, d)
		}
	}
	return nil
}

func (f *memFS) Ping() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.check("ping", "/")
}

func (f *memFS) Close() error { return nil }

func (f *memFS) setFail(fn func(op, name string) bool) {
	f.mu.Lock()
	f.fail = fn
	f.mu.Unlock()
}

// under lists the files below dir.
func (f *memFS) under(dir string) map[string][]byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string][]byte{}
	for name, b := range f.files {
		if strings.HasPrefix(name, dir+"/") {
			out[name] = b
		}
	}
	return out
}

var _ FS = (*memFS)(nil)
