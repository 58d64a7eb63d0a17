package ingest

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"slices"
	"sort"
	"strconv"
	"time"

	"github.com/sensornode/sensornode/libs/bundle"
	"github.com/sensornode/sensornode/libs/bus"
	"github.com/sensornode/sensornode/libs/messages"
)

// Picture stores (SENSORNODE_PICTURE_STORE).
const (
	StoreFiles = "files"
	StoreAvro  = "avro"
)

// Reasons a bundle is abandoned (label values).
const (
	abandonFenced   = "fenced"
	abandonError    = "error"
	abandonOverlap  = "overlap"
	abandonRevoked  = "revoked"
	abandonShutdown = "shutdown"
)

// The bundle store (SENSORNODE_PICTURE_STORE=avro) appends a partition's
// pictures to one open bundle (libs/bundle: an Avro container file),
// streamed to a temporary HDFS file. It is rolled by size or age: closed,
// its index written, the index and then the bundle renamed into place
// under a name holding its first and last offset; only then are its
// offsets committed (commitPoint holds the commit at the open bundle's
// first offset, as it does for a temperature batch). Whatever goes wrong
// before the rename abandons the bundle: the temporary file is removed,
// nothing is committed, the partition is rewound to the bundle's first
// offset and its records are consumed again.
//
// Overlap. The bundle's blocks are written, and a bundle rolled by size
// is closed, on its writer's goroutine (bundlewriter.go), so that the
// poll loop goes on with the next pictures, into the partition's next
// bundle; the rest of that roll (index, renames) runs on the poll loop
// once the close is done and before the partition's next roll
// (finishRoll): bundles commit in offset order, the commit is held at the
// closing bundle's first offset, and a failure abandons it and the bundle
// after it together.
//
// Fence. Bundles and their indexes are written in the temporary
// directory of this member's takeover of the partition and renamed from
// there (takeover.go); on the first picture after an assignment the new
// owner takes the partition over (removing its former owners'
// directories) before recovery lists the committed bundles. A zombie can
// therefore never commit a bundle the new owner does not know of, however
// long it was paused between the time fence (workDeadline) and the
// NameNode.

// openBundle is a bundle being written.
type openBundle struct {
	start int64 // the offset it was opened for (its first once appended)
	tmp   string
	// idxTmp is its index's temporary file, written on the writer's
	// goroutine once the bundle is closed ("" until the roll starts).
	idxTmp string
	f      *asyncWriter // the temporary file, written on its own goroutine
	w      *bundle.Writer
	opened time.Time // when its first picture was read: its directory, its age
	keys   map[string]struct{}
	nodes  map[string]int // pictures by node id, for the stored metric
	closed bool
}

func (b *openBundle) first() int64 { return b.start }

// bundlePart is the bundle store's state of one assigned partition.
type bundlePart struct {
	recovered bool
	// high is the last offset of the partition's newest committed bundle
	// known (recovered from HDFS, or committed here); -1 none. Records up
	// to it are in a committed bundle already.
	high int64
	open *openBundle
	// closing is a bundle rolled by size whose file is closing on its
	// writer's goroutine while the next bundle is appended to (open);
	// finishRoll completes its roll (index, renames) on the poll loop,
	// before the next roll of the partition. Its offsets precede open's:
	// the commit is held at its first offset, and if it fails both are
	// abandoned.
	closing *openBundle
	keys    *keyIndex
	// listed is the bundle directory the overlap check listed in this
	// takeover (""; none yet): see checkOverlap.
	listed string
}

// keyIndex holds the keys of a partition's newest committed bundles, at
// most max keys (whole bundles are evicted, oldest first; the newest
// bundle stays even if it alone holds more).
type keyIndex struct {
	max     int
	n       int
	set     map[string]struct{}
	bundles [][]string // oldest first
}

func newKeyIndex(max int) *keyIndex { return &keyIndex{max: max, set: map[string]struct{}{}} }

func (x *keyIndex) has(key string) bool {
	_, ok := x.set[key]
	return ok
}

// add indexes the keys of a bundle newer than those indexed.
func (x *keyIndex) add(keys []string) {
	x.bundles = append(x.bundles, keys)
	x.n += len(keys)
	for _, k := range keys {
		x.set[k] = struct{}{}
	}
	for x.n > x.max && len(x.bundles) > 1 {
		for _, k := range x.bundles[0] {
			delete(x.set, k)
		}
		x.n -= len(x.bundles[0])
		x.bundles = x.bundles[1:]
	}
}

// bundleDir is the directory of a bundle of tp whose first picture was
// read at t.
func (in *Ingester) bundleDir(tp bus.TopicPartition, t time.Time) string {
	t = t.UTC()
	return fmt.Sprintf("%s/%04d/%02d/%02d/%02d", in.partitionDir(tp), t.Year(), int(t.Month()), t.Day(), t.Hour())
}

func (in *Ingester) partitionDir(tp bus.TopicPartition) string {
	return in.cfg.PictureBundleDir + "/" + tp.Topic + "/" + strconv.Itoa(int(tp.Partition))
}

// storeBundled appends a picture to its partition's open bundle (opening
// one if none is), unless a committed bundle or the open one holds it
// already (its offset, or its key).
func (in *Ingester) storeBundled(msg *bus.Message, p messages.Picture) error {
	if err := messages.CheckID("camera", p.CameraID); err != nil {
		return err
	}
	tp := msg.TopicPartition()
	bp, err := in.bundlePart(tp)
	if err != nil {
		return err
	}
	key := p.Key()
	if msg.Offset <= bp.high || bp.keys.has(key) {
		in.m.messages.WithLabelValues(kindPicture, resultDuplicate).Inc()
		return nil
	}
	if bp.closing != nil {
		if _, dup := bp.closing.keys[key]; dup {
			in.m.messages.WithLabelValues(kindPicture, resultDuplicate).Inc()
			return nil
		}
	}
	if bp.open != nil {
		if _, dup := bp.open.keys[key]; dup {
			in.m.messages.WithLabelValues(kindPicture, resultDuplicate).Inc()
			return nil
		}
	} else if err := in.openBundle(tp, bp, msg.Offset); err != nil {
		return err
	}
	if err := bp.open.w.Append(bundle.RecordOf(p, tp.Topic, tp.Partition, msg.Offset)); err != nil {
		in.abandon(tp, in.classify(tp, bp, err), err, true)
		return fmt.Errorf("%w: append to bundle: %v", errHDFS, err)
	}
	bp.open.keys[key] = struct{}{}
	bp.open.nodes[p.NodeID]++
	if bp.open.w.Size() >= in.cfg.PictureBundleMaxBytes {
		return in.startRoll(tp, true)
	}
	return nil
}

func (in *Ingester) openBundle(tp bus.TopicPartition, bp *bundlePart, offset int64) error {
	tmp := in.part(tp).tk.tmpName(offset)
	hf, err := in.fs.Create(tmp)
	if err != nil {
		if in.classify(tp, bp, err) == abandonFenced {
			return fmt.Errorf("%w: create %s: %v", errTakenOver, tmp, err)
		}
		return fmt.Errorf("%w: create %s: %v", errHDFS, tmp, err)
	}
	f := newAsyncWriter(hf, bundleQueueBlocks)
	w, err := bundle.NewWriter(f, tp.Topic, tp.Partition, [16]byte{})
	if err != nil {
		f.abort()
		_ = in.fs.Remove(tmp)
		in.m.hdfsErrors.WithLabelValues("write").Inc()
		return fmt.Errorf("%w: start bundle %s: %v", errHDFS, tmp, err)
	}
	bp.open = &openBundle{start: offset, tmp: tmp, f: f, w: w, opened: in.now(), keys: map[string]struct{}{}, nodes: map[string]int{}}
	return nil
}

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

// classify names (and counts) the reason of a failed bundle operation:
// fenced by time (ErrFenced), fenced by a takeover (the temporary
// directory removed by another member: the takeover is lost, bp must be
// taken over and recovered again), or an HDFS error.
func (in *Ingester) classify(tp bus.TopicPartition, bp *bundlePart, err error) string {
	if errors.Is(err, ErrFenced) {
		in.m.fenced.Inc()
		return abandonFenced
	}
	if in.takenOver(tp, &in.part(tp).tk, err) {
		bp.recovered = false
		return abandonFenced
	}
	in.m.hdfsErrors.WithLabelValues("write").Inc()
	return abandonError
}

// writeSchema writes a schema file (name) beside the data, once: the
// bundle store's, and the Avro readings'.
func (in *Ingester) writeSchema(tp bus.TopicPartition, name, schema string, deadline time.Time) error {
	if in.schemas[name] {
		return nil
	}
	_, there, err := in.fs.Stat(name)
	if err != nil {
		return fmt.Errorf("stat %s: %w", name, err)
	}
	if !there {
		if err := in.fs.WriteAtomic(in.tmpName(tp, 0), name, []byte(schema), deadline); err != nil {
			return fmt.Errorf("write %s: %w", name, err)
		}
	}
	in.schemas[name] = true
	return nil
}

// abandon gives up tp's bundles (the one closing, if any, and the open
// one): their temporary files are removed, nothing of them is committed,
// and (seek) the partition is sought back to the first one's first offset
// so that their records come again.
func (in *Ingester) abandon(tp bus.TopicPartition, reason string, cause error, seek bool) {
	bp := in.bundles[tp]
	first := int64(-1)
	for _, ob := range []*openBundle{bp.closing, bp.open} {
		if ob == nil {
			continue
		}
		if first < 0 {
			first = ob.first()
		}
		in.drop(tp, ob, reason, cause)
	}
	bp.closing, bp.open = nil, nil
	if first >= 0 {
		in.rewind(tp, first, seek, "abandoning its bundle")
	}
}

// drop removes an abandoned bundle's temporary file.
func (in *Ingester) drop(tp bus.TopicPartition, ob *openBundle, reason string, cause error) {
	if !ob.closed {
		_ = ob.w.Close()
	}
	ob.f.abort() // drops the queued blocks (or waits for the close and the index), releases the lease; the file goes anyway
	for _, tmp := range []string{ob.tmp, ob.idxTmp} {
		if tmp == "" {
			continue
		}
		if err := in.fs.Remove(tmp); err != nil {
			in.log.Warn("cannot remove an abandoned bundle's temporary file; the partition's next owner removes it", "path", tmp, "err", err)
		}
	}
	first, last := ob.first(), ob.first()
	if n := ob.w.Len(); n > 0 {
		last = ob.w.Index().Entries[n-1].Offset
	}
	in.m.bundlesAbandoned.WithLabelValues(reason).Inc()
	in.log.Warn("bundle abandoned: nothing of it committed, its records are consumed again", "partition", tp.String(),
		"reason", reason, "first", first, "last", last, "pictures", ob.w.Len(), "err", cause)
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

// closeBundles rolls (or, when lost, abandons) the open bundles of parts
// (all when nil), without seeking: the partitions are going away.
func (in *Ingester) closeBundles(parts []bus.TopicPartition, lost bool, why string) {
	if parts == nil {
		for tp := range in.bundles {
			parts = append(parts, tp)
		}
	}
	for _, tp := range parts {
		bp := in.bundles[tp]
		if bp == nil || (bp.open == nil && bp.closing == nil) {
			continue
		}
		if lost {
			in.abandon(tp, why, errors.New("partition lost"), false)
			continue
		}
		if err := in.roll(tp, false); err != nil {
			in.log.Warn(why+": open bundle not committed; its records are consumed again", "partition", tp.String(), "err", err)
		}
	}
}

// bundlePart returns tp's state, recovering it from HDFS first if needed:
// the highest last offset of its committed bundles (records up to it are
// skipped, so no two committed bundles overlap after a crash between a
// rename and its commit), and the keys of its newest bundles.
func (in *Ingester) bundlePart(tp bus.TopicPartition) (*bundlePart, error) {
	bp := in.bundles[tp]
	if bp == nil {
		bp = &bundlePart{high: -1}
		in.bundles[tp] = bp
	}
	if bp.recovered {
		return bp, nil
	}
	// The fence comes first: recovery lists what was committed before
	// the former owners' directories were removed, and nothing of theirs
	// can be committed after.
	if _, err := in.takeOver(tp, &in.part(tp).tk); err != nil {
		return nil, err
	}
	bp.listed = ""
	high, found, err := in.recoverBundles(tp)
	if err != nil {
		in.m.hdfsErrors.WithLabelValues("read").Inc()
		return nil, fmt.Errorf("%w: recover %s from its bundles: %v", errHDFS, tp, err)
	}
	bp.high, bp.recovered = high, true
	bp.keys = newKeyIndex(in.cfg.PictureBundleIndexKeys)
	for _, x := range found {
		bp.keys.add(x.Keys())
	}
	in.log.Info("bundle store: partition recovered from HDFS", "partition", tp.String(), "committed_up_to", high,
		"bundles_indexed", len(bp.keys.bundles), "keys_indexed", bp.keys.n)
	return bp, nil
}

// recoverSlackHours is how many hour directories recovery lists (names
// only) past the one where the key index filled up: bundles go by their
// writer's clock, so a newer bundle of a member whose clock was behind
// may sit in an older hour.
const recoverSlackHours = 24

// recoverBundles lists tp's committed bundles, newest hour first, until
// the indexes read hold PictureBundleIndexKeys keys (the hour where that
// happens is read whole), and the names of recoverSlackHours hours more:
// the highest last offset among them (-1 none) and the indexes read,
// oldest first.
func (in *Ingester) recoverBundles(tp bus.TopicPartition) (int64, []bundle.Index, error) {
	high := int64(-1)
	var found []bundle.Index
	keys, slack := 0, -1
	visit := func(dir string) (bool, error) {
		fis, err := in.fs.ReadDir(dir)
		if err != nil {
			return false, err
		}
		if slack >= 0 {
			slack++
		}
		for _, fi := range fis {
			s, ok := bundle.ParseName(fi.Name())
			if !ok || s.Topic != tp.Topic || s.Partition != tp.Partition {
				continue
			}
			high = max(high, s.Last)
			if slack >= 0 {
				continue // names only
			}
			name := dir + "/" + bundle.IndexName(fi.Name())
			b, err := in.fs.ReadFile(name)
			if errors.Is(err, os.ErrNotExist) {
				in.m.bundleNoIndex.Inc()
				in.log.Warn("committed bundle without its index: its keys are outside the duplicate key index", "path", dir+"/"+fi.Name())
				continue
			}
			if err != nil {
				return false, err
			}
			x, err := bundle.ParseIndex(bytes.NewReader(b))
			if err != nil {
				in.m.bundleNoIndex.Inc()
				in.log.Warn("bundle index does not parse: its keys are outside the duplicate key index", "path", name, "err", err)
				continue
			}
			found = append(found, x)
			keys += len(x.Entries)
		}
		if slack < 0 && keys >= in.cfg.PictureBundleIndexKeys {
			slack = 0
		}
		return slack >= recoverSlackHours, nil
	}
	if _, err := in.walkNewest(in.partitionDir(tp), 4, visit); err != nil {
		return 0, nil, err
	}
	found = slices.DeleteFunc(found, func(x bundle.Index) bool { return len(x.Entries) == 0 })
	sort.Slice(found, func(i, j int) bool { return found[i].Entries[0].Offset < found[j].Entries[0].Offset })
	return high, found, nil
}

// walkNewest visits the directories depth levels below dir, newest name
// first, until visit says stop.
func (in *Ingester) walkNewest(dir string, depth int, visit func(dir string) (bool, error)) (bool, error) {
	if depth == 0 {
		return visit(dir)
	}
	fis, err := in.fs.ReadDir(dir)
	if err != nil {
		return false, err
	}
	var subs []string
	for _, fi := range fis {
		if fi.IsDir() {
			subs = append(subs, fi.Name())
		}
	}
	sort.Sort(sort.Reverse(sort.StringSlice(subs)))
	for _, s := range subs {
		if stop, err := in.walkNewest(dir+"/"+s, depth-1, visit); err != nil || stop {
			return stop, err
		}
	}
	return false, nil
}
