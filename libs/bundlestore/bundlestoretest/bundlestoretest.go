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
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/sensornode/sensornode/libs/bundle"
	"github.com/sensornode/sensornode/libs/bundlestore"
	"github.com/sensornode/sensornode/libs/messages"
)

// MemFS is an in-memory bundlestore.FS over fstest.MapFS. It counts
// operations by op ("readdir", "open", "readrange") and name.
type MemFS struct {
	mu    sync.Mutex
	files fstest.MapFS // by path without the leading "/"
	ops   map[string]int
}

var _ bundlestore.FS = (*MemFS)(nil)

// NewMemFS is an empty file system.
func NewMemFS() *MemFS { return &MemFS{files: fstest.MapFS{}, ops: map[string]int{}} }

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

func (f *MemFS) unroot(op, name string) string {
	f.ops[op+" "+name]++
	if name = strings.Trim(name, "/"); name == "" {
		return "."
	}
	return name
}

// ReadDir lists dir.
func (f *MemFS) ReadDir(dir string, _ bool) ([]fs.FileInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	des, err := fs.ReadDir(f.files, f.unroot("readdir", dir))
	if err != nil {
		return nil, err
	}
	var out []fs.FileInfo
	for _, de := range des {
		fi, err := de.Info()
		if err != nil {
			return nil, err
		}
		out = append(out, fi)
	}
	return out, nil
}

// OpenReader opens a file.
func (f *MemFS) OpenReader(name string) (io.ReadCloser, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	b, err := fs.ReadFile(f.files, f.unroot("open", name))
	if err != nil {
		return nil, err
	}
	return io.NopCloser(bytes.NewReader(b)), nil
}

// ReadRange reads [off, off+n) of a file.
func (f *MemFS) ReadRange(name string, off, n int64) ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	b, err := fs.ReadFile(f.files, f.unroot("readrange", name))
	if err != nil {
		return nil, err
	}
	if off < 0 || n < 0 || off+n > int64(len(b)) {
		return nil, fmt.Errorf("read [%d, +%d) of %d bytes: %w", off, n, len(b), io.ErrUnexpectedEOF)
	}
	return bytes.Clone(b[off : off+n]), nil
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
