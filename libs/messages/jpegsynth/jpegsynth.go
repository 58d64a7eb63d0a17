// Package jpegsynth draws realistic synthetic camera scenes and encodes them
// as real JPEGs: a lit, textured background with sensor noise and moving
// objects. It feeds tests, benchmarks, the synthetic camera source and the
// load generator, so all of them handle pictures with the size and entropy
// of real ones instead of zero bytes.
package jpegsynth

import (
	"bytes"
	"image"
	"image/color"
	"image/jpeg"
	"math"
)

// Standard sizes: the thesis measured the first three; the load test adds
// full HD.
var (
	Size320x188   = image.Pt(320, 188)
	Size640x480   = image.Pt(640, 480)
	Size1280x720  = image.Pt(1280, 720)
	Size1920x1080 = image.Pt(1920, 1080)
)

// Object is a filled disc moving linearly across the scene.
type Object struct {
	X, Y   float64 // position at frame 0, in pixels
	VX, VY float64 // pixels per frame
	R      float64 // radius in pixels
	Gray   uint8
}

// Scene is a deterministic sequence of frames.
type Scene struct {
	W, H    int
	Seed    uint64
	Noise   int      // per-pixel sensor noise amplitude, gray levels (0..64)
	Objects []Object // moving objects; none means a static scene
	// Visible reports whether the objects are drawn in frame i; nil means
	// always. Tests use it to make separate motion events.
	Visible func(i int) bool
	bg      []uint8
}

// NewScene makes a scene of size w×h with a textured background.
func NewScene(w, h int, seed uint64) *Scene {
	s := &Scene{W: w, H: h, Seed: seed, Noise: 6}
	s.bg = make([]uint8, w*h)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			// Vertical light gradient, a few soft "walls" and fine texture.
			v := 70 + 90*float64(y)/float64(h)
			v += 25 * math.Sin(float64(x)/37+float64(seed%7)) * math.Cos(float64(y)/23)
			v += float64(hash(seed, uint64(x/3), uint64(y/3))%40) - 20
			s.bg[y*w+x] = clamp(v)
		}
	}
	return s
}

// Gray renders frame i as an 8-bit grayscale image.
func (s *Scene) Gray(i int) *image.Gray {
	img := image.NewGray(image.Rect(0, 0, s.W, s.H))
	copy(img.Pix, s.bg)
	if s.Noise > 0 {
		n := uint64(2*s.Noise + 1)
		for p := range img.Pix {
			d := int(hash(s.Seed^0x9e3779b97f4a7c15, uint64(i), uint64(p))%n) - s.Noise
			img.Pix[p] = clamp(float64(int(img.Pix[p]) + d))
		}
	}
	if s.Visible == nil || s.Visible(i) {
		for _, o := range s.Objects {
			Disc(img, o.X+o.VX*float64(i), o.Y+o.VY*float64(i), o.R, o.Gray)
		}
	}
	return img
}

// Frame renders frame i in colour (a warm tint of the gray scene), as a
// camera would deliver it.
func (s *Scene) Frame(i int) *image.YCbCr { return Colour(s.Gray(i)) }

// Colour gives a grayscale frame the scenes' warm tint: the YCbCr 4:2:0
// image a camera delivers.
func Colour(g *image.Gray) *image.YCbCr {
	img := image.NewYCbCr(g.Rect, image.YCbCrSubsampleRatio420)
	copy(img.Y, g.Pix)
	for p := range img.Cb {
		img.Cb[p] = 120
		img.Cr[p] = 136
	}
	return img
}

// Disc fills the disc of radius r around (cx, cy) in g (its origin at
// 0,0) with gray, clipped to g.
func Disc(g *image.Gray, cx, cy, r float64, gray uint8) {
	x0, x1 := max(0, int(cx-r)), min(g.Rect.Dx()-1, int(cx+r))
	y0, y1 := max(0, int(cy-r)), min(g.Rect.Dy()-1, int(cy+r))
	for y := y0; y <= y1; y++ {
		for x := x0; x <= x1; x++ {
			dx, dy := float64(x)-cx, float64(y)-cy
			if dx*dx+dy*dy <= r*r {
				g.Pix[y*g.Stride+x] = gray
			}
		}
	}
}

// JPEG renders frame i and encodes it at the given quality (1..100).
func (s *Scene) JPEG(i, quality int) ([]byte, error) {
	return Encode(s.Frame(i), quality)
}

// Encode encodes img as a baseline JPEG.
func Encode(img image.Image, quality int) ([]byte, error) {
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: quality}); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// Picture returns one realistic JPEG of the given size: a scene with a
// moving object at frame 0, quality 85 (close to what motion writes).
func Picture(size image.Point, seed uint64) []byte {
	s := NewScene(size.X, size.Y, seed)
	s.Objects = []Object{{X: float64(size.X) / 3, Y: float64(size.Y) / 2, R: float64(size.Y) / 8, Gray: 230}}
	b, err := s.JPEG(0, 85)
	if err != nil {
		// jpeg.Encode only fails on writer errors; a bytes.Buffer has none.
		panic("jpegsynth: " + err.Error())
	}
	return b
}

// GrayModel converts any image to 8-bit luma, for callers that decode real
// JPEGs and want the same input the scene's Gray gives.
func GrayModel(img image.Image) *image.Gray {
	if g, ok := img.(*image.Gray); ok {
		return g
	}
	b := img.Bounds()
	out := image.NewGray(b)
	if yc, ok := img.(*image.YCbCr); ok {
		for y := b.Min.Y; y < b.Max.Y; y++ {
			copy(out.Pix[(y-b.Min.Y)*out.Stride:], yc.Y[yc.YOffset(b.Min.X, y):yc.YOffset(b.Max.X-1, y)+1])
		}
		return out
	}
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			out.SetGray(x, y, color.GrayModel.Convert(img.At(x, y)).(color.Gray))
		}
	}
	return out
}

func clamp(v float64) uint8 {
	switch {
	case v < 0:
		return 0
	case v > 255:
		return 255
	}
	return uint8(v)
}

// hash is splitmix64 over three words: cheap, deterministic noise.
func hash(a, b, c uint64) uint64 {
	z := a*0x9e3779b97f4a7c15 ^ b*0xbf58476d1ce4e5b9 ^ c*0x94d049bb133111eb
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}
