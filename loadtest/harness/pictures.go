// Package harness is the load test: it drives the real sensornode pipeline
// (camera-producer -> edge Kafka -> edge-forwarder -> cloud Kafka ->
// cloud-ingest-hdfs -> HDFS) with pictures it writes into the producers'
// spool directories, follows every picture through the stages by the
// brokers' append times and the HDFS files' modification times, measures
// the services' CPU and memory, runs the baselines (ProducerPerformance,
// MirrorMaker 2, a plain HDFS client) and writes the report.
package harness

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"image"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/sensornode/sensornode/libs/messages"
	"github.com/sensornode/sensornode/libs/messages/jpegsynth"
)

// Sizes the load test knows by name.
var Sizes = map[string]image.Point{
	"320x188":   jpegsynth.Size320x188,
	"640x480":   jpegsynth.Size640x480,
	"1280x720":  jpegsynth.Size1280x720,
	"1920x1080": jpegsynth.Size1920x1080,
}

// SizeOrder is the order sizes appear in tables.
var SizeOrder = []string{"320x188", "640x480", "1280x720", "1920x1080"}

// ParseSize accepts "640x480" or any WxH.
func ParseSize(s string) (image.Point, error) {
	if p, ok := Sizes[s]; ok {
		return p, nil
	}
	w, h, ok := strings.Cut(s, "x")
	wi, err1 := strconv.Atoi(w)
	hi, err2 := strconv.Atoi(h)
	if !ok || err1 != nil || err2 != nil || wi < 16 || hi < 16 || wi > 8192 || hi > 8192 {
		return image.Point{}, fmt.Errorf("size %q: want WxH, e.g. 640x480", s)
	}
	return image.Pt(wi, hi), nil
}

// Factory makes distinct pictures cheaply: one realistic synthetic JPEG per
// size and camera, made unique per picture by a JPEG comment segment
// (COM, FF FE) right after the start-of-image marker. Every picture is a
// valid JPEG of the base's size plus a few dozen bytes, with its own
// SHA-256 and so its own key.
type Factory struct {
	run   string
	bases map[string][]byte // size/camera -> JPEG
}

// NewFactory prepares base pictures for the sizes and cameras.
func NewFactory(run string, sizes []string, cameras int) (*Factory, error) {
	f := &Factory{run: run, bases: map[string][]byte{}}
	for _, s := range sizes {
		pt, err := ParseSize(s)
		if err != nil {
			return nil, err
		}
		for c := 1; c <= cameras; c++ {
			f.bases[baseKey(s, c)] = jpegsynth.Picture(pt, uint64(c))
		}
	}
	return f, nil
}

func baseKey(size string, camera int) string { return size + "/" + strconv.Itoa(camera) }

// BaseSize is the size in bytes of the base picture of size and camera.
func (f *Factory) BaseSize(size string, camera int) int { return len(f.bases[baseKey(size, camera)]) }

// Picture returns picture seq of camera at size: the base with a comment
// naming the run, camera and sequence number.
func (f *Factory) Picture(size string, camera int, seq uint64) []byte {
	base := f.bases[baseKey(size, camera)]
	return WithComment(base, fmt.Sprintf("sensornode loadtest run=%s camera=%d seq=%d", f.run, camera, seq))
}

// WithComment inserts a COM segment holding text after the SOI marker of
// jpeg. It returns jpeg unchanged if it does not start with SOI or the
// text is too long for one segment.
func WithComment(jpeg []byte, text string) []byte {
	if len(jpeg) < 2 || jpeg[0] != 0xFF || jpeg[1] != 0xD8 || len(text) > 65533 {
		return jpeg
	}
	out := make([]byte, 0, len(jpeg)+4+len(text))
	out = append(out, 0xFF, 0xD8, 0xFF, 0xFE)
	out = binary.BigEndian.AppendUint16(out, uint16(len(text)+2))
	out = append(out, text...)
	return append(out, jpeg[2:]...)
}

// FileName is the spool file name of a picture captured at t: what
// camera-producer's own capture writer writes and parses back
// ("%C-%Y%m%d%H%M%S-%L-%q", UTC): C1-20260127113315-123-000042.jpg.
func FileName(camera string, t time.Time, seq uint64) string {
	t = t.UTC()
	return fmt.Sprintf("%s-%s-%03d-%06d.jpg", camera, t.Format("20060102150405"), t.Nanosecond()/int(time.Millisecond), seq%1000000)
}

// Key is the picture key camera-producer gives a picture of camera captured
// at t (to the millisecond, as the file name carries it) in form.
func Key(camera string, t time.Time, data []byte, form messages.Form) string {
	t = t.UTC().Truncate(time.Millisecond)
	if form == messages.FormJSON {
		t = t.Truncate(time.Second)
	}
	return messages.PictureKey(camera, t, sha256.Sum256(data))
}

// Drop writes data into dir the way a camera daemon should: to a hidden
// temporary name first, then renamed into place, so the producer never sees
// a partial file. The picture is ready from the rename on; register is
// called with that time just before the rename (so the picture is in the
// ledger before anything can observe it). It returns the ready time and
// the file name.
func Drop(dir, camera string, seq uint64, data []byte, now func() time.Time, register func(ready time.Time)) (ready time.Time, name string, err error) {
	tmp := filepath.Join(dir, fmt.Sprintf(".%s-%d.part", camera, seq))
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return time.Time{}, "", err
	}
	ready = now()
	name = FileName(camera, ready, seq)
	if register != nil {
		register(ready)
	}
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		return time.Time{}, "", err
	}
	return ready, name, nil
}
