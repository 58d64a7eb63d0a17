package bus

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/sensornode/sensornode/libs/svc"
)

// ProducerWatch is a producing service's Kafka loop: it keeps readiness
// condition KafkaCondition current with a metadata round trip (Ping) every
// Interval and, when Settings.CreateTopics is set, creates Topic through a
// TopicCreator on Admin (condition TopicCondition, backoff Interval .. at
// least 30 s). Then, when set, runs once the topic exists (at once when
// topics are not created) until ctx is done: a further watch on the topic.
type ProducerWatch struct {
	Ping           func(ctx context.Context) error
	Probe          *svc.Probe
	Log            *slog.Logger
	Interval       time.Duration
	KafkaCondition string
	// Down is the log message when the brokers stop answering (Up is
	// "kafka reachable").
	Down string

	Topic          string
	Settings       TopicSettings
	Admin          Admin
	TopicCondition string
	CreateFailures prometheus.Counter // nil: not counted

	Then func(ctx context.Context)
}

// Run runs until ctx is done.
func (w ProducerWatch) Run(ctx context.Context) error {
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		svc.Watch{
			Condition: w.KafkaCondition, Check: w.Ping, Probe: w.Probe, Log: w.Log, Interval: w.Interval,
			Up: "kafka reachable", Down: w.Down,
		}.Run(ctx)
		return nil
	})
	g.Go(func() error {
		if w.Settings.CreateTopics {
			tc := &TopicCreator{
				Specs: []TopicSpec{w.Settings.TopicSpec(w.Topic, 0)},
				Admin: w.Admin,
				Probe: w.Probe, Condition: w.TopicCondition, Failures: w.CreateFailures,
				Log: w.Log, Backoff: svc.Backoff{Min: w.Interval, Max: max(w.Interval, 30*time.Second)},
			}
			if !tc.Run(ctx) {
				return nil
			}
		}
		if w.Then != nil {
			w.Then(ctx)
		}
		return nil
	})
	return g.Wait()
}
