package ingest

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/sensornode/sensornode/libs/bus"
)

// The takeover fence. Files named by offsets (bundles, readings files) are
// written in a temporary directory of this member's takeover of their
// partition (the partition assigned to it), <tmp>/<topic>+<partition>/<random
// token>, and renamed into place from there. Before its first write after
// an assignment, and before it reads what is committed in HDFS (bundle
// recovery, the readings' directory index), the new owner removes every
// other token's directory of the partition (its former owners', dead or
// zombie: one recursive delete each) and makes its own; Create never makes
// a missing directory. HDFS executes renames and deletes one at a time at
// the NameNode, so a zombie's rename either came before the new owner's
// delete, and then what the new owner reads after it holds that file (it
// skips its offsets, or its readings); or it came after, and its source is
// gone and it fails. A zombie can therefore never commit a file the new
// owner does not know of, however long it was paused between the time
// fence (workDeadline) and the NameNode.

// takeover is this member's takeover of one partition (partState.tk).
type takeover struct {
	// dir is the takeover's temporary directory; "" until the takeover is
	// done (takeOver) or after it was lost.
	dir string
	// lostAt is when this member found dir removed by another member
	// (zero: never): it takes the partition over again no sooner than a
	// session timeout later, if it still has it by then.
	lostAt time.Time
}

// errTakenOver marks work refused because another member took the
// partition over (removed this member's temporary directory): nothing is
// written until the rebalance takes the partition away, or, if it does
// not, a session timeout later (see takeOver).
var errTakenOver = errors.New("partition taken over by another member")

// tmpName is a unique temporary path in the takeover's directory.
func (tk *takeover) tmpName(offset int64) string {
	var r [4]byte
	_, _ = rand.Read(r[:])
	return fmt.Sprintf("%s/%d-%s.tmp", tk.dir, offset, hex.EncodeToString(r[:]))
}

// partTmpDir holds the takeover directories of tp.
func (in *Ingester) partTmpDir(tp bus.TopicPartition) string {
	return strings.TrimSuffix(in.cfg.HDFS.TmpDir, "/") + "/" + tp.Topic + "+" + strconv.Itoa(int(tp.Partition))
}

// takeOver fences tp's former owners: it removes every takeover directory
// of tp (theirs: this member has none yet) and makes its own; it returns
// whether it did (false: tk was taken over already). Whatever reads what
// is committed in HDFS must come after it. A member that lost its
// directory to another waits a session timeout first (the rebalance should
// take the partition away meanwhile).
func (in *Ingester) takeOver(tp bus.TopicPartition, tk *takeover) (bool, error) {
	if tk.dir != "" {
		return false, nil
	}
	if !tk.lostAt.IsZero() {
		if until := tk.lostAt.Add(in.cfg.Kafka.SessionTimeout); in.now().Before(until) {
			return false, fmt.Errorf("%w: %s: waiting for the rebalance (taken over again at %s if still assigned)", errTakenOver, tp, until.Format(time.RFC3339Nano))
		}
		in.log.Warn("partition still assigned a session timeout after another member took it over; taking it over again", "partition", tp.String())
	}
	root := in.partTmpDir(tp)
	fis, err := in.fs.ReadDir(root)
	if err != nil {
		in.m.hdfsErrors.WithLabelValues("list").Inc()
		return false, fmt.Errorf("%w: take over %s: list %s: %v", errHDFS, tp, root, err)
	}
	for _, fi := range fis {
		name := root + "/" + fi.Name()
		files := 1
		if fi.IsDir() {
			left, err := in.fs.ReadDir(name)
			if err != nil {
				in.m.hdfsErrors.WithLabelValues("list").Inc()
				return false, fmt.Errorf("%w: take over %s: list %s: %v", errHDFS, tp, name, err)
			}
			files = len(left)
		}
		if err := in.fs.RemoveAll(name); err != nil {
			in.m.hdfsErrors.WithLabelValues("remove").Inc()
			return false, fmt.Errorf("%w: take over %s: remove %s: %v", errHDFS, tp, name, err)
		}
		in.m.tmpRemoved.Add(float64(files))
		in.log.Info("removed a former owner's temporary directory (fenced: its renames from there fail)",
			"partition", tp.String(), "path", name, "files", files)
	}
	var token [8]byte
	_, _ = rand.Read(token[:])
	dir := root + "/" + hex.EncodeToString(token[:])
	if err := in.fs.MkdirAll(dir); err != nil {
		in.m.hdfsErrors.WithLabelValues("write").Inc()
		return false, fmt.Errorf("%w: take over %s: make %s: %v", errHDFS, tp, dir, err)
	}
	tk.dir, tk.lostAt = dir, time.Time{}
	return true, nil
}

// ownsTmpDir reports whether tk's directory is still there (no other
// member took the partition over since).
func (in *Ingester) ownsTmpDir(tk *takeover) (bool, error) {
	if tk.dir == "" {
		return false, nil
	}
	_, there, err := in.fs.Stat(tk.dir)
	if err != nil {
		in.m.hdfsErrors.WithLabelValues("stat").Inc()
	}
	return there, err
}

// takenOver reports whether a failed write of tp (err) failed because
// another member took the partition over (tk's directory removed): then
// the takeover is lost (counted, logged), and whatever this member read
// from HDFS under it must be read again after the next takeover.
func (in *Ingester) takenOver(tp bus.TopicPartition, tk *takeover, err error) bool {
	owned, oerr := in.ownsTmpDir(tk)
	if oerr != nil || owned || tk.dir == "" {
		return false
	}
	in.m.fenced.Inc()
	in.log.Warn("this member's temporary directory was removed: another member took the partition over; "+
		"nothing of it is committed here (this member was probably paused past its session)",
		"partition", tp.String(), "tmp_dir", tk.dir, "err", err)
	tk.dir, tk.lostAt = "", in.now()
	return true
}

// writeTakenOver writes data to a temporary file of tk and renames it to
// final: fenced by the takeover (Create needs tk's directory, the rename
// its file) and by deadline.
func (in *Ingester) writeTakenOver(tk *takeover, offset int64, final string, data []byte, deadline time.Time) error {
	tmp := tk.tmpName(offset)
	if err := fenced(deadline, "before create "+tmp); err != nil {
		return err
	}
	w, err := in.fs.Create(tmp)
	if err != nil {
		return err
	}
	_, err = w.Write(data)
	if cerr := w.Close(deadline); err == nil {
		err = cerr
	}
	if err == nil {
		err = in.fs.Rename(tmp, final, deadline)
	}
	if err != nil {
		_ = in.fs.Remove(tmp) // best effort: the partition's next owner removes it
	}
	return err
}

// rewind sets tp's commit point back to first and, when seek, seeks tp
// there, so that its records from first on come again: records above
// first fetched before the seek are dropped until it comes (stale).
func (in *Ingester) rewind(tp bus.TopicPartition, first int64, seek bool, why string) {
	p := in.part(tp)
	if p.next < 0 || first < p.next {
		p.next = first
	}
	if !seek {
		return
	}
	p.rewind = first
	if err := in.cons.Seek(bus.Offset{TopicPartition: tp, Offset: first}); err != nil && in.fatal == nil {
		in.fatal = fmt.Errorf("seek %s back to %d after %s: %w", tp, first, why, err)
	}
}

// stale reports whether msg is a record to drop unprocessed: fetched
// before its partition was sought back (above rewind), or, in the bundle
// store, already processed (below next).
//
// A record below next that no seek explains means the partition's
// offsets went back: the topic was deleted and recreated (or its log
// truncated) while this member kept the partition, so the record is new
// whatever its offset. Readings and picture files store it (a duplicate
// is found by its identity or name, as after any replay): the readings
// buffered from before are written first (an error here is retried like
// any failed work), then the partition starts afresh and its commits
// follow the new offsets. A bundle partition still drops it (committed
// bundle names and recovery from HDFS are by offset): counted and logged,
// never silent.
func (in *Ingester) stale(msg *bus.Message) (bool, error) {
	tp := msg.TopicPartition()
	p := in.parts[tp]
	if p == nil {
		return false, nil
	}
	if p.rewind >= 0 {
		if msg.Offset > p.rewind {
			return true, nil
		}
		p.rewind = -1
	}
	if p.next < 0 || msg.Offset >= p.next {
		return false, nil
	}
	if in.bundles[tp] != nil {
		in.m.offsetsBack.WithLabelValues(offsetsBackSkipped).Inc()
		in.log.Warn("record below the partition's processed offset dropped: already in a bundle, or the topic was recreated (its offsets restarted) while this member kept the partition",
			"partition", tp.String(), "offset", msg.Offset, "next", p.next)
		return true, nil
	}
	if err := in.flush(tp, false); err != nil {
		return false, err
	}
	in.m.offsetsBack.WithLabelValues(offsetsBackStored).Inc()
	in.log.Warn("offsets went back (topic deleted and recreated?): the records are new and stored; duplicates are found by identity or name",
		"partition", tp.String(), "offset", msg.Offset, "was", p.next)
	p.next, p.committed = -1, -1
	return false, nil
}
