// Package bundlestoretest holds fakes for readers of the picture stores:
// an in-memory bundlestore.FS that counts its operations, and helpers
// that write bundles with libs/bundle where cloud-ingest-hdfs commits
// them.
package bundlestoretest

import (
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/sensornode/sensornode/libs/bundle"
	"github.com/sensornode/sensornode/libs/bundlestore"
	"github.com/sensornode/sensornode/libs/messages"
)

// MemFS is an in-memory bundlestore.FS over fstest.MapFS, with Stat
// besides. It counts operations by op ("readdir", "stat", "open",
// "readrange") and name, and the bytes read of each file; SetFail makes
// operations fail.
type MemFS struct {
	mu    sync.Mutex
	files fstest.MapFS // by path without the leading "/"
	ops   map[string]int
	read  map[string]int64
	fail  func(op, name string) error
}

var _ bundlestore.FS = (*MemFS)(nil)

// NewMemFS is an empty file system.
func NewMemFS() *MemFS {
	return &MemFS{files: fstest.MapFS{}, ops: map[string]int{}, read: map[string]int64{}}
}

// SetFail has every later operation ask fail first (nil: none fails): an
// error fails the operation, which is counted all the same. fail runs
// under MemFS's lock, so operations wait while it does.
func (f *MemFS) SetFail(fail func(op, name string) error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fail = fail
}

// Put stores a file (its directories are implied).
func (f *MemFS) Put(name string, b []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.files[strings.TrimPrefix(name, "/")] = &fstest.MapFile{Data: b}
}

// Data is the content of a file (nil: none).
func (f *MemFS) Data(name string) []byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	if m := f.files[strings.TrimPrefix(name, "/")]; m != nil {
		return m.Data
	}
	return nil
}

// Count is how many times op was done on name.
func (f *MemFS) Count(op, name string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.ops[op+" "+name]
}

// Ops lists every operation done, as op+" "+name, sorted.
func (f *MemFS) Ops() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Sorted(maps.Keys(f.ops))
}

// BytesRead is how many bytes of name were read (by ReadRange, and from
// OpenReader's readers).
func (f *MemFS) BytesRead(name string) int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.read[name]
}

// do counts op on name, asks the fail hook, and calls fn with name as
// fstest.MapFS names it, all under f.mu.
func (f *MemFS) do(op, name string, fn func(p string) error) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ops[op+" "+name]++
	if f.fail != nil {
		if err := f.fail(op, name); err != nil {
			return err
		}
	}
	if name = strings.Trim(name, "/"); name == "" {
		name = "."
	}
	return fn(name)
}

// ReadDir lists dir.
func (f *MemFS) ReadDir(dir string, _ bool) ([]fs.FileInfo, error) {
	var out []fs.FileInfo
	err := f.do("readdir", dir, func(p string) error {
		des, err := fs.ReadDir(f.files, p)
		if err != nil {
			return err
		}
		for _, de := range des {
			fi, err := de.Info()
			if err != nil {
				return err
			}
			out = append(out, fi)
		}
		return nil
	})
	return out, err
}

// Stat describes a file or directory.
func (f *MemFS) Stat(name string) (fi fs.FileInfo, err error) {
	err = f.do("stat", name, func(p string) error {
		fi, err = fs.Stat(f.files, p)
		return err
	})
	return fi, err
}

// OpenReader opens a file.
func (f *MemFS) OpenReader(name string) (io.ReadCloser, error) {
	var b []byte
	err := f.do("open", name, func(p string) (err error) {
		b, err = fs.ReadFile(f.files, p)
		return err
	})
	if err != nil {
		return nil, err
	}
	return io.NopCloser(&countingReader{r: bytes.NewReader(b), f: f, name: name}), nil
}

// countingReader adds what it reads to its file's BytesRead.
type countingReader struct {
	r    io.Reader
	f    *MemFS
	name string
}

func (c *countingReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.f.mu.Lock()
	c.f.read[c.name] += int64(n)
	c.f.mu.Unlock()
	return n, err
}

// ReadRange reads [off, off+n) of a file, counting only those bytes read.
func (f *MemFS) ReadRange(name string, off, n int64) (b []byte, err error) {
	err = f.do("readrange", name, func(p string) error {
		all, err := fs.ReadFile(f.files, p)
		switch {
		case err != nil:
			return err
		case off < 0 || n < 0 || off+n > int64(len(all)):
			return fmt.Errorf("read [%d, +%d) of %d bytes: %w", off, n, len(all), io.ErrUnexpectedEOF)
		}
		f.read[name] += n
		b = bytes.Clone(all[off : off+n])
		return nil
	})
	return b, err
}

// Shot is one picture to bundle.
type Shot struct {
	Camera string
	At     time.Time
	Data   []byte
}

// Make writes shots with libs/bundle as one bundle of topic/partition at
// offsets from first on: its committed name, its bytes, its index's bytes
// and the records.
func Make(tb testing.TB, topic string, partition int32, first int64, shots []Shot) (name string, data, idx []byte, recs []bundle.Record) {
	tb.Helper()
	var buf, ibuf bytes.Buffer
	w, err := bundle.NewWriter(&buf, topic, partition, [16]byte{})
	if err != nil {
		tb.Fatal(err)
	}
	for i, sh := range shots {
		r := bundle.RecordOf(messages.NewPicture(sh.Camera, "node1", sh.At, sh.Data), topic, partition, first+int64(i))
		if err := w.Append(r); err != nil {
			tb.Fatal(err)
		}
		recs = append(recs, r)
	}
	if err := w.Close(); err != nil {
		tb.Fatal(err)
	}
	if _, err := w.Index().WriteTo(&ibuf); err != nil {
		tb.Fatal(err)
	}
	return w.Name(), buf.Bytes(), ibuf.Bytes(), recs
}

// Path is where cloud-ingest-hdfs commits bundle name of topic/partition
// whose first picture it read at ingest, below the store's directory root.
func Path(root, topic string, partition int32, ingest time.Time, name string) string {
	return bundlestore.HourDir(fmt.Sprintf("%s/%s/%d", root, topic, partition), ingest) + "/" + name
}

// Put commits a bundle of shots and its index into f below root, in the
// hour directory of ingest; it returns the bundle's path and records.
func Put(tb testing.TB, f *MemFS, root, topic string, partition int32, ingest time.Time, first int64, shots []Shot) (string, []bundle.Record) {
	tb.Helper()
	name, data, idx, recs := Make(tb, topic, partition, first, shots)
	p := Path(root, topic, partition, ingest, name)
	f.Put(p, data)
	f.Put(bundle.IndexName(p), idx)
	return p, recs
}
