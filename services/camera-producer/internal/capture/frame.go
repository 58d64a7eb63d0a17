// Package capture turns a camera (V4L2 through go4vl) or a synthetic scene
// into motion pictures: frames go through the motion detector and the
// pictures it picks are written atomically into the spool directory, from
// where the one sending path delivers them.
package capture

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"sync"
	"time"

	"github.com/sensornode/sensornode/libs/messages/jpegsynth"
)

// Format is a frame's pixel encoding.
type Format int

// Formats.
const (
	FormatJPEG Format = iota + 1 // MJPEG or JPEG
	FormatYUYV                   // packed YUV 4:2:2
)

func (f Format) String() string {
	switch f {
	case FormatJPEG:
		return "mjpeg"
	case FormatYUYV:
		return "yuyv"
	}
	return fmt.Sprintf("Format(%d)", int(f))
}

// ParseFormat parses "mjpeg" or "yuyv".
func ParseFormat(s string) (Format, error) {
	switch s {
	case "mjpeg", "jpeg":
		return FormatJPEG, nil
	case "yuyv":
		return FormatYUYV, nil
	}
	return 0, fmt.Errorf("pixel format %q (want mjpeg or yuyv)", s)
}

// Frame is one captured frame. Data belongs to the frame.
type Frame struct {
	Time          time.Time
	Seq           uint64
	Format        Format
	Width, Height int
	Data          []byte
}

// FrameSource delivers frames.
type FrameSource interface {
	// Next blocks until the next frame, ctx is done, or the source fails.
	Next(ctx context.Context) (Frame, error)
	Close() error
}

// ErrCameraNotBuilt is returned by OpenV4L2 in binaries built without cgo
// (CGO_ENABLED=0, e.g. the pure-Go 32-bit ARM build) or with the
// sensornode_nocamera tag.
var ErrCameraNotBuilt = errors.New("camera source not built into this binary (needs linux and cgo for go4vl); use SENSORNODE_SOURCE=directory with motion or rpicam-still writing into the directory")

// ErrBadFrame marks a frame that cannot be decoded.
var ErrBadFrame = errors.New("bad frame")

// Gray decodes the frame's luma for motion detection.
func (f Frame) Gray() (*image.Gray, error) {
	switch f.Format {
	case FormatJPEG:
		img, err := jpeg.Decode(bytes.NewReader(FixMJPEG(f.Data)))
		if err != nil {
			return nil, fmt.Errorf("%w: jpeg: %v", ErrBadFrame, err)
		}
		return jpegsynth.GrayModel(img), nil
	case FormatYUYV:
		if len(f.Data) < f.Width*f.Height*2 {
			return nil, fmt.Errorf("%w: yuyv: %d bytes for %dx%d", ErrBadFrame, len(f.Data), f.Width, f.Height)
		}
		g := image.NewGray(image.Rect(0, 0, f.Width, f.Height))
		for i := range g.Pix {
			g.Pix[i] = f.Data[2*i]
		}
		return g, nil
	}
	return nil, fmt.Errorf("%w: format %v", ErrBadFrame, f.Format)
}

// JPEG returns the frame as a standalone JPEG: MJPEG frames as captured
// (with the standard Huffman tables inserted when the camera left them
// out), YUYV frames encoded at quality.
func (f Frame) JPEG(quality int) ([]byte, error) {
	switch f.Format {
	case FormatJPEG:
		return FixMJPEG(f.Data), nil
	case FormatYUYV:
		if len(f.Data) < f.Width*f.Height*2 {
			return nil, fmt.Errorf("%w: yuyv: %d bytes for %dx%d", ErrBadFrame, len(f.Data), f.Width, f.Height)
		}
		img := image.NewYCbCr(image.Rect(0, 0, f.Width, f.Height), image.YCbCrSubsampleRatio422)
		for y := 0; y < f.Height; y++ {
			row := f.Data[y*f.Width*2 : (y+1)*f.Width*2]
			for x := 0; x < f.Width; x += 2 {
				i := x * 2
				img.Y[y*img.YStride+x] = row[i]
				if x+1 < f.Width {
					img.Y[y*img.YStride+x+1] = row[i+2]
				}
				img.Cb[y*img.CStride+x/2] = row[i+1]
				img.Cr[y*img.CStride+x/2] = row[i+3]
			}
		}
		return jpegsynth.Encode(img, quality)
	}
	return nil, fmt.Errorf("%w: format %v", ErrBadFrame, f.Format)
}

var (
	dhtOnce sync.Once
	dht     []byte
)

// standardDHT is a DHT segment with the standard Huffman tables of the
// JPEG specification (Annex K.3), taken from what image/jpeg writes.
func standardDHT() []byte {
	dhtOnce.Do(func() {
		b, err := jpegsynth.Encode(image.NewYCbCr(image.Rect(0, 0, 8, 8), image.YCbCrSubsampleRatio420), 75)
		if err != nil {
			return
		}
		for i := 2; i+4 <= len(b); {
			if b[i] != 0xFF {
				return
			}
			n := int(b[i+2])<<8 | int(b[i+3])
			if b[i+1] == 0xC4 {
				dht = append([]byte(nil), b[i:i+2+n]...)
				return
			}
			i += 2 + n
		}
	})
	return dht
}

// FixMJPEG returns b with the standard Huffman tables inserted before the
// start of scan when b has none: many UVC cameras send MJPEG frames
// without a DHT segment, which decoders (and viewers of the saved picture)
// reject. Anything that does not parse is returned unchanged.
func FixMJPEG(b []byte) []byte {
	if len(b) < 4 || b[0] != 0xFF || b[1] != 0xD8 {
		return b
	}
	for i := 2; i+4 <= len(b); {
		if b[i] != 0xFF {
			return b
		}
		m := b[i+1]
		switch {
		case m == 0xFF: // fill byte
			i++
			continue
		case m == 0xC4:
			return b
		case m == 0xDA:
			t := standardDHT()
			if t == nil {
				return b
			}
			out := make([]byte, 0, len(b)+len(t))
			out = append(out, b[:i]...)
			out = append(out, t...)
			return append(out, b[i:]...)
		case m == 0xD9:
			return b
		}
		i += 2 + (int(b[i+2])<<8 | int(b[i+3]))
	}
	return b
}
