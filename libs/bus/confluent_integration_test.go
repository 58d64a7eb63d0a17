//go:build integration && cgo && (amd64 || arm64) && !sensornode_noconfluent

package bus_test

import (
	"errors"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sensornode/sensornode/libs/bus"
	"github.com/sensornode/sensornode/tools/devstack/devstacktest"
)

// Confluent-only: librdkafka's fatal errors (found by chaos seed 3013: an
// idempotent producer raised "Unable to reconstruct MessageSet ... unable
// to guarantee consistency" during edge-brokers-all-down and refused every
// message after it). The producer replaces its librdkafka instance: the
// messages enqueued around the fatal error are each reported exactly once
// (delivered, or failed with ErrFatal to be sent again), PublishAsync keeps
// accepting messages, Publish succeeds again and the recreation is counted.
// Before the fix every PublishAsync after the error returned ErrFatal.
func TestIntegrationConfluentFatalError(t *testing.T) {
	st := devstacktest.Stack(t)
	topic := devstacktest.UniqueTopic(t, "conf")
	devstacktest.CreateTopic(t, st.EdgeBootstrap(), topic, 3, 3)
	reg := prometheus.NewRegistry()
	p := newProducer(t, producerCfg(edge(st, bus.BackendConfluent)), bus.WithMetrics(bus.NewMetrics(reg, "fatal")))
	rng := rand.New(rand.NewPCG(30, 13))
	ctx := testCtx(t, 3*time.Minute)
	publishOnceReady(t, ctx, p, testMessage(topic, 0, 10, rng)) // metadata and connections first

	const n = 400 // 200 before the fatal error (queued or in flight), 200 after
	var mu sync.Mutex
	reports := make([][]error, n)
	publish := func(from, to int) {
		t.Helper()
		for i := from; i < to; i++ {
			err := p.PublishAsync(ctx, testMessage(topic, i, 2000, rng), func(d bus.Delivery) {
				mu.Lock()
				reports[i] = append(reports[i], d.Err)
				mu.Unlock()
			})
			if err != nil {
				t.Fatalf("PublishAsync #%d (fatal error raised after #%d): %v", i, n/2-1, err)
			}
		}
	}
	publish(0, n/2)
	if err := bus.RaiseFatalForTest(p, "integration test"); err != nil {
		t.Fatal(err)
	}
	publish(n/2, n)
	if err := p.Flush(ctx); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	// Publish works again (the new instance bootstraps: eventually).
	var last error
	waitFor(t, "a Publish to succeed after the fatal error", 2*time.Minute, func() bool {
		_, last = p.Publish(ctx, testMessage(topic, n, 10, rng))
		return last == nil
	})
	mu.Lock()
	defer mu.Unlock()
	failed := 0
	for i, errs := range reports {
		if len(errs) != 1 {
			t.Fatalf("message %d: %d delivery reports %v, want exactly 1", i, len(errs), errs)
		}
		if err := errs[0]; err != nil {
			failed++
			if !errors.Is(err, bus.ErrFatal) || errors.Is(err, bus.ErrClosed) || bus.IsPermanent(err) {
				t.Errorf("message %d: report %v, want success or ErrFatal (transient, not ErrClosed)", i, err)
			}
		}
	}
	t.Logf("%d of %d messages enqueued around the fatal error failed (to be sent again), the rest delivered", failed, n)
	if got := recreated(t, reg); got != 1 {
		t.Errorf("sensornode_kafka_producer_recreated_total = %v, want 1", got)
	}
}

// recreated reads sensornode_kafka_producer_recreated_total from reg.
func recreated(t *testing.T, reg *prometheus.Registry) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "sensornode_kafka_producer_recreated_total" {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	return 0
}
