package ingest

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/sensornode/sensornode/libs/bus"
)

// stoppedRetry is how often the message of a stopped partition is tried
// again: slowly, since only an operator's fix (a topic created, a limit
// raised) makes it succeed.
const stoppedRetry = time.Minute

// blockedOp is work that failed and is retried, with consumption paused,
// until it succeeds or its partition is taken away.
type blockedOp struct {
	msg     *bus.Message        // a message to process again, or
	flush   *bus.TopicPartition // a partition's readings to write again
	retryAt time.Time
	err     error
}

func (b *blockedOp) partition() bus.TopicPartition {
	if b.msg != nil {
		return b.msg.TopicPartition()
	}
	return *b.flush
}

// stop stops one partition on a permanent error of msg (a message that can
// be neither stored nor dead-lettered): only that partition is paused, the
// others keep flowing; nothing of it is committed past msg. msg is tried
// again every stopRetry, so the partition resumes by itself once the cause
// is fixed. It is loud: an ERROR log line, sensornode_ingest_stopped_partitions
// and the readiness condition "partitions".
func (in *Ingester) stop(msg *bus.Message, err error) {
	tp := msg.TopicPartition()
	op := &blockedOp{msg: msg, err: err, retryAt: in.now().Add(in.stopRetry)}
	in.stopped[tp] = op
	bus.Pause(in.cons, in.log, []bus.TopicPartition{tp})
	in.log.Error("partition stopped: a message can be neither stored nor dead-lettered; "+
		"fix the cause (create the dead-letter topic, raise its max.message.bytes and DLQ_MAX_MESSAGE_BYTES, grant access); "+
		"the other partitions go on, this one resumes by itself once the message succeeds",
		"partition", tp.String(), "offset", msg.Offset, "err", err, "retry_every", in.stopRetry)
	in.reportStopped()
}

// retryStopped tries the messages of stopped partitions whose time has come.
func (in *Ingester) retryStopped(ctx context.Context) {
	now := in.now()
	for tp, op := range in.stopped {
		if now.Before(op.retryAt) {
			continue
		}
		if err := in.process(ctx, op.msg); err != nil {
			op.err = err
			op.retryAt = in.now().Add(in.stopRetry)
			in.log.Error("partition still stopped: its message failed again", "partition", tp.String(),
				"offset", op.msg.Offset, "err", err, "retry_at", op.retryAt)
			continue
		}
		delete(in.stopped, tp)
		in.log.Info("partition resumed: its stopped message succeeded", "partition", tp.String(), "offset", op.msg.Offset)
		if !in.owned.Paused() {
			bus.Resume(in.cons, in.log, []bus.TopicPartition{tp})
		}
	}
	in.reportStopped()
}

// reportStopped exports the stopped partitions (gauge, readiness).
func (in *Ingester) reportStopped() {
	in.m.stopped.Set(float64(len(in.stopped)))
	if len(in.stopped) == 0 {
		in.probe.Set(condStopped, nil)
		return
	}
	var parts []string
	for tp, op := range in.stopped {
		parts = append(parts, fmt.Sprintf("%s@%d: %v", tp, op.msg.Offset, op.err))
	}
	sort.Strings(parts)
	in.probe.Set(condStopped, fmt.Errorf("%d partition(s) stopped on a permanent error: %s", len(parts), strings.Join(parts, "; ")))
}

// block pauses consumption and schedules op to be tried again.
func (in *Ingester) block(op *blockedOp, err error) {
	op.err = err
	op.retryAt = in.now().Add(in.backoff.Next())
	if in.blocked == nil {
		in.log.Warn("paused: work failed and is retried; nothing is committed past it",
			"partition", op.partition().String(), "err", err, "retry_at", op.retryAt)
	}
	in.blocked = op
	in.m.blocked.Set(1)
	if errors.Is(err, errHDFS) {
		in.probe.Set(condHDFS, err)
	}
	in.pauseAll()
}

// retry tries the blocked work again when its time has come.
func (in *Ingester) retry(ctx context.Context) {
	op := in.blocked
	if in.now().Before(op.retryAt) {
		return
	}
	var err error
	if op.msg != nil {
		err = in.process(ctx, op.msg)
	} else {
		err = in.flush(*op.flush, true)
	}
	if err != nil && op.msg != nil && bus.IsPermanent(err) {
		// Not worth pausing everything for: stop only its partition.
		in.unblock()
		in.stop(op.msg, err)
		return
	}
	if err != nil {
		op.err = err
		op.retryAt = in.now().Add(in.backoff.Next())
		in.log.Debug("retry failed", "err", err, "retry_at", op.retryAt)
		return
	}
	in.log.Info("resumed: the failed work succeeded", "partition", op.partition().String())
	in.unblock()
}

func (in *Ingester) unblock() {
	in.blocked = nil
	in.backoff.Reset()
	in.m.blocked.Set(0)
	in.resumeAll()
}

// putBack returns a message fetched while consumption is paused (from a
// partition assigned meanwhile): it is fetched again on resume. If it cannot
// be put back, Run stops (and the process restarts): its offset is not
// committed, so it is consumed again, whereas going on would let a later
// commit pass over it.
func (in *Ingester) putBack(msg *bus.Message) error {
	return in.putBackAt(msg.TopicPartition(), msg.Offset)
}

func (in *Ingester) putBackAt(tp bus.TopicPartition, offset int64) error {
	if p := in.parts[tp]; p != nil && p.rewind >= 0 && offset > p.rewind {
		offset = p.rewind // sought back to given-up work's start: not past it
	}
	if err := in.cons.Seek(bus.Offset{TopicPartition: tp, Offset: offset}); err != nil {
		return fmt.Errorf("put back %s@%d while paused: %w", tp, offset, err)
	}
	bus.Pause(in.cons, in.log, []bus.TopicPartition{tp})
	return nil
}

func (in *Ingester) pauseAll() {
	in.owned.SetPaused(in.cons, in.log, true, nil)
}

func (in *Ingester) resumeAll() {
	in.owned.SetPaused(in.cons, in.log, false, func(tp bus.TopicPartition) bool { return in.stopped[tp] != nil })
}
