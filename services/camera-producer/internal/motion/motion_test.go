package motion

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/sensornode/sensornode/libs/messages/jpegsynth"
)

// disc is an object drawn into one frame.
type disc struct {
	x, y, r int
	gray    uint8
}

// sequence renders synthetic camera frames: jpegsynth's textured, noisy
// background plus the discs objects(i) returns, encoded as JPEG and decoded
// again, so the detector sees compression artefacts like a camera's.
type sequence struct {
	scene   *jpegsynth.Scene
	objects func(i int) []disc
}

func newSequence(w, h int, seed uint64, objects func(i int) []disc) *sequence {
	return &sequence{scene: jpegsynth.NewScene(w, h, seed), objects: objects}
}

// rendered caches decoded frames: several tests share the same frames.
var rendered sync.Map

func (s *sequence) frame(t *testing.T, i int) Frame {
	t.Helper()
	var objs []disc
	if s.objects != nil {
		objs = s.objects(i)
	}
	key := fmt.Sprint(s.scene.W, s.scene.H, s.scene.Seed, i, objs)
	if g, ok := rendered.Load(key); ok {
		return Frame{Time: time.Unix(1700000000, 0).Add(time.Duration(i) * 100 * time.Millisecond), Gray: g.(*image.Gray), Payload: i}
	}
	g := s.scene.Gray(i)
	if s.objects != nil {
		for _, o := range objs {
			for y := o.y - o.r; y <= o.y+o.r; y++ {
				for x := o.x - o.r; x <= o.x+o.r; x++ {
					if (x-o.x)*(x-o.x)+(y-o.y)*(y-o.y) <= o.r*o.r && image.Pt(x, y).In(g.Rect) {
						g.SetGray(x, y, colorGray(o.gray))
					}
				}
			}
		}
	}
	b, err := jpegsynth.Encode(g, 85)
	if err != nil {
		t.Fatal(err)
	}
	img, err := jpeg.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	gray := jpegsynth.GrayModel(img)
	rendered.Store(key, gray)
	return Frame{Time: time.Unix(1700000000, 0).Add(time.Duration(i) * 100 * time.Millisecond), Gray: gray, Payload: i}
}

// run pushes frames 0..n-1 and flushes.
func (s *sequence) run(t *testing.T, d *Detector, n int) []Picture {
	t.Helper()
	var out []Picture
	for i := 0; i < n; i++ {
		p, err := d.Push(s.frame(t, i))
		if err != nil {
			t.Fatalf("Push(frame %d) error = %v", i, err)
		}
		out = append(out, p...)
	}
	return append(out, d.Flush()...)
}

func defaults() Config {
	return Config{Width: 640, Height: 480, Framerate: 10, Threshold: 2000, NoiseLevel: 32,
		PreCapture: 2, PostCapture: 2, MinimumMotionFrames: 1, Output: OutputBest, EventGap: 60 * time.Second}
}

// small is a 320x240 configuration with the same threshold per area.
func small() Config {
	c := defaults()
	c.Width, c.Height, c.Threshold = 320, 240, 500
	return c
}

// passing is an object crossing the scene during [from, to], its radius
// growing to a peak at frame peak and shrinking again.
func passing(from, to, peak, y int) func(i int) []disc {
	return func(i int) []disc {
		if i < from || i > to {
			return nil
		}
		r := 40 - 3*abs(i-peak)
		if r < 4 {
			r = 4
		}
		return []disc{{x: 40 + 12*(i-from), y: y, r: r, gray: 235}}
	}
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}

type pic struct {
	frame int
	kind  Kind
	event int
}

func summary(ps []Picture) []pic {
	out := make([]pic, len(ps))
	for i, p := range ps {
		out[i] = pic{p.Frame.Payload.(int), p.Kind, p.Event}
	}
	return out
}

func TestDetectorSequences(t *testing.T) {
	twoPasses := func(i int) []disc {
		if d := passing(10, 20, 15, 120)(i); d != nil {
			return d
		}
		return passing(35, 45, 42, 300)(i)
	}
	tests := []struct {
		name       string
		cfg        func() Config
		objects    func(i int) []disc
		frames     int
		wantEvents int
		want       []pic
	}{
		{
			name:   "static noisy scene, motion's defaults",
			cfg:    defaults,
			frames: 40,
		},
		{
			name:       "one moving object, best frame is the largest",
			cfg:        defaults,
			objects:    passing(10, 24, 17, 240),
			frames:     40,
			wantEvents: 1,
			want:       []pic{{17, KindBest, 1}},
		},
		{
			name: "two events separated by more than the event gap",
			cfg: func() Config {
				c := defaults()
				c.EventGap = time.Second
				return c
			},
			objects:    twoPasses,
			frames:     55,
			wantEvents: 2,
			want:       []pic{{15, KindBest, 1}, {42, KindBest, 2}},
		},
		{
			name:       "the same passes within the default 60 s gap are one event",
			cfg:        defaults,
			objects:    twoPasses,
			frames:     55,
			wantEvents: 1,
			want:       []pic{{15, KindBest, 1}},
		},
		{
			name: "output first",
			cfg: func() Config {
				c := defaults()
				c.Output = OutputFirst
				return c
			},
			objects:    passing(10, 24, 17, 240),
			frames:     40,
			wantEvents: 1,
			// Radius 40-3*|i-17| covers > 2000 pixels from radius 26 on: frame 13.
			want: []pic{{13, KindFirst, 1}},
		},
		{
			name: "output all: pre-capture, motion frames, post-capture",
			cfg: func() Config {
				c := defaults()
				c.Output = OutputAll
				return c
			},
			objects:    passing(10, 24, 17, 240),
			frames:     40,
			wantEvents: 1,
			want: []pic{{11, KindPre, 1}, {12, KindPre, 1},
				{13, KindMotion, 1}, {14, KindMotion, 1}, {15, KindMotion, 1}, {16, KindMotion, 1}, {17, KindMotion, 1},
				{18, KindMotion, 1}, {19, KindMotion, 1}, {20, KindMotion, 1}, {21, KindMotion, 1},
				{22, KindPost, 1}, {23, KindPost, 1}},
		},
		{
			name: "minimum motion frames ignores single-frame flashes",
			cfg: func() Config {
				c := small()
				c.MinimumMotionFrames = 3
				return c
			},
			objects: func(i int) []disc {
				if i == 10 || i == 20 || i == 21 {
					return []disc{{x: 160, y: 120, r: 40, gray: 240}}
				}
				return nil
			},
			frames: 40,
		},
		{
			name: "minimum motion frames reached",
			cfg: func() Config {
				c := small()
				c.MinimumMotionFrames = 3
				c.Output = OutputFirst
				return c
			},
			objects: func(i int) []disc {
				if i >= 20 && i <= 24 {
					return []disc{{x: 60 + 10*i - 200, y: 120, r: 30, gray: 240}}
				}
				return nil
			},
			frames:     40,
			wantEvents: 1,
			want:       []pic{{20, KindFirst, 1}},
		},
		{
			name: "an object that stops becomes background and the event ends",
			cfg: func() Config {
				c := small()
				c.EventGap = time.Second
				c.Output = OutputAll
				c.PreCapture, c.PostCapture = 0, 0
				return c
			},
			objects: func(i int) []disc {
				if i >= 10 {
					return []disc{{x: 160, y: 120, r: 30, gray: 240}}
				}
				return nil
			},
			frames:     120,
			wantEvents: 1,
			// Appears at 10; its pixels are accepted after 33 frames of
			// difference (10 s at 10 fps / (10/3)), so frames 10..43 count.
			want: func() []pic {
				var p []pic
				for i := 10; i <= 43; i++ {
					p = append(p, pic{i, KindMotion, 1})
				}
				return p
			}(),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := tt.cfg()
			d, err := New(cfg, nil)
			if err != nil {
				t.Fatal(err)
			}
			seq := newSequence(cfg.Width, cfg.Height, 7, tt.objects)
			got := summary(seq.run(t, d, tt.frames))
			if d.Events() != tt.wantEvents {
				t.Errorf("Events() = %d, want %d", d.Events(), tt.wantEvents)
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("pictures = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestDetectorMask(t *testing.T) {
	cfg := small()
	// Mask out the left half, where the object moves.
	mask := image.NewGray(image.Rect(0, 0, cfg.Width, cfg.Height))
	for y := 0; y < cfg.Height; y++ {
		for x := cfg.Width / 2; x < cfg.Width; x++ {
			mask.Pix[y*mask.Stride+x] = 255
		}
	}
	objects := func(x0 int) func(i int) []disc {
		return func(i int) []disc {
			if i >= 10 && i < 20 {
				return []disc{{x: x0 + 3*(i-10), y: 120, r: 25, gray: 240}}
			}
			return nil
		}
	}
	tests := []struct {
		name       string
		x0         int
		wantEvents int
	}{
		{"motion in the masked half", 60, 0},
		{"motion in the open half", 230, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := New(cfg, mask)
			if err != nil {
				t.Fatal(err)
			}
			newSequence(cfg.Width, cfg.Height, 3, objects(tt.x0)).run(t, d, 30)
			if d.Events() != tt.wantEvents {
				t.Errorf("Events() = %d, want %d", d.Events(), tt.wantEvents)
			}
		})
	}
}

func TestDetectorErrors(t *testing.T) {
	cfg := small()
	if _, err := New(cfg, image.NewGray(image.Rect(0, 0, 10, 10))); err == nil {
		t.Error("New(mask of the wrong size) = nil error")
	}
	bad := cfg
	bad.Output = "some"
	if _, err := New(bad, nil); err == nil {
		t.Error("New(output some) = nil error")
	}
	d, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = d.Push(Frame{Gray: image.NewGray(image.Rect(0, 0, 640, 480))})
	if !errors.Is(err, ErrFrameSize) {
		t.Errorf("Push(640x480 into 320x240) = %v, want ErrFrameSize", err)
	}
}

func TestLoadMask(t *testing.T) {
	dir := t.TempDir()
	want := image.NewGray(image.Rect(0, 0, 4, 2))
	copy(want.Pix, []uint8{0, 255, 0, 255, 255, 255, 0, 0})
	var pngBuf bytes.Buffer
	if err := png.Encode(&pngBuf, want); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		data    []byte
		wantErr bool
	}{
		{"P5", append([]byte("P5\n# motion mask\n4 2\n255\n"), want.Pix...), false},
		{"P2 maxval 1", []byte("P2\n4 2\n1\n0 1 0 1\n1 1 0 0\n"), false},
		{"PNG", pngBuf.Bytes(), false},
		{"short P5", []byte("P5\n4 2\n255\n\x00\x01"), true},
		{"not an image", []byte("hello"), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, "mask")
			if err := os.WriteFile(path, tt.data, 0o644); err != nil {
				t.Fatal(err)
			}
			got, err := LoadMask(path)
			if tt.wantErr {
				if err == nil {
					t.Errorf("LoadMask() = nil error, want one")
				}
				return
			}
			if err != nil {
				t.Fatalf("LoadMask() error = %v", err)
			}
			if !bytes.Equal(got.Pix, want.Pix) || got.Bounds() != want.Bounds() {
				t.Errorf("LoadMask() = %v %v, want %v %v", got.Bounds(), got.Pix, want.Bounds(), want.Pix)
			}
		})
	}
}

func colorGray(v uint8) color.Gray { return color.Gray{Y: v} }
