package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/sensornode/sensornode/libs/bus"
	"github.com/sensornode/sensornode/libs/svc"
	cameraproducer "github.com/sensornode/sensornode/services/camera-producer"
	masterwatcher "github.com/sensornode/sensornode/services/master-watcher"
	tempproducer "github.com/sensornode/sensornode/services/temp-producer"
)

// Options are hooks for tests; the zero value is what the command runs
// with.
type Options struct {
	// AdminListening receives the admin server's address.
	AdminListening func(addr string)
}

// errStopped is a service's Run returning without an error before the
// agent was told to stop.
var errStopped = errors.New("stopped on its own")

// Run runs the services of l (loaded by Load) until ctx is done or one of
// them fails: then the others are stopped (each flushes as it does alone)
// and Run returns that service's error, so that the process exits and
// Kubernetes restarts it, as it would restart that service's own
// container. One admin server on cfg.AdminAddr serves every service's
// metrics (labelled service="<name>", beside the process's own on reg),
// a /readyz that is ready when every service is, and /livez. Each service
// logs under its own name at its own SENSORNODE_LOG_LEVEL.
func Run(ctx context.Context, cfg *Config, l Loaded, log *slog.Logger, reg *prometheus.Registry, stdout io.Writer, opt Options) error {
	host := svc.NewHost()
	type service struct {
		name   string
		common svc.Common
		attrs  []any
		run    func(ctx context.Context, log *slog.Logger, reg *prometheus.Registry) error
	}
	var services []service

	var camOpt cameraproducer.Options
	var tempOpt tempproducer.Options
	camOpt.Host, tempOpt.Host = host, host
	if cfg.ShareKafka && l.Camera != nil && l.Temp != nil {
		shared, ok, why := SharedProducer(l.Camera.Kafka, l.Temp.Kafka)
		if ok {
			prod, err := bus.NewProducer(shared, bus.WithLogger(log), bus.WithMetrics(bus.NewMetrics(reg, Name)))
			if err != nil {
				return err
			}
			defer prod.Close()
			adm, err := bus.NewAdmin(shared.Config, bus.WithLogger(log))
			if err != nil {
				return err
			}
			defer adm.Close()
			camOpt.Producer, camOpt.Admin = prod, adm
			tempOpt.Producer, tempOpt.Admin = prod, adm
			log.Info("camera-producer and temp-producer share one kafka producer", "queue_max_bytes", shared.QueueMaxBytes,
				"queue_max_messages", shared.QueueMaxMessages, "max_message_bytes", shared.MaxMessageBytes)
		} else {
			log.Info("camera-producer and temp-producer keep a kafka client each", "why", why)
		}
	}
	if c := l.Camera; c != nil {
		services = append(services, service{name: cameraproducer.Name, common: c.Common, attrs: svc.ConfigAttrs(c),
			run: func(ctx context.Context, log *slog.Logger, reg *prometheus.Registry) error {
				return cameraproducer.Run(ctx, c, log, reg, camOpt)
			}})
	}
	if c := l.Temp; c != nil {
		services = append(services, service{name: tempproducer.Name, common: c.Common, attrs: svc.ConfigAttrs(c),
			run: func(ctx context.Context, log *slog.Logger, reg *prometheus.Registry) error {
				return tempproducer.Run(ctx, c, log, reg, tempOpt)
			}})
	}
	if c := l.Watcher; c != nil {
		services = append(services, service{name: masterwatcher.Name, common: c.Common, attrs: svc.ConfigAttrs(c),
			run: func(ctx context.Context, log *slog.Logger, reg *prometheus.Registry) error {
				return masterwatcher.Daemon(ctx, *c, log, reg, host)
			}})
	}
	if len(services) == 0 {
		return errors.New("no service to run")
	}
	type prepared struct {
		service
		log *slog.Logger
		reg *prometheus.Registry
	}
	var ps []prepared
	for _, s := range services {
		slg, err := svc.NewLogger(stdout, s.name, s.common.LogLevel)
		if err != nil {
			return err
		}
		slg.Info("starting", s.attrs...)
		ps = append(ps, prepared{service: s, log: slg, reg: host.Registry(s.name)})
	}

	adm, err := host.NewAdmin(cfg.Common, reg, log)
	if err != nil {
		return err
	}
	if opt.AdminListening != nil {
		opt.AdminListening(adm.Addr())
	}
	log.Info("node agent running", "services", cfg.Services, "admin", adm.Addr())
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return adm.Run(gctx) })
	for _, p := range ps {
		g.Go(func() error {
			err := p.run(gctx, p.log, p.reg)
			if err == nil && gctx.Err() == nil {
				err = errStopped
			}
			if err != nil && !errors.Is(err, context.Canceled) {
				log.Error("service failed: stopping the others", "failed", p.name, "err", err)
				return fmt.Errorf("%s: %w", p.name, err)
			}
			return nil
		})
	}
	err = g.Wait()
	log.Info("node agent stopped", "err", err)
	return err
}
