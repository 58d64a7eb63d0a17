package ingest

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

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
	m, probe, dlqMetrics := newMetrics(reg)
	probe.Register(condKafka, condHDFS)

	dlq, err := bus.NewProducer(cfg.DLQProducerConfig(), bus.WithLogger(log.With("client", "dlq-producer")),
		bus.WithMetrics(dlqMetrics))
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
	run := bus.ConsumerRun{
		Client: "consumer", Consumer: cc,
		Common: cfg.Common, Reg: reg, Probe: probe, Log: log, CheckInterval: cfg.CheckInterval,
		Watch: svc.Watch{
			Condition: condKafka,
			Up:        "kafka reachable", Down: "kafka unreachable: nothing is consumed until it returns",
		},
		Work: in.Run, Worker: "ingest",
	}
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
			run.Topics = &bus.TopicCreator{
				Specs: specs,
				NewAdmin: func() (bus.Admin, error) {
					return bus.NewAdmin(cfg.Kafka.Config, bus.WithLogger(log.With("client", "admin")))
				},
				Condition: condTopics, Failures: m.topicErrors.WithLabelValues("create"),
				Backoff: svc.Backoff{Min: time.Second, Max: cfg.RetryMaxInterval},
			}
		}
	}
	return run.Run(ctx)
}
