package archive

import (
	"bytes"
	_ "embed"
	"encoding/binary"
	"fmt"
	"strconv"
	"time"

	"github.com/hamba/avro/v2"
	"github.com/hamba/avro/v2/ocf"

	"github.com/sensornode/sensornode/libs/bundle"
	"github.com/sensornode/sensornode/libs/messages"
)

// A temperature file of FormatAvro is an Apache Avro Object Container File
// of reading.v1.avsc records, one per reading, as any Hadoop tool reads it
// (avro-tools, hdfs dfs -text). Its header carries the metadata of a
// picture bundle (libs/bundle): the schema version and the topic and
// partition the readings were read from.
//
// # Codec
//
// Deflate. A reading is a few short strings and numbers, repeated with
// little change from record to record (the same node, source and topic,
// times and offsets that grow): unlike a bundle's JPEG bytes it
// compresses well: a node-hour of 3,600 readings takes 25,415 bytes
// deflated, 180,455 in the null codec, 538,912 as JSON Lines
// (TestAvroReadingsDeflate pins the gain), and encoding it takes about 5
// ms of CPU (BenchmarkEncodeAvroReadings). Blocks hold up to
// avroBlockReadings records.

// ReadingSchemaVersion is the version of the reading record schema: the
// messages library's schema version, so a change of the reading's fields
// changes both.
const ReadingSchemaVersion = messages.SchemaVersion

// ReadingSchemaJSON is the reading record schema, written beside the data
// as ReadingSchemaFile and into every Avro readings file's header.
//
//go:embed reading.v1.avsc
var ReadingSchemaJSON string

// ReadingSchemaFile is the name of the schema file beside the data.
var ReadingSchemaFile = fmt.Sprintf("reading.v%d.avsc", ReadingSchemaVersion)

var readingSchema = avro.MustParse(ReadingSchemaJSON)

// ReadingSchema is the parsed reading record schema.
func ReadingSchema() avro.Schema { return readingSchema }

// avroBlockReadings bounds the records of one Avro block (about 50 bytes
// each before deflate).
const avroBlockReadings = 1000

// encodeAvro is an Avro container file of rs. Its metadata names the topic
// and partition of the readings, which must all share them. sync is the
// file's sync marker; zero draws a random one.
func encodeAvro(rs []Reading, sync [16]byte) ([]byte, error) {
	meta := map[string][]byte{bundle.MetaSchemaVersion: []byte(strconv.Itoa(ReadingSchemaVersion))}
	if len(rs) > 0 {
		meta[bundle.MetaTopic] = []byte(rs[0].Topic)
		meta[bundle.MetaPartition] = []byte(strconv.Itoa(int(rs[0].Partition)))
	}
	opts := []ocf.EncoderFunc{ocf.WithCodec(ocf.Deflate), ocf.WithBlockLength(avroBlockReadings), ocf.WithMetadata(meta)}
	if sync != ([16]byte{}) {
		opts = append(opts, ocf.WithSyncBlock(sync))
	}
	var b bytes.Buffer
	enc, err := ocf.NewEncoderWithSchema(readingSchema, &b, opts...)
	if err != nil {
		return nil, fmt.Errorf("avro header: %w", err)
	}
	for _, r := range rs {
		if r.Topic != rs[0].Topic || r.Partition != rs[0].Partition {
			return nil, fmt.Errorf("avro: reading of %s/%d in a file of %s/%d", r.Topic, r.Partition, rs[0].Topic, rs[0].Partition)
		}
		if err := enc.Encode(r); err != nil {
			return nil, fmt.Errorf("avro: encode reading at offset %d: %w", r.Offset, err)
		}
	}
	if err := enc.Close(); err != nil { // writes the last block to a bytes.Buffer
		return nil, fmt.Errorf("avro: %w", err)
	}
	return b.Bytes(), nil
}

// decodeAvro reads an Avro container file of reading records. The file's
// schema must hold every field of reading.v1.avsc with its type (a later
// version adds fields, which are skipped); any other Avro file is refused
// rather than read as empty readings.
func decodeAvro(data []byte) ([]Reading, error) {
	if err := checkContainer(data); err != nil {
		return nil, err
	}
	dec, err := ocf.NewDecoder(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("avro: %w", err)
	}
	if err := checkWriterSchema(dec.Metadata()["avro.schema"]); err != nil {
		return nil, err
	}
	var out []Reading
	for dec.HasNext() {
		var r Reading
		if err := dec.Decode(&r); err != nil {
			return nil, fmt.Errorf("avro: record %d: %w", len(out), err)
		}
		r.ReadAt = r.ReadAt.UTC()
		out = append(out, r)
	}
	if err := dec.Error(); err != nil {
		return nil, fmt.Errorf("avro: %w", err)
	}
	return out, nil
}

// checkContainer walks the frame of an Avro container file before the
// decoder sees it: the header's metadata map, then every block's record
// count, size and sync marker. Every length must fit in what is left of
// data: hamba/avro's decoder allocates a block's stated size before
// reading it, so a corrupt size would panic (negative) or exhaust memory
// (huge), and one bad file in a readings directory must be an error, not
// a crash (FuzzDecodeAvroReadings).
func checkContainer(data []byte) error {
	corrupt := func(what string, p int) error {
		return fmt.Errorf("avro: not a container file: %s at byte %d", what, p)
	}
	if !bytes.HasPrefix(data, []byte("Obj\x01")) {
		return corrupt("no magic", 0)
	}
	p := 4
	long := func() (int64, bool) { // Avro longs are zigzag varints
		v, n := binary.Varint(data[p:])
		if n <= 0 {
			return 0, false
		}
		p += n
		return v, true
	}
	skip := func(n int64) bool {
		if n < 0 || n > int64(len(data)-p) {
			return false
		}
		p += int(n)
		return true
	}
	for { // the metadata map: blocks of key/value pairs, then 0
		c, ok := long()
		if !ok {
			return corrupt("bad metadata", p)
		}
		if c == 0 {
			break
		}
		if c < 0 { // a block with its byte size
			c = -c
			if _, ok := long(); !ok {
				return corrupt("bad metadata", p)
			}
		}
		for ; c > 0; c-- { // each pair takes at least 2 bytes
			k, ok1 := long()
			if !ok1 || !skip(k) {
				return corrupt("bad metadata key", p)
			}
			v, ok2 := long()
			if !ok2 || !skip(v) {
				return corrupt("bad metadata value", p)
			}
		}
	}
	if len(data)-p < 16 {
		return corrupt("no sync marker", p)
	}
	sync := data[p : p+16]
	p += 16
	for p < len(data) {
		count, ok1 := long()
		size, ok2 := long()
		if !ok1 || !ok2 || count < 0 || size < 0 || size > int64(len(data)-p-16) {
			return corrupt("bad block", p)
		}
		p += int(size)
		if !bytes.Equal(data[p:p+16], sync) {
			return corrupt("sync marker differs", p)
		}
		p += 16
	}
	return nil
}

func checkWriterSchema(js []byte) error {
	s, err := avro.ParseBytes(js)
	if err != nil {
		return fmt.Errorf("avro: the file's schema: %w", err)
	}
	rec, ok := s.(*avro.RecordSchema)
	if !ok {
		return fmt.Errorf("avro: the file's schema is a %s, not a reading record", s.Type())
	}
	have := map[string]string{}
	for _, f := range rec.Fields() {
		have[f.Name()] = f.Type().String()
	}
	for _, f := range readingSchema.(*avro.RecordSchema).Fields() {
		if have[f.Name()] != f.Type().String() {
			return fmt.Errorf("avro: the file's schema (%s) lacks field %s %s of %s", rec.FullName(), f.Name(), f.Type().String(), ReadingSchemaFile)
		}
	}
	return nil
}

// AvroReadAt is t as an Avro readings file keeps it: UTC, to the
// microsecond (the schema's timestamp-micros). A reading's identity uses
// the second, so it is the same in every format.
func AvroReadAt(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }
