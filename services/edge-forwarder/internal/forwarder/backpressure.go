package forwarder

import (
	"context"
	"time"

	"github.com/sensornode/sensornode/libs/bus"
)

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

// setBackpressure pauses or resumes every owned partition (failed ones
// stay paused until their rewind).
func (f *Forwarder) setBackpressure(on bool) {
	if on {
		f.m.paused.Set(1)
		n := f.owned.SetPaused(f.cons, f.log, true, nil)
		f.log.Debug("cloud backpressure: paused the edge partitions", "partitions", n)
		return
	}
	f.m.paused.Set(0)
	n := f.owned.SetPaused(f.cons, f.log, false, func(tp bus.TopicPartition) bool { return f.retries[tp] != nil || f.held[tp] })
	f.log.Debug("cloud caught up: resumed the edge partitions", "partitions", n)
}
