package bus

import (
	"context"
	"sync"
)

// memGate bounds the bytes and count of messages between PublishAsync and
// the end of their delivery callbacks, for both backends. The clients'
// own limits are only backstops: franz-go's MaxBufferedBytes blocks with
// no way to take a record back when the caller's context ends, and
// librdkafka frees a message's queue space as soon as its delivery report
// is handed to Go, before the callback has run; with a slow callback it
// would accept far more than QueueMaxBytes.
type memGate struct {
	maxBytes int64
	maxCount int

	mu      sync.Mutex
	bytes   int64
	count   int
	waiters int
	wake    chan struct{} // closed when space is freed and someone waits
	closed  bool
}

func newMemGate(maxBytes int64, maxCount int) *memGate {
	return &memGate{maxBytes: maxBytes, maxCount: maxCount, wake: make(chan struct{})}
}

func (g *memGate) acquire(ctx context.Context, n int64) error {
	g.mu.Lock()
	for {
		if g.closed {
			g.mu.Unlock()
			return ErrClosed
		}
		// A message always fits an empty gate, whatever its size.
		if g.count == 0 || (g.bytes+n <= g.maxBytes && g.count < g.maxCount) {
			g.bytes += n
			g.count++
			g.mu.Unlock()
			return nil
		}
		g.waiters++
		wake := g.wake
		g.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
		}
		g.mu.Lock()
		g.waiters--
		if err := ctx.Err(); err != nil {
			g.mu.Unlock()
			return err
		}
	}
}

func (g *memGate) release(n int64) {
	g.mu.Lock()
	g.bytes -= n
	g.count--
	g.broadcastLocked()
	g.mu.Unlock()
}

func (g *memGate) close() {
	g.mu.Lock()
	g.closed = true
	g.broadcastLocked()
	g.mu.Unlock()
}

func (g *memGate) broadcastLocked() {
	if g.waiters > 0 {
		close(g.wake)
		g.wake = make(chan struct{})
	}
}
