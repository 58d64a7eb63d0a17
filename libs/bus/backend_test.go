package bus

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/sensornode/sensornode/libs/messages"
)

// Behaviour of each backend that needs no broker: the brokers are
// unreachable, so nothing is ever delivered.

func unreachableProducer(t *testing.T, backend string, maxMsg, queue int, opts ...Option) Producer {
	t.Helper()
	p, err := NewProducer(ProducerConfig{
		Config:          Config{Brokers: unreachable, ClientID: "unit", Backend: backend},
		MaxMessageBytes: maxMsg, QueueMaxBytes: queue, DeliveryTimeout: time.Minute,
	}, opts...)
	if err != nil {
		t.Fatalf("NewProducer(%s): %v", backend, err)
	}
	return p
}

// reports counts delivery reports per message id.
type reports struct {
	mu   sync.Mutex
	seen map[int]int
	errs int
}

func (r *reports) done(id int) func(Delivery) {
	return func(d Delivery) {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.seen[id]++
		if errors.Is(d.Err, ErrClosed) {
			r.errs++
		}
	}
}

func TestUnitProducerBounds(t *testing.T) {
	for _, backend := range Backends() {
		t.Run(backend, func(t *testing.T) {
			const maxMsg, queue, size = 32 << 10, 64 << 10, 10 << 10
			p := unreachableProducer(t, backend, maxMsg, queue)
			ctx := context.Background()

			// Larger than MaxMessageBytes: refused at once, no report.
			r := &reports{seen: map[int]int{}}
			big := &Message{Topic: "t", Value: make([]byte, maxMsg+1)}
			if err := p.PublishAsync(ctx, big, r.done(-1)); !errors.Is(err, ErrTooLarge) {
				t.Errorf("PublishAsync(%d bytes > max %d) = %v, want ErrTooLarge", big.Size(), maxMsg, err)
			}

			// The queue fills up, then PublishAsync blocks until ctx ends.
			accepted := 0
			for i := 0; ; i++ {
				if i > 2*queue/size {
					t.Fatalf("accepted %d messages of %d bytes with a %d byte queue and no broker: not bounded", accepted, size, queue)
				}
				short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
				m := &Message{Topic: "t", Key: []byte("k"), Value: make([]byte, size)}
				err := p.PublishAsync(short, m, r.done(i))
				cancel()
				if errors.Is(err, context.DeadlineExceeded) {
					break
				}
				if err != nil {
					t.Fatalf("PublishAsync #%d = %v", i, err)
				}
				accepted++
			}
			if accepted*(size+1) > queue || accepted == 0 {
				t.Errorf("accepted %d messages of %d bytes before blocking; queue is %d bytes", accepted, size+1, queue)
			}

			// Flush cannot finish without brokers.
			fctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
			defer cancel()
			if err := p.Flush(fctx); err == nil {
				t.Errorf("Flush without brokers = nil")
			}

			// Close fails what is left: exactly one report each, ErrClosed.
			if err := p.Close(); err != nil {
				t.Errorf("Close() = %v", err)
			}
			r.mu.Lock()
			defer r.mu.Unlock()
			if len(r.seen) != accepted || r.errs != accepted {
				t.Errorf("after Close: %d messages reported (%d with ErrClosed), want %d, all ErrClosed", len(r.seen), r.errs, accepted)
			}
			for id, n := range r.seen {
				if n != 1 || id < 0 {
					t.Errorf("message %d: %d reports, want 1", id, n)
				}
			}
			if err := p.PublishAsync(ctx, &Message{Topic: "t", Value: []byte("x")}, func(Delivery) {}); !errors.Is(err, ErrClosed) {
				t.Errorf("PublishAsync after Close = %v, want ErrClosed", err)
			}
		})
	}
}

func TestUnitPingUnreachable(t *testing.T) {
	for _, backend := range Backends() {
		t.Run(backend, func(t *testing.T) {
			p := unreachableProducer(t, backend, 1<<20, 2<<20)
			defer p.Close()
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			if err := p.Ping(ctx); !errors.Is(err, ErrBrokersDown) {
				t.Errorf("Ping() = %v, want ErrBrokersDown", err)
			}
			c, err := NewConsumer(ConsumerConfig{Config: Config{Brokers: unreachable, Backend: backend}, GroupID: "g",
				Topics: []string{"t"}, MaxFetchBytes: 1 << 20, QueueMaxBytes: 1 << 20, SessionTimeout: 10 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if err := c.Ping(ctx); !errors.Is(err, ErrBrokersDown) {
				t.Errorf("consumer Ping() = %v, want ErrBrokersDown", err)
			}
			m, err := c.Poll(context.Background(), 100*time.Millisecond)
			if m != nil || err != nil {
				t.Errorf("Poll() without brokers = %v, %v; want nil, nil", m, err)
			}
		})
	}
}

// The producer copies what it is given: the caller may reuse its buffers
// once PublishAsync returns.
func TestUnitFranzRecordCopies(t *testing.T) {
	m := &Message{Topic: "t", Key: []byte("key"), Value: []byte("value"),
		Headers: []messages.Header{{Key: "h", Value: []byte("hv")}, {Key: "nil"}}}
	r := franzRecord(m, m.Size())
	m.Key[0], m.Value[0], m.Headers[0].Value[0] = 'X', 'X', 'X'
	if string(r.Key) != "key" || string(r.Value) != "value" || string(r.Headers[0].Value) != "hv" || r.Headers[1].Value != nil {
		t.Errorf("franzRecord shares the caller's buffers: key %q value %q header %q", r.Key, r.Value, r.Headers[0].Value)
	}
	// Appending to one field cannot overwrite the next.
	r.Key = append(r.Key, '!')
	if string(r.Value) != "value" {
		t.Errorf("append to key changed value: %q", r.Value)
	}
}
