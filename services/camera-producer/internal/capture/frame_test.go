package capture

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/jpeg"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sensornode/sensornode/libs/messages"
	"github.com/sensornode/sensornode/libs/messages/jpegsynth"
	"github.com/sensornode/sensornode/services/camera-producer/internal/motion"
	"github.com/sensornode/sensornode/services/camera-producer/internal/spool"
)

// stripDHT removes every DHT segment, as many UVC cameras send MJPEG.
func stripDHT(t *testing.T, b []byte) []byte {
	t.Helper()
	out := append([]byte(nil), b[:2]...)
	for i := 2; i+4 <= len(b); {
		m := b[i+1]
		if m == 0xDA {
			return append(out, b[i:]...)
		}
		n := int(b[i+2])<<8 | int(b[i+3])
		if m != 0xC4 {
			out = append(out, b[i:i+2+n]...)
		}
		i += 2 + n
	}
	t.Fatal("no SOS")
	return nil
}

func TestFixMJPEG(t *testing.T) {
	orig := jpegsynth.Picture(jpegsynth.Size320x188, 1)
	bare := stripDHT(t, orig)
	if _, err := jpeg.Decode(bytes.NewReader(bare)); err == nil {
		t.Fatal("decoding a JPEG without DHT succeeded; the test proves nothing")
	}
	fixed := FixMJPEG(bare)
	want, err := jpeg.Decode(bytes.NewReader(orig))
	if err != nil {
		t.Fatal(err)
	}
	got, err := jpeg.Decode(bytes.NewReader(fixed))
	if err != nil {
		t.Fatalf("decode FixMJPEG(no DHT) = %v", err)
	}
	if !bytes.Equal(got.(*image.YCbCr).Y, want.(*image.YCbCr).Y) {
		t.Error("fixed frame decodes differently from the original")
	}
	if err := messages.CheckJPEG(fixed, 0); err != nil {
		t.Errorf("CheckJPEG(fixed) = %v", err)
	}
	if !bytes.Equal(FixMJPEG(orig), orig) {
		t.Error("FixMJPEG changed a JPEG that has its tables")
	}
	for _, junk := range [][]byte{nil, []byte("abc"), {0xFF, 0xD8, 0x00}} {
		if !bytes.Equal(FixMJPEG(junk), junk) {
			t.Errorf("FixMJPEG(%x) changed it", junk)
		}
	}
}

// yuyv builds a YUYV frame from a gray image (neutral chroma).
func yuyv(g *image.Gray) []byte {
	w, h := g.Rect.Dx(), g.Rect.Dy()
	b := make([]byte, w*h*2)
	for i, y := range g.Pix[:w*h] {
		b[2*i] = y
		b[2*i+1] = 128
	}
	return b
}

func TestFrameYUYV(t *testing.T) {
	sc := jpegsynth.NewScene(64, 48, 1)
	g := sc.Gray(0)
	f := Frame{Format: FormatYUYV, Width: 64, Height: 48, Data: yuyv(g)}
	got, err := f.Gray()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Pix, g.Pix) {
		t.Error("Gray() of a YUYV frame is not its luma")
	}
	b, err := f.JPEG(90)
	if err != nil {
		t.Fatal(err)
	}
	img, err := jpeg.Decode(bytes.NewReader(b))
	if err != nil || img.Bounds() != g.Rect {
		t.Fatalf("JPEG() decodes to %v, %v", img, err)
	}
	short := Frame{Format: FormatYUYV, Width: 64, Height: 48, Data: make([]byte, 10)}
	if _, err := short.Gray(); !errors.Is(err, ErrBadFrame) {
		t.Errorf("Gray(short frame) = %v, want ErrBadFrame", err)
	}
	if _, err := (Frame{Format: FormatJPEG, Data: []byte("garbage")}).Gray(); !errors.Is(err, ErrBadFrame) {
		t.Errorf("Gray(garbage jpeg) = %v, want ErrBadFrame", err)
	}
}

// scripted is a FrameSource playing prepared frames, then failing.
type scripted struct {
	frames []Frame
	err    error
}

func (s *scripted) Next(ctx context.Context) (Frame, error) {
	if err := ctx.Err(); err != nil {
		return Frame{}, err
	}
	if len(s.frames) == 0 {
		return Frame{}, s.err
	}
	f := s.frames[0]
	s.frames = s.frames[1:]
	return f, nil
}

func (s *scripted) Close() error { return nil }

// passFrames renders n frames with an object crossing during [from, to),
// plus one undecodable frame at bad.
func passFrames(t *testing.T, n, from, to, bad int) []Frame {
	t.Helper()
	sc := jpegsynth.NewScene(320, 240, 5)
	var out []Frame
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for i := 0; i < n; i++ {
		sc.Objects = nil
		if i >= from && i < to {
			sc.Objects = []jpegsynth.Object{{X: float64(30 + 20*(i-from)), Y: 120, R: 35, Gray: 235}}
		}
		b, err := sc.JPEG(i, 80)
		if err != nil {
			t.Fatal(err)
		}
		b = stripDHT(t, b)
		if i == bad {
			b = []byte("not a frame")
		}
		out = append(out, Frame{Time: t0.Add(time.Duration(i) * 100 * time.Millisecond), Seq: uint64(i), Format: FormatJPEG,
			Width: 320, Height: 240, Data: b})
	}
	return out
}

func TestLoop(t *testing.T) {
	dir := t.TempDir()
	det, err := motion.New(motion.Config{Width: 320, Height: 240, Framerate: 10, Threshold: 500, NoiseLevel: 32,
		PreCapture: 2, PostCapture: 2, MinimumMotionFrames: 1, Output: motion.OutputBest, EventGap: time.Second}, nil)
	if err != nil {
		t.Fatal(err)
	}
	opens := 0
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	m := NewMetrics(nil)
	var readiness []error
	l := &Loop{
		Open: func(context.Context) (FrameSource, error) {
			opens++
			if opens == 1 {
				return &scripted{frames: passFrames(t, 40, 10, 20, 3), err: errors.New("unplugged")}, nil
			}
			cancel() // second open: the test is over
			return nil, ctx.Err()
		},
		Detector: det, Dir: dir, CameraID: "C7", Location: time.UTC, Quality: 85,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Metrics: m,
		Ready: func(err error) { readiness = append(readiness, err) },
	}
	if err := l.Run(ctx); err != nil {
		t.Fatalf("Run() = %v", err)
	}
	des, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(des) != 1 {
		t.Fatalf("dir has %d entries, want the one best picture", len(des))
	}
	name := des[0].Name()
	names, _ := spool.ParseNameTimes(spool.DefaultNamePatterns, "UTC")
	at, fromName := names.CaptureTime(name, time.Time{})
	if !fromName || at.Before(time.Date(2026, 1, 2, 3, 4, 6, 0, time.UTC)) || at.After(time.Date(2026, 1, 2, 3, 4, 7, 0, time.UTC)) {
		t.Errorf("picture %s: capture time %v from name %v, want within the passing object", name, at, fromName)
	}
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := jpeg.Decode(bytes.NewReader(b)); err != nil {
		t.Errorf("saved picture does not decode (Huffman tables inserted?): %v", err)
	}
	if got := counterValue(m.Frames.WithLabelValues("bad")); got != 1 {
		t.Errorf("bad frames = %v, want 1", got)
	}
	if got := counterValue(m.Events); got != 1 {
		t.Errorf("events = %v, want 1", got)
	}
	if len(readiness) < 2 || readiness[0] != nil || readiness[1] == nil {
		t.Errorf("readiness reports = %v, want ready then the stream error", readiness)
	}
}
