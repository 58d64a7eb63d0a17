//go:build cgo && (amd64 || arm64) && !sensornode_noconfluent

package bus

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// After a librdkafka fatal error the producer replaces its instance: with
// no broker reachable, every message queued in the dead instance gets
// exactly one report, an ErrFatal (not ErrClosed: the caller did not
// close anything), PublishAsync enqueues again into the new instance, and
// the recreation is counted. Eventual delivery after a fatal error needs
// a broker: TestIntegrationConfluentFatalError.
func TestConfluentFatalErrorRecreates(t *testing.T) {
	m := NewMetrics(prometheus.NewRegistry(), "unit")
	p := unreachableProducer(t, BackendConfluent, 1024, 1<<20, WithMetrics(m))
	var mu sync.Mutex
	reports := map[int][]error{}
	publish := func(from, n int) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		for i := from; i < from+n; i++ {
			err := p.PublishAsync(ctx, &Message{Topic: "t", Value: []byte("v")}, func(d Delivery) {
				mu.Lock()
				reports[i] = append(reports[i], d.Err)
				mu.Unlock()
			})
			if err != nil {
				t.Fatalf("PublishAsync #%d: %v", i, err)
			}
		}
	}
	publish(0, 20)
	if err := RaiseFatalForTest(p, "unit test"); err != nil {
		t.Fatal(err)
	}
	publish(20, 20) // waits for the new instance instead of failing
	deadline := time.Now().Add(time.Minute)
	for {
		mu.Lock()
		n := 0
		for i := range 20 {
			n += len(reports[i])
		}
		mu.Unlock()
		if n >= 20 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d reports of the 20 messages of the dead instance after a minute", n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got := testutil.ToFloat64(m.recreatedTotal.WithLabelValues("unit")); got != 1 {
		t.Errorf("sensornode_kafka_producer_recreated_total = %v, want 1", got)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	for i := range 40 {
		errs := reports[i]
		if len(errs) != 1 {
			t.Fatalf("message %d: %d reports (%v), want exactly 1", i, len(errs), errs)
		}
		switch {
		case i < 20 && (!errors.Is(errs[0], ErrFatal) || errors.Is(errs[0], ErrClosed) || IsPermanent(errs[0])):
			t.Errorf("message %d of the dead instance: report %v, want ErrFatal, not ErrClosed, not permanent", i, errs[0])
		case i >= 20 && !errors.Is(errs[0], ErrClosed):
			t.Errorf("message %d of the new instance, failed by Close: report %v, want ErrClosed", i, errs[0])
		}
	}
}

// A fatal error of an instance not yet in service (here raised in the
// successor of a dead instance as it is created, and given time to be
// handled) is handled once it is in service: that instance is replaced in
// turn, and PublishAsync enqueues into the next one. When the event loop
// started at creation, such an instance was only retired and then put in
// service anyway, dead: PublishAsync spun on it.
func TestConfluentFatalErrorBeforeInService(t *testing.T) {
	m := NewMetrics(prometheus.NewRegistry(), "unit")
	p := unreachableProducer(t, BackendConfluent, 1024, 1<<20, WithMetrics(m))
	cp := p.(*confluentProducer)
	var once sync.Once
	cp.created = func(inst *rdInstance) {
		once.Do(func() {
			if code := inst.p.TestFatalError(kafka.ErrOutOfOrderSequenceNumber, "unit test: not in service yet"); code != kafka.ErrNoError {
				t.Errorf("TestFatalError: %v", code)
			}
			select { // long enough for an event loop, if one ran, to handle it
			case <-inst.dead:
			case <-time.After(time.Second):
			}
		})
	}
	if err := RaiseFatalForTest(p, "unit test"); err != nil {
		t.Fatal(err)
	}
	published := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		published <- p.PublishAsync(ctx, &Message{Topic: "t", Value: []byte("v")}, func(Delivery) {})
	}()
	select {
	case err := <-published:
		if err != nil {
			t.Fatalf("PublishAsync after two fatal errors: %v", err)
		}
	case <-time.After(2 * time.Minute):
		t.Fatal("PublishAsync after two fatal errors still running after two minutes")
	}
	if err := p.Close(); err != nil { // waits for the replacements
		t.Fatal(err)
	}
	if got := testutil.ToFloat64(m.recreatedTotal.WithLabelValues("unit")); got != 2 {
		t.Errorf("sensornode_kafka_producer_recreated_total = %v, want 2", got)
	}
}
