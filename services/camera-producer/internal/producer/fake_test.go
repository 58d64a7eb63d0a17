package producer

import (
	"context"
	"errors"
	"sync"

	"github.com/sensornode/sensornode/libs/bus"
)

// fakeProducer is an in-memory bus.Producer. Deliveries are reported from
// its own goroutine, as a real client does. While hold is set, reports wait
// until release; fail makes the next n deliveries fail.
type fakeProducer struct {
	mu       sync.Mutex
	got      []*bus.Message
	fail     int
	failErr  error
	hold     bool
	held     []func()
	pingErr  error
	reports  chan func()
	wg       sync.WaitGroup
	closed   bool
	inflight int
}

var errFakeDown = errors.New("fake: all brokers down")

func newFakeProducer() *fakeProducer {
	f := &fakeProducer{reports: make(chan func(), 1024), failErr: errFakeDown}
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		for r := range f.reports {
			r()
		}
	}()
	return f
}

func (f *fakeProducer) PublishAsync(ctx context.Context, m *bus.Message, done func(bus.Delivery)) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return bus.ErrClosed
	}
	f.inflight++
	var d bus.Delivery
	if f.fail > 0 {
		f.fail--
		d = bus.Delivery{Topic: m.Topic, Err: f.failErr}
	} else {
		cp := *m
		f.got = append(f.got, &cp)
		d = bus.Delivery{Topic: m.Topic, Offset: int64(len(f.got) - 1)}
	}
	report := func() {
		done(d)
		f.mu.Lock()
		f.inflight--
		f.mu.Unlock()
	}
	if f.hold {
		f.held = append(f.held, report)
		return nil
	}
	f.reports <- report
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

func (f *fakeProducer) setHold(h bool) {
	f.mu.Lock()
	f.hold = h
	held := f.held
	f.held = nil
	f.mu.Unlock()
	if !h {
		for _, r := range held {
			f.reports <- r
		}
	}
}

func (f *fakeProducer) setFail(n int, err error) {
	f.mu.Lock()
	f.fail, f.failErr = n, err
	f.mu.Unlock()
}

func (f *fakeProducer) messages() []*bus.Message {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]*bus.Message(nil), f.got...)
}

func (f *fakeProducer) Flush(ctx context.Context) error {
	f.setHold(false)
	for {
		f.mu.Lock()
		n := f.inflight
		f.mu.Unlock()
		if n == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		default:
		}
	}
}

func (f *fakeProducer) Ping(context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.pingErr
}

func (f *fakeProducer) Close() error {
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return nil
	}
	f.closed = true
	held := f.held
	f.held = nil
	f.mu.Unlock()
	for _, r := range held {
		f.reports <- r
	}
	close(f.reports)
	f.wg.Wait()
	return nil
}

// fakeAdmin answers topic calls from memory.
type fakeAdmin struct {
	mu       sync.Mutex
	maxBytes string
	created  []bus.TopicSpec
}

func (a *fakeAdmin) EnsureTopics(_ context.Context, specs []bus.TopicSpec) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.created = append(a.created, specs...)
	return nil
}

func (a *fakeAdmin) TopicConfig(context.Context, string) (map[string]string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return map[string]string{"max.message.bytes": a.maxBytes}, nil
}

func (a *fakeAdmin) Partitions(context.Context, string) (int, error) { return 1, nil }
func (a *fakeAdmin) Close() error                                    { return nil }

var (
	_ bus.Producer = (*fakeProducer)(nil)
	_ bus.Admin    = (*fakeAdmin)(nil)
)
