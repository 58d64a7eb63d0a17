package forwarder

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/sensornode/sensornode/libs/bus"
	"github.com/sensornode/sensornode/libs/svc"
)

// Readiness conditions.
const (
	condEdge  = "edge-kafka"
	condCloud = "cloud-kafka"
	// condPartitions fails while an edge partition is stopped (a message
	// can be neither forwarded nor dead-lettered).
	condPartitions = "edge-partitions"
	// condTopics is met once SENSORNODE_CREATE_TOPICS ensured the cloud
	// topics.
	condTopics = "cloud-topics"
)

// Options are hooks for tests and benchmarks; the zero value is what the
// service runs with.
type Options struct {
	Hooks Hooks
}

// Run runs the forwarder with its admin server until ctx is done or a
// fatal error occurs.
func Run(ctx context.Context, c *Config, log *slog.Logger, reg *prometheus.Registry, opt Options) error {
	cfg := *c
	probe := svc.NewProbe(reg)
	probe.Register(condEdge, condCloud)
	m := NewMetrics(reg)

	prod, err := bus.NewProducer(cfg.Cloud, bus.WithLogger(log.With("client", "cloud-producer")),
		bus.WithMetrics(bus.NewMetrics(reg, "cloud-producer")))
	if err != nil {
		return fmt.Errorf("cloud producer: %w", err)
	}
	defer prod.Close()
	f, err := New(cfg, prod, log, m, opt.Hooks)
	if err != nil {
		return err
	}
	probe.Set(condPartitions, nil)
	f.probe = probe
	ec := cfg.EdgeConsumerConfig()
	ec.Rebalance = f.Rebalance()
	consMetrics := bus.NewMetrics(reg, "edge-consumer")
	cons, err := bus.NewConsumer(ec, bus.WithLogger(log.With("client", "edge-consumer")), bus.WithMetrics(consMetrics))
	if err != nil {
		return fmt.Errorf("edge consumer: %w", err)
	}
	adm, err := svc.NewAdmin(cfg.AdminAddr, reg, probe, log, cfg.ShutdownTimeout)
	if err != nil {
		cons.Close()
		return err
	}

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return adm.Run(gctx) })
	if cfg.CreateTopics {
		// Alongside forwarding, not before it: a record for a topic that
		// does not exist yet waits in the client, or fails and is sent
		// again, so nothing is lost meanwhile.
		probe.Register(condTopics)
		tc := &bus.TopicCreator{
			Specs: cfg.CloudTopicSpecs(),
			NewAdmin: func() (bus.Admin, error) {
				return bus.NewAdmin(cfg.Cloud.Config, bus.WithLogger(log.With("client", "cloud-admin")))
			},
			Probe: probe, Condition: condTopics, Failures: m.topicErrors.WithLabelValues("create"),
			Log: log, Backoff: svc.Backoff{Min: time.Second, Max: cfg.RetryMaxInterval},
		}
		g.Go(func() error {
			tc.Run(gctx)
			return nil
		})
	}
	var down downtime
	for _, w := range []svc.Watch{{
		Condition: condCloud, Check: prod.Ping, After: down.after(m.disconnected),
		Up: "cloud cluster reachable", Down: "cloud cluster unreachable; data waits in the edge cluster",
	}, {
		Condition: condEdge, Check: cons.Ping, After: func(context.Context, error) { consMetrics.ExportLag(cons) },
		Up: "edge cluster reachable", Down: "edge cluster unreachable",
	}} {
		w.Probe, w.Log, w.Interval = probe, log, cfg.CheckInterval
		g.Go(func() error {
			w.Run(gctx)
			return nil
		})
	}
	g.Go(func() error {
		defer probe.Drain()
		err := f.Run(gctx, cons)
		if err != nil {
			log.Error("forwarder stopped", "err", err)
		}
		return err
	})
	err = g.Wait()
	// Leave the group only after the final commit (done by Run).
	if cerr := cons.Close(); cerr != nil {
		log.Warn("edge consumer close", "err", cerr)
	}
	if errors.Is(err, context.Canceled) {
		err = nil
	}
	return err
}

// downtime adds the seconds between checks that found the cloud cluster
// unreachable to sensornode_forwarder_disconnected_seconds_total.
type downtime struct {
	last time.Time
	down bool
}

func (d *downtime) after(total prometheus.Counter) func(context.Context, error) {
	return func(_ context.Context, err error) {
		now := time.Now()
		if d.down {
			total.Add(now.Sub(d.last).Seconds())
		}
		d.last, d.down = now, err != nil
	}
}
