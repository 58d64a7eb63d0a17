package forwarder

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

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
	m, probe, cloudMetrics := newMetrics(reg)
	probe.Register(condEdge, condCloud)

	prod, err := bus.NewProducer(cfg.Cloud, bus.WithLogger(log.With("client", "cloud-producer")),
		bus.WithMetrics(cloudMetrics))
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
	var down downtime
	run := bus.ConsumerRun{
		Client: "edge-consumer", Consumer: ec,
		Common: cfg.Common, Reg: reg, Probe: probe, Log: log, CheckInterval: cfg.CheckInterval,
		Watch: svc.Watch{
			Condition: condEdge,
			Up:        "edge cluster reachable", Down: "edge cluster unreachable",
		},
		Watches: []svc.Watch{{
			Condition: condCloud, Check: prod.Ping, After: down.after(m.disconnected),
			Up: "cloud cluster reachable", Down: "cloud cluster unreachable; data waits in the edge cluster",
		}},
		Work: f.Run, Worker: "forwarder",
	}
	if cfg.CreateTopics {
		// Alongside forwarding, not before it: a record for a topic that
		// does not exist yet waits in the client, or fails and is sent
		// again, so nothing is lost meanwhile.
		run.Topics = &bus.TopicCreator{
			Specs: cfg.CloudTopicSpecs(),
			NewAdmin: func() (bus.Admin, error) {
				return bus.NewAdmin(cfg.Cloud.Config, bus.WithLogger(log.With("client", "cloud-admin")))
			},
			Condition: condTopics, Failures: m.topicErrors.WithLabelValues("create"),
			Backoff: svc.Backoff{Min: time.Second, Max: cfg.RetryMaxInterval},
		}
	}
	return run.Run(ctx)
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
