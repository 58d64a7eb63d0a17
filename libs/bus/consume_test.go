package bus_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sensornode/sensornode/libs/bus"
	"github.com/sensornode/sensornode/libs/bus/bustest"
	"github.com/sensornode/sensornode/libs/svc"
	"github.com/sensornode/sensornode/libs/svc/svctest"
)

func TestConsumerRun(t *testing.T) {
	errWork := errors.New("work failed")
	tests := []struct {
		name    string
		newCons func(*bustest.Cluster) func(bus.ConsumerConfig, ...bus.Option) (bus.Consumer, error)
		work    error // what the worker returns once it polled (nil: waits for ctx)
		wantErr string
		wantLog string
	}{
		{name: "stopped", wantLog: "edge cluster reachable"},
		{name: "work fails", work: errWork, wantErr: errWork.Error(), wantLog: `"msg":"worker stopped"`},
		{
			name: "no consumer",
			newCons: func(*bustest.Cluster) func(bus.ConsumerConfig, ...bus.Option) (bus.Consumer, error) {
				return func(bus.ConsumerConfig, ...bus.Option) (bus.Consumer, error) { return nil, errors.New("no brokers") }
			},
			wantErr: "edge consumer: no brokers",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cl := bustest.NewCluster(bustest.SeedTopics(1, "in"))
			if _, err := cl.Append(&bus.Message{Topic: "in", Value: []byte("x")}); err != nil {
				t.Fatal(err)
			}
			newCons := func(cfg bus.ConsumerConfig, _ ...bus.Option) (bus.Consumer, error) { return cl.NewConsumer(cfg) }
			if tt.newCons != nil {
				newCons = tt.newCons(cl)
			}
			var logs svctest.SyncBuffer
			log := slog.New(slog.NewJSONHandler(&logs, nil))
			reg := prometheus.NewRegistry()
			probe := svc.NewProbe(reg)
			got := make(chan *bus.Message, 1)
			r := bus.ConsumerRun{
				Client:      "edge-consumer",
				Consumer:    bus.ConsumerConfig{GroupID: "g", Topics: []string{"in"}},
				NewConsumer: newCons,
				Common:      svc.Common{AdminAddr: "127.0.0.1:0", ShutdownTimeout: time.Second},
				Reg:         reg, Probe: probe, Log: log, CheckInterval: 10 * time.Millisecond,
				Watch:   svc.Watch{Condition: "edge", Up: "edge cluster reachable"},
				Watches: []svc.Watch{{Condition: "other", Check: func(context.Context) error { return nil }}},
				Topics:  &bus.TopicCreator{Specs: []bus.TopicSpec{{Name: "out", Partitions: 1}}, Admin: cl.NewAdmin(), Condition: "topics"},
				Work: func(ctx context.Context, cons bus.Consumer) error {
					for {
						m, err := cons.Poll(ctx, 10*time.Millisecond)
						if ctx.Err() != nil {
							return ctx.Err()
						}
						if err != nil || m == nil {
							continue
						}
						select {
						case got <- m:
						default:
						}
						if tt.work != nil {
							return tt.work
						}
					}
				},
				Worker: "worker",
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- r.Run(ctx) }()
			if tt.newCons == nil {
				<-got
			}
			if tt.work == nil && tt.wantErr == "" {
				svctest.Eventually(t, 5*time.Second, "ready", func() bool { return probe.Ready() == nil })
				svctest.Eventually(t, 5*time.Second, "lag exported", func() bool {
					return hasSeries(t, reg, "sensornode_kafka_consumer_lag_messages")
				})
				if _, ok := cl.TopicSpec("out"); !ok {
					t.Errorf("topic out not created; topics %v", cl.Topics())
				}
				cancel()
			}
			err := <-done
			if !svctest.Succeeds(t, "Run", err, tt.wantErr) {
				if !strings.Contains(logs.String(), tt.wantLog) {
					t.Errorf("log %s, want containing %s", logs.String(), tt.wantLog)
				}
				return
			}
			if !strings.Contains(logs.String(), tt.wantLog) {
				t.Errorf("log %s, want containing %s", logs.String(), tt.wantLog)
			}
			if probe.Ready() == nil {
				t.Error("still ready after Run returned, want draining")
			}
		})
	}
}

// hasSeries reports whether g has a series of metric name.
func hasSeries(t *testing.T, g prometheus.Gatherer, name string) bool {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return len(mf.GetMetric()) > 0
		}
	}
	return false
}
