package ingest

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

// Serve runs the ingester with its admin server until ctx is done or a
// fatal error occurs.
func Serve(ctx context.Context, cfg Config, log *slog.Logger, reg *prometheus.Registry) error {
	probe := svc.NewProbe(reg)
	probe.Register(condKafka, condHDFS)
	m := NewMetrics(reg)

	dlq, err := bus.NewProducer(cfg.DLQProducerConfig(), bus.WithLogger(log.With("client", "dlq-producer")),
		bus.WithMetrics(bus.NewMetrics(reg, "dlq-producer")))
	if err != nil {
		return fmt.Errorf("dead-letter producer: %w", err)
	}
	defer dlq.Close()
	fs := NewHDFS(cfg.HDFS)
	defer fs.Close()
	in, err := New(cfg, fs, dlq, log, m, probe)
	if err != nil {
		return err
	}
	cc := cfg.Kafka
	cc.Rebalance = in.Rebalance()
	cons, err := bus.NewConsumer(cc, bus.WithLogger(log.With("client", "consumer")),
		bus.WithMetrics(bus.NewMetrics(reg, "consumer")))
	if err != nil {
		return fmt.Errorf("consumer: %w", err)
	}
	adm, err := svc.NewAdmin(cfg.AdminAddr, reg, probe, log, cfg.ShutdownTimeout)
	if err != nil {
		cons.Close()
		return err
	}

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return adm.Run(gctx) })
	if cfg.CreateTopics {
		specs, patterns := cfg.TopicSpecs()
		if len(patterns) > 0 {
			log.Warn("topic patterns are not created (they name no topic), nor their dead-letter topics", "patterns", patterns)
		}
		if len(specs) > 0 {
			// Alongside consuming, not before it: the consumer picks up
			// topics that appear later (metadata refresh), and a dead
			// letter for a missing topic is retried, so nothing is lost
			// meanwhile.
			probe.Register(condTopics)
			tc := newTopicCreator(specs, func() (bus.Admin, error) {
				return bus.NewAdmin(cfg.Kafka.Config, bus.WithLogger(log.With("client", "admin")))
			}, probe, m, log, cfg.RetryBackoffMax)
			g.Go(func() error {
				tc.Run(gctx)
				return nil
			})
		}
	}
	g.Go(func() error {
		checkKafka(gctx, cfg.CheckInterval, cons, probe, m)
		return nil
	})
	g.Go(func() error {
		defer probe.Drain()
		err := in.Run(gctx, cons)
		if err != nil {
			log.Error("ingest stopped", "err", err)
		}
		return err
	})
	err = g.Wait()
	if cerr := cons.Close(); cerr != nil {
		log.Warn("consumer close", "err", cerr)
	}
	if errors.Is(err, context.Canceled) {
		err = nil
	}
	return err
}

// checkKafka pings the cluster every interval (readiness) and exports lag.
func checkKafka(ctx context.Context, interval time.Duration, cons bus.Consumer, probe *svc.Probe, m *Metrics) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		pctx, cancel := context.WithTimeout(ctx, min(interval, 5*time.Second))
		err := cons.Ping(pctx)
		cancel()
		if ctx.Err() != nil {
			return
		}
		probe.Set(condKafka, err)
		if lag, err := cons.Lag(); err == nil {
			m.setLag(lag)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
