// Package bundle is the file format of the bundle picture store: pictures
// in Apache Avro Object Container Files that any Hadoop tool reads
// (avro-tools, hdfs dfs -text), one picture per Avro block, with a small
// sidecar index (picture key -> byte range of its block) so that a reader
// fetches one picture with one ranged read. It holds no I/O beyond
// io.Writer and byte slices: cloud-ingest-hdfs writes bundles to HDFS with
// it, readers (hdfscli, the viewer) read them.
//
// # Names
//
// A committed bundle is named <topic>+<partition>+<first offset>+<last
// offset>.avro (Name, ParseName), the offsets of the first and last
// record it holds, so the committed files of one partition never overlap
// and a new owner of the partition recovers its position from the names
// alone. Its index is the same name plus ".idx".
//
// # Codec
//
// The null codec. JPEG data is entropy-coded already: deflate shrinks a
// 640x480 picture's block (79 090 bytes) by 0.34 % and costs 2.7 ms of CPU
// per picture on this 2-core machine (BenchmarkDeflateGain: go test -run
// XXX -bench DeflateGain ./libs/bundle/), on the write path and again on
// every ranged read; the metadata fields are a few hundred bytes beside
// tens of kilobytes of JPEG.
package bundle

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/hamba/avro/v2"
	"github.com/hamba/avro/v2/ocf"

	"github.com/sensornode/sensornode/libs/messages"
)

// SchemaVersion is the version of the record schema: the messages
// library's schema version (libs/messages.SchemaVersion), so a change of
// the picture's fields changes both.
const SchemaVersion = messages.SchemaVersion

// SchemaJSON is the record schema, written beside the data as
// picture.v<SchemaVersion>.avsc and into every bundle's header.
//
//go:embed picture.v1.avsc
var SchemaJSON string

// SchemaFile is the name of the schema file beside the data.
var SchemaFile = fmt.Sprintf("picture.v%d.avsc", SchemaVersion)

var schema = avro.MustParse(SchemaJSON)

// Schema is the parsed record schema.
func Schema() avro.Schema { return schema }

// Record is one picture in a bundle.
type Record struct {
	Key         string    `avro:"key"`
	CameraID    string    `avro:"camera_id"`
	NodeID      string    `avro:"node_id"`
	CapturedAt  time.Time `avro:"captured_at"`
	SHA256      [32]byte  `avro:"sha256"`
	ContentType string    `avro:"content_type"`
	JPEG        []byte    `avro:"jpeg"`
	Topic       string    `avro:"topic"`
	Partition   int32     `avro:"partition"`
	Offset      int64     `avro:"offset"`
}

// RecordOf is the record of picture p read at topic/partition/offset.
// The capture time keeps microseconds (the schema's precision).
func RecordOf(p messages.Picture, topic string, partition int32, offset int64) Record {
	return Record{
		Key: p.Key(), CameraID: p.CameraID, NodeID: p.NodeID,
		CapturedAt: p.CapturedAt.UTC().Truncate(time.Microsecond), SHA256: p.SHA256,
		ContentType: p.ContentType, JPEG: p.Data,
		Topic: topic, Partition: partition, Offset: offset,
	}
}

// Metadata keys a bundle's header carries besides avro.schema and
// avro.codec.
const (
	MetaSchemaVersion = "sensornode.schema.version"
	MetaTopic         = "sensornode.topic"
	MetaPartition     = "sensornode.partition"
)

// Writer appends records to one bundle, one record per Avro block, and
// keeps the index of what it wrote. It is not safe for concurrent use.
type Writer struct {
	cw    countingWriter
	enc   *ocf.Encoder
	sync  [16]byte
	index Index
}

// NewWriter starts a bundle of topic/partition on w (the header is
// written at once). sync is the file's sync marker; zero draws a random
// one.
func NewWriter(w io.Writer, topic string, partition int32, sync [16]byte) (*Writer, error) {
	bw := &Writer{cw: countingWriter{w: w}}
	if sync == ([16]byte{}) {
		sync = randomSync()
	}
	enc, err := ocf.NewEncoderWithSchema(schema, &bw.cw,
		ocf.WithCodec(ocf.Null),
		ocf.WithSyncBlock(sync),
		ocf.WithBlockLength(1),
		ocf.WithMetadata(map[string][]byte{
			MetaSchemaVersion: []byte(strconv.Itoa(SchemaVersion)),
			MetaTopic:         []byte(topic),
			MetaPartition:     []byte(strconv.Itoa(int(partition))),
		}))
	if err != nil {
		return nil, fmt.Errorf("bundle: header: %w", err)
	}
	bw.enc, bw.sync = enc, sync
	bw.index = Index{Topic: topic, Partition: partition, Sync: sync, HeaderBytes: bw.cw.n}
	return bw, nil
}

// Append writes r as one block. Records must come in offset order.
func (w *Writer) Append(r Record) error {
	if n := len(w.index.Entries); n > 0 && r.Offset <= w.index.Entries[n-1].Offset {
		return fmt.Errorf("bundle: offset %d after %d", r.Offset, w.index.Entries[n-1].Offset)
	}
	if r.Topic != w.index.Topic || r.Partition != w.index.Partition {
		return fmt.Errorf("bundle: record of %s/%d in a bundle of %s/%d", r.Topic, r.Partition, w.index.Topic, w.index.Partition)
	}
	start := w.cw.n
	if err := w.enc.Encode(r); err != nil {
		return fmt.Errorf("bundle: encode %s: %w", r.Key, err)
	}
	if err := w.enc.Flush(); err != nil {
		return fmt.Errorf("bundle: write %s: %w", r.Key, err)
	}
	w.index.Entries = append(w.index.Entries, Entry{
		Key: r.Key, Offset: r.Offset, CapturedAt: r.CapturedAt,
		Start: start, Length: w.cw.n - start,
	})
	return nil
}

// Len is the number of records written.
func (w *Writer) Len() int { return len(w.index.Entries) }

// Size is the number of bytes written so far.
func (w *Writer) Size() int64 { return w.cw.n }

// Index is what was written so far (valid after every Append).
func (w *Writer) Index() Index { return w.index }

// Name is the committed name of what was written so far; "" before the
// first record.
func (w *Writer) Name() string {
	n := len(w.index.Entries)
	if n == 0 {
		return ""
	}
	return Name(w.index.Topic, w.index.Partition, w.index.Entries[0].Offset, w.index.Entries[n-1].Offset)
}

// Close ends the bundle (nothing is buffered: every Append wrote its
// block; Close releases the encoder).
func (w *Writer) Close() error { return w.enc.Close() }

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// ErrCorrupt is returned for a block that is not one record of this
// schema ending in the file's sync marker.
var ErrCorrupt = errors.New("bundle: corrupt block")

// ReadBlock decodes one block, the bytes an index entry names: the record
// count (1), the data size, the record, and the file's sync marker.
func ReadBlock(b []byte, sync [16]byte) (Record, error) {
	var r Record
	rd := avro.NewReader(bytes.NewReader(b), len(b)+1)
	count := rd.ReadLong()
	size := rd.ReadLong()
	if rd.Error != nil {
		return r, fmt.Errorf("%w: %v", ErrCorrupt, rd.Error)
	}
	if count != 1 {
		return r, fmt.Errorf("%w: %d records in the block, want 1", ErrCorrupt, count)
	}
	head := int64(len(b)) - size - 16
	if size < 0 || head < 0 {
		return r, fmt.Errorf("%w: data size %d in %d bytes", ErrCorrupt, size, len(b))
	}
	if !bytes.Equal(b[len(b)-16:], sync[:]) {
		return r, fmt.Errorf("%w: sync marker differs", ErrCorrupt)
	}
	if err := avro.Unmarshal(schema, b[head:head+size], &r); err != nil {
		return r, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	return r, nil
}

// Name is a committed bundle's file name.
func Name(topic string, partition int32, first, last int64) string {
	return fmt.Sprintf("%s+%d+%d+%d.avro", topic, partition, first, last)
}

// IndexName is the index file's name of bundle name.
func IndexName(name string) string { return name + ".idx" }

// Span is a committed bundle's place in its partition.
type Span struct {
	Topic       string
	Partition   int32
	First, Last int64 // offsets of the first and last record
}

// Overlaps reports whether s and o share an offset of one partition.
func (s Span) Overlaps(o Span) bool {
	return s.Topic == o.Topic && s.Partition == o.Partition && s.First <= o.Last && o.First <= s.Last
}

// ParseName reads a committed bundle's name; ok is false for any other
// name (a temporary file, an index, a foreign file).
func ParseName(name string) (s Span, ok bool) {
	base, found := strings.CutSuffix(name, ".avro")
	if !found {
		return s, false
	}
	// Kafka topic names are [A-Za-z0-9._-]: '+' separates the fields.
	parts := strings.Split(base, "+")
	if len(parts) != 4 || parts[0] == "" {
		return s, false
	}
	p, err1 := strconv.ParseInt(parts[1], 10, 32)
	first, err2 := strconv.ParseInt(parts[2], 10, 64)
	last, err3 := strconv.ParseInt(parts[3], 10, 64)
	if err1 != nil || err2 != nil || err3 != nil || p < 0 || first < 0 || last < first {
		return s, false
	}
	if Name(parts[0], int32(p), first, last) != name { // no leading zeros, no '+5'
		return s, false
	}
	return Span{Topic: parts[0], Partition: int32(p), First: first, Last: last}, true
}
