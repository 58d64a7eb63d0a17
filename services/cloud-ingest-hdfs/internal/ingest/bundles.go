package ingest

import (
	"errors"
	"fmt"
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
	f := newAsyncWriter(hf, bundleQueueBytes, bundleQueueBlocks)
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
