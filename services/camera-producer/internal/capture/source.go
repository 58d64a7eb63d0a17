package capture

import (
	"context"
	"fmt"
	"image"
	"math"
	"time"

	"github.com/sensornode/sensornode/libs/messages/jpegsynth"
)

// V4L2Config selects and configures a V4L2 camera.
type V4L2Config struct {
	Device string `envconfig:"DEVICE" default:"/dev/video0"`
	// FormatName is the pixel format requested from the camera: mjpeg
	// (frames are saved as captured) or yuyv (encoded at JPEGQuality).
	FormatName  string `envconfig:"FORMAT" default:"mjpeg"`
	JPEGQuality int    `envconfig:"JPEG_QUALITY" default:"85"`
	// Filled from the motion settings, not from the environment.
	Format    Format `ignored:"true"`
	Width     int    `ignored:"true"`
	Height    int    `ignored:"true"`
	Framerate int    `ignored:"true"`
}

// SyntheticConfig configures the synthetic camera: jpegsynth's textured,
// noisy scene in which an object crosses the picture every EventInterval
// for EventDuration, at the motion detector's size and frame rate.
type SyntheticConfig struct {
	EventInterval time.Duration `envconfig:"EVENT_INTERVAL" default:"90s"`
	EventDuration time.Duration `envconfig:"EVENT_DURATION" default:"3s"`
	JPEGQuality   int           `envconfig:"JPEG_QUALITY" default:"85"`
	Seed          uint64        `envconfig:"SEED" default:"1"`
	// Filled from the motion settings.
	Width     int `ignored:"true"`
	Height    int `ignored:"true"`
	Framerate int `ignored:"true"`
}

// Validate checks the synthetic settings.
func (c SyntheticConfig) Validate() error {
	if c.EventInterval <= 0 || c.EventDuration <= 0 || c.EventDuration > c.EventInterval {
		return fmt.Errorf("synthetic event duration %v / interval %v: need 0 < duration <= interval", c.EventDuration, c.EventInterval)
	}
	if c.JPEGQuality < 1 || c.JPEGQuality > 100 {
		return fmt.Errorf("synthetic jpeg quality %d (want 1..100)", c.JPEGQuality)
	}
	return nil
}

// Synthetic is a FrameSource drawing a scene at the configured rate: real
// JPEG frames, as an MJPEG camera delivers them.
type Synthetic struct {
	cfg   SyntheticConfig
	scene *jpegsynth.Scene
	tick  *time.Ticker
	start time.Time
	i     uint64
	now   func() time.Time
}

// NewSynthetic starts a synthetic camera.
func NewSynthetic(cfg SyntheticConfig) *Synthetic {
	sc := jpegsynth.NewScene(cfg.Width, cfg.Height, cfg.Seed)
	// The first frames show the empty scene (the detector's first reference
	// frame); the first object enters one interval after the start.
	start := time.Now().Add(-cfg.EventDuration)
	return &Synthetic{cfg: cfg, scene: sc, tick: time.NewTicker(time.Second / time.Duration(cfg.Framerate)), start: start, now: time.Now}
}

// Next waits for the next frame time and renders it.
func (s *Synthetic) Next(ctx context.Context) (Frame, error) {
	select {
	case <-ctx.Done():
		return Frame{}, ctx.Err()
	case <-s.tick.C:
	}
	t := s.now()
	s.i++
	b, err := jpegsynth.Encode(s.render(t, s.i), s.cfg.JPEGQuality)
	if err != nil {
		return Frame{}, err
	}
	return Frame{Time: t, Seq: s.i, Format: FormatJPEG, Width: s.cfg.Width, Height: s.cfg.Height, Data: b}, nil
}

// render draws frame i at time t: the background with sensor noise and,
// during an event, a disc crossing from left to right.
func (s *Synthetic) render(t time.Time, i uint64) image.Image {
	g := s.scene.Gray(int(i % (1 << 30)))
	into := t.Sub(s.start) % s.cfg.EventInterval
	if into < s.cfg.EventDuration {
		w, h := float64(s.cfg.Width), float64(s.cfg.Height)
		frac := float64(into) / float64(s.cfg.EventDuration)
		cx := -0.1*w + 1.2*w*frac
		cy := h/2 + h/6*math.Sin(frac*math.Pi*2)
		jpegsynth.Disc(g, cx, cy, h/6, 232)
	}
	return jpegsynth.Colour(g)
}

// Close stops the ticker.
func (s *Synthetic) Close() error {
	s.tick.Stop()
	return nil
}
