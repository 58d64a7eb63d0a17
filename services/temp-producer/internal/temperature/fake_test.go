package temperature

import (
	"context"
	"errors"
	"sync"

	"github.com/sensornode/sensornode/libs/bus"
)

// fakeProducer is an in-memory bus.Producer reporting deliveries from its
// own goroutine; while down, every delivery fails.
type fakeProducer struct {
	mu      sync.Mutex
	got     []*bus.Message
	down    bool
	reports chan func()
	wg      sync.WaitGroup
	closed  bool
}

var errDown = errors.New("fake: all brokers down")

func newFakeProducer() *fakeProducer {
	f := &fakeProducer{reports: make(chan func(), 100000)}
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		for r := range f.reports {
			r()
		}
	}()
	return f
}

func (f *fakeProducer) PublishAsync(_ context.Context, m *bus.Message, done func(bus.Delivery)) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return bus.ErrClosed
	}
	d := bus.Delivery{Topic: m.Topic}
	if f.down {
		d.Err = errDown
	} else {
		cp := *m
		f.got = append(f.got, &cp)
	}
	f.reports <- func() { done(d) }
	return nil
}

func (f *fakeProducer) Publish(ctx context.Context, m *bus.Message) (bus.Delivery, error) {
	ch := make(chan bus.Delivery, 1)
	if err := f.PublishAsync(ctx, m, func(d bus.Delivery) { ch <- d }); err != nil {
		return bus.Delivery{}, err
	}
	d := <-ch
	return d, d.Err
}

func (f *fakeProducer) setDown(d bool) {
	f.mu.Lock()
	f.down = d
	f.mu.Unlock()
}

func (f *fakeProducer) messages() []*bus.Message {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]*bus.Message(nil), f.got...)
}

func (f *fakeProducer) Flush(context.Context) error { return nil }

func (f *fakeProducer) Ping(context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down {
		return bus.ErrBrokersDown
	}
	return nil
}

func (f *fakeProducer) Close() error {
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return nil
	}
	f.closed = true
	f.mu.Unlock()
	close(f.reports)
	f.wg.Wait()
	return nil
}

var _ bus.Producer = (*fakeProducer)(nil)
