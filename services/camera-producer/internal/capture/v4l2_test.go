//go:build linux && cgo && !sensornode_nocamera

package capture

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/vladimirvivien/go4vl/device"
	"github.com/vladimirvivien/go4vl/v4l2"

	"github.com/sensornode/sensornode/libs/messages/jpegsynth"
)

// fakeDevice stands in for go4vl's *device.Device.
type fakeDevice struct {
	format   v4l2.PixFormat
	frames   chan *device.Frame
	errs     chan error
	started  bool
	stopped  bool
	closed   bool
	startErr error
}

func newFakeDevice(w, h int, pf v4l2.FourCCType) *fakeDevice {
	return &fakeDevice{format: v4l2.PixFormat{Width: uint32(w), Height: uint32(h), PixelFormat: pf},
		frames: make(chan *device.Frame, 8), errs: make(chan error, 1)}
}

func (d *fakeDevice) Start(context.Context) error {
	d.started = true
	return d.startErr
}

func (d *fakeDevice) GetFrames() <-chan *device.Frame {
	if !d.started {
		return nil // as go4vl: the channel exists only after Start
	}
	return d.frames
}

func (d *fakeDevice) GetError() <-chan error                { return d.errs }
func (d *fakeDevice) GetPixFormat() (v4l2.PixFormat, error) { return d.format, nil }
func (d *fakeDevice) Stop() error                           { d.stopped = true; return nil }
func (d *fakeDevice) Close() error                          { d.closed = true; return nil }

func TestV4L2SourceFakeDevice(t *testing.T) {
	ctx := context.Background()
	cfg := V4L2Config{Device: "/dev/fake0", Width: 320, Height: 240, Framerate: 10}
	pic := jpegsynth.Picture(jpegsynth.Size320x188, 1)

	dev := newFakeDevice(320, 240, v4l2.PixelFmtMJPEG)
	src, err := startV4L2(ctx, dev, cfg)
	if err != nil {
		t.Fatalf("startV4L2() = %v", err)
	}
	buf := append([]byte(nil), pic...)
	dev.frames <- &device.Frame{Data: nil, Sequence: 1}                                 // empty: skipped
	dev.frames <- &device.Frame{Data: []byte{1}, Sequence: 2, Flags: v4l2.BufFlagError} // error flag: skipped
	dev.frames <- &device.Frame{Data: buf, Sequence: 3, Timestamp: time.Unix(5, 0)}
	f, err := src.Next(ctx)
	if err != nil {
		t.Fatalf("Next() = %v", err)
	}
	if f.Seq != 3 || f.Format != FormatJPEG || f.Width != 320 || !bytes.Equal(f.Data, pic) {
		t.Errorf("Next() = seq %d format %v width %d, %d bytes; want frame 3, mjpeg, 320, %d bytes", f.Seq, f.Format, f.Width, len(f.Data), len(pic))
	}
	if time.Since(f.Time) > time.Minute {
		t.Errorf("frame time %v is not the wall clock", f.Time)
	}
	buf[0] = 0 // go4vl reuses its buffers: the frame must own a copy
	if f.Data[0] != 0xFF {
		t.Error("frame data aliases the device buffer")
	}
	dev.errs <- errors.New("dequeue: no such device")
	if _, err := src.Next(ctx); err == nil || !strings.Contains(err.Error(), "no such device") {
		t.Errorf("Next() after a stream error = %v", err)
	}
	close(dev.frames)
	if _, err := src.Next(ctx); !errors.Is(err, errStreamEnded) {
		t.Errorf("Next() after the stream closed = %v, want stream ended", err)
	}
	if err := src.Close(); err != nil || !dev.stopped || !dev.closed {
		t.Errorf("Close() = %v, stopped %v closed %v", err, dev.stopped, dev.closed)
	}

	tests := []struct {
		name string
		dev  *fakeDevice
		want string
	}{
		{"driver chose another size", newFakeDevice(640, 480, v4l2.PixelFmtMJPEG), "driver chose 640x480"},
		{"driver chose another format", newFakeDevice(320, 240, v4l2.PixelFmtH264), "pixel format"},
		{"start fails", func() *fakeDevice {
			d := newFakeDevice(320, 240, v4l2.PixelFmtYUYV)
			d.startErr = errors.New("busy")
			return d
		}(), "busy"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := startV4L2(ctx, tt.dev, cfg); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("startV4L2() = %v, want containing %q", err, tt.want)
			}
		})
	}
}

func TestV4L2SourceYUYVThroughLoop(t *testing.T) {
	dev := newFakeDevice(64, 48, v4l2.PixelFmtYUYV)
	src, err := startV4L2(context.Background(), dev, V4L2Config{Device: "/dev/fake1", Width: 64, Height: 48})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	g := jpegsynth.NewScene(64, 48, 2).Gray(0)
	dev.frames <- &device.Frame{Data: yuyv(g), Sequence: 9}
	f, err := src.Next(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	got, err := f.Gray()
	if err != nil || !bytes.Equal(got.Pix, g.Pix) {
		t.Errorf("Gray() of the YUYV frame = %v", err)
	}
}
