package forwarder

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/sensornode/sensornode/libs/bus"
	"github.com/sensornode/sensornode/libs/messages"
)

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
			"other partitions go on, this one is retried every SENSORNODE_RETRY_MAX_INTERVAL and nothing past it is committed. "+
			"Fix the cause (create the dead-letter topic, or raise its max.message.bytes) and it resumes by itself",
			"partition", tp.String(), "offset", st.offset, "reason", st.reason, "dead_letter_topic", messages.DeadLetterTopic(f.cloudTopicOf(tp.Topic)),
			"retry_every", f.cfg.RetryMaxInterval.String(), "err", st.err)
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

// applyAssignment gives newly assigned partitions the current pause state
// (the client may or may not keep a pause across a reassignment).
func (f *Forwarder) applyAssignment() { f.owned.Apply(f.cons, f.log) }

func (f *Forwarder) onAssigned(parts []bus.TopicPartition) {
	f.mu.Lock()
	f.tr.drop(parts) // start clean: the group's committed offset is the truth
	f.mu.Unlock()
	f.owned.Assigned(parts)
	for _, tp := range parts {
		delete(f.retries, tp)
		delete(f.held, tp)
	}
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
	f.owned.Revoked(parts)
	for _, tp := range parts {
		delete(f.retries, tp)
		delete(f.held, tp)
		delete(f.backoffs, tp)
	}
}
