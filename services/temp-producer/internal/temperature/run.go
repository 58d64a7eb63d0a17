package temperature

import (
	"container/list"
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/sensornode/sensornode/libs/bus"
	"github.com/sensornode/sensornode/libs/messages"
	"github.com/sensornode/sensornode/libs/svc"
)

// Options are hooks for tests; the zero value is what the service runs with.
type Options struct {
	Producer       bus.Producer // nil: from the config; not closed by Run
	Admin          bus.Admin    // nil: from the config; not closed by Run
	Source         Source       // nil: from the config
	AdminListening func(addr string)
	// Host, when set, runs this service with others in one process
	// (services/node-agent): Run serves no admin server, its readiness
	// goes to the host's (reg must be Host.Registry(Name)).
	Host *svc.Host
}

// Name is the service's name (logs, build info, a Host's label).
const Name = "temp-producer"

// Readiness conditions.
const (
	condKafka  = "kafka"
	condSource = "source"
	condTopic  = "topic" // SENSORNODE_CREATE_TOPICS: met once the topic exists
)

// sourceFailuresBeforeNotReady: one odd reading does not flip readiness.
const sourceFailuresBeforeNotReady = 3

// NewSource builds the configured source.
func NewSource(cfg *Config) Source {
	switch cfg.Source {
	case SourceVcgencmd:
		return &Vcgencmd{Path: cfg.VcgencmdPath, Timeout: cfg.VcgencmdTimeout, Now: time.Now}
	case SourceFile:
		return &File{Path: cfg.FilePath}
	case SourceSynthetic:
		return &Synthetic{Base: cfg.SyntheticBaseCelsius, Amplitude: cfg.SyntheticAmplitudeCelsius, Period: cfg.SyntheticPeriod, Now: time.Now}
	}
	return &Sysfs{Path: cfg.SysfsPath, Now: time.Now}
}

// Run runs the service until ctx is done.
func Run(ctx context.Context, cfg *Config, log *slog.Logger, reg *prometheus.Registry, opt Options) error {
	m, probe, kafkaMetrics := newMetrics(reg)
	probe.Register(condKafka, condSource)
	if cfg.CreateTopics {
		probe.Register(condTopic)
	}
	src := opt.Source
	if src == nil {
		src = NewSource(cfg)
	}
	prod, release, err := bus.ProducerOr(opt.Producer, cfg.Kafka, bus.WithLogger(log), bus.WithMetrics(kafkaMetrics))
	if err != nil {
		return err
	}
	defer release()
	adminClient := opt.Admin
	if cfg.CreateTopics {
		a, releaseAdmin, err := bus.AdminOr(opt.Admin, cfg.Kafka.Config, bus.WithLogger(log))
		if err != nil {
			return err
		}
		adminClient = a
		defer releaseAdmin()
	}

	s := &sender{cfg: cfg, log: log, m: m, pub: prod, src: src, probe: probe,
		queue: list.New(), byID: map[uint64]*list.Element{}, nextID: 1, results: svc.NewMailbox[result]()}
	if cfg.SpoolDir != "" {
		w, left, next, damaged, err := openWAL(cfg.SpoolDir, cfg.SpoolMaxBytes)
		if err != nil {
			return err
		}
		s.wal, s.nextID = w, next
		if damaged > 0 {
			log.Warn("spool: damaged lines skipped (a crash cut a write short?)", "lines", damaged)
		}
		if len(left) > 0 {
			log.Info("spool: sending readings left from the last run", "readings", len(left))
		}
		now := time.Now()
		for _, r := range left {
			s.push(&pending{id: r.ID, r: r.reading(), takenAt: now})
		}
		s.trim()
		m.SpoolBytes.Set(float64(w.bytes))
	}

	adm, err := svc.ServeAdmin(opt.Host, Name, cfg.Common, reg, probe, log)
	if err != nil {
		return err
	}
	if opt.AdminListening != nil && opt.Host == nil {
		opt.AdminListening(adm.Addr())
	}
	log.Info("temperature producer running", "source", src.Name(), "topic", cfg.Topic, "node", cfg.NodeID,
		"interval", cfg.ReadInterval, "spool", cfg.SpoolDir, "admin", adm.Addr())

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return adm.Run(gctx) })
	g.Go(func() error { return watchKafka(gctx, cfg, prod, adminClient, probe, m, log) })
	g.Go(func() error { return s.run(gctx) })
	err = g.Wait()
	log.Info("temperature producer stopped")
	return err
}

// pending is a reading taken and not yet acknowledged.
type pending struct {
	id        uint64
	r         messages.TemperatureReading
	takenAt   time.Time
	inflight  bool
	attempts  int
	notBefore time.Time
}

type result struct {
	id  uint64
	err error
}

type sender struct {
	cfg   *Config
	log   *slog.Logger
	m     *Metrics
	pub   bus.AsyncPublisher
	src   Source
	probe *svc.Probe
	wal   *wal

	queue     *list.List // of *pending, oldest first
	byID      map[uint64]*list.Element
	inflight  int
	nextID    uint64
	srcFails  int
	unchanged int

	results *svc.Mailbox[result] // from the client's delivery goroutine
}

func (s *sender) run(ctx context.Context) error {
	read := time.NewTicker(s.cfg.ReadInterval)
	defer read.Stop()
	retry := time.NewTicker(200 * time.Millisecond)
	defer retry.Stop()
	s.take(ctx)
	s.pump(ctx)
	for {
		select {
		case <-ctx.Done():
			s.shutdown()
			return nil
		case <-read.C:
			s.take(ctx)
			s.pump(ctx)
		case <-s.results.Ready():
			s.applyResults()
			s.pump(ctx)
		case <-retry.C:
			s.pump(ctx)
		}
	}
}

// take reads the sensor once and queues a plausible reading.
func (s *sender) take(ctx context.Context) {
	rd, err := s.src.Read(ctx)
	if err != nil && ctx.Err() != nil {
		// Stopped in the middle of a read (vcgencmd killed by the
		// cancelled context): not a sensor failure, and nothing to keep.
		return
	}
	if err == nil {
		r := messages.TemperatureReading{NodeID: s.cfg.NodeID, ReadAt: rd.At.UTC(), TemperatureCelsius: rd.Celsius, Source: s.src.Name()}
		if verr := r.Validate(); verr != nil {
			s.reject(ReasonImplausible, verr, rd.Raw)
			return
		}
		s.srcFails, s.unchanged = 0, 0
		s.probe.Set(condSource, nil)
		p := &pending{id: s.nextID, r: r, takenAt: time.Now()}
		s.nextID++
		if s.wal != nil {
			if err := s.wal.append(walRecord{ID: p.id, Node: r.NodeID, At: r.ReadAt, Celsius: r.TemperatureCelsius, Source: r.Source}); err != nil {
				s.log.Error("spool write failed; reading kept in memory only", "err", err)
			}
		}
		// Counted as taken once it is in the spool (when there is one): a
		// reading these metrics show survives a crash from here on.
		s.m.LastCelsius.Set(r.TemperatureCelsius)
		s.m.LastTimestamp.Set(float64(r.ReadAt.UnixNano()) / 1e9)
		s.m.Taken.Inc()
		s.push(p)
		s.trim()
		s.log.Debug("reading", "celsius", r.TemperatureCelsius, "raw", rd.Raw)
		return
	}
	switch {
	case errors.Is(err, ErrUnchanged):
		s.m.Rejected.WithLabelValues(ReasonUnchanged).Inc()
		s.unchanged++
		if s.unchanged%30 == 0 {
			s.log.Warn("no new reading in the reading file (is the host script running?)", "reads", s.unchanged, "err", err)
		}
	case errors.Is(err, ErrUnparsable):
		s.reject(ReasonUnparsable, err, rd.Raw)
	default:
		s.reject(ReasonSource, err, "")
	}
}

func (s *sender) reject(reason string, err error, raw string) {
	s.m.Rejected.WithLabelValues(reason).Inc()
	s.log.Warn("reading rejected", "reason", reason, "raw", raw, "err", err)
	if reason == ReasonSource {
		s.srcFails++
		if s.srcFails >= sourceFailuresBeforeNotReady {
			s.probe.Set(condSource, err)
		}
	}
}

func (s *sender) push(p *pending) {
	s.byID[p.id] = s.queue.PushBack(p)
	s.m.Buffered.Set(float64(s.queue.Len()))
}

func (s *sender) remove(p *pending) {
	if e, ok := s.byID[p.id]; ok {
		s.queue.Remove(e)
		delete(s.byID, p.id)
	}
	s.m.Buffered.Set(float64(s.queue.Len()))
}

// trim enforces the memory and spool bounds, dropping the oldest readings
// not in flight. Always loud.
func (s *sender) trim() {
	for s.queue.Len() > s.cfg.BufferMaxReadings {
		var victim *pending
		for e := s.queue.Front(); e != nil; e = e.Next() {
			if p := e.Value.(*pending); !p.inflight {
				victim = p
				break
			}
		}
		if victim == nil {
			break
		}
		s.drop(victim, "buffer-full")
	}
	if s.wal != nil {
		for ids := s.wal.overLimit(); ids != nil; ids = s.wal.overLimit() {
			for _, id := range ids {
				if e, ok := s.byID[id]; ok {
					p := e.Value.(*pending)
					s.remove(p)
					s.m.Dropped.WithLabelValues("spool-full").Inc()
					s.log.Warn("spool full: oldest reading dropped unsent", "read_at", p.r.ReadAt, "celsius", p.r.TemperatureCelsius)
				}
			}
		}
		s.m.SpoolBytes.Set(float64(s.wal.bytes))
	}
}

func (s *sender) drop(p *pending, reason string) {
	s.remove(p)
	if s.wal != nil {
		if err := s.wal.ack(p.id); err != nil {
			s.log.Error("spool write failed", "err", err)
		}
	}
	s.m.Dropped.WithLabelValues(reason).Inc()
	s.log.Warn("reading buffer full: oldest reading dropped unsent", "read_at", p.r.ReadAt, "celsius", p.r.TemperatureCelsius,
		"buffer_max_readings", s.cfg.BufferMaxReadings)
}

// pump hands due readings to the client, oldest first, up to MaxInflight.
func (s *sender) pump(ctx context.Context) {
	now := time.Now()
	for e := s.queue.Front(); e != nil && s.inflight < s.cfg.MaxInflight; e = e.Next() {
		p := e.Value.(*pending)
		if p.inflight || now.Before(p.notBefore) {
			continue
		}
		enc, err := messages.EncodeTemperature(p.r, s.cfg.MessageForm())
		if err != nil {
			s.log.Error("cannot encode reading; dropped", "err", err)
			s.drop(p, "buffer-full")
			continue
		}
		id := p.id
		p.inflight = true
		s.inflight++
		err = s.pub.PublishAsync(ctx, bus.FromEncoded(s.cfg.Topic, enc), func(d bus.Delivery) { s.results.Post(result{id: id, err: d.Err}) })
		if err != nil {
			p.inflight = false
			s.inflight--
			if ctx.Err() != nil {
				return
			}
			s.failed(p, err)
		}
	}
}

func (s *sender) applyResults() {
	for _, r := range s.results.Take() {
		e, ok := s.byID[r.id]
		if !ok {
			continue
		}
		p := e.Value.(*pending)
		if !p.inflight {
			continue
		}
		p.inflight = false
		s.inflight--
		if r.err != nil {
			s.failed(p, r.err)
			continue
		}
		s.remove(p)
		if s.wal != nil {
			if err := s.wal.ack(p.id); err != nil {
				s.log.Error("spool write failed", "err", err)
			}
			s.m.SpoolBytes.Set(float64(s.wal.bytes))
		}
		s.m.Sent.Inc()
		s.m.SendDuration.Observe(time.Since(p.takenAt).Seconds())
		if p.attempts > 0 {
			s.log.Info("reading sent after retries", "read_at", p.r.ReadAt, "attempts", p.attempts+1)
		}
	}
}

func (s *sender) failed(p *pending, err error) {
	p.attempts++
	s.m.Failed.WithLabelValues("delivery").Inc()
	d := s.cfg.RetryMinInterval << min(p.attempts-1, 20)
	if d <= 0 || d > s.cfg.RetryMaxInterval {
		d = s.cfg.RetryMaxInterval
	}
	d = d/2 + rand.N(d/2+1)
	p.notBefore = time.Now().Add(d)
	if p.attempts == 1 || p.attempts%10 == 0 {
		s.log.Warn("send failed, will retry", "read_at", p.r.ReadAt, "attempt", p.attempts, "retry_in", d.Round(time.Millisecond), "err", err)
	}
}

// shutdown waits (bounded) for outstanding acknowledgements so that their
// spool entries are cleared, then closes the spool.
func (s *sender) shutdown() {
	if f, ok := s.pub.(interface{ Flush(context.Context) error }); ok {
		ctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout/2)
		if err := f.Flush(ctx); err != nil {
			s.log.Warn("shutdown: unacknowledged readings", "err", err, "buffered", s.queue.Len())
		}
		cancel()
	}
	s.applyResults()
	if s.queue.Len() > 0 {
		msg := "shutdown: unsent readings are lost (no SENSORNODE_SPOOL_DIR)"
		if s.wal != nil {
			msg = "shutdown: unsent readings stay in the spool for the next run"
		}
		s.log.Warn(msg, "readings", s.queue.Len())
	}
	if s.wal != nil {
		if err := s.wal.close(); err != nil {
			s.log.Error("spool close", "err", err)
		}
	}
}

// watchKafka keeps readiness current (a metadata round trip every
// CheckInterval) and, when configured to, creates the topic.
func watchKafka(ctx context.Context, cfg *Config, prod bus.Producer, adm bus.Admin, probe *svc.Probe, m *Metrics,
	log *slog.Logger) error {
	return bus.ProducerWatch{
		Ping: prod.Ping, Probe: probe, Log: log, Interval: cfg.CheckInterval, KafkaCondition: condKafka,
		Down:  "kafka unreachable: readings are buffered until it returns",
		Topic: cfg.Topic, Settings: cfg.TopicSettings, Admin: adm, TopicCondition: condTopic,
		CreateFailures: m.TopicErrors.WithLabelValues("create"),
	}.Run(ctx)
}
