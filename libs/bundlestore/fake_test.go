package bundlestore

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
	"github.com/sensornode/sensornode/libs/messages"
)

// memFS is an in-memory FS over fstest.MapFS; ops counts operations by
// op+" "+name.
type memFS struct {
	mu    sync.Mutex
	files fstest.MapFS // by path without the leading "/"
	ops   map[string]int
}

func newMemFS() *memFS { return &memFS{files: fstest.MapFS{}, ops: map[string]int{}} }

func (f *memFS) put(name string, b []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.files[strings.TrimPrefix(name, "/")] = &fstest.MapFile{Data: b}
}

func (f *memFS) count(op, name string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.ops[op+" "+name]
}

func (f *memFS) unroot(op, name string) string {
	f.ops[op+" "+name]++
	if name = strings.Trim(name, "/"); name == "" {
		return "."
	}
	return name
}

func (f *memFS) ReadDir(dir string, _ bool) ([]fs.FileInfo, error) {
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

func (f *memFS) OpenReader(name string) (io.ReadCloser, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	b, err := fs.ReadFile(f.files, f.unroot("open", name))
	if err != nil {
		return nil, err
	}
	return io.NopCloser(bytes.NewReader(b)), nil
}

func (f *memFS) ReadRange(name string, off, n int64) ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	b, err := fs.ReadFile(f.files, f.unroot("readrange", name))
	if err != nil {
		return nil, err
	}
	if off < 0 || off+n > int64(len(b)) {
		return nil, fmt.Errorf("read [%d, +%d) of %d bytes: %w", off, n, len(b), io.ErrUnexpectedEOF)
	}
	return bytes.Clone(b[off : off+n]), nil
}

const root = "/sensornode/bundles"

// shot is one picture to bundle.
type shot struct {
	camera string
	at     time.Time
	data   []byte
}

// makeBundle writes shots with libs/bundle: the committed name, the
// bundle's bytes, its index's bytes and the records.
func makeBundle(tb testing.TB, topic string, partition int32, first int64, shots []shot) (string, []byte, []byte, []bundle.Record) {
	tb.Helper()
	var buf, ibuf bytes.Buffer
	w, err := bundle.NewWriter(&buf, topic, partition, [16]byte{})
	if err != nil {
		tb.Fatal(err)
	}
	var recs []bundle.Record
	for i, sh := range shots {
		r := bundle.RecordOf(messages.NewPicture(sh.camera, "node1", sh.at, sh.data), topic, partition, first+int64(i))
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

// putBundle commits a bundle of topic/partition and its index into the
// hour directory of ingest, as cloud-ingest-hdfs does; it returns its path
// and records.
func putBundle(tb testing.TB, fsys *memFS, topic string, partition int32, ingest time.Time, first int64, shots []shot) (string, []bundle.Record) {
	tb.Helper()
	name, data, idx, recs := makeBundle(tb, topic, partition, first, shots)
	p := HourDir(fmt.Sprintf("%s/%s/%d", root, topic, partition), ingest) + "/" + name
	fsys.put(p, data)
	fsys.put(bundle.IndexName(p), idx)
	return p, recs
}

func keysOf(ps []Picture) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.Key)
	}
	return out
}
