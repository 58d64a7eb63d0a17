// Package forwarder moves pictures and temperature readings from the edge
// Kafka cluster to the cloud Kafka cluster, committing an edge offset only
// once the cloud acknowledged (acks=all) every message below it.
package forwarder

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
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
	cons          bus.Consumer
	assigned      map[bus.TopicPartition]bool
	newlyAssigned []bus.TopicPartition
	backpressured bool
	retries       map[bus.TopicPartition]*retryState
	backoffs      map[bus.TopicPartition]*backoffState
	lastCommit    time.Time
	stopped       map[bus.TopicPartition]stopState // as last reported (log, metric, readiness)
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
		assigned: map[bus.TopicPartition]bool{},
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
		f.pause([]bus.TopicPartition{tp})
		return nil
	}
	f.mu.Lock()
	over := f.overLocked(msg.Size())
	failed := f.tr.parts[tp] != nil && f.tr.parts[tp].failed
	stop := f.tr.parts[tp] != nil && f.tr.parts[tp].stop != nil && msg.Offset > f.tr.parts[tp].stop.offset
	f.mu.Unlock()
	if failed {
		f.pause([]bus.TopicPartition{tp})
		return nil
	}
	if stop {
		// The partition is stopped and its stopped message is being tried
		// again: hold what follows until it got through, rather than send
		// it again on every slow retry.
		if err := f.cons.Seek(bus.Offset{TopicPartition: tp, Offset: msg.Offset}); err == nil {
			f.held[tp] = true
			f.pause([]bus.TopicPartition{tp})
			return nil
		}
	}
	if over && !f.backpressured {
		over = !f.waitForRoom(ctx, msg.Size())
	}
	if over || f.backpressured {
		if !f.backpressured {
			f.setBackpressure(true)
		}
		// Put the message back: fetch it again once the cloud caught up.
		err := f.cons.Seek(bus.Offset{TopicPartition: tp, Offset: msg.Offset})
		if err == nil {
			f.pause([]bus.TopicPartition{tp})
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
		// Not enqueued: account it as a failed delivery (rewound later).
		f.delivered(tp, gen, e, topic, size, received, start, err)
		if ctx.Err() != nil || errors.Is(err, bus.ErrFatal) || errors.Is(err, bus.ErrClosed) {
			return fmt.Errorf("cloud produce: %w", err)
		}
	}
	return nil
}

// overLocked reports whether sending size more bytes would exceed the
// in-flight bounds. f.mu must be held.
func (f *Forwarder) overLocked(size int) bool {
	return f.inMsgs > 0 && (f.inBytes+size > f.cfg.MaxInflightBytes || f.inMsgs >= f.cfg.MaxInflightMessages) ||
		f.tr.entries >= f.cfg.MaxInflightMessages
}

// waitForRoom waits at most BackpressureWait for delivery reports to bring
// the in-flight bytes and messages under their bounds for one more message
// of size bytes. It reports whether there is room. Not polling meanwhile is
// safe: both Kafka clients heartbeat on their own goroutines, and the wait
// is far below max.poll.interval.ms.
func (f *Forwarder) waitForRoom(ctx context.Context, size int) bool {
	if f.cfg.BackpressureWait <= 0 {
		return false
	}
	timer := time.NewTimer(f.cfg.BackpressureWait)
	defer timer.Stop()
	for {
		f.mu.Lock()
		over := f.overLocked(size)
		f.mu.Unlock()
		if !over {
			return true
		}
		select {
		case <-f.changed:
		case <-timer.C:
			return false
		case <-ctx.Done():
			return false
		}
	}
}

// transform maps an edge message to what the cloud gets: the same bytes on
// the mapped topic, a re-encoded form, or a dead letter when transcoding
// is asked for and the message cannot be decoded, when the result is larger
// than the cloud's limit, or when cause is not nil (an earlier delivery
// failed permanently). dead says the result is a dead letter; err is set
// only when not even a dead letter fits (permanent).
//
// Every result is built by bus.Republished or bus.DeadLetter: the record
// timestamp is left to the cloud client and the edge timestamp travels in
// the sn-orig-time header. An edge timestamp would make a backlog that
// waited out a long outage look old to the cloud topic's time-based
// retention, and the franz client counts its delivery timeout from the
// record timestamp, so re-sent old records would time out at once.
func (f *Forwarder) transform(msg *bus.Message, cause error) (out *bus.Message, dead bool, err error) {
	r, err := route(f.routes, msg.Topic)
	if err != nil {
		return f.deadLetter(msg, f.cfg.CloudPictureTopic, err)
	}
	if cause != nil {
		return f.deadLetter(msg, r.Cloud, cause)
	}
	if f.form == 0 {
		out = bus.Republished(msg, r.Cloud)
	} else {
		var enc messages.Encoded
		switch r.Kind {
		case messages.KindPicture:
			var p messages.Picture
			if p, err = messages.DecodePicture(msg.Value, msg.Headers, f.cfg.MaxPictureBytes); err == nil {
				enc, err = messages.EncodePicture(p, f.form)
			}
		default:
			var t messages.TemperatureReading
			if t, err = messages.DecodeTemperature(msg.Value, msg.Headers); err == nil {
				enc, err = messages.EncodeTemperature(t, f.form)
			}
		}
		if err != nil {
			return f.deadLetter(msg, r.Cloud, err)
		}
		// The original time travels like that of a passed-through message.
		out = bus.Republished(&bus.Message{Key: enc.Key, Value: enc.Value, Headers: enc.Headers, Timestamp: msg.Timestamp}, r.Cloud)
	}
	if size := out.Size(); size > f.cfg.Cloud.MaxMessageBytes {
		// Transcoding can grow a message (base64 in JSON): the cloud
		// would refuse it, now and on every retry.
		return f.deadLetter(msg, r.Cloud, fmt.Errorf("%s on %s: %d bytes > SENSORNODE_CLOUD_KAFKA_MAX_MESSAGE_BYTES %d: %w",
			f.cfg.Form, r.Cloud, size, f.cfg.Cloud.MaxMessageBytes, messages.ErrTooLarge))
	}
	return out, false, nil
}

// cloudTopicOf returns the cloud topic of an edge topic (the picture topic
// when it has no route).
func (f *Forwarder) cloudTopicOf(edgeTopic string) string {
	if r, err := route(f.routes, edgeTopic); err == nil {
		return r.Cloud
	}
	return f.cfg.CloudPictureTopic
}

// deadLetter builds (bus.DeadLetter: cut to the cloud limit if needed) the
// dead letter of msg for the dead-letter topic of cloudTopic.
func (f *Forwarder) deadLetter(msg *bus.Message, cloudTopic string, cause error) (*bus.Message, bool, error) {
	reason := messages.Reason(cause)
	f.m.deadLettered.WithLabelValues(reason).Inc()
	f.log.Warn("message cannot be forwarded; sending it to the dead-letter topic",
		"topic", msg.Topic, "partition", msg.Partition, "offset", msg.Offset, "reason", reason, "err", cause)
	out, err := bus.DeadLetter(msg, messages.DeadLetterTopic(cloudTopic), cause, f.cfg.Cloud.MaxMessageBytes)
	if err != nil {
		return nil, true, fmt.Errorf("%w: %w", bus.ErrTooLarge, err)
	}
	return out, true, nil
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
		if !f.backpressured {
			f.resume([]bus.TopicPartition{tp})
		}
	}

	if f.backpressured && inBytes <= f.cfg.MaxInflightBytes/2 && inMsgs <= f.cfg.MaxInflightMessages/2 && entries <= f.cfg.MaxInflightMessages/2 {
		f.setBackpressure(false)
	}

	for _, tp := range failed {
		bs := f.backoffs[tp]
		if bs == nil || now.Sub(bs.lastFail) > 2*f.cfg.RetryBackoffMax {
			bs = &backoffState{b: svc.Backoff{Min: 200 * time.Millisecond, Max: f.cfg.RetryBackoffMax}}
			f.backoffs[tp] = bs
		}
		bs.lastFail = now
		d := bs.b.Next()
		if _, ok := stopped[tp]; ok {
			// Stopped: nothing changes until the operator acts; retry
			// slowly so it resumes by itself once fixed.
			d = f.cfg.RetryBackoffMax
		}
		f.retries[tp] = &retryState{at: now.Add(d)}
		f.pause([]bus.TopicPartition{tp})
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
		if !f.backpressured {
			f.resume([]bus.TopicPartition{tp})
		}
	}

	if now.Sub(f.lastCommit) >= f.cfg.CommitInterval {
		f.lastCommit = now
		f.commit(ctx, nil)
	}
}

// reportStopped logs, counts and exports the changes of the stopped
// partitions: an ERROR line saying what to do when a partition stops, the
// partitions_stopped gauge, and the readiness condition.
func (f *Forwarder) reportStopped(now map[bus.TopicPartition]stopState) {
	changed := false
	for tp, st := range now {
		if old, ok := f.stopped[tp]; ok && old.reason == st.reason && old.offset == st.offset {
			continue
		}
		changed = true
		f.m.partitionStops.WithLabelValues(st.reason).Inc()
		f.log.Error("edge partition stopped: a message can be neither forwarded nor dead-lettered; "+
			"other partitions go on, this one is retried every SENSORNODE_RETRY_BACKOFF_MAX and nothing past it is committed. "+
			"Fix the cause (create the dead-letter topic, or raise its max.message.bytes) and it resumes by itself",
			"partition", tp.String(), "offset", st.offset, "reason", st.reason, "dead_letter_topic", messages.DeadLetterTopic(f.cloudTopicOf(tp.Topic)),
			"retry_every", f.cfg.RetryBackoffMax.String(), "err", st.err)
	}
	for tp, st := range f.stopped {
		if _, ok := now[tp]; !ok {
			changed = true
			f.log.Info("edge partition no longer stopped (its message got through, or the partition was revoked)", "partition", tp.String(), "offset", st.offset, "reason", st.reason)
		}
	}
	if !changed {
		return
	}
	f.stopped = now
	f.m.partitionsStopped.Set(float64(len(now)))
	if f.probe == nil {
		return
	}
	var err error
	if len(now) > 0 {
		parts := make([]string, 0, len(now))
		for tp, st := range now {
			parts = append(parts, fmt.Sprintf("%s at offset %d (%s)", tp, st.offset, st.reason))
		}
		slices.Sort(parts)
		err = fmt.Errorf("%d edge partitions stopped: %s", len(parts), strings.Join(parts, ", "))
	}
	f.probe.Set(condPartitions, err)
}

// commit commits, on the edge, the acknowledged offsets of parts in keep
// (all when keep is nil).
func (f *Forwarder) commit(ctx context.Context, keep map[bus.TopicPartition]bool) {
	f.mu.Lock()
	offs := f.tr.committable(keep)
	f.mu.Unlock()
	if len(offs) == 0 {
		return
	}
	if ctx.Err() != nil {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
	}
	if err := f.cons.Commit(ctx, offs); err != nil {
		f.m.commits.WithLabelValues("error").Inc()
		f.log.Warn("edge commit failed; will retry", "err", err)
		return
	}
	f.m.commits.WithLabelValues("ok").Inc()
	f.mu.Lock()
	f.tr.committedTo(offs)
	f.mu.Unlock()
}

// setBackpressure pauses or resumes every owned partition (failed ones
// stay paused until their rewind).
func (f *Forwarder) setBackpressure(on bool) {
	f.backpressured = on
	var parts []bus.TopicPartition
	for tp := range f.assigned {
		if on || (f.retries[tp] == nil && !f.held[tp]) {
			parts = append(parts, tp)
		}
	}
	if on {
		f.m.paused.Set(1)
		f.log.Debug("cloud backpressure: pausing the edge partitions", "partitions", len(parts))
		f.pause(parts)
		return
	}
	f.m.paused.Set(0)
	f.log.Debug("cloud caught up: resuming the edge partitions", "partitions", len(parts))
	f.resume(parts)
}

func (f *Forwarder) pause(parts []bus.TopicPartition) {
	if len(parts) == 0 {
		return
	}
	if err := f.cons.Pause(parts); err != nil {
		f.log.Debug("pause", "err", err)
	}
}

func (f *Forwarder) resume(parts []bus.TopicPartition) {
	if len(parts) == 0 {
		return
	}
	if err := f.cons.Resume(parts); err != nil {
		f.log.Debug("resume", "err", err)
	}
}

// applyAssignment gives newly assigned partitions the current pause state
// (the client may or may not keep a pause across a reassignment).
func (f *Forwarder) applyAssignment() {
	if len(f.newlyAssigned) == 0 {
		return
	}
	parts := f.newlyAssigned
	f.newlyAssigned = nil
	if f.backpressured {
		f.pause(parts)
	} else {
		f.resume(parts)
	}
}

func (f *Forwarder) onAssigned(parts []bus.TopicPartition) {
	f.mu.Lock()
	f.tr.drop(parts) // start clean: the group's committed offset is the truth
	f.mu.Unlock()
	for _, tp := range parts {
		f.assigned[tp] = true
		delete(f.retries, tp)
		delete(f.held, tp)
	}
	f.newlyAssigned = append(f.newlyAssigned, parts...)
}

// onRevoked waits (at most RevokeTimeout) for the in-flight messages of
// the revoked partitions, commits what the cloud acknowledged and forgets
// them. Messages acknowledged later are sent again by the new owner.
func (f *Forwarder) onRevoked(parts []bus.TopicPartition, lost bool) {
	if !lost {
		deadline := time.NewTimer(f.cfg.RevokeTimeout)
		defer deadline.Stop()
	wait:
		for {
			f.mu.Lock()
			n := f.tr.pendingOf(parts)
			f.mu.Unlock()
			if n == 0 {
				break
			}
			select {
			case <-f.changed:
			case <-deadline.C:
				f.log.Warn("rebalance: deliveries still outstanding; they will be forwarded again by the new owner", "messages", n)
				break wait
			}
		}
		keep := make(map[bus.TopicPartition]bool, len(parts))
		for _, tp := range parts {
			keep[tp] = true
		}
		f.commit(context.Background(), keep)
	}
	f.mu.Lock()
	f.tr.drop(parts)
	f.mu.Unlock()
	for _, tp := range parts {
		delete(f.assigned, tp)
		delete(f.retries, tp)
		delete(f.held, tp)
		delete(f.backoffs, tp)
	}
	revoked := map[bus.TopicPartition]bool{}
	for _, tp := range parts {
		revoked[tp] = true
	}
	kept := f.newlyAssigned[:0]
	for _, tp := range f.newlyAssigned {
		if !revoked[tp] {
			kept = append(kept, tp)
		}
	}
	f.newlyAssigned = kept
}
