package ingest

import (
	"fmt"
	"sort"
	"time"

	"github.com/sensornode/sensornode/libs/archive"
	"github.com/sensornode/sensornode/libs/bus"
	"github.com/sensornode/sensornode/libs/messages"
)

// Reading is one line of a temperature file (the libs/archive format).
type Reading = archive.Reading

// identity is what makes two readings the same reading:
// messages.ReadingIdentity (node, read second, source, value), the same in
// both forms. It is computed from the stored readings too, so files written
// before issue 11 need no migration.
func identity(node string, readAt time.Time, celsius float64, source string) string {
	return messages.ReadingIdentity(node, readAt, celsius, source)
}

// tempBatch is one partition's readings not yet written to HDFS.
type tempBatch struct {
	first   int64     // offset of the oldest buffered record
	started time.Time // when it arrived
	records int
	files   map[string]*tempFile // by node-hour directory
}

// tempFile is the part of a batch that goes to one directory.
type tempFile struct {
	dir         string
	node        string // the directory is one node's (the layout holds {node})
	rs          []Reading
	first, last int64
	ids         []string
}

func newTempBatch(first int64, now time.Time) *tempBatch {
	return &tempBatch{first: first, started: now, files: map[string]*tempFile{}}
}

func (b *tempBatch) add(dir, id string, r Reading) {
	f := b.files[dir]
	if f == nil {
		f = &tempFile{dir: dir, node: r.Node, first: r.Offset}
		b.files[dir] = f
	}
	f.rs = append(f.rs, r)
	f.last = r.Offset
	f.ids = append(f.ids, id)
	b.records++
}

// sorted lists the batch's files in a stable order.
func (b *tempBatch) sorted() []*tempFile {
	out := make([]*tempFile, 0, len(b.files))
	for _, f := range b.files {
		out = append(out, f)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].dir < out[j].dir })
	return out
}

// dirIndex holds the identities of the readings stored in one node-hour
// directory.
type dirIndex struct {
	ids  map[string]struct{}
	used uint64 // LRU clock
}

// readingIndex de-duplicates readings: the identities stored in HDFS, per
// directory, loaded on first use (bounded, least recently used evicted),
// plus those buffered and not yet written.
type readingIndex struct {
	max     int
	clock   uint64
	stored  map[string]*dirIndex
	pending map[string]struct{}
}

func newReadingIndex(max int) *readingIndex {
	return &readingIndex{max: max, stored: map[string]*dirIndex{}, pending: map[string]struct{}{}}
}

// dir returns the loaded index of dir, or nil.
func (x *readingIndex) dir(dir string) *dirIndex {
	d := x.stored[dir]
	if d != nil {
		x.clock++
		d.used = x.clock
	}
	return d
}

// put stores a loaded directory index, evicting the least recently used.
func (x *readingIndex) put(dir string, ids map[string]struct{}) *dirIndex {
	for len(x.stored) >= x.max {
		var oldest string
		var min uint64 = ^uint64(0)
		for k, d := range x.stored {
			if d.used < min {
				oldest, min = k, d.used
			}
		}
		delete(x.stored, oldest)
	}
	x.clock++
	d := &dirIndex{ids: ids, used: x.clock}
	x.stored[dir] = d
	return d
}

// stored marks ids as written to dir (after a flush).
func (x *readingIndex) written(dir string, ids []string) {
	d := x.stored[dir]
	for _, id := range ids {
		delete(x.pending, id)
		if d != nil {
			d.ids[id] = struct{}{}
		}
	}
}

// forget drops pending ids that will not be written (batch dropped).
func (x *readingIndex) forget(ids []string) {
	for _, id := range ids {
		delete(x.pending, id)
	}
}

// reset forgets what was loaded from HDFS (another member of the group may
// have written since).
func (x *readingIndex) reset() { x.stored = map[string]*dirIndex{} }

// loadDir reads the identities of every temperature file in dir, of
// every format (archive.FormatOf: the files of a format configured before
// count too, so a change of SENSORNODE_TEMPERATURE_FORMAT stores nothing
// twice). A file that does not parse (foreign, corrupt) is skipped and
// passed to unreadable: it is kept as it is (never deleted or moved: it
// may be someone's data), and it must not stop the directory from being
// written.
func loadDir(fs FS, dir string, unreadable func(name string, err error)) (map[string]struct{}, error) {
	fis, err := fs.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", dir, err)
	}
	ids := map[string]struct{}{}
	for _, fi := range fis {
		format, ok := archive.FormatOf(fi.Name())
		if fi.IsDir() || !ok {
			continue
		}
		name := dir + "/" + fi.Name()
		data, err := fs.ReadFile(name)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", name, err)
		}
		rs, err := archive.DecodeReadings(data, format)
		if err != nil {
			unreadable(name, err)
			continue
		}
		for _, r := range rs {
			ids[r.Identity()] = struct{}{}
		}
	}
	return ids, nil
}

// readingOf turns a decoded reading and its record into a file line.
func readingOf(t messages.TemperatureReading, m *bus.Message) Reading {
	return Reading{Node: t.NodeID, ReadAt: t.ReadAt.UTC(), Celsius: t.TemperatureCelsius, Source: t.Source,
		Topic: m.Topic, Partition: m.Partition, Offset: m.Offset}
}
