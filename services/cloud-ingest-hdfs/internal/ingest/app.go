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
// with.
type Options struct {
	// WrapFS, if set, wraps the HDFS client (a test's FS that dies with
	// the process it plays, mid-bundle).
	WrapFS func(FS) FS
	// BeforeRename, if set, runs when an HDFS rename has passed its time
	// fence, right before the NameNode call: a test pauses a member
	// there, the window the time fence leaves open.
	BeforeRename func(tmp, final string)
}

// Run runs the ingester with its admin server until ctx is done or a
// fatal error occurs.
func Run(ctx context.Context, c *Config, log *slog.Logger, reg *prometheus.Registry, opts Options) error {
	cfg := *c
	m, probe, dlqMetrics := newMetrics(reg)
	probe.Register(condKafka, condHDFS)

	dlq, err := bus.NewProducer(cfg.DLQProducerConfig(), bus.WithLogger(log.With("client", "dlq-producer")),
		bus.WithMetrics(dlqMetrics))
	if err != nil {
		return fmt.Errorf("dead-letter producer: %w", err)
	}
	defer dlq.Close()
	hfs := newHDFS(cfg.HDFS)
	hfs.beforeRename = opts.BeforeRename
	var fs FS = hfs
	defer fs.Close()
	if opts.WrapFS != nil {
		fs = opts.WrapFS(fs)
	}
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
