package forwarder

import (
	"github.com/sensornode/sensornode/libs/bus"
)

// tracker follows, per edge partition, the messages sent to the cloud and
// not yet acknowledged, in the order they were consumed. The committable
// offset of a partition is the offset after the last message below which
// every message has been acknowledged: a message acknowledged out of order
// does not move it. It is not safe for concurrent use; the forwarder guards
// it with its mutex.
type tracker struct {
	parts   map[bus.TopicPartition]*partTrack
	nextGen uint64 // generations are unique across partitions and reassignments
	// entries counts the entries of every queue, reported or not: acknowledged
	// messages wait behind an unacknowledged one, so this, not the number
	// in flight, bounds the tracker's memory.
	entries int
}

// partTrack is one partition's state.
type partTrack struct {
	// gen changes on every rewind; deliveries of an older generation only
	// release their bytes.
	gen     uint64
	queue   []*entry // consumed, not yet contiguously acknowledged; queue[0] is the oldest
	pending int      // entries of queue without a delivery report
	// acked is the next offset to commit: everything consumed below it was
	// acknowledged by the cloud. -1 while nothing was acknowledged.
	acked int64
	// committed is the last offset committed on the edge, -1 if none yet.
	committed int64
	// failed is set by a failed delivery; the partition is paused and will
	// be rewound to its oldest unacknowledged message.
	failed  bool
	failErr error
	// deadLetter holds the edge offsets whose delivery failed permanently,
	// with the cause: when they come again after the rewind, they go to
	// the dead-letter topic. An entry goes when the offset is acknowledged.
	deadLetter map[int64]error
	// stop is set while the partition is stopped: a message at stop.offset
	// can be neither delivered nor dead-lettered. The partition is retried
	// slowly; it is cleared once everything up to stop.offset is
	// acknowledged.
	stop *stopState
}

// stopState says why a partition stopped.
type stopState struct {
	offset int64
	reason string
	err    error
}

// entry is one forwarded message.
type entry struct {
	offset int64
	size   int
	dead   bool // a dead letter, not the message itself
	done   bool // a delivery report arrived
	ok     bool // ... and it was an acknowledgement
}

func newTracker() *tracker { return &tracker{parts: map[bus.TopicPartition]*partTrack{}} }

// part returns the state of tp, creating it.
func (t *tracker) part(tp bus.TopicPartition) *partTrack {
	p := t.parts[tp]
	if p == nil {
		t.nextGen++
		p = &partTrack{gen: t.nextGen, acked: -1, committed: -1}
		t.parts[tp] = p
	}
	return p
}

// add records a consumed message about to be sent and returns its entry
// and the partition's generation.
func (t *tracker) add(tp bus.TopicPartition, offset int64, size int, dead bool) (*entry, uint64) {
	p := t.part(tp)
	e := &entry{offset: offset, size: size, dead: dead}
	p.queue = append(p.queue, e)
	p.pending++
	t.entries++
	return e, p.gen
}

// report records the delivery report of e, sent in generation gen. It
// returns true when the partition just failed (first failure of the
// generation).
func (t *tracker) report(tp bus.TopicPartition, gen uint64, e *entry, err error) (failedNow bool) {
	p := t.parts[tp]
	if p == nil || p.gen != gen || e.done {
		return false // revoked or rewound meanwhile: nothing to track
	}
	e.done = true
	e.ok = err == nil
	p.pending--
	if err != nil {
		switch act, reason := classify(err, e.dead); act {
		case actDeadLetter:
			if p.deadLetter == nil {
				p.deadLetter = map[int64]error{}
			}
			p.deadLetter[e.offset] = err
		case actStop:
			if p.stop == nil || e.offset < p.stop.offset {
				p.stop = &stopState{offset: e.offset, reason: reason, err: err}
			}
		}
		if !p.failed {
			p.failed, p.failErr = true, err
			return true
		}
		return false
	}
	delete(p.deadLetter, e.offset)
	// Pop the acknowledged head: the committable offset moves forward only
	// over an unbroken run of acknowledgements.
	n := 0
	for n < len(p.queue) && p.queue[n].ok {
		p.acked = p.queue[n].offset + 1
		n++
	}
	if p.stop != nil && p.acked > p.stop.offset {
		p.stop = nil // the message that stopped the partition got through
	}
	if n > 0 {
		clear(p.queue[:n])
		p.queue = p.queue[n:] // append reallocates once the front is used up
		t.entries -= n
	}
	return false
}

// rewindPoint returns, for a failed partition whose deliveries have all
// reported, the offset to seek to: the oldest message not acknowledged.
// Messages acknowledged after it will be sent again (at-least-once; the
// cloud side drops duplicates).
func (t *tracker) rewindPoint(tp bus.TopicPartition) (int64, bool) {
	p := t.parts[tp]
	if p == nil || !p.failed || p.pending > 0 || len(p.queue) == 0 {
		return 0, false
	}
	return p.queue[0].offset, true
}

// rewound starts a new generation once the consumer was sought back to
// rewindPoint.
func (t *tracker) rewound(tp bus.TopicPartition) {
	p := t.parts[tp]
	if p == nil {
		return
	}
	t.nextGen++
	p.gen = t.nextGen
	t.entries -= len(p.queue)
	p.queue = nil
	p.failed, p.failErr = false, nil
}

// committable lists the partitions whose acknowledged offset is ahead of
// the last commit. Only parts in keep are listed when keep is not nil.
func (t *tracker) committable(keep map[bus.TopicPartition]bool) []bus.Offset {
	var out []bus.Offset
	for tp, p := range t.parts {
		if keep != nil && !keep[tp] {
			continue
		}
		if p.acked >= 0 && p.acked > p.committed {
			out = append(out, bus.Offset{TopicPartition: tp, Offset: p.acked})
		}
	}
	return out
}

// committedTo records a successful commit.
func (t *tracker) committedTo(offs []bus.Offset) {
	for _, o := range offs {
		if p := t.parts[o.TopicPartition]; p != nil && o.Offset > p.committed {
			p.committed = o.Offset
		}
	}
}

// pendingOf counts the entries without a delivery report in parts.
func (t *tracker) pendingOf(parts []bus.TopicPartition) int {
	n := 0
	for _, tp := range parts {
		if p := t.parts[tp]; p != nil {
			n += p.pending
		}
	}
	return n
}

// deadLetterCause returns the cause when the message at offset of tp must
// go to the dead-letter topic.
func (t *tracker) deadLetterCause(tp bus.TopicPartition, offset int64) error {
	if p := t.parts[tp]; p != nil {
		return p.deadLetter[offset]
	}
	return nil
}

// stopped lists the stopped partitions.
func (t *tracker) stopped() map[bus.TopicPartition]stopState {
	out := map[bus.TopicPartition]stopState{}
	for tp, p := range t.parts {
		if p.stop != nil {
			out[tp] = *p.stop
		}
	}
	return out
}

// drop forgets partitions (revoked).
func (t *tracker) drop(parts []bus.TopicPartition) {
	for _, tp := range parts {
		if p := t.parts[tp]; p != nil {
			t.entries -= len(p.queue)
		}
		delete(t.parts, tp)
	}
}
