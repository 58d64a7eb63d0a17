package ingest

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/sensornode/sensornode/libs/bus"
)

// partState is what was processed of one partition.
type partState struct {
	next      int64 // offset after the last processed message, -1 none
	committed int64 // last committed offset, -1 none
	// rewind, after work was given up (an abandoned bundle, a fenced
	// readings flush), is the offset the partition was sought back to:
	// records above it fetched before the seek are dropped until it comes
	// again; -1 none (stale).
	rewind int64
	tk     takeover // this member's takeover of the partition (takeover.go)
}

func (in *Ingester) part(tp bus.TopicPartition) *partState {
	p := in.parts[tp]
	if p == nil {
		p = &partState{next: -1, committed: -1, rewind: -1}
		in.parts[tp] = p
	}
	return p
}

// commitPoint is the offset below which everything of tp is durable.
func (in *Ingester) commitPoint(tp bus.TopicPartition) int64 {
	if b := in.batches[tp]; b != nil {
		return b.first
	}
	if bp := in.bundles[tp]; bp != nil && bp.closing != nil {
		return bp.closing.first()
	}
	if bp := in.bundles[tp]; bp != nil && bp.open != nil {
		return bp.open.first()
	}
	if p := in.parts[tp]; p != nil {
		return p.next
	}
	return -1
}

// commit commits the durable offsets of parts in keep (all when nil).
func (in *Ingester) commit(ctx context.Context, keep map[bus.TopicPartition]bool) {
	var offs []bus.Offset
	for tp, p := range in.parts {
		if keep != nil && !keep[tp] {
			continue
		}
		if c := in.commitPoint(tp); c >= 0 && c > p.committed {
			offs = append(offs, bus.Offset{TopicPartition: tp, Offset: c})
		}
	}
	if len(offs) == 0 {
		return
	}
	if err := in.cons.Commit(ctx, offs); err != nil {
		in.m.commits.WithLabelValues("error").Inc()
		in.log.Warn("commit failed; will retry", "err", err)
		return
	}
	in.m.commits.WithLabelValues("ok").Inc()
	for _, o := range offs {
		in.parts[o.TopicPartition].committed = o.Offset
	}
}

// applyAssignment gives newly assigned partitions the current pause state
// and removes what a crashed owner left in the temporary directory.
func (in *Ingester) applyAssignment() {
	parts := in.owned.Apply(in.cons, in.log)
	if len(parts) == 0 {
		return
	}
	for _, tp := range parts {
		in.cleanup[tp] = true
	}
	in.cleanTmp()
}

// cleanTmp removes temporary files of partitions this member was just
// given: whoever wrote them crashed or lost the partition.
func (in *Ingester) cleanTmp() {
	fis, err := in.fs.ReadDir(in.cfg.HDFS.TmpDir)
	if err != nil {
		in.m.hdfsErrors.WithLabelValues("list").Inc()
		in.log.Warn("cannot list the temporary directory; cleanup retried later", "dir", in.cfg.HDFS.TmpDir, "err", err)
		return
	}
	for _, fi := range fis {
		for tp := range in.cleanup {
			if !strings.HasPrefix(fi.Name(), tmpPrefix(tp)) || !strings.HasSuffix(fi.Name(), ".tmp") {
				continue
			}
			name := strings.TrimSuffix(in.cfg.HDFS.TmpDir, "/") + "/" + fi.Name()
			if err := in.fs.Remove(name); err != nil {
				in.m.hdfsErrors.WithLabelValues("remove").Inc()
				in.log.Warn("cannot remove a leftover temporary file; retried later", "path", name, "err", err)
				return
			}
			in.m.tmpRemoved.Inc()
			in.log.Info("removed a leftover temporary file", "path", name)
		}
	}
	clear(in.cleanup)
}

func (in *Ingester) onAssigned(parts []bus.TopicPartition) {
	in.owned.Assigned(parts)
	for _, tp := range parts {
		if bp := in.bundles[tp]; bp != nil && (bp.open != nil || bp.closing != nil) {
			in.abandon(tp, abandonRevoked, errors.New("partition assigned again without a revoke"), false)
		}
		delete(in.parts, tp)
		delete(in.bundles, tp)
	}
	// Directories may have been written by the partitions' former owners.
	in.index.reset()
}

// onRevoked writes out the revoked partitions' readings (one attempt),
// commits what is durable and forgets them. Whatever is not durable is
// consumed again by the new owner.
func (in *Ingester) onRevoked(parts []bus.TopicPartition, lost bool) {
	keep := map[bus.TopicPartition]bool{}
	for _, tp := range parts {
		keep[tp] = true
		if !lost && in.batches[tp] != nil {
			if err := in.flush(tp, false); err != nil {
				in.log.Warn("rebalance: buffered readings not written; the new owner consumes them again", "partition", tp.String(), "err", err)
			}
		}
		in.dropBatch(tp)
	}
	in.closeBundles(parts, lost, abandonRevoked)
	if !lost {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		in.commit(ctx, keep)
		cancel()
	}
	for _, tp := range parts {
		delete(in.parts, tp)
		delete(in.bundles, tp)
		delete(in.cleanup, tp)
		delete(in.stopped, tp)
	}
	in.reportStopped()
	if in.blocked != nil && keep[in.blocked.partition()] {
		in.log.Info("rebalance: dropping failed work of a revoked partition; the new owner retries it", "partition", in.blocked.partition().String())
		in.unblock()
	}
	in.owned.Revoked(parts)
	in.index.reset()
}
