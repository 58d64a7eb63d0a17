// Package forwarder moves pictures and temperature readings from the edge
// Kafka cluster to the cloud Kafka cluster, committing an edge offset only
// once the cloud acknowledged (acks=all) every message below it.
package forwarder

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/sensornode/sensornode/libs/bus"
	"github.com/sensornode/sensornode/libs/messages"
	"github.com/sensornode/sensornode/libs/svc"
)

// Producer is what the forwarder needs of the cloud producer.
type Producer interface {
	bus.AsyncPublisher
	Flush(ctx context.Context) error
}

// Hooks observe the forwarder; nil fields are skipped. They run on the
// producer's delivery goroutine: keep them short.
type Hooks struct {
	// Acked is called when the cloud acknowledged a message: received is
	// when the edge consumer handed it over, acked when the cloud's
	// acknowledgement arrived.
	Acked func(edgeTopic string, bytes int, received, acked time.Time)
}

// Forwarder is one edge-forwarder pipeline: an edge consumer-group member
// and a cloud producer.
type Forwarder struct {
	cfg    Config
	routes []*Route
	form   messages.Form // 0: pass through
	prod   Producer
	log    *slog.Logger
	m      *Metrics
	hooks  Hooks
	now    func() time.Time

	mu      sync.Mutex // guards tr, inBytes, inMsgs (delivery goroutine vs loop)
	tr      *tracker
	inBytes int
	inMsgs  int
	changed chan struct{} // a delivery report arrived

	// Owned by the loop goroutine (rebalance callbacks run inside Poll).
	cons       bus.Consumer
	owned      bus.Owned // paused: cloud backpressure
	retries    map[bus.TopicPartition]*retryState
	backoffs   map[bus.TopicPartition]*backoffState
	lastCommit time.Time
	stopped    map[bus.TopicPartition]stopState // as last reported (log, metric, readiness)
	// held are stopped partitions paused behind their stopped message
	// while it is tried again: nothing after it is sent (again) until it
	// got through.
	held  map[bus.TopicPartition]bool
	probe *svc.Probe // nil: no readiness condition
}

// retryState is a failed partition waiting to be rewound.
type retryState struct {
	at time.Time
}

// backoffState spaces the rewinds of a partition that keeps failing.
type backoffState struct {
	b        svc.Backoff
	lastFail time.Time
}

// New creates a forwarder that produces with prod. Create the edge
// consumer with Rebalance() as its callbacks, then call Run.
func New(cfg Config, prod Producer, log *slog.Logger, m *Metrics, hooks Hooks) (*Forwarder, error) {
	routes, err := cfg.Routes()
	if err != nil {
		return nil, err
	}
	f := &Forwarder{
		cfg: cfg, routes: routes, prod: prod, log: log, m: m, hooks: hooks, now: time.Now,
		tr:       newTracker(),
		changed:  make(chan struct{}, 1),
		retries:  map[bus.TopicPartition]*retryState{},
		backoffs: map[bus.TopicPartition]*backoffState{},
		stopped:  map[bus.TopicPartition]stopState{},
		held:     map[bus.TopicPartition]bool{},
	}
	switch cfg.Form {
	case FormJSON:
		f.form = messages.FormJSON
	case FormBinary:
		f.form = messages.FormBinary
	}
	return f, nil
}

// Rebalance returns the callbacks to put in the edge consumer's config.
func (f *Forwarder) Rebalance() bus.Rebalance {
	return bus.Rebalance{OnAssigned: f.onAssigned, OnRevoked: f.onRevoked}
}

// pollWait bounds one Poll so that commits, retries and backpressure are
// looked at several times a second even when nothing arrives.
const pollWait = 100 * time.Millisecond

// Run forwards until ctx is done, then waits (at most ShutdownTimeout) for
// what is in flight, commits what the cloud acknowledged and returns. The
// caller closes the consumer and the producer afterwards.
func (f *Forwarder) Run(ctx context.Context, cons bus.Consumer) error {
	f.cons = cons
	f.lastCommit = f.now()
	var err error
	for ctx.Err() == nil {
		var msg *bus.Message
		msg, err = cons.Poll(ctx, pollWait)
		if err != nil {
			if ctx.Err() != nil {
				err = nil
				break
			}
			err = fmt.Errorf("edge consume: %w", err)
			break
		}
		f.applyAssignment()
		if msg != nil {
			if err = f.handle(ctx, msg); err != nil {
				if ctx.Err() != nil {
					err = nil
				}
				break
			}
		}
		f.maintain(ctx)
	}
	f.drain()
	return err
}

// drain waits for in-flight deliveries and commits what was acknowledged.
func (f *Forwarder) drain() {
	ctx, cancel := context.WithTimeout(context.Background(), f.cfg.ShutdownTimeout)
	defer cancel()
	if err := f.prod.Flush(ctx); err != nil {
		f.log.Warn("shutdown: deliveries still outstanding; they will be forwarded again", "err", err)
	}
	f.commit(ctx, nil)
}

// handle sends one consumed message to the cloud.
func (f *Forwarder) handle(ctx context.Context, msg *bus.Message) error {
	received := f.now()
	tp := msg.TopicPartition()
	if f.retries[tp] != nil {
		// A message fetched before the failed partition was paused; the
		// rewind goes back to an offset at or below it.
		bus.Pause(f.cons, f.log, []bus.TopicPartition{tp})
		return nil
	}
	f.mu.Lock()
	over := f.overLocked(msg.Size())
	failed := f.tr.parts[tp] != nil && f.tr.parts[tp].failed
	stop := f.tr.parts[tp] != nil && f.tr.parts[tp].stop != nil && msg.Offset > f.tr.parts[tp].stop.offset
	f.mu.Unlock()
	if failed {
		bus.Pause(f.cons, f.log, []bus.TopicPartition{tp})
		return nil
	}
	if stop {
		// The partition is stopped and its stopped message is being tried
		// again: hold what follows until it got through, rather than send
		// it again on every slow retry.
		if err := f.cons.Seek(bus.Offset{TopicPartition: tp, Offset: msg.Offset}); err == nil {
			f.held[tp] = true
			bus.Pause(f.cons, f.log, []bus.TopicPartition{tp})
			return nil
		}
	}
	if over && !f.owned.Paused() {
		over = !f.waitForRoom(ctx, msg.Size())
	}
	if over || f.owned.Paused() {
		if !f.owned.Paused() {
			f.setBackpressure(true)
		}
		// Put the message back: fetch it again once the cloud caught up.
		err := f.cons.Seek(bus.Offset{TopicPartition: tp, Offset: msg.Offset})
		if err == nil {
			bus.Pause(f.cons, f.log, []bus.TopicPartition{tp})
			return nil
		}
		// It cannot be put back: send it (one message over the bound, which
		// the producer queue has room for) rather than let a later commit
		// pass over it.
		f.log.Warn("backpressure: cannot seek back; sending the message", "partition", tp.String(), "offset", msg.Offset, "err", err)
	}

	f.mu.Lock()
	cause := f.tr.deadLetterCause(tp, msg.Offset)
	f.mu.Unlock()
	out, dead, err := f.transform(msg, cause)
	size := 0
	topic := ""
	if out != nil {
		size, topic = out.Size(), out.Topic
	}
	f.mu.Lock()
	e, gen := f.tr.add(tp, msg.Offset, size, dead)
	f.inBytes += size
	f.inMsgs++
	f.m.inflightBytes.Set(float64(f.inBytes))
	f.m.inflightMsgs.Set(float64(f.inMsgs))
	f.mu.Unlock()

	start := f.now()
	if err != nil {
		// Not even a dead letter can be built: a failed delivery that
		// stops the partition.
		f.delivered(tp, gen, e, messages.DeadLetterTopic(f.cloudTopicOf(msg.Topic)), size, received, start, err)
		return nil
	}
	err = f.prod.PublishAsync(ctx, out, func(d bus.Delivery) {
		f.delivered(tp, gen, e, topic, size, received, start, d.Err)
	})
	if err != nil {
		// Not enqueued: account it as a failed delivery (rewound later,
		// with backoff). Only a closed producer ends the loop: after a
		// fatal client error libs/bus replaces the client itself, and
		// ErrFatal here means it is still being replaced (transient).
		f.delivered(tp, gen, e, topic, size, received, start, err)
		if ctx.Err() != nil || errors.Is(err, bus.ErrClosed) {
			return fmt.Errorf("cloud produce: %w", err)
		}
	}
	return nil
}

// delivered records a delivery report; it runs on the producer's delivery
// goroutine (or the loop when the message was never enqueued).
func (f *Forwarder) delivered(tp bus.TopicPartition, gen uint64, e *entry, topic string, size int, received, start time.Time, err error) {
	now := f.now()
	f.mu.Lock()
	f.inBytes -= size
	f.inMsgs--
	f.m.inflightBytes.Set(float64(f.inBytes))
	f.m.inflightMsgs.Set(float64(f.inMsgs))
	failedNow := f.tr.report(tp, gen, e, err)
	f.mu.Unlock()
	result := "ok"
	if err != nil {
		result = "error"
	} else {
		f.m.latency.Observe(now.Sub(start).Seconds())
		if f.hooks.Acked != nil {
			f.hooks.Acked(tp.Topic, size, received, now)
		}
	}
	f.m.forwarded.WithLabelValues(topic, result).Inc()
	f.m.bytes.WithLabelValues(topic, result).Add(float64(size))
	if failedNow {
		f.log.Warn("cloud delivery failed; the partition will be sent again from its oldest unacknowledged message",
			"partition", tp.String(), "offset", e.offset, "err", err)
	}
	select {
	case f.changed <- struct{}{}:
	default:
	}
}

// maintain runs between polls: backpressure release, rewinds of failed
// partitions, periodic commits.
func (f *Forwarder) maintain(ctx context.Context) {
	now := f.now()
	f.mu.Lock()
	inBytes, inMsgs, entries := f.inBytes, f.inMsgs, f.tr.entries
	var failed []bus.TopicPartition
	for tp, p := range f.tr.parts {
		if p.failed && f.retries[tp] == nil {
			failed = append(failed, tp)
		}
	}
	stopped := f.tr.stopped()
	f.mu.Unlock()
	f.reportStopped(stopped)
	for tp := range f.held {
		if _, ok := stopped[tp]; ok || f.retries[tp] != nil {
			continue
		}
		delete(f.held, tp)
		if !f.owned.Paused() {
			bus.Resume(f.cons, f.log, []bus.TopicPartition{tp})
		}
	}

	if f.owned.Paused() && inBytes <= f.cfg.MaxInflightBytes/2 && inMsgs <= f.cfg.MaxInflightMessages/2 && entries <= f.cfg.MaxInflightMessages/2 {
		f.setBackpressure(false)
	}

	for _, tp := range failed {
		bs := f.backoffs[tp]
		if bs == nil || now.Sub(bs.lastFail) > 2*f.cfg.RetryMaxInterval {
			bs = &backoffState{b: svc.Backoff{Min: 200 * time.Millisecond, Max: f.cfg.RetryMaxInterval}}
			f.backoffs[tp] = bs
		}
		bs.lastFail = now
		d := bs.b.Next()
		if _, ok := stopped[tp]; ok {
			// Stopped: nothing changes until the operator acts; retry
			// slowly so it resumes by itself once fixed.
			d = f.cfg.RetryMaxInterval
		}
		f.retries[tp] = &retryState{at: now.Add(d)}
		bus.Pause(f.cons, f.log, []bus.TopicPartition{tp})
		f.log.Debug("partition paused before it is sent again", "partition", tp.String(), "retry_in", d.String())
	}
	for tp, rs := range f.retries {
		if now.Before(rs.at) {
			continue
		}
		f.mu.Lock()
		off, ok := f.tr.rewindPoint(tp)
		f.mu.Unlock()
		if !ok {
			continue // deliveries of the failed generation still outstanding
		}
		if err := f.cons.Seek(bus.Offset{TopicPartition: tp, Offset: off}); err != nil {
			f.log.Warn("rewind seek failed; retrying", "partition", tp.String(), "offset", off, "err", err)
			rs.at = now.Add(time.Second)
			continue
		}
		f.mu.Lock()
		f.tr.rewound(tp)
		f.mu.Unlock()
		delete(f.retries, tp)
		f.m.rewinds.Inc()
		f.log.Info("partition rewound", "partition", tp.String(), "offset", off)
		if !f.owned.Paused() {
			bus.Resume(f.cons, f.log, []bus.TopicPartition{tp})
		}
	}

	if now.Sub(f.lastCommit) >= f.cfg.CommitInterval {
		f.lastCommit = now
		f.commit(ctx, nil)
	}
}
