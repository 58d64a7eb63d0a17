package archive_test

import (
	"bytes"
	"encoding/hex"
	"flag"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hamba/avro/v2"
	"github.com/hamba/avro/v2/ocf"

	"github.com/sensornode/sensornode/libs/archive"
	"github.com/sensornode/sensornode/libs/internal/avrogolden"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

var testSync = avrogolden.Sync

// readings are n readings of node1 at offsets 10, 11, ..., a second apart.
func readings(n int) []archive.Reading {
	at := time.Date(2026, 5, 1, 12, 30, 45, 123456000, time.UTC)
	out := make([]archive.Reading, n)
	for i := range out {
		out[i] = archive.Reading{Node: "node1", ReadAt: at.Add(time.Duration(i) * time.Second), Celsius: 48.3 + float64(i%7)/10,
			Source: "vcgencmd", Topic: "temperatureData", Partition: 2, Offset: int64(10 + i)}
	}
	return out
}

func TestAvroReadingsRoundTrip(t *testing.T) {
	rs := readings(2500) // three blocks
	rs[1].ReadAt = rs[1].ReadAt.Add(789 * time.Nanosecond)
	file, err := archive.EncodeReadings(rs, archive.FormatAvro)
	if err != nil {
		t.Fatal(err)
	}
	// As any Avro reader reads it.
	dec, err := ocf.NewDecoder(bytes.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]string{"avro.codec": "deflate", "sensornode.schema.version": "1",
		"sensornode.topic": "temperatureData", "sensornode.partition": "2"} {
		if got := string(dec.Metadata()[k]); got != want {
			t.Errorf("header %s = %q, want %q", k, got, want)
		}
	}
	got, err := archive.DecodeReadings(file, archive.FormatAvro)
	if err != nil {
		t.Fatal(err)
	}
	want := append([]archive.Reading(nil), rs...)
	want[1].ReadAt = archive.AvroReadAt(want[1].ReadAt) // the schema keeps microseconds
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("DecodeReadings(EncodeReadings(rs)) = %d readings, differ from the %d written", len(got), len(rs))
	}
	if got[1].Identity() != rs[1].Identity() {
		t.Errorf("identity changed through Avro: %s, want %s", got[1].Identity(), rs[1].Identity())
	}
	if empty, err := archive.EncodeReadings(nil, archive.FormatAvro); err != nil {
		t.Error(err)
	} else if got, err := archive.DecodeReadings(empty, archive.FormatAvro); err != nil || len(got) != 0 {
		t.Errorf("an empty file decodes to %v, %v", got, err)
	}
	mixed := readings(2)
	mixed[1].Partition = 3
	if _, err := archive.EncodeReadings(mixed, archive.FormatAvro); err == nil {
		t.Error("EncodeReadings of two partitions: no error")
	}
}

func TestDecodeAvroReadingsRefuses(t *testing.T) {
	good, err := archive.EncodeReadings(readings(3), archive.FormatAvro)
	if err != nil {
		t.Fatal(err)
	}
	other := func(schema string) []byte {
		var b bytes.Buffer
		enc, err := ocf.NewEncoder(schema, &b)
		if err != nil {
			t.Fatal(err)
		}
		if err := enc.Close(); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}
	tests := map[string][]byte{
		"empty":       nil,
		"jsonl":       []byte(`{"node":"n"}` + "\n"),
		"truncated":   good[:len(good)-20],
		"a long":      other(`"long"`),
		"a picture":   other(`{"type":"record","name":"P","fields":[{"name":"key","type":"string"}]}`),
		"other types": other(strings.Replace(archive.ReadingSchemaJSON, `"type": "double"`, `"type": "float"`, 1)),
	}
	for name, give := range tests {
		t.Run(name, func(t *testing.T) {
			if got, err := archive.DecodeReadings(give, archive.FormatAvro); err == nil {
				t.Errorf("DecodeReadings = %d readings, nil; want an error", len(got))
			}
		})
	}
	// A later version that adds a field still reads.
	added := strings.Replace(archive.ReadingSchemaJSON, `"fields": [`, `"fields": [{"name": "extra", "type": "string", "default": ""},`, 1)
	added = strings.Replace(added, "archive.v1", "archive.v2", 1)
	if _, err := archive.DecodeReadings(other(added), archive.FormatAvro); err != nil {
		t.Errorf("a schema with a field added: %v", err)
	}
}

// TestAvroReadingsDeflate pins the codec choice: a node-hour of readings
// (one a second) is far smaller deflated than in the null codec, and than
// JSON Lines.
func TestAvroReadingsDeflate(t *testing.T) {
	rs := readings(3600)
	avroFile, err := archive.EncodeReadings(rs, archive.FormatAvro)
	if err != nil {
		t.Fatal(err)
	}
	var plain bytes.Buffer
	enc, err := ocf.NewEncoderWithSchema(archive.ReadingSchema(), &plain, ocf.WithCodec(ocf.Null), ocf.WithBlockLength(1000))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rs {
		if err := enc.Encode(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := enc.Close(); err != nil {
		t.Fatal(err)
	}
	jsonl, _ := archive.EncodeReadings(rs, archive.FormatJSONL)
	t.Logf("3600 readings: JSON Lines %d bytes, Avro null %d, Avro deflate %d", len(jsonl), plain.Len(), len(avroFile))
	if len(avroFile)*3 > plain.Len() {
		t.Errorf("deflate: %d bytes, null codec %d: less than a third saved", len(avroFile), plain.Len())
	}
}

// TestAvroReadingsGolden pins the schema file and a two-reading file (a
// fixed sync marker): a change of either is a new schema version, never
// an accident. The header is compared by its metadata (an Avro map: its
// order is not fixed), the blocks byte by byte. go test
// ./libs/archive/ -args -update rewrites them.
func TestAvroReadingsGolden(t *testing.T) {
	file, err := archive.EncodeAvro(readings(2), testSync)
	if err != nil {
		t.Fatal(err)
	}
	fp, err := archive.ReadingSchema().FingerprintUsing("CRC64-AVRO")
	if err != nil {
		t.Fatal(err)
	}
	const fileName = "temperatureData+2+10+11.avro"
	avrogolden.Check(t, *update, map[string][]byte{
		"reading.v1.avsc":        []byte(archive.ReadingSchemaJSON),
		"reading.v1.fingerprint": []byte(archive.ReadingSchema().String() + "\n" + hex.EncodeToString(fp) + "\n"),
		fileName:                 file,
	}, fileName)
	if archive.ReadingSchemaFile != "reading.v1.avsc" {
		t.Errorf("ReadingSchemaFile = %q", archive.ReadingSchemaFile)
	}
	if _, err := avro.Parse(archive.ReadingSchemaJSON); err != nil {
		t.Error(err)
	}
}

// BenchmarkEncodeAvroReadings encodes a node-hour of readings (3,600) as
// an Avro readings file with deflate.
func BenchmarkEncodeAvroReadings(b *testing.B) {
	rs := readings(3600)
	for b.Loop() {
		if _, err := archive.EncodeReadings(rs, archive.FormatAvro); err != nil {
			b.Fatal(err)
		}
	}
}

// FuzzDecodeAvroReadings: any bytes in a readings directory (a corrupt or
// foreign .avro file) give readings or an error, never a panic.
func FuzzDecodeAvroReadings(f *testing.F) {
	good, err := archive.EncodeReadings(readings(3), archive.FormatAvro)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = archive.DecodeReadings(b, archive.FormatAvro)
	})
}
