//go:build cgo && (amd64 || arm64) && !sensornode_noconfluent

package bus

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
)

// rdInstance is one librdkafka producer and its event loop.
type rdInstance struct {
	p       *kafka.Producer
	logs    *logBridge
	done    chan struct{} // closed when the event loop ends
	pending atomic.Int64  // its messages without a report

	// mu is read-held while a message is handed to p; retire takes it so
	// that no message enters after the final purge.
	mu      sync.RWMutex
	retired bool

	deadOnce sync.Once
	dead     chan struct{} // closed on its fatal error
}

// Recreating after a fatal error.
const (
	// fatalGrace: how long a dead instance may still receive the broker's
	// answers for the requests it had in flight (librdkafka fails only
	// its queued messages on a fatal error), before they are purged too.
	fatalGrace = 5 * time.Second
	// recreateBackoff doubles from its first value up to its last
	// between failed attempts to create a new instance.
	recreateBackoffMin, recreateBackoffMax = 100 * time.Millisecond, 30 * time.Second
)

// newInstance creates a librdkafka producer from cp's config, not in
// service yet (see serve).
func (cp *confluentProducer) newInstance() (*rdInstance, error) {
	m := make(kafka.ConfigMap, len(cp.conf)+2)
	for k, v := range cp.conf {
		m[k] = v
	}
	logs := newLogBridge(m, cp.log) // a log channel per instance
	p, err := kafka.NewProducer(&m)
	if err != nil {
		logs.stop()
		return nil, fmt.Errorf("kafka producer: %w", err)
	}
	inst := &rdInstance{p: p, logs: logs, done: make(chan struct{}), dead: make(chan struct{})}
	cp.mu.Lock()
	cp.live = append(cp.live, inst)
	cp.mu.Unlock()
	if cp.created != nil {
		cp.created(inst)
	}
	return inst, nil
}

// serve puts inst in service and only then starts its event loop, the
// one caller of fatal besides PublishAsync (which uses only instances in
// service): so the instance whose fatal error fatal handles is always the
// one in service, unless the producer is closed. Called with cp.mu held.
func (cp *confluentProducer) serve(inst *rdInstance) {
	cp.cur, cp.recreErr = inst, nil
	close(cp.ready)
	go cp.events(inst)
}

// errRetired: the instance was closed (replaced, or the producer closed).
var errRetired = errors.New("kafka producer instance retired")

// use calls f with inst's client unless inst is retired: its client is
// not closed while f runs.
func (inst *rdInstance) use(f func(p *kafka.Producer) error) error {
	inst.mu.RLock()
	defer inst.mu.RUnlock()
	if inst.retired {
		return errRetired
	}
	return f(inst.p)
}

func (inst *rdInstance) isDead() bool {
	select {
	case <-inst.dead:
		return true
	default:
		return false
	}
}

// current is the instance in service, nil while one is being replaced.
func (cp *confluentProducer) current() *rdInstance {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	return cp.cur
}

// fatal takes inst, the instance in service (see serve), out of service
// after its fatal error (once) and starts its replacement. Called from
// inst's event loop (the error event) and from PublishAsync (Produce
// refused with ERR__FATAL).
func (cp *confluentProducer) fatal(inst *rdInstance, cause error) {
	inst.deadOnce.Do(func() {
		close(inst.dead)
		cp.m.error("fatal")
		cp.log.Error("kafka producer fatal error: replacing the client instance; its unacknowledged messages fail and are to be sent again",
			"err", cause, "unacknowledged", inst.pending.Load())
		cp.mu.Lock()
		defer cp.mu.Unlock()
		if cp.closed.Load() {
			return // Close retires the instance it finds in service
		}
		cp.replacers.Add(1)
		cp.cur, cp.ready, cp.recreErr = nil, make(chan struct{}), nil
		go cp.replace(inst, cause)
	})
}

// replace creates dead's successor (retrying with backoff until it exists
// or the producer is closed), then retires dead.
func (cp *confluentProducer) replace(dead *rdInstance, cause error) {
	defer cp.replacers.Done()
	backoff := recreateBackoffMin
	for attempt := 1; ; attempt++ {
		inst, err := cp.newInstance()
		if err == nil {
			cp.mu.Lock()
			if cp.closed.Load() {
				cp.mu.Unlock()
				// Never in service: a fatal error of it finds cp closed.
				go cp.events(inst)
				cp.retire(inst, false)
				break
			}
			cp.serve(inst)
			cp.mu.Unlock()
			cp.m.recreated()
			cp.log.Warn("kafka producer recreated after a fatal error", "cause", cause, "attempt", attempt)
			break
		}
		cp.mu.Lock()
		cp.recreErr = fmt.Errorf("%w: recreating the producer after %v: attempt %d failed: %v", ErrFatal, cause, attempt, err)
		cp.mu.Unlock()
		cp.log.Error("kafka producer: recreating after a fatal error failed; retrying", "cause", cause, "err", err, "attempt", attempt, "backoff", backoff)
		select {
		case <-cp.stop:
		case <-time.After(backoff):
			backoff = min(2*backoff, recreateBackoffMax)
			continue
		}
		break
	}
	cp.retire(dead, true)
}

// retire closes inst after every one of its messages got its report:
// those the broker answers within fatalGrace (grace) as answered, the rest
// purged (a failed report each).
func (cp *confluentProducer) retire(inst *rdInstance, grace bool) {
	if grace {
		end := time.Now().Add(fatalGrace)
		inst.flushUntil(func() bool { return !time.Now().Before(end) || cp.closed.Load() })
	}
	inst.mu.Lock() // waits for Produce calls in progress; none after
	inst.retired = true
	inst.mu.Unlock()
	// Blocking purge: not on the event loop, which keeps handing out
	// the purged messages' reports meanwhile.
	if err := inst.p.Purge(kafka.PurgeQueue | kafka.PurgeInFlight); err != nil {
		cp.log.Warn("kafka producer purge", "err", err)
	}
	inst.flushUntil(func() bool { return false })
	inst.p.Close()
	<-inst.done
	inst.logs.stop()
	cp.mu.Lock()
	cp.live = slices.DeleteFunc(cp.live, func(i *rdInstance) bool { return i == inst })
	cp.mu.Unlock()
}

// flushUntil flushes inst until each of its messages got its report, or
// stop says to give up.
func (inst *rdInstance) flushUntil(stop func() bool) {
	for inst.pending.Load() > 0 && !stop() {
		if inst.p.Flush(50) == 0 {
			// Reports being handed out (an unknown topic's is confirmed
			// first, on its own goroutine): do not spin.
			time.Sleep(5 * time.Millisecond)
		}
	}
}

// instance returns the instance in service, waiting while a dead one is
// replaced (bounded by ctx). While attempts to recreate fail it returns
// the last attempt's error (ErrFatal) at once.
func (cp *confluentProducer) instance(ctx context.Context) (*rdInstance, error) {
	for {
		if cp.closed.Load() {
			return nil, ErrClosed
		}
		cp.mu.Lock()
		inst, ready, rerr := cp.cur, cp.ready, cp.recreErr
		cp.mu.Unlock()
		switch {
		case inst != nil:
			return inst, nil
		case rerr != nil:
			return nil, rerr
		}
		select {
		case <-ready:
		case <-cp.stop:
		case <-ctx.Done():
			return nil, fmt.Errorf("waiting for the producer to be recreated after a fatal error: %w", ctx.Err())
		}
	}
}
