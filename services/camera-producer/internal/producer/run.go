package producer

import (
	"context"
	"errors"
	"fmt"
	"image"
	"log/slog"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/sensornode/sensornode/libs/bus"
	"github.com/sensornode/sensornode/libs/svc"
	"github.com/sensornode/sensornode/services/camera-producer/internal/capture"
	"github.com/sensornode/sensornode/services/camera-producer/internal/motion"
	"github.com/sensornode/sensornode/services/camera-producer/internal/spool"
)

// Options are hooks for tests and benchmarks; the zero value is what the
// service runs with.
type Options struct {
	Producer bus.Producer // nil: bus.NewProducer from the config; not closed by Run
	Admin    bus.Admin    // nil: bus.NewAdmin from the config; not closed by Run
	// OpenCamera replaces the V4L2 camera (SourceCamera).
	OpenCamera func(ctx context.Context) (capture.FrameSource, error)
	// OnAck is called after every acknowledged picture.
	OnAck func(it spool.Item, res spool.Result)
	// AdminListening receives the admin server's address.
	AdminListening func(addr string)
	// Host, when set, runs this service with others in one process
	// (services/node-agent): Run serves no admin server, its readiness
	// goes to the host's (reg must be Host.Registry(Name)).
	Host *svc.Host
}

// Name is the service's name (logs, build info, a Host's label).
const Name = "camera-producer"

// Readiness conditions.
const (
	condKafka  = "kafka"
	condTopic  = "topic"
	condCamera = "camera"
)

// Run runs the service until ctx is done: the admin server, the Kafka
// health loop, the spool watcher, the sender and, for the camera and
// synthetic sources, the capture loop. On the way out it stops intake,
// waits up to half the shutdown timeout for outstanding acknowledgements
// (deleting those files), then closes the client.
func Run(ctx context.Context, cfg *Config, log *slog.Logger, reg *prometheus.Registry, opt Options) error {
	sender := &Sender{Topic: cfg.Topic, Form: cfg.MessageForm(), CameraID: cfg.CameraID, NodeID: cfg.NodeID, Log: log, OnAck: opt.OnAck}
	m, probe, kafkaMetrics := newMetrics(reg, func() float64 { return float64(sender.Inflight()) })
	probe.Register(condKafka, condTopic)

	prod, release, err := bus.ProducerOr(opt.Producer, cfg.Kafka, bus.WithLogger(log), bus.WithMetrics(kafkaMetrics))
	if err != nil {
		return err
	}
	defer release()
	adminClient, releaseAdmin, err := bus.AdminOr(opt.Admin, cfg.Kafka.Config, bus.WithLogger(log))
	if err != nil {
		return err
	}
	defer releaseAdmin()

	limits := NewLimits(cfg.MessageForm(), cfg.Kafka.MaxMessageBytes, cfg.SizeHeadroomBytes)
	m.MaxPictureBytes.Set(float64(limits.File()))
	w, err := spool.New(spool.Config{
		Dir: cfg.Dir, QuarantineDir: cfg.QuarantineDir, ArchiveDir: cfg.ArchiveDir,
		Ignore: cfg.IgnorePatterns, Names: cfg.names,
		Settle: cfg.SettleInterval, PartialTimeout: cfg.PartialTimeout, Rescan: cfg.RescanInterval,
		RetryMin: cfg.RetryMinInterval, RetryMax: cfg.RetryMaxInterval,
		MaxFiles: cfg.BacklogMaxFiles, MaxBytes: cfg.BacklogMaxBytes, Guard: cfg.guard,
		MaxPictureBytes: limits.File,
	}, log.With("component", "spool"), m.Spool)
	if err != nil {
		return err
	}
	sender.Queue, sender.Pub, sender.Limits = w, prod, limits

	var loop *capture.Loop
	if cfg.Source != SourceDirectory {
		if loop, err = newCaptureLoop(cfg, log, m, probe, opt); err != nil {
			return err
		}
	}

	adm, err := svc.ServeAdmin(opt.Host, Name, cfg.Common, reg, probe, log)
	if err != nil {
		return err
	}
	if opt.AdminListening != nil && opt.Host == nil {
		opt.AdminListening(adm.Addr())
	}
	log.Info("camera producer running", "source", cfg.Source, "dir", cfg.Dir, "topic", cfg.Topic, "camera", cfg.CameraID,
		"form", cfg.MessageForm().String(), "admin", adm.Addr())

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return adm.Run(gctx) })
	g.Go(func() error { return watchKafka(gctx, cfg, prod, adminClient, limits, probe, m, log) })
	// The watcher outlives the sender so that acknowledgements arriving
	// during the final flush still delete their files.
	watchCtx, stopWatch := context.WithCancel(context.Background())
	g.Go(func() error { return w.Run(watchCtx) })
	g.Go(func() error {
		defer stopWatch()
		err := sender.Run(gctx)
		probe.Drain()
		fctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout/2)
		defer cancel()
		if ferr := prod.Flush(fctx); ferr != nil {
			log.Warn("shutdown: unacknowledged pictures stay in the directory and are sent again on restart", "err", ferr)
		}
		return err
	})
	if loop != nil {
		g.Go(func() error { return loop.Run(gctx) })
	}
	err = g.Wait()
	log.Info("camera producer stopped")
	return err
}

func newCaptureLoop(cfg *Config, log *slog.Logger, m *Metrics, probe *svc.Probe, opt Options) (*capture.Loop, error) {
	var mask *image.Gray
	if cfg.Motion.MaskFile != "" {
		g, err := motion.LoadMask(cfg.Motion.MaskFile)
		if err != nil {
			return nil, err
		}
		mask = g
	}
	det, err := motion.New(cfg.Motion, mask)
	if err != nil {
		return nil, err
	}
	loop := &capture.Loop{Detector: det, Dir: cfg.Dir, CameraID: cfg.CameraID, Location: cfg.names.Location,
		Log: log.With("component", "capture"), Metrics: m.Capture}
	switch cfg.Source {
	case SourceCamera:
		probe.Register(condCamera)
		loop.Ready = func(err error) { probe.Set(condCamera, err) }
		loop.Quality = cfg.V4L2.JPEGQuality
		loop.Open = opt.OpenCamera
		if loop.Open == nil {
			if !capture.CameraBuilt {
				return nil, capture.ErrCameraNotBuilt
			}
			loop.Open = func(ctx context.Context) (capture.FrameSource, error) { return capture.OpenV4L2(ctx, cfg.V4L2) }
		}
	case SourceSynthetic:
		loop.Quality = cfg.Synthetic.JPEGQuality
		loop.Open = func(context.Context) (capture.FrameSource, error) { return capture.NewSynthetic(cfg.Synthetic), nil }
	}
	return loop, nil
}

// watchKafka keeps readiness current (a metadata round trip every
// CheckInterval), creates the topic when configured to, then reads the
// topic's max.message.bytes every TopicConfigInterval (CheckInterval while
// that fails) to size-check pictures before sending.
func watchKafka(ctx context.Context, cfg *Config, prod bus.Producer, adm bus.Admin, limits *Limits, probe *svc.Probe,
	m *Metrics, log *slog.Logger) error {
	return bus.ProducerWatch{
		Ping: prod.Ping, Probe: probe, Log: log, Interval: cfg.CheckInterval, KafkaCondition: condKafka,
		Down:  "kafka unreachable: pictures stay in the directory until it returns",
		Topic: cfg.Topic, Settings: cfg.TopicSettings, Admin: adm, TopicCondition: condTopic,
		CreateFailures: m.TopicErrors.WithLabelValues("create"),
		Then: func(ctx context.Context) {
			svc.Watch{
				Condition: condTopic, Probe: probe, Log: log, Interval: cfg.TopicConfigInterval, Retry: cfg.CheckInterval,
				Timeout: 15 * time.Second,
				Check:   func(ctx context.Context) error { return describeTopic(ctx, cfg, adm, limits, m, log) },
				Up:      "topic configuration read",
				Down:    "cannot read the topic's configuration (does the topic exist?), will retry",
				After: func(_ context.Context, err error) {
					if err != nil {
						m.TopicErrors.WithLabelValues("describe").Inc()
					}
				},
			}.Run(ctx)
		},
	}.Run(ctx)
}

func describeTopic(ctx context.Context, cfg *Config, adm bus.Admin, limits *Limits, m *Metrics, log *slog.Logger) error {
	tc, err := adm.TopicConfig(ctx, cfg.Topic)
	if err != nil {
		return err
	}
	v, ok := tc["max.message.bytes"]
	if !ok {
		return errors.New("topic configuration lacks max.message.bytes")
	}
	topicMax, err := strconv.ParseInt(v, 10, 64)
	if err != nil || topicMax <= 0 {
		return fmt.Errorf("topic max.message.bytes %q", v)
	}
	m.TopicMaxBytes.Set(float64(topicMax))
	record := min(topicMax, int64(cfg.Kafka.MaxMessageBytes)) - int64(cfg.SizeHeadroomBytes)
	if record != limits.Record() {
		limits.Set(record)
		log.Info("picture size limit", "topic_max_message_bytes", topicMax, "client_max_message_bytes", cfg.Kafka.MaxMessageBytes,
			"max_record_bytes", record, "max_picture_bytes", limits.File())
	}
	m.MaxPictureBytes.Set(float64(limits.File()))
	return nil
}
