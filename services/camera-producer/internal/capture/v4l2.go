//go:build linux && cgo && !sensornode_nocamera

package capture

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/vladimirvivien/go4vl/device"
	"github.com/vladimirvivien/go4vl/v4l2"
)

// CameraBuilt reports whether the V4L2 source is in this binary.
const CameraBuilt = true

// v4l2Device is the part of go4vl's *device.Device the source uses; tests
// substitute a fake device.
type v4l2Device interface {
	Start(ctx context.Context) error
	GetFrames() <-chan *device.Frame
	GetError() <-chan error
	GetPixFormat() (v4l2.PixFormat, error)
	Stop() error
	Close() error
}

var _ v4l2Device = (*device.Device)(nil)

// OpenV4L2 opens and starts a V4L2 capture device with go4vl.
func OpenV4L2(ctx context.Context, cfg V4L2Config) (FrameSource, error) {
	pf := uint32(v4l2.PixelFmtMJPEG)
	if cfg.Format == FormatYUYV {
		pf = uint32(v4l2.PixelFmtYUYV)
	}
	dev, err := device.Open(cfg.Device,
		device.WithPixFormat(v4l2.PixFormat{Width: uint32(cfg.Width), Height: uint32(cfg.Height), PixelFormat: pf, Field: v4l2.FieldNone}),
		device.WithFPS(uint32(cfg.Framerate)),
		device.WithBufferSize(4),
	)
	if err != nil {
		return nil, fmt.Errorf("camera %s: %w", cfg.Device, err)
	}
	src, err := startV4L2(ctx, dev, cfg)
	if err != nil {
		_ = dev.Close()
		return nil, err
	}
	return src, nil
}

type v4l2Source struct {
	dev    v4l2Device
	cfg    V4L2Config
	format Format
	frames <-chan *device.Frame
	errs   <-chan error
	cancel context.CancelFunc
	now    func() time.Time
}

// startV4L2 checks the negotiated format and starts streaming.
func startV4L2(ctx context.Context, dev v4l2Device, cfg V4L2Config) (*v4l2Source, error) {
	pf, err := dev.GetPixFormat()
	if err != nil {
		return nil, fmt.Errorf("camera %s: get format: %w", cfg.Device, err)
	}
	var format Format
	switch pf.PixelFormat {
	case v4l2.PixelFmtMJPEG, v4l2.PixelFmtJPEG:
		format = FormatJPEG
	case v4l2.PixelFmtYUYV:
		format = FormatYUYV
	default:
		return nil, fmt.Errorf("camera %s: driver chose pixel format %q (%#x); want MJPEG or YUYV", cfg.Device, v4l2.PixelFormats[pf.PixelFormat], pf.PixelFormat)
	}
	if int(pf.Width) != cfg.Width || int(pf.Height) != cfg.Height {
		return nil, fmt.Errorf("camera %s: driver chose %dx%d instead of %dx%d; set SENSORNODE_MOTION_WIDTH/HEIGHT to a size the camera supports",
			cfg.Device, pf.Width, pf.Height, cfg.Width, cfg.Height)
	}
	sctx, cancel := context.WithCancel(ctx)
	dev.GetFrames() // selects go4vl's frame API; the channel exists after Start
	if err := dev.Start(sctx); err != nil {
		cancel()
		return nil, fmt.Errorf("camera %s: start: %w", cfg.Device, err)
	}
	return &v4l2Source{dev: dev, cfg: cfg, format: format, frames: dev.GetFrames(), errs: dev.GetError(), cancel: cancel, now: time.Now}, nil
}

// Next returns the next frame, copied out of go4vl's buffer pool. Frame
// time is the wall clock at dequeue: drivers stamp frames with the
// monotonic clock, which says nothing about the date.
func (s *v4l2Source) Next(ctx context.Context) (Frame, error) {
	for {
		select {
		case <-ctx.Done():
			return Frame{}, ctx.Err()
		case err, ok := <-s.errs:
			if ok && err != nil {
				return Frame{}, fmt.Errorf("camera %s: %w", s.cfg.Device, err)
			}
			s.errs = nil
		case fr, ok := <-s.frames:
			if !ok {
				return Frame{}, fmt.Errorf("camera %s: %w", s.cfg.Device, errStreamEnded)
			}
			if fr.HasError() || len(fr.Data) == 0 {
				fr.Release()
				continue
			}
			f := Frame{Time: s.now(), Seq: uint64(fr.Sequence), Format: s.format, Width: s.cfg.Width, Height: s.cfg.Height,
				Data: append([]byte(nil), fr.Data...)}
			fr.Release()
			return f, nil
		}
	}
}

var errStreamEnded = errors.New("stream ended")

func (s *v4l2Source) Close() error {
	s.cancel()
	return errors.Join(s.dev.Stop(), s.dev.Close())
}
