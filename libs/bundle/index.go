package bundle

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/sensornode/sensornode/libs/messages"
)

// indexMagic starts every index file; the number is the index format.
const indexMagic = "sensornode-bundle-index 1"

// Index is a bundle's sidecar: where each picture's block is, so a reader
// fetches one picture with one ranged read (ReadBlock on the bytes
// [Start, Start+Length)). It is text, one line per picture, readable with
// hdfs dfs -cat:
//
//	sensornode-bundle-index 1
//	topic cameraData
//	partition 0
//	sync 5f1c...(32 hex)
//	header 1024
//	<key> <kafka offset> <capture time, RFC 3339> <start byte> <length>
//	...
type Index struct {
	Topic       string
	Partition   int32
	Sync        [16]byte
	HeaderBytes int64 // the Avro header's length: the first block starts here
	Entries     []Entry
}

// Entry is one picture in a bundle.
type Entry struct {
	Key        string
	Offset     int64 // Kafka offset
	CapturedAt time.Time
	Start      int64 // byte offset of its block in the bundle
	Length     int64 // bytes of its block
}

// Span is the bundle's place in its partition; ok is false when empty.
func (x Index) Span() (Span, bool) {
	n := len(x.Entries)
	if n == 0 {
		return Span{}, false
	}
	return Span{Topic: x.Topic, Partition: x.Partition, First: x.Entries[0].Offset, Last: x.Entries[n-1].Offset}, true
}

// Keys are the bundle's picture keys, in offset order.
func (x Index) Keys() []string {
	keys := make([]string, len(x.Entries))
	for i, e := range x.Entries {
		keys[i] = e.Key
	}
	return keys
}

// Lookup finds key's entry.
func (x Index) Lookup(key string) (Entry, bool) {
	for _, e := range x.Entries {
		if e.Key == key {
			return e, true
		}
	}
	return Entry{}, false
}

// Size is the bundle's size in bytes the index describes.
func (x Index) Size() int64 {
	if n := len(x.Entries); n > 0 {
		return x.Entries[n-1].Start + x.Entries[n-1].Length
	}
	return x.HeaderBytes
}

// WriteTo writes the index in its text form.
func (x Index) WriteTo(w io.Writer) (int64, error) {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s\ntopic %s\npartition %d\nsync %s\nheader %d\n", indexMagic, x.Topic, x.Partition, hex.EncodeToString(x.Sync[:]), x.HeaderBytes)
	for _, e := range x.Entries {
		fmt.Fprintf(&b, "%s %d %s %d %d\n", e.Key, e.Offset, e.CapturedAt.UTC().Format(time.RFC3339Nano), e.Start, e.Length)
	}
	return b.WriteTo(w)
}

// ParseIndex reads an index and checks it is whole and consistent: the
// blocks follow each other from the end of the header, offsets increase,
// every key is a picture key.
func ParseIndex(r io.Reader) (Index, error) {
	var x Index
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 4096), 1<<20)
	line := 0
	next := func() (string, bool) {
		if !sc.Scan() {
			return "", false
		}
		line++
		return sc.Text(), true
	}
	bad := func(format string, args ...any) (Index, error) {
		return Index{}, fmt.Errorf("bundle index line %d: %s", line, fmt.Sprintf(format, args...))
	}
	if l, ok := next(); !ok || l != indexMagic {
		return bad("not a bundle index (want %q)", indexMagic)
	}
	fields := map[string]string{}
	for _, name := range []string{"topic", "partition", "sync", "header"} {
		l, ok := next()
		v, found := strings.CutPrefix(l, name+" ")
		if !ok || !found || v == "" {
			return bad("want %q", name)
		}
		fields[name] = v
	}
	x.Topic = fields["topic"]
	p, err := strconv.ParseInt(fields["partition"], 10, 32)
	if err != nil || p < 0 {
		return bad("partition %q", fields["partition"])
	}
	x.Partition = int32(p)
	sync, err := hex.DecodeString(fields["sync"])
	if err != nil || len(sync) != 16 {
		return bad("sync %q", fields["sync"])
	}
	copy(x.Sync[:], sync)
	if x.HeaderBytes, err = strconv.ParseInt(fields["header"], 10, 64); err != nil || x.HeaderBytes <= 0 {
		return bad("header %q", fields["header"])
	}
	at := x.HeaderBytes
	for {
		l, ok := next()
		if !ok {
			break
		}
		f := strings.Fields(l)
		if len(f) != 5 {
			return bad("%d fields, want 5", len(f))
		}
		var e Entry
		e.Key = f[0]
		if _, _, err := messages.ParsePictureKey(e.Key); err != nil {
			return bad("key: %v", err)
		}
		var err1, err2, err3, err4 error
		e.Offset, err1 = strconv.ParseInt(f[1], 10, 64)
		e.CapturedAt, err2 = time.Parse(time.RFC3339Nano, f[2])
		e.Start, err3 = strconv.ParseInt(f[3], 10, 64)
		e.Length, err4 = strconv.ParseInt(f[4], 10, 64)
		if err1 != nil || err2 != nil || err3 != nil || err4 != nil || e.Offset < 0 || e.Length <= 16 {
			return bad("entry %q", l)
		}
		if n := len(x.Entries); n > 0 && e.Offset <= x.Entries[n-1].Offset {
			return bad("offset %d after %d", e.Offset, x.Entries[n-1].Offset)
		}
		if e.Start != at {
			return bad("block at %d, want %d (the end of the one before)", e.Start, at)
		}
		at = e.Start + e.Length
		x.Entries = append(x.Entries, e)
	}
	if err := sc.Err(); err != nil {
		return Index{}, fmt.Errorf("bundle index: %w", err)
	}
	return x, nil
}

func randomSync() [16]byte {
	var s [16]byte
	_, _ = rand.Read(s[:])
	return s
}
