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

// condTopics is met once SENSORNODE_CREATE_TOPICS ensured the topics.
const condTopics = "cloud-topics"

// Options are hooks for tests; the zero value is what the service runs
// with. There are none yet: the shape is every service's.
type Options struct{}

// Run runs the ingester with its admin server until ctx is done or a
// fatal error occurs.
func Run(ctx context.Context, c *Config, log *slog.Logger, reg *prometheus.Registry, _ Options) error {
	cfg := *c
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
	consMetrics := bus.NewMetrics(reg, "consumer")
	cons, err := bus.NewConsumer(cc, bus.WithLogger(log.With("client", "consumer")), bus.WithMetrics(consMetrics))
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
			tc := &bus.TopicCreator{
				Specs: specs,
				NewAdmin: func() (bus.Admin, error) {
					return bus.NewAdmin(cfg.Kafka.Config, bus.WithLogger(log.With("client", "admin")))
				},
				Probe: probe, Condition: condTopics, Failures: m.topicErrors.WithLabelValues("create"),
				Log: log, Backoff: svc.Backoff{Min: time.Second, Max: cfg.RetryMaxInterval},
			}
			g.Go(func() error {
				tc.Run(gctx)
				return nil
			})
		}
	}
	g.Go(func() error {
		svc.Watch{
			Condition: condKafka, Check: cons.Ping, Probe: probe, Log: log, Interval: cfg.CheckInterval,
			Up: "kafka reachable", Down: "kafka unreachable: nothing is consumed until it returns",
			After: func(context.Context, error) { consMetrics.ExportLag(cons) },
		}.Run(gctx)
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
