// Package motion detects motion in a stream of grayscale frames the way the
// motion daemon does (https://motion-project.github.io), in pure Go: a
// frame is a motion frame when more than Threshold pixels differ from a
// slowly adapting reference frame by more than NoiseLevel; consecutive
// motion frames form an event, which ends after EventGap without motion;
// per event it emits the best frame, the first, or all of them with
// PreCapture frames before and PostCapture after.
//
// Not implemented from motion: noise_tune (the noise level is fixed),
// despeckle, lightswitch detection, smart mask, area detection.
package motion

import (
	"errors"
	"fmt"
	"image"
	"time"
)

// Output selects which frames of an event become pictures (motion's
// output_pictures).
type Output string

// Outputs.
const (
	OutputBest  Output = "best"  // the frame with the most changed pixels, at the end of the event
	OutputFirst Output = "first" // the first motion frame
	OutputAll   Output = "all"   // pre-capture, every motion frame, post-capture (motion's "on")
)

// Config holds motion's parameters with the thesis' values (Table 4.2) and
// motion's defaults for the rest.
type Config struct {
	Width     int `envconfig:"WIDTH" default:"640"`
	Height    int `envconfig:"HEIGHT" default:"480"`
	Framerate int `envconfig:"FRAMERATE" default:"10"`
	// Threshold: changed pixels needed for a motion frame.
	Threshold int `envconfig:"THRESHOLD" default:"2000"`
	// NoiseLevel: a pixel counts as changed when it differs from the
	// reference by more than this (0..255).
	NoiseLevel int `envconfig:"NOISE_LEVEL" default:"32"`
	// PreCapture / PostCapture: frames kept before the first / after the
	// last motion frame (output "all").
	PreCapture  int `envconfig:"PRE_CAPTURE" default:"2"`
	PostCapture int `envconfig:"POST_CAPTURE" default:"2"`
	// MinimumMotionFrames: consecutive motion frames needed to start an event.
	MinimumMotionFrames int    `envconfig:"MINIMUM_MOTION_FRAMES" default:"1"`
	Output              Output `envconfig:"OUTPUT_PICTURES" default:"best"`
	// EventGap: an event ends after this long without a motion frame; the
	// next motion starts a new event (motion's event_gap).
	EventGap time.Duration `envconfig:"EVENT_GAP" default:"60s"`
	// MaskFile: optional PGM or PNG of Width x Height; black pixels are
	// ignored, white ones count fully, gray ones partially.
	MaskFile string `envconfig:"MASK_FILE"`
}

// Validate checks the parameters.
func (c Config) Validate() error {
	var errs []error
	if c.Width <= 0 || c.Height <= 0 || c.Width > 8192 || c.Height > 8192 {
		errs = append(errs, fmt.Errorf("motion size %dx%d", c.Width, c.Height))
	}
	if c.Framerate < 1 || c.Framerate > 100 {
		errs = append(errs, fmt.Errorf("motion framerate %d (want 1..100)", c.Framerate))
	}
	if c.Threshold < 1 || c.Threshold > c.Width*c.Height {
		errs = append(errs, fmt.Errorf("motion threshold %d (want 1..%d)", c.Threshold, c.Width*c.Height))
	}
	if c.NoiseLevel < 1 || c.NoiseLevel > 255 {
		errs = append(errs, fmt.Errorf("motion noise level %d (want 1..255)", c.NoiseLevel))
	}
	if c.PreCapture < 0 || c.PreCapture > 100 || c.PostCapture < 0 || c.PostCapture > 1000 {
		errs = append(errs, fmt.Errorf("motion pre/post capture %d/%d", c.PreCapture, c.PostCapture))
	}
	if c.MinimumMotionFrames < 1 || c.MinimumMotionFrames > 1000 {
		errs = append(errs, fmt.Errorf("motion minimum motion frames %d", c.MinimumMotionFrames))
	}
	switch c.Output {
	case OutputBest, OutputFirst, OutputAll:
	default:
		errs = append(errs, fmt.Errorf("motion output pictures %q (want best, first or all)", c.Output))
	}
	if c.EventGap < 0 {
		errs = append(errs, fmt.Errorf("motion event gap %v", c.EventGap))
	}
	return errors.Join(errs...)
}

// Frame is one grayscale frame; Payload travels with it untouched (the
// encoded JPEG, say) and comes back in Picture.
type Frame struct {
	Time    time.Time
	Gray    *image.Gray
	Payload any
}

// Kind says why a frame became a picture.
type Kind string

// Kinds.
const (
	KindPre    Kind = "pre"
	KindMotion Kind = "motion"
	KindPost   Kind = "post"
	KindFirst  Kind = "first"
	KindBest   Kind = "best"
)

// Picture is a frame chosen for output.
type Picture struct {
	Frame   Frame
	Event   int // 1-based event number
	Changed int // changed pixels of that frame
	Kind    Kind
}

// ErrFrameSize is returned for a frame whose size is not the configured one.
var ErrFrameSize = errors.New("frame size differs from the configured size")

// acceptStaticObjectTime is how long a changed pixel keeps its old reference
// value before the change is accepted as the new background (motion's
// ACCEPT_STATIC_OBJECT_TIME).
const acceptStaticObjectTime = 10 // seconds

// excludeLevelPercent of the noise level is the difference under which a
// pixel simply follows the current frame (motion's EXCLUDE_LEVEL_PERCENT).
const excludeLevelPercent = 20

type scored struct {
	f       Frame
	changed int
	motion  bool
}

// Detector is motion's detection and event logic. Not safe for concurrent
// use.
type Detector struct {
	cfg    Config
	mask   []uint8 // nil: no mask
	ref    []uint8
	dyn    []uint16
	accept uint16
	refOK  bool

	inEvent     bool
	event       int
	consecutive int
	lastMotion  time.Time
	postLeft    int
	best        scored
	ring        []scored // recent frames not output: pre-capture candidates
	lastChanged int
}

// New makes a detector. mask may be nil; otherwise it must have the
// configured size.
func New(cfg Config, mask *image.Gray) (*Detector, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	d := &Detector{cfg: cfg}
	if mask != nil {
		b := mask.Bounds()
		if b.Dx() != cfg.Width || b.Dy() != cfg.Height {
			return nil, fmt.Errorf("mask is %dx%d, frames are %dx%d", b.Dx(), b.Dy(), cfg.Width, cfg.Height)
		}
		d.mask = packed(mask)
	}
	accept := cfg.Framerate * acceptStaticObjectTime
	if cfg.Framerate > 5 {
		accept /= cfg.Framerate / 3
	}
	d.accept = uint16(max(1, accept))
	return d, nil
}

// Events is the number of events started so far.
func (d *Detector) Events() int { return d.event }

// LastChanged is the changed-pixel count of the last frame pushed.
func (d *Detector) LastChanged() int { return d.lastChanged }

// Push feeds the next frame (frames must come in time order) and returns
// the pictures it completes.
func (d *Detector) Push(f Frame) ([]Picture, error) {
	b := f.Gray.Bounds()
	if b.Dx() != d.cfg.Width || b.Dy() != d.cfg.Height {
		return nil, fmt.Errorf("%w: got %dx%d, want %dx%d", ErrFrameSize, b.Dx(), b.Dy(), d.cfg.Width, d.cfg.Height)
	}
	pix := packed(f.Gray)
	if !d.refOK {
		d.ref = append([]uint8(nil), pix...)
		d.dyn = make([]uint16, len(pix))
		d.refOK = true
		d.lastChanged = 0
		d.remember(scored{f: f})
		return nil, nil
	}
	changed := d.diff(pix)
	d.lastChanged = changed
	s := scored{f: f, changed: changed, motion: changed > d.cfg.Threshold}

	var out []Picture
	if d.inEvent {
		// A quiet frame ends the event once the gap has passed; a motion
		// frame after a longer hole in the stream (dropped frames) starts a
		// new one.
		since := f.Time.Sub(d.lastMotion)
		if (!s.motion && since >= d.cfg.EventGap) || (s.motion && d.cfg.EventGap > 0 && since > d.cfg.EventGap) {
			out = append(out, d.endEvent()...)
		}
	}
	if !s.motion {
		d.consecutive = 0
		if d.inEvent && d.cfg.Output == OutputAll && d.postLeft > 0 {
			d.postLeft--
			return append(out, Picture{Frame: f, Event: d.event, Changed: changed, Kind: KindPost}), nil
		}
		d.remember(s)
		return out, nil
	}

	d.consecutive++
	if !d.inEvent && d.consecutive < d.cfg.MinimumMotionFrames {
		d.remember(s)
		return out, nil
	}
	d.lastMotion = f.Time
	d.postLeft = d.cfg.PostCapture
	if !d.inEvent {
		d.inEvent = true
		d.event++
		d.best = scored{}
		// The frames that led up to the trigger: pre-capture frames and the
		// earlier motion frames of the triggering run.
		run := d.ring
		d.ring = nil
		for _, p := range run {
			if p.motion && p.changed > d.best.changed {
				d.best = p
			}
		}
		switch d.cfg.Output {
		case OutputAll:
			for _, p := range run {
				k := KindPre
				if p.motion {
					k = KindMotion
				}
				out = append(out, Picture{Frame: p.f, Event: d.event, Changed: p.changed, Kind: k})
			}
		case OutputFirst:
			first := s
			for _, p := range run {
				if p.motion {
					first = p
					break
				}
			}
			out = append(out, Picture{Frame: first.f, Event: d.event, Changed: first.changed, Kind: KindFirst})
		}
	}
	if s.changed > d.best.changed {
		d.best = s
	}
	if d.cfg.Output == OutputAll {
		out = append(out, Picture{Frame: f, Event: d.event, Changed: changed, Kind: KindMotion})
	}
	return out, nil
}

// Flush ends the current event, if any, returning its pending picture.
func (d *Detector) Flush() []Picture {
	if !d.inEvent {
		return nil
	}
	return d.endEvent()
}

func (d *Detector) endEvent() []Picture {
	d.inEvent = false
	d.postLeft = 0
	best := d.best
	d.best = scored{}
	if d.cfg.Output == OutputBest && best.f.Gray != nil {
		return []Picture{{Frame: best.f, Event: d.event, Changed: best.changed, Kind: KindBest}}
	}
	return nil
}

// remember keeps a frame that was not output as a pre-capture candidate.
func (d *Detector) remember(s scored) {
	keep := d.cfg.PreCapture + d.cfg.MinimumMotionFrames - 1
	if keep <= 0 {
		d.ring = d.ring[:0]
		return
	}
	if len(d.ring) >= keep {
		copy(d.ring, d.ring[len(d.ring)-keep+1:])
		d.ring = d.ring[:keep-1]
	}
	d.ring = append(d.ring, s)
}

// diff counts changed pixels against the reference and updates the
// reference: a pixel close to it follows the current frame; a pixel that
// differs keeps its old reference value until it has differed for the
// accept time (a parked car becomes background).
func (d *Detector) diff(pix []uint8) int {
	noise := d.cfg.NoiseLevel
	refThreshold := noise * excludeLevelPercent / 100
	changed := 0
	for i, c := range pix {
		r := d.ref[i]
		delta := int(c) - int(r)
		if delta < 0 {
			delta = -delta
		}
		weighted := delta
		if d.mask != nil {
			weighted = delta * int(d.mask[i]) / 255
		}
		if weighted > noise {
			changed++
		}
		if delta > refThreshold && d.dyn[i] < d.accept {
			d.dyn[i]++
		} else {
			d.ref[i] = c
			d.dyn[i] = 0
		}
	}
	return changed
}

// packed returns the pixels of g row by row without stride padding.
func packed(g *image.Gray) []uint8 {
	b := g.Bounds()
	w, h := b.Dx(), b.Dy()
	if g.Stride == w && len(g.Pix) >= w*h {
		return g.Pix[:w*h]
	}
	out := make([]uint8, w*h)
	for y := 0; y < h; y++ {
		copy(out[y*w:(y+1)*w], g.Pix[y*g.Stride:y*g.Stride+w])
	}
	return out
}
