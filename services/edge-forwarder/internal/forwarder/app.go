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
)

// Serve runs the forwarder with its admin server until ctx is done or a
// fatal error occurs.
func Serve(ctx context.Context, cfg Config, log *slog.Logger, reg *prometheus.Registry, hooks Hooks) error {
	probe := svc.NewProbe(reg)
	probe.Register(condEdge, condCloud)
	m := NewMetrics(reg)

	prod, err := bus.NewProducer(cfg.Cloud, bus.WithLogger(log.With("client", "cloud-producer")),
		bus.WithMetrics(bus.NewMetrics(reg, "cloud-producer")))
	if err != nil {
		return fmt.Errorf("cloud producer: %w", err)
	}
	defer prod.Close()
	f, err := New(cfg, prod, log, m, hooks)
	if err != nil {
		return err
	}
	probe.Set(condPartitions, nil)
	f.probe = probe
	ec := cfg.EdgeConsumerConfig()
	ec.Rebalance = f.Rebalance()
	cons, err := bus.NewConsumer(ec, bus.WithLogger(log.With("client", "edge-consumer")),
		bus.WithMetrics(bus.NewMetrics(reg, "edge-consumer")))
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
		tc := newTopicCreator(cfg.CloudTopicSpecs(), func() (bus.Admin, error) {
			return bus.NewAdmin(cfg.Cloud.Config, bus.WithLogger(log.With("client", "cloud-admin")))
		}, probe, m, log, cfg.RetryBackoffMax)
		g.Go(func() error {
			tc.Run(gctx)
			return nil
		})
	}
	g.Go(func() error {
		check(gctx, cfg.CheckInterval, cons, prod, probe, m, log)
		return nil
	})
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

// pinger is a client that can check its cluster.
type pinger interface {
	Ping(ctx context.Context) error
}

// lagger reports consumer lag.
type lagger interface {
	Lag() (map[bus.TopicPartition]int64, error)
}

// check pings both clusters every interval: readiness, connected gauges,
// the disconnected-seconds counter and the lag gauges.
func check(ctx context.Context, interval time.Duration, edge interface {
	pinger
	lagger
}, cloud pinger, probe *svc.Probe, m *Metrics, log *slog.Logger) {
	t := time.NewTicker(interval)
	defer t.Stop()
	cloudDown := false
	last := time.Now()
	for {
		timeout := min(interval, 5*time.Second)
		pctx, cancel := context.WithTimeout(ctx, timeout)
		cerr := cloud.Ping(pctx)
		eerr := edge.Ping(pctx)
		cancel()
		if ctx.Err() != nil {
			return
		}
		now := time.Now()
		if cloudDown {
			m.disconnected.Add(now.Sub(last).Seconds())
		}
		last = now
		probe.Set(condCloud, cerr)
		probe.Set(condEdge, eerr)
		switch {
		case cerr != nil && !cloudDown:
			log.Warn("cloud cluster unreachable; data waits in the edge cluster", "err", cerr)
		case cerr == nil && cloudDown:
			log.Info("cloud cluster reachable again")
		}
		cloudDown = cerr != nil
		m.cloudConnected.Set(b2f(cerr == nil))
		m.edgeConnected.Set(b2f(eerr == nil))
		if lag, err := edge.Lag(); err == nil {
			m.setLag(lag)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
