package ingest

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/sensornode/sensornode/libs/bus"
	"github.com/sensornode/sensornode/libs/messages"
)

// Reading is one line of a temperature file.
type Reading struct {
	Node      string    `json:"node"`
	ReadAt    time.Time `json:"read_at"`
	Celsius   float64   `json:"celsius"`
	Source    string    `json:"source"`
	Topic     string    `json:"topic"`
	Partition int32     `json:"partition"`
	Offset    int64     `json:"offset"`
}

// identity is what makes two readings the same reading:
// messages.ReadingIdentity (node, read second, source, value), the same in
// both forms. It is computed from the stored readings too, so files written
// before issue 11 need no migration.
func identity(node string, readAt time.Time, celsius float64, source string) string {
	return messages.ReadingIdentity(node, readAt, celsius, source)
}

func (r Reading) identity() string { return identity(r.Node, r.ReadAt, r.Celsius, r.Source) }

// csvHeader names the CSV columns (the files carry no header line, so that
// they concatenate).
var csvHeader = []string{"node", "read_at", "celsius", "source", "topic", "partition", "offset"}

// appendReading appends r to b as one line of format.
func appendReading(b *bytes.Buffer, format string, r Reading) {
	if format == FormatCSV {
		w := csv.NewWriter(b)
		_ = w.Write([]string{r.Node, r.ReadAt.UTC().Format(time.RFC3339Nano),
			strconv.FormatFloat(r.Celsius, 'f', -1, 64), r.Source, r.Topic,
			strconv.Itoa(int(r.Partition)), strconv.FormatInt(r.Offset, 10)})
		w.Flush() // writes to a bytes.Buffer cannot fail
		return
	}
	line, _ := json.Marshal(r) // plain fields always marshal
	b.Write(line)
	b.WriteByte('\n')
}

// parseReadings parses a temperature file of format.
func parseReadings(data []byte, format string) ([]Reading, error) {
	var out []Reading
	if format == FormatCSV {
		rd := csv.NewReader(bytes.NewReader(data))
		rd.FieldsPerRecord = len(csvHeader)
		recs, err := rd.ReadAll()
		if err != nil {
			return nil, fmt.Errorf("csv: %w", err)
		}
		for _, rec := range recs {
			at, err := time.Parse(time.RFC3339Nano, rec[1])
			if err != nil {
				return nil, fmt.Errorf("csv read_at %q: %w", rec[1], err)
			}
			c, _ := strconv.ParseFloat(rec[2], 64)
			p, _ := strconv.Atoi(rec[5])
			o, _ := strconv.ParseInt(rec[6], 10, 64)
			out = append(out, Reading{Node: rec[0], ReadAt: at, Celsius: c, Source: rec[3], Topic: rec[4], Partition: int32(p), Offset: o})
		}
		return out, nil
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for sc.Scan() {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		var r Reading
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			return nil, fmt.Errorf("jsonl: %w", err)
		}
		out = append(out, r)
	}
	return out, sc.Err()
}

// tempFileName names a temperature file after the Kafka records it holds,
// as the Kafka Connect HDFS sink does.
func tempFileName(topic string, partition int32, first, last int64, format string) string {
	return fmt.Sprintf("%s+%d+%d+%d.%s", topic, partition, first, last, format)
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
	buf         bytes.Buffer
	first, last int64
	ids         []string
}

func newTempBatch(first int64, now time.Time) *tempBatch {
	return &tempBatch{first: first, started: now, files: map[string]*tempFile{}}
}

func (b *tempBatch) add(dir, format, id string, r Reading) {
	f := b.files[dir]
	if f == nil {
		f = &tempFile{dir: dir, first: r.Offset}
		b.files[dir] = f
	}
	appendReading(&f.buf, format, r)
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

// loadDir reads the identities of every temperature file in dir. A file
// that does not parse (foreign, corrupt) is skipped and passed to
// unreadable: it is kept as it is (never deleted or moved: it may be
// someone's data), and it must not stop the directory from being written.
func loadDir(fs FS, dir, format string, unreadable func(name string, err error)) (map[string]struct{}, error) {
	fis, err := fs.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", dir, err)
	}
	ids := map[string]struct{}{}
	for _, fi := range fis {
		if fi.IsDir() || !strings.HasSuffix(fi.Name(), "."+format) {
			continue
		}
		name := dir + "/" + fi.Name()
		data, err := fs.ReadFile(name)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", name, err)
		}
		rs, err := parseReadings(data, format)
		if err != nil {
			unreadable(name, err)
			continue
		}
		for _, r := range rs {
			ids[r.identity()] = struct{}{}
		}
	}
	return ids, nil
}

// readingOf turns a decoded reading and its record into a file line.
func readingOf(t messages.TemperatureReading, m *bus.Message) Reading {
	return Reading{Node: t.NodeID, ReadAt: t.ReadAt.UTC(), Celsius: t.TemperatureCelsius, Source: t.Source,
		Topic: m.Topic, Partition: m.Partition, Offset: m.Offset}
}
