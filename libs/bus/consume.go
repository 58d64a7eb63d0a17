package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/sensornode/sensornode/libs/svc"
)

// ConsumerRun is the run shape of a service that consumes (edge-forwarder,
// cloud-ingest-hdfs): one consumer feeding one worker, beside the admin
// server, a watch of the consumed cluster that also exports the
// consumer's lag, further watches and, optionally, the creation of topics.
// They run in one errgroup: the first error stops the rest. The consumer
// leaves its group only after the worker returned (its final commit).
type ConsumerRun struct {
	// Client names the consumer: its "client" log attribute and metrics
	// label ("edge-consumer"); with spaces for dashes it also opens the
	// consumer's errors and close warning ("edge consumer close").
	Client   string
	Consumer ConsumerConfig // with its Rebalance callbacks set
	// NewConsumer makes the consumer (nil: bus.NewConsumer).
	NewConsumer func(ConsumerConfig, ...Option) (Consumer, error)

	Common svc.Common // AdminAddr and ShutdownTimeout of the admin server
	Reg    *prometheus.Registry
	Probe  *svc.Probe
	Log    *slog.Logger

	// Watch checks the consumed cluster: Check is the consumer's Ping and
	// the lag is exported after every check (then Watch.After runs, if
	// set). Probe, Log and Interval (CheckInterval) are filled in, here
	// and in Watches, where unset.
	Watch svc.Watch
	// Watches are the service's other dependencies (e.g. the cluster it
	// produces to).
	Watches       []svc.Watch
	CheckInterval time.Duration
	// Topics, when set, runs alongside the worker (not before it: callers
	// state why that loses nothing), reporting on Probe and Log where it
	// names none. Its Condition is registered first, so the service is not
	// ready until the topics exist.
	Topics *TopicCreator

	// Work is the worker: it consumes until ctx is done or it fails.
	// Worker names it in the log line "<Worker> stopped" of a failure.
	Work   func(ctx context.Context, cons Consumer) error
	Worker string
}

// Run runs everything until ctx is done (nil) or something fails (its
// error).
func (r ConsumerRun) Run(ctx context.Context) error {
	what := strings.ReplaceAll(r.Client, "-", " ")
	newConsumer := r.NewConsumer
	if newConsumer == nil {
		newConsumer = NewConsumer
	}
	metrics := NewMetrics(r.Reg, r.Client)
	cons, err := newConsumer(r.Consumer, WithLogger(r.Log.With("client", r.Client)), WithMetrics(metrics))
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	adm, err := svc.NewAdmin(r.Common, r.Reg, r.Probe, r.Log)
	if err != nil {
		cons.Close()
		return err
	}

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return adm.Run(gctx) })
	if tc := r.Topics; tc != nil {
		if tc.Probe == nil {
			tc.Probe = r.Probe
		}
		if tc.Log == nil {
			tc.Log = r.Log
		}
		tc.Probe.Register(tc.Condition)
		g.Go(func() error {
			tc.Run(gctx)
			return nil
		})
	}
	own := r.Watch
	own.Check = cons.Ping
	own.After = func(ctx context.Context, err error) {
		metrics.ExportLag(cons)
		if r.Watch.After != nil {
			r.Watch.After(ctx, err)
		}
	}
	for _, w := range append([]svc.Watch{own}, r.Watches...) {
		if w.Probe == nil {
			w.Probe = r.Probe
		}
		if w.Log == nil {
			w.Log = r.Log
		}
		if w.Interval == 0 {
			w.Interval = r.CheckInterval
		}
		g.Go(func() error {
			w.Run(gctx)
			return nil
		})
	}
	g.Go(func() error {
		defer r.Probe.Drain()
		err := r.Work(gctx, cons)
		if err != nil {
			r.Log.Error(r.Worker+" stopped", "err", err)
		}
		return err
	})
	err = g.Wait()
	if cerr := cons.Close(); cerr != nil {
		r.Log.Warn(what+" close", "err", cerr)
	}
	if errors.Is(err, context.Canceled) {
		err = nil
	}
	return err
}
