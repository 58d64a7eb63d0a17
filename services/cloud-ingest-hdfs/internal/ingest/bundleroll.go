package ingest

import (
	"bytes"
	"fmt"
	"time"

	"github.com/sensornode/sensornode/libs/bundle"
	"github.com/sensornode/sensornode/libs/bus"
)

// Rolling a bundle: close it, write its index, check it overlaps no
// committed bundle, rename the index and then the bundle into place.
//
// Overlap. The bundle's blocks are written, and a bundle rolled by size
// is closed, on its writer's goroutine (bundlewriter.go), so that the
// poll loop goes on with the next pictures, into the partition's next
// bundle; the rest of that roll (index, renames) runs on the poll loop
// once the close is done and before the partition's next roll
// (finishRoll): bundles commit in offset order, the commit is held at the
// closing bundle's first offset, and a failure abandons it and the bundle
// after it together.

// roll commits tp's bundles now: the one closing (if any), then the open
// one (if any). On failure the bundles are abandoned (seek: the partition
// is sought back to the first one's first offset; false when it is being
// revoked) and the error returned.
func (in *Ingester) roll(tp bus.TopicPartition, seek bool) error {
	bp := in.bundles[tp]
	if bp.open != nil {
		if err := in.startRoll(tp, seek); err != nil {
			return err
		}
	}
	if bp.closing != nil {
		return in.finishRoll(tp, seek)
	}
	return nil
}

// startRoll rolls tp's open bundle: it finishes the roll of the bundle
// closing before (waiting for its close), then starts closing the open
// one on its writer's goroutine (bp.closing); finishRoll completes it.
// The next picture opens a new bundle meanwhile.
func (in *Ingester) startRoll(tp bus.TopicPartition, seek bool) error {
	bp := in.bundles[tp]
	if bp.closing != nil {
		if err := in.finishRoll(tp, seek); err != nil {
			return err // the open bundle was abandoned with it
		}
	}
	ob := bp.open
	_ = ob.w.Close() // nothing buffered: every Append queued its block
	ob.closed = true
	// The index's file is made here (the FS's calls stay on the poll
	// loop); the close writes out the queued blocks (a write that failed
	// fails it), then writes and closes the index, on the writer's
	// goroutine, both bounded by the work deadline of now; the renames
	// (finishRoll), by that of their own time.
	x := ob.w.Index()
	span, _ := x.Span()
	var idx bytes.Buffer
	_, _ = x.WriteTo(&idx) // a bytes.Buffer does not fail
	idxTmp := in.part(tp).tk.tmpName(span.First)
	xf, err := in.fs.Create(idxTmp)
	if err != nil {
		in.abandon(tp, in.classify(tp, bp, err), err, seek)
		return fmt.Errorf("%w: roll: create %s: %v", errHDFS, idxTmp, err)
	}
	ob.idxTmp = idxTmp
	ob.f.closeAsync(in.workDeadline(), func(deadline time.Time) error {
		if _, err := xf.Write(idx.Bytes()); err != nil {
			_ = xf.Close(deadline) // releases the lease; removed with the bundle
			return fmt.Errorf("write %s: %w", idxTmp, err)
		}
		if err := xf.Close(deadline); err != nil {
			return fmt.Errorf("close %s: %w", idxTmp, err)
		}
		return nil
	})
	bp.closing, bp.open = ob, nil
	return nil
}

// finishRoll commits tp's closing bundle: wait for its close and its
// index's write (startRoll), rename the index and then the bundle into
// place (fenced by the work deadline and by the takeover's temporary
// directory). On failure
// the bundle, and the open one after it, are abandoned (seek: the
// partition is sought back to the closing bundle's first offset) and the
// error returned.
func (in *Ingester) finishRoll(tp bus.TopicPartition, seek bool) error {
	bp := in.bundles[tp]
	ob := bp.closing
	x := ob.w.Index()
	span, _ := x.Span()
	final := in.bundleDir(tp, ob.opened) + "/" + ob.w.Name()
	fail := func(reason string, err error) error {
		in.abandon(tp, reason, err, seek)
		return fmt.Errorf("%w: roll %s: %v", errHDFS, final, err)
	}
	reason := func(err error) string { return in.classify(tp, bp, err) }
	if err := ob.f.wait(); err != nil {
		return fail(reason(err), err)
	}
	deadline := in.workDeadline()
	if err := in.checkOverlap(tp, bp, span, final); err != nil {
		bp.recovered, bp.listed = false, "" // recovered again from HDFS before the next picture
		return fail(abandonOverlap, err)
	}
	if err := in.writeSchema(tp, in.cfg.PictureBundleDir+"/"+bundle.SchemaFile, bundle.SchemaJSON, deadline); err != nil {
		return fail(reason(err), err)
	}
	idxTmp := ob.idxTmp
	// The index goes into place first, then the bundle: the bundle's
	// rename is the commit, and a committed bundle always has its index.
	// A crash between the two leaves an index without its bundle, which
	// readers (who go by bundle names) ignore; the retry of the same
	// offsets replaces it. So does a fence between the two (the
	// temporary directory removed by a new owner): the bundle's rename
	// fails and the index is left, as it may by then be the new owner's
	// index of a bundle of the same name.
	idxFinal := bundle.IndexName(final)
	if err := in.fs.Rename(idxTmp, idxFinal, deadline); err != nil {
		return fail(reason(err), err)
	}
	ob.idxTmp = "" // in place: not removed if the bundle's rename fails
	if err := in.fs.Rename(ob.tmp, final, deadline); err != nil {
		// A rename whose answer was lost may have happened; but a
		// bundle there is ours only if no one took the partition over
		// (checked after: a takeover comes before the new owner's
		// bundles).
		_, there, serr := in.fs.Stat(final)
		owned, oerr := in.ownsTmpDir(&in.part(tp).tk)
		switch {
		case serr == nil && there && oerr == nil && owned:
			// It happened.
		case oerr == nil && !owned:
			return fail(in.classify(tp, bp, err), err)
		default:
			if oerr == nil {
				_ = in.fs.Remove(idxFinal)
			}
			return fail(reason(err), err)
		}
	}
	bp.keys.add(x.Keys())
	bp.high = span.Last
	bp.closing = nil
	in.m.bundlesCommitted.Inc()
	in.m.bundleBytes.Add(float64(ob.w.Size()))
	for node, n := range ob.nodes {
		in.m.stored(kindPicture, node, n)
	}
	in.probe.Set(condHDFS, nil)
	in.lastCommit = time.Time{} // commit right away
	in.log.Info("bundle committed", "path", final, "pictures", len(x.Entries), "bytes", ob.w.Size(),
		"first", span.First, "last", span.Last, "age", in.now().Sub(ob.opened).Round(time.Millisecond))
	return nil
}

// checkOverlap refuses a bundle whose offsets a committed bundle of the
// partition holds: one known here, or one in its directory (written by
// another member).
//
// The directory is listed on the first roll into it in a takeover, not
// on every roll (a listing costs the NameNode O(bundles in the hour)):
// whatever another member committed there before this takeover's fence
// is in that first listing, and after the fence another member can only
// commit once it took the partition over in turn, which removes this
// member's temporary directory, so that this member's renames fail
// (their sources are gone) whatever a listing would have said.
func (in *Ingester) checkOverlap(tp bus.TopicPartition, bp *bundlePart, span bundle.Span, final string) error {
	if span.First <= bp.high {
		return fmt.Errorf("offsets %d-%d: a committed bundle of %s ends at %d", span.First, span.Last, tp, bp.high)
	}
	dir := final[:len(final)-len(bundle.Name(span.Topic, span.Partition, span.First, span.Last))-1]
	if dir == bp.listed {
		return nil
	}
	fis, err := in.fs.ReadDir(dir)
	if err != nil {
		in.m.hdfsErrors.WithLabelValues("list").Inc()
		return fmt.Errorf("list %s: %w", dir, err)
	}
	for _, fi := range fis {
		if s, ok := bundle.ParseName(fi.Name()); ok && s.Overlaps(span) {
			return fmt.Errorf("offsets %d-%d: committed bundle %s/%s holds some", span.First, span.Last, dir, fi.Name())
		}
	}
	bp.listed = dir
	return nil
}

// rollDue rolls the open bundles that reached their age.
func (in *Ingester) rollDue(now time.Time) {
	var oldest time.Duration
	for tp, bp := range in.bundles {
		if bp.closing != nil && bp.closing.f.closeDone() {
			_ = in.finishRoll(tp, true) // an abandoned bundle's records come again
		}
		if bp.open == nil {
			continue
		}
		age := now.Sub(bp.open.opened)
		if age >= in.cfg.PictureBundleMaxAge {
			_ = in.roll(tp, true) // an abandoned bundle's records come again
			continue
		}
		oldest = max(oldest, age)
	}
	in.m.bundleAge.Set(oldest.Seconds())
}
