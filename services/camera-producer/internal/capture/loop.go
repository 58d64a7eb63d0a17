package capture

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sensornode/sensornode/libs/svc"
	"github.com/sensornode/sensornode/services/camera-producer/internal/motion"
	"github.com/sensornode/sensornode/services/camera-producer/internal/spool"
)

// Metrics of the capture loop.
type Metrics struct {
	Frames        *prometheus.CounterVec
	Events        prometheus.Counter
	Pictures      *prometheus.CounterVec
	Errors        *prometheus.CounterVec
	ChangedPixels prometheus.Gauge
}

// NewMetrics registers the capture metrics on reg (nil: unregistered).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	f := svc.NewMetricFactory(reg)
	return &Metrics{
		Frames: f.CounterVec("sensornode_camera_frames_total",
			"Frames captured, by result (ok, bad: undecodable or wrong size).", svc.Label("result", "ok", "bad")),
		Events: f.Counter("sensornode_camera_motion_events_total", "Motion events detected."),
		Pictures: f.CounterVec("sensornode_camera_pictures_captured_total",
			"Pictures the motion detector chose and wrote into the spool directory, by kind (best, first, pre, motion, post).",
			svc.Label("kind")),
		Errors: f.CounterVec("sensornode_camera_capture_errors_total",
			"Capture errors, by operation (open, stream, write).", svc.Label("op", "open", "stream", "write")),
		ChangedPixels: f.Gauge("sensornode_camera_frame_changed_pixels",
			"Pixels of the last frame that differ from the reference frame by more than the noise level."),
	}
}

// Loop runs frames from a source through the motion detector and writes
// the chosen pictures into the spool directory.
type Loop struct {
	// Open opens the source; it is called again (with backoff) after the
	// source fails, e.g. a camera unplugged.
	Open     func(ctx context.Context) (FrameSource, error)
	Detector *motion.Detector
	Dir      string
	CameraID string
	Location *time.Location // of file names
	Quality  int            // JPEG quality for frames that need encoding
	Log      *slog.Logger
	Metrics  *Metrics
	// Ready reports the source's state (nil: working).
	Ready func(err error)
	seq   uint64
}

// Run captures until ctx is done. On the way out it ends the current
// event, so its best picture is written before the service stops.
func (l *Loop) Run(ctx context.Context) error {
	if l.Metrics == nil {
		l.Metrics = NewMetrics(nil)
	}
	if l.Ready == nil {
		l.Ready = func(error) {}
	}
	defer l.write(l.Detector.Flush())
	bo := svc.Backoff{Min: time.Second, Max: 30 * time.Second}
	for {
		src, err := l.Open(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if errors.Is(err, ErrCameraNotBuilt) {
				return err
			}
			l.Metrics.Errors.WithLabelValues("open").Inc()
			l.Ready(err)
			d := bo.Next()
			l.Log.Error("cannot open camera, retrying", "err", err, "retry_in", d.Round(time.Millisecond))
			if svc.SleepCtx(ctx, d) != nil {
				return nil
			}
			continue
		}
		l.Ready(nil)
		l.Log.Info("capturing")
		err = l.stream(ctx, src, &bo)
		if cerr := src.Close(); cerr != nil {
			l.Log.Warn("closing camera", "err", cerr)
		}
		if ctx.Err() != nil {
			return nil
		}
		l.Metrics.Errors.WithLabelValues("stream").Inc()
		l.Ready(err)
		d := bo.Next()
		l.Log.Error("camera stream failed, reopening", "err", err, "retry_in", d.Round(time.Millisecond))
		if svc.SleepCtx(ctx, d) != nil {
			return nil
		}
	}
}

func (l *Loop) stream(ctx context.Context, src FrameSource, bo *svc.Backoff) error {
	bad := 0
	for {
		f, err := src.Next(ctx)
		if err != nil {
			return err
		}
		gray, err := f.Gray()
		if err == nil {
			var pics []motion.Picture
			events := l.Detector.Events()
			pics, err = l.Detector.Push(motion.Frame{Time: f.Time, Gray: gray, Payload: f})
			if err == nil {
				bo.Reset()
				bad = 0
				l.Metrics.Frames.WithLabelValues("ok").Inc()
				l.Metrics.ChangedPixels.Set(float64(l.Detector.LastChanged()))
				if n := l.Detector.Events() - events; n > 0 {
					l.Metrics.Events.Add(float64(n))
					l.Log.Info("motion event", "event", l.Detector.Events(), "changed_pixels", l.Detector.LastChanged())
				}
				l.write(pics)
				continue
			}
		}
		l.Metrics.Frames.WithLabelValues("bad").Inc()
		bad++
		if bad == 1 || bad%100 == 0 {
			l.Log.Warn("bad frame skipped", "seq", f.Seq, "format", f.Format.String(), "bytes", len(f.Data), "consecutive", bad, "err", err)
		}
	}
}

func (l *Loop) write(pics []motion.Picture) {
	for _, p := range pics {
		f := p.Frame.Payload.(Frame)
		b, err := f.JPEG(l.Quality)
		if err == nil {
			l.seq++
			name := spool.WriterName(l.CameraID, f.Time, l.seq, l.Location)
			if err = spool.WriteAtomic(l.Dir, name, b); err == nil {
				l.Metrics.Pictures.WithLabelValues(string(p.Kind)).Inc()
				l.Log.Debug("picture captured", "file", name, "kind", string(p.Kind), "event", p.Event, "changed_pixels", p.Changed)
				continue
			}
		}
		l.Metrics.Errors.WithLabelValues("write").Inc()
		l.Log.Error("cannot write captured picture", "kind", string(p.Kind), "event", p.Event, "err", err)
	}
}
