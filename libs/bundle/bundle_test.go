package bundle

import (
	"bytes"
	"compress/flate"
	"encoding/hex"
	"flag"
	"image"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hamba/avro/v2/ocf"

	"github.com/sensornode/sensornode/libs/internal/avrogolden"
	"github.com/sensornode/sensornode/libs/messages"
	"github.com/sensornode/sensornode/libs/messages/jpegsynth"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

var testSync = avrogolden.Sync

// records are n pictures of two cameras at offsets 10, 12, 14, ...
func records(t testing.TB, n int) []Record {
	t.Helper()
	at := time.Date(2026, 5, 1, 12, 30, 45, 123456789, time.UTC)
	out := make([]Record, n)
	for i := range out {
		cam := []string{"C1", "C2"}[i%2]
		p := messages.NewPicture(cam, "node"+cam[1:], at.Add(time.Duration(i)*time.Second), jpegsynth.Picture(image.Pt(64, 48), uint64(i)))
		out[i] = RecordOf(p, "cameraData", 3, int64(10+2*i))
	}
	return out
}

func write(t testing.TB, recs []Record) ([]byte, Index) {
	t.Helper()
	var buf bytes.Buffer
	w, err := NewWriter(&buf, "cameraData", 3, testSync)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if err := w.Append(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if w.Size() != int64(buf.Len()) {
		t.Fatalf("Size %d, wrote %d", w.Size(), buf.Len())
	}
	return buf.Bytes(), w.Index()
}

func TestRoundTrip(t *testing.T) {
	recs := records(t, 5)
	file, x := write(t, recs)

	// The whole file, as any Avro reader reads it.
	dec, err := ocf.NewDecoder(bytes.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	meta := dec.Metadata()
	for k, want := range map[string]string{"avro.codec": "null", MetaSchemaVersion: "1", MetaTopic: "cameraData", MetaPartition: "3"} {
		if got := string(meta[k]); got != want {
			t.Errorf("header %s = %q, want %q", k, got, want)
		}
	}
	var got []Record
	for dec.HasNext() {
		var r Record
		if err := dec.Decode(&r); err != nil {
			t.Fatal(err)
		}
		got = append(got, r)
	}
	if err := dec.Error(); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, recs) {
		t.Fatalf("decoded %d records, differ from the %d written", len(got), len(recs))
	}

	// One picture, one ranged read.
	if len(x.Entries) != len(recs) || x.Size() != int64(len(file)) {
		t.Fatalf("index: %d entries, size %d; want %d, %d", len(x.Entries), x.Size(), len(recs), len(file))
	}
	for i, r := range recs {
		if k := x.Keys(); len(k) != len(recs) || k[i] != r.Key {
			t.Fatalf("Keys = %v, want the records' keys in order", k)
		}
		e, ok := x.Lookup(r.Key)
		if !ok || e.Offset != r.Offset || !e.CapturedAt.Equal(r.CapturedAt) {
			t.Fatalf("Lookup(%s) = %+v, %v", r.Key, e, ok)
		}
		b, err := ReadBlock(file[e.Start:e.Start+e.Length], x.Sync)
		if err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		if !reflect.DeepEqual(b, r) {
			t.Errorf("record %d: block decodes to another record", i)
		}
	}

	// The index survives its text form.
	var ib bytes.Buffer
	if _, err := x.WriteTo(&ib); err != nil {
		t.Fatal(err)
	}
	x2, err := ParseIndex(&ib)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(x2, x) {
		t.Errorf("index after its text form:\n%+v\nwant\n%+v", x2, x)
	}
	if span, ok := x.Span(); !ok || span != (Span{Topic: "cameraData", Partition: 3, First: 10, Last: 18}) {
		t.Errorf("Span = %+v, %v", span, ok)
	}
}

func TestWriterRefuses(t *testing.T) {
	recs := records(t, 2)
	tests := []struct {
		name   string
		second func(Record) Record
		want   string
	}{
		{"same offset", func(r Record) Record { r.Offset = recs[0].Offset; return r }, "offset"},
		{"lower offset", func(r Record) Record { r.Offset = 1; return r }, "offset"},
		{"other partition", func(r Record) Record { r.Partition = 4; return r }, "bundle of"},
		{"other topic", func(r Record) Record { r.Topic = "x"; return r }, "bundle of"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, err := NewWriter(&bytes.Buffer{}, "cameraData", 3, testSync)
			if err != nil {
				t.Fatal(err)
			}
			if err := w.Append(recs[0]); err != nil {
				t.Fatal(err)
			}
			if err := w.Append(tt.second(recs[1])); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Append = %v, want an error with %q", err, tt.want)
			}
			if w.Len() != 1 || w.Name() != "cameraData+3+10+10.avro" {
				t.Errorf("after a refused record: Len %d, Name %q", w.Len(), w.Name())
			}
		})
	}
}

func TestReadBlockCorrupt(t *testing.T) {
	file, x := write(t, records(t, 2))
	e := x.Entries[1]
	block := file[e.Start : e.Start+e.Length]
	other := testSync
	other[0]++
	tests := []struct {
		name string
		b    []byte
		sync [16]byte
	}{
		{"other sync marker", block, other},
		{"truncated", block[:len(block)-1], testSync},
		{"two blocks", file[x.Entries[0].Start : e.Start+e.Length], testSync},
		{"from the middle", block[3:], testSync},
		{"empty", nil, testSync},
		{"header", file[:x.HeaderBytes], testSync},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := ReadBlock(tt.b, tt.sync); err == nil {
				t.Error("no error")
			}
		})
	}
}

func TestNames(t *testing.T) {
	tests := []struct {
		name string
		want Span
		ok   bool
	}{
		{"cameraData+0+100+199.avro", Span{"cameraData", 0, 100, 199}, true},
		{"camera.data_x-1+12+0+0.avro", Span{"camera.data_x-1", 12, 0, 0}, true},
		{"cameraData+0+100+199.avro.idx", Span{}, false},
		{"cameraData+0+199+100.avro", Span{}, false},
		{"cameraData+0+0100+199.avro", Span{}, false},
		{"cameraData+-1+100+199.avro", Span{}, false},
		{"cameraData+0+100.avro", Span{}, false},
		{"+0+100+199.avro", Span{}, false},
		{"cameraData+0+100+199.avro.tmp", Span{}, false},
		{"cameraData+0+100+199", Span{}, false},
		{"a+b+0+100+199.avro", Span{}, false},
	}
	for _, tt := range tests {
		got, ok := ParseName(tt.name)
		if ok != tt.ok || got != tt.want {
			t.Errorf("ParseName(%q) = %+v, %v; want %+v, %v", tt.name, got, ok, tt.want, tt.ok)
		}
		if ok && Name(got.Topic, got.Partition, got.First, got.Last) != tt.name {
			t.Errorf("Name of %+v is not %q", got, tt.name)
		}
	}
	a := Span{"t", 0, 10, 20}
	for _, tt := range []struct {
		b    Span
		want bool
	}{
		{Span{"t", 0, 20, 30}, true},
		{Span{"t", 0, 0, 10}, true},
		{Span{"t", 0, 12, 13}, true},
		{Span{"t", 0, 21, 30}, false},
		{Span{"t", 0, 0, 9}, false},
		{Span{"t", 1, 10, 20}, false},
		{Span{"u", 0, 10, 20}, false},
	} {
		if got := a.Overlaps(tt.b); got != tt.want || tt.b.Overlaps(a) != tt.want {
			t.Errorf("%+v overlaps %+v = %v, want %v", a, tt.b, got, tt.want)
		}
	}
}

func TestParseIndexRefuses(t *testing.T) {
	_, x := write(t, records(t, 3))
	var b bytes.Buffer
	if _, err := x.WriteTo(&b); err != nil {
		t.Fatal(err)
	}
	good := b.String()
	lines := strings.Split(strings.TrimSuffix(good, "\n"), "\n")
	edit := func(i int, s string) string {
		l := append([]string(nil), lines...)
		l[i] = s
		return strings.Join(l, "\n") + "\n"
	}
	f := strings.Fields(lines[6])
	tests := map[string]string{
		"empty":           "",
		"other magic":     edit(0, "sensornode-bundle-index 2"),
		"no topic":        edit(1, "topik cameraData"),
		"bad partition":   edit(2, "partition x"),
		"short sync":      edit(3, "sync abcd"),
		"zero header":     edit(4, "header 0"),
		"bad key":         edit(6, "../x "+strings.Join(f[1:], " ")),
		"offsets go back": edit(6, strings.Join([]string{f[0], "1", f[2], f[3], f[4]}, " ")),
		"a gap":           edit(6, strings.Join([]string{f[0], f[1], f[2], f[3] + "1", f[4]}, " ")),
		"four fields":     edit(6, strings.Join(f[:4], " ")),
		"bad time":        edit(6, strings.Join([]string{f[0], f[1], "yesterday", f[3], f[4]}, " ")),
	}
	for name, in := range tests {
		t.Run(name, func(t *testing.T) {
			if _, err := ParseIndex(strings.NewReader(in)); err == nil {
				t.Error("no error")
			}
		})
	}
	if _, err := ParseIndex(strings.NewReader(good)); err != nil {
		t.Errorf("the good index: %v", err)
	}
}

// TestGolden pins the schema file and the bytes of a small bundle and its
// index (fixed sync marker): a change of either is a new schema version
// or a new format, never an accident. The bundle's header is compared by
// its metadata (an Avro map: its order is not fixed), its blocks byte by
// byte. go test ./libs/bundle/ -args -update rewrites them.
func TestGolden(t *testing.T) {
	file, x := write(t, records(t, 2))
	var ib bytes.Buffer
	if _, err := x.WriteTo(&ib); err != nil {
		t.Fatal(err)
	}
	fp, err := Schema().FingerprintUsing("CRC64-AVRO")
	if err != nil {
		t.Fatal(err)
	}
	const bundleName = "cameraData+3+10+12.avro"
	avrogolden.Check(t, *update, map[string][]byte{
		"picture.v1.avsc":        []byte(SchemaJSON),
		"picture.v1.fingerprint": []byte(Schema().String() + "\n" + hex.EncodeToString(fp) + "\n"),
		bundleName:               file,
		IndexName(bundleName):    ib.Bytes(),
	}, bundleName)
	if SchemaFile != "picture.v1.avsc" {
		t.Errorf("SchemaFile = %q", SchemaFile)
	}
}

func FuzzParseIndex(f *testing.F) {
	_, x := write(f, records(f, 2))
	var b bytes.Buffer
	_, _ = x.WriteTo(&b)
	f.Add(b.String())
	f.Fuzz(func(t *testing.T, s string) {
		x, err := ParseIndex(strings.NewReader(s))
		if err != nil {
			return
		}
		var out bytes.Buffer
		if _, err := x.WriteTo(&out); err != nil {
			t.Fatal(err)
		}
		if _, err := ParseIndex(&out); err != nil {
			t.Fatalf("an accepted index does not survive its text form: %v", err)
		}
	})
}

func FuzzReadBlock(f *testing.F) {
	file, x := write(f, records(f, 1))
	e := x.Entries[0]
	f.Add(file[e.Start : e.Start+e.Length])
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = ReadBlock(b, testSync) // must not panic
	})
}

// BenchmarkDeflateGain measures what the deflate codec would save on a
// picture block (the choice of the null codec rests on it): the
// compressed/plain ratio of a 640x480 picture's record.
func BenchmarkDeflateGain(b *testing.B) {
	p := messages.NewPicture("C1", "node1", time.Unix(1e9, 0), jpegsynth.Picture(image.Pt(640, 480), 7))
	file, x := write(b, []Record{RecordOf(p, "cameraData", 3, 10)})
	block := file[x.Entries[0].Start : x.Entries[0].Start+x.Entries[0].Length]
	var out bytes.Buffer
	b.ResetTimer()
	for b.Loop() {
		out.Reset()
		zw, _ := flate.NewWriter(&out, flate.DefaultCompression)
		_, _ = zw.Write(block)
		_ = zw.Close()
	}
	b.ReportMetric(float64(out.Len())/float64(len(block)), "deflated/plain")
	b.ReportMetric(float64(len(block)), "block-bytes")
}
