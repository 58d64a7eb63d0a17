package jpegsynth

import (
	"image"
	"testing"
)

func TestDisc(t *testing.T) {
	g := image.NewGray(image.Rect(0, 0, 8, 6))
	Disc(g, 0, 0, 2, 200) // around the corner: clipped, no panic
	Disc(g, 5, 3, 1, 100)
	tests := []struct {
		x, y int
		want uint8
	}{
		{0, 0, 200}, {2, 0, 200}, {0, 2, 200}, {1, 1, 200}, // on or inside the first disc
		{2, 2, 0},                                          // outside it: 2²+2² > 2²
		{5, 3, 100}, {4, 3, 100}, {5, 2, 100}, {6, 3, 100}, // the second
		{4, 2, 0}, {7, 5, 0},
	}
	for _, tt := range tests {
		if got := g.GrayAt(tt.x, tt.y).Y; got != tt.want {
			t.Errorf("pixel (%d,%d) = %d, want %d", tt.x, tt.y, got, tt.want)
		}
	}
}

func TestColour(t *testing.T) {
	g := image.NewGray(image.Rect(0, 0, 4, 2))
	for i := range g.Pix {
		g.Pix[i] = uint8(10 * i)
	}
	c := Colour(g)
	if c.Rect != g.Rect || c.SubsampleRatio != image.YCbCrSubsampleRatio420 {
		t.Fatalf("Colour() = %v %v, want %v 4:2:0", c.Rect, c.SubsampleRatio, g.Rect)
	}
	for x := range 4 {
		for y := range 2 {
			yy, cb, cr := c.YCbCrAt(x, y).Y, c.YCbCrAt(x, y).Cb, c.YCbCrAt(x, y).Cr
			if yy != g.GrayAt(x, y).Y || cb != 120 || cr != 136 {
				t.Errorf("Colour() at (%d,%d) = %d/%d/%d, want %d/120/136", x, y, yy, cb, cr, g.GrayAt(x, y).Y)
			}
		}
	}
}
