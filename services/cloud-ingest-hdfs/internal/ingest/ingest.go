// Package ingest stores the cloud topics in HDFS: pictures as decoded JPEG
// files named after their key, temperature readings in rolling per
// node-hour files named after the Kafka offsets they hold. Offsets are
// committed only once what they cover is durable in HDFS; redeliveries and
// duplicates forwarded twice are recognised and skipped.
package ingest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/sensornode/sensornode/libs/bus"
	"github.com/sensornode/sensornode/libs/messages"
	"github.com/sensornode/sensornode/libs/svc"
)

// Readiness conditions.
const (
	condKafka = "cloud-kafka"
	condHDFS  = "hdfs"
	// condStopped is unmet while a partition is stopped on a permanent
	// error (see stop).
	condStopped = "partitions"
)

// stoppedRetry is how often the message of a stopped partition is tried
// again: slowly, since only an operator's fix (a topic created, a limit
// raised) makes it succeed.
const stoppedRetry = time.Minute

// errHDFS marks failures of HDFS (as opposed to the dead-letter topic).
var errHDFS = errors.New("hdfs")

// Ingester is one cloud-ingest-hdfs pipeline. Run owns everything but the
// metrics and the probe; rebalance callbacks run inside its Poll.
type Ingester struct {
	cfg        Config
	fs         FS
	dlq        bus.Publisher
	log        *slog.Logger
	m          *Metrics
	probe      *svc.Probe
	now        func() time.Time
	pictures   layout
	tempDirs   layout
	cons       bus.Consumer
	parts      map[bus.TopicPartition]*partState
	batches    map[bus.TopicPartition]*tempBatch
	index      *readingIndex
	assigned   map[bus.TopicPartition]bool
	fresh      []bus.TopicPartition // assigned, pause state not applied yet
	cleanup    map[bus.TopicPartition]bool
	paused     bool
	blocked    *blockedOp
	stopped    map[bus.TopicPartition]*blockedOp
	stopRetry  time.Duration
	backoff    svc.Backoff
	lastCheck  time.Time
	lastCommit time.Time
	// pollStart is when the last Poll began (time.Now, monotonic): the
	// last moment this member is known to have been in the group.
	pollStart time.Time
}

// workDeadline is when HDFS work started after the last Poll must be done
// (renamed into place) or abandoned: half the session timeout after the
// Poll began. Rebalance callbacks run inside Poll, so nothing in this
// process can learn of a lost membership while HDFS work runs between
// polls (and neither backend exposes the group generation); the fence is
// time instead. The group cannot give this member's partitions to another
// before it has been silent for a session timeout, which takes at least
// 3/4 of the session timeout after its last poll began (heartbeats come
// every quarter of it, from a background thread, even in a SIGSTOPped
// process none is sent), or before a rebalance timeout (franz: 60 s) or
// max.poll.interval (confluent: 300 s) has passed, both longer than the
// session timeout. Work that is not renamed into place by then is not
// committed; it is retried after the next Poll if the partition is still
// ours, else the new owner consumes it again. What remains: a rename that
// passes the check and then takes longer than the other quarter of the
// session timeout to reach the NameNode (a pause or SIGSTOP exactly
// between the check and the RPC).
func (in *Ingester) workDeadline() time.Time {
	return in.pollStart.Add(in.cfg.Kafka.SessionTimeout / 2)
}

// partState is what was processed of one partition.
type partState struct {
	next      int64 // offset after the last processed message, -1 none
	committed int64 // last committed offset, -1 none
}

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

// New creates an ingester writing to fs and dead-lettering with dlq. The
// consumer must be created with Rebalance() as its callbacks.
func New(cfg Config, fs FS, dlq bus.Publisher, log *slog.Logger, m *Metrics, probe *svc.Probe) (*Ingester, error) {
	pl, err := parseLayout(cfg.PictureLayout, []string{"key"}, nil)
	if err != nil {
		return nil, err
	}
	tl, err := parseLayout(cfg.TemperatureDirLayout, []string{"node", "yyyy", "MM", "dd", "HH"}, nil)
	if err != nil {
		return nil, err
	}
	if probe == nil {
		probe = svc.NewProbe(nil)
	}
	return &Ingester{
		cfg: cfg, fs: fs, dlq: dlq, log: log, m: m, probe: probe, now: time.Now,
		pictures: pl, tempDirs: tl,
		parts:     map[bus.TopicPartition]*partState{},
		batches:   map[bus.TopicPartition]*tempBatch{},
		index:     newReadingIndex(cfg.TemperatureIndexDirs),
		assigned:  map[bus.TopicPartition]bool{},
		cleanup:   map[bus.TopicPartition]bool{},
		stopped:   map[bus.TopicPartition]*blockedOp{},
		stopRetry: stoppedRetry,
		backoff:   svc.Backoff{Min: 200 * time.Millisecond, Max: cfg.RetryBackoffMax},
	}, nil
}

// Rebalance returns the callbacks for the consumer's config.
func (in *Ingester) Rebalance() bus.Rebalance {
	return bus.Rebalance{OnAssigned: in.onAssigned, OnRevoked: in.onRevoked}
}

const pollWait = 100 * time.Millisecond

// Run ingests until ctx is done, then writes out buffered readings and
// commits. The caller closes the consumer, the producer and fs afterwards.
func (in *Ingester) Run(ctx context.Context, cons bus.Consumer) error {
	in.cons = cons
	in.lastCommit = in.now()
	in.reportStopped()
	in.checkHDFS()
	var err error
	for ctx.Err() == nil {
		wait := pollWait
		if in.blocked != nil {
			wait = min(pollWait, max(time.Millisecond, in.blocked.retryAt.Sub(in.now())))
		}
		var msg *bus.Message
		in.pollStart = time.Now()
		msg, err = cons.Poll(ctx, wait)
		if err != nil {
			if ctx.Err() != nil {
				err = nil
				break
			}
			err = fmt.Errorf("consume: %w", err)
			break
		}
		in.applyAssignment()
		if msg != nil {
			if op := in.stopped[msg.TopicPartition()]; op != nil {
				// Fetched before the pause took effect: fetched again
				// once the stopped message is stored.
				if err = in.putBackAt(msg.TopicPartition(), op.msg.Offset+1); err != nil {
					break
				}
			} else if in.paused {
				if err = in.putBack(msg); err != nil {
					break
				}
			} else if perr := in.process(ctx, msg); perr != nil {
				if bus.IsPermanent(perr) {
					in.stop(msg, perr)
				} else {
					in.block(&blockedOp{msg: msg}, perr)
				}
			}
		}
		if in.blocked != nil {
			in.retry(ctx)
		}
		if len(in.stopped) > 0 {
			in.retryStopped(ctx)
		}
		if in.blocked == nil {
			in.maintain(ctx)
		}
	}
	in.finish()
	return err
}

// finish writes out what is buffered (one attempt) and commits.
func (in *Ingester) finish() {
	if in.blocked == nil {
		for tp := range in.batches {
			if err := in.flush(tp); err != nil {
				in.log.Warn("shutdown: buffered readings not written; they are consumed again on restart", "partition", tp.String(), "err", err)
				in.dropBatch(tp)
			}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	in.commit(ctx, nil)
}

// process stores one message. It returns an error only for failures worth
// retrying (HDFS, the dead-letter topic); bad messages are dead-lettered.
func (in *Ingester) process(ctx context.Context, msg *bus.Message) error {
	kind, _, err := messages.KindOf(msg.Value, msg.Headers)
	switch {
	case err != nil:
		err = in.deadLetter(ctx, msg, kindUnknown, err)
	case kind == messages.KindPicture:
		var p messages.Picture
		if p, err = messages.DecodePicture(msg.Value, msg.Headers, in.cfg.MaxPictureBytes); err != nil {
			err = in.deadLetter(ctx, msg, kindPicture, err)
		} else {
			err = in.storePicture(msg, p)
			if errors.Is(err, messages.ErrBadID) {
				err = in.deadLetter(ctx, msg, kindPicture, err)
			}
		}
	default:
		var t messages.TemperatureReading
		if t, err = messages.DecodeTemperature(msg.Value, msg.Headers); err != nil {
			err = in.deadLetter(ctx, msg, kindTemperature, err)
		} else {
			err = in.bufferReading(msg, t)
			if errors.Is(err, messages.ErrBadID) {
				err = in.deadLetter(ctx, msg, kindTemperature, err)
			}
		}
	}
	if err != nil {
		return err
	}
	in.part(msg.TopicPartition()).next = msg.Offset + 1
	return nil
}

// pictureKeys returns the picture's key (messages.Picture.Key: camera,
// capture second, hash; the same in both forms) and the legacy keys it may
// have been stored under before issue 11 (milliseconds in the key): the one
// computed from its capture time (exact for the binary form, ".000" for
// JSON), and the record's Kafka key when that is a well-formed legacy key
// of this very picture (same camera, second and hash), e.g. a binary
// picture transcoded to JSON by the forwarder with its key kept.
func pictureKeys(recordKey []byte, p messages.Picture) (key string, legacy []string) {
	key = p.Key()
	legacy = []string{messages.LegacyPictureKey(p.CameraID, p.CapturedAt.Truncate(time.Millisecond), p.SHA256)}
	k := string(recordKey)
	if k == legacy[0] || !messages.IsLegacyPictureKey(k) {
		return key, legacy
	}
	cam, at, _ := messages.ParsePictureKey(k)
	h, _ := messages.PictureKeyHash(k)
	want, _ := messages.PictureKeyHash(key)
	if cam == p.CameraID && at.Truncate(time.Second).Equal(p.CapturedAt.Truncate(time.Second)) && h == want {
		legacy = append(legacy, k)
	}
	return key, legacy
}

// storedLegacy reports whether the picture is already stored under one of
// its legacy keys (the migration rule of issue 11: a picture stored before
// the upgrade is not stored again under its new key).
func (in *Ingester) storedLegacy(p messages.Picture, legacy []string) (bool, error) {
	for _, k := range legacy {
		_, at, _ := messages.ParsePictureKey(k)
		name, err := in.pictures.renderPath(layoutVars{Camera: p.CameraID, Node: p.NodeID, Key: k, T: at})
		if err != nil {
			return false, err
		}
		_, exists, err := in.fs.Stat(name)
		if err != nil {
			in.m.hdfsErrors.WithLabelValues("stat").Inc()
			return false, fmt.Errorf("%w: stat %s: %v", errHDFS, name, err)
		}
		if exists {
			return true, nil
		}
	}
	return false, nil
}

func (in *Ingester) storePicture(msg *bus.Message, p messages.Picture) error {
	key, legacy := pictureKeys(msg.Key, p)
	cam, at, _ := messages.ParsePictureKey(key)
	final, err := in.pictures.renderPath(layoutVars{Camera: cam, Node: p.NodeID, Key: key, T: at})
	if err != nil {
		return err
	}
	size, exists, err := in.fs.Stat(final)
	if err != nil {
		in.m.hdfsErrors.WithLabelValues("stat").Inc()
		return fmt.Errorf("%w: stat %s: %v", errHDFS, final, err)
	}
	if !exists {
		if exists, err = in.storedLegacy(p, legacy); err != nil {
			return err
		}
		size = int64(len(p.Data)) // a legacy file is checked by name only
	}
	if exists {
		// A redelivery, or the same picture forwarded twice: the file is
		// complete (it appeared by rename), so there is nothing to do.
		if size != int64(len(p.Data)) {
			in.m.conflicts.Inc()
			in.log.Warn("picture file exists with another size; kept as it is", "path", final, "size", size, "new_size", len(p.Data))
		}
		in.m.messages.WithLabelValues(kindPicture, resultDuplicate).Inc()
		return nil
	}
	start := in.now()
	if err := in.fs.WriteAtomic(in.tmpName(msg.TopicPartition(), msg.Offset), final, p.Data, in.workDeadline()); err != nil {
		in.writeFailed(msg.TopicPartition(), final, err)
		return fmt.Errorf("%w: write %s: %v", errHDFS, final, err)
	}
	in.m.writeLatency.WithLabelValues(kindPicture).Observe(in.now().Sub(start).Seconds())
	in.m.files.WithLabelValues(kindPicture).Inc()
	in.m.bytes.WithLabelValues(kindPicture).Add(float64(len(p.Data)))
	in.m.messages.WithLabelValues(kindPicture, resultStored).Inc()
	in.probe.Set(condHDFS, nil)
	return nil
}

func (in *Ingester) bufferReading(msg *bus.Message, t messages.TemperatureReading) error {
	r := readingOf(t, msg)
	id := r.identity()
	dir, err := in.tempDirs.renderPath(layoutVars{Node: r.Node, T: r.ReadAt})
	if err != nil {
		return err
	}
	if _, dup := in.index.pending[id]; dup {
		in.m.messages.WithLabelValues(kindTemperature, resultDuplicate).Inc()
		return nil
	}
	d := in.index.dir(dir)
	if d == nil {
		ids, err := loadDir(in.fs, dir, in.cfg.TemperatureFormat, func(name string, err error) {
			in.m.unreadable.Inc()
			in.log.Warn("a file in a readings directory does not parse as readings; it is kept and left out of duplicate detection (move it away if it does not belong there)",
				"path", name, "err", err)
		})
		if err != nil {
			in.m.hdfsErrors.WithLabelValues("read").Inc()
			return fmt.Errorf("%w: index %s: %v", errHDFS, dir, err)
		}
		d = in.index.put(dir, ids)
	}
	if _, dup := d.ids[id]; dup {
		in.m.messages.WithLabelValues(kindTemperature, resultDuplicate).Inc()
		return nil
	}
	tp := msg.TopicPartition()
	b := in.batches[tp]
	if b == nil {
		b = newTempBatch(msg.Offset, in.now())
		in.batches[tp] = b
	}
	b.add(dir, in.cfg.TemperatureFormat, id, r)
	in.index.pending[id] = struct{}{}
	in.m.pending.Set(float64(len(in.index.pending)))
	return nil
}

// flush writes a partition's buffered readings, one file per node-hour
// directory, each named after the offsets it holds. A file that already
// exists was written by an earlier attempt of this same flush (same
// records, same name) and is kept.
func (in *Ingester) flush(tp bus.TopicPartition) error {
	b := in.batches[tp]
	if b == nil {
		return nil
	}
	files := b.sorted()
	for _, f := range files {
		name, done, err := in.fileFor(tp, f)
		if err != nil {
			return err
		}
		if done {
			continue
		}
		start := in.now()
		if err := in.fs.WriteAtomic(in.tmpName(tp, f.first), name, f.buf.Bytes(), in.workDeadline()); err != nil {
			in.writeFailed(tp, name, err)
			return fmt.Errorf("%w: write %s: %v", errHDFS, name, err)
		}
		in.m.writeLatency.WithLabelValues(kindTemperature).Observe(in.now().Sub(start).Seconds())
		in.m.files.WithLabelValues(kindTemperature).Inc()
		in.m.bytes.WithLabelValues(kindTemperature).Add(float64(f.buf.Len()))
	}
	for _, f := range files {
		in.index.written(f.dir, f.ids)
		in.m.messages.WithLabelValues(kindTemperature, resultStored).Add(float64(len(f.ids)))
	}
	delete(in.batches, tp)
	in.m.pending.Set(float64(len(in.index.pending)))
	in.probe.Set(condHDFS, nil)
	return nil
}

// writeFailed counts (and, when fenced, logs) a failed WriteAtomic.
func (in *Ingester) writeFailed(tp bus.TopicPartition, final string, err error) {
	in.m.hdfsErrors.WithLabelValues("write").Inc()
	if errors.Is(err, ErrFenced) {
		in.m.fenced.Inc()
		in.log.Warn("HDFS write outlasted half the Kafka session timeout since the last poll; not renamed into place, nothing committed "+
			"(this member may have been removed from the group); retried if the partition is still assigned",
			"partition", tp.String(), "path", final, "session_timeout", in.cfg.Kafka.SessionTimeout, "err", err)
	}
}

// fileFor returns the path f is written to, and whether it is already
// there. The name is the offsets' (tempFileName). An existing file of that
// name counts as written only if it holds every reading of f (an earlier
// attempt of this flush); if it holds other readings (the topic was
// deleted and recreated, so its offsets restarted) or cannot be parsed, f
// goes under the same name plus a hash of its content, which a retry finds
// again. The existing file is kept as it is.
func (in *Ingester) fileFor(tp bus.TopicPartition, f *tempFile) (string, bool, error) {
	base := tempFileName(tp.Topic, tp.Partition, f.first, f.last, in.cfg.TemperatureFormat)
	name := f.dir + "/" + base
	for attempt := 0; ; attempt++ {
		_, exists, err := in.fs.Stat(name)
		if err != nil {
			in.m.hdfsErrors.WithLabelValues("stat").Inc()
			return "", false, fmt.Errorf("%w: stat %s: %v", errHDFS, name, err)
		}
		if !exists {
			return name, false, nil
		}
		data, err := in.fs.ReadFile(name)
		if err != nil {
			in.m.hdfsErrors.WithLabelValues("read").Inc()
			return "", false, fmt.Errorf("%w: read %s: %v", errHDFS, name, err)
		}
		rs, perr := parseReadings(data, in.cfg.TemperatureFormat)
		have := make(map[string]struct{}, len(rs))
		for _, r := range rs {
			have[r.identity()] = struct{}{}
		}
		holds := perr == nil
		for _, id := range f.ids {
			if _, ok := have[id]; !ok {
				holds = false
				break
			}
		}
		if holds {
			return name, true, nil
		}
		if attempt > 0 {
			// A content-hash name holding other content: cannot happen
			// short of a hash collision or a foreign writer.
			return "", false, bus.Permanent(fmt.Errorf("readings file %s exists with other readings", name))
		}
		sum := sha256.Sum256(f.buf.Bytes())
		alt := strings.TrimSuffix(base, "."+in.cfg.TemperatureFormat) + "+" + hex.EncodeToString(sum[:4]) + "." + in.cfg.TemperatureFormat
		in.m.fileClashes.Inc()
		in.log.Warn("a readings file of the same offsets holds other readings (was the topic deleted and recreated?); it is kept, the new readings go to another name",
			"path", name, "new_path", f.dir+"/"+alt, "parse_err", perr)
		name = f.dir + "/" + alt
	}
}

// dropBatch forgets a partition's buffered readings without writing them.
// It rewinds the partition's commit point to the first of them, so that no
// commit (on shutdown, on revoke) passes an unwritten reading: they are
// consumed again.
func (in *Ingester) dropBatch(tp bus.TopicPartition) {
	b := in.batches[tp]
	if b == nil {
		return
	}
	if p := in.parts[tp]; p != nil && (p.next < 0 || b.first < p.next) {
		p.next = b.first
	}
	for _, f := range b.files {
		in.index.forget(f.ids)
	}
	delete(in.batches, tp)
	in.m.pending.Set(float64(len(in.index.pending)))
}

// deadLetter sends a malformed message, with the reason, to the
// dead-letter topic of its topic (bus.DeadLetter: stamped now, original time
// in a header, cut to fit DLQMaxMessageBytes).
func (in *Ingester) deadLetter(ctx context.Context, msg *bus.Message, kind string, cause error) error {
	reason := messages.Reason(cause)
	out, err := bus.DeadLetter(msg, messages.DeadLetterTopic(msg.Topic), cause, in.cfg.DLQMaxMessageBytes)
	if err != nil {
		return err
	}
	if _, err := in.dlq.Publish(ctx, out); err != nil {
		// A dead-letter topic confirmed missing comes back permanent
		// (bus.IsPermanent): the partition stops, see stop.
		return fmt.Errorf("dead-letter to %s: %w", out.Topic, err)
	}
	in.m.deadLettered.WithLabelValues(reason).Inc()
	in.m.messages.WithLabelValues(kind, resultDeadLetter).Inc()
	in.log.Warn("malformed message sent to the dead-letter topic", "topic", msg.Topic, "partition", msg.Partition,
		"offset", msg.Offset, "dlq", out.Topic, "reason", reason, "err", cause)
	return nil
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
	in.pauseParts([]bus.TopicPartition{tp})
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
		if !in.paused {
			if err := in.cons.Resume([]bus.TopicPartition{tp}); err != nil {
				in.log.Debug("resume", "err", err)
			}
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

// tmpName is a unique temporary path for a file of partition tp; the
// topic+partition prefix lets the next owner of the partition remove it.
func (in *Ingester) tmpName(tp bus.TopicPartition, offset int64) string {
	var r [4]byte
	_, _ = rand.Read(r[:])
	return fmt.Sprintf("%s/%s-%s.tmp", strings.TrimSuffix(in.cfg.HDFS.TmpDir, "/"), tmpPrefix(tp)+strconv.FormatInt(offset, 10), hex.EncodeToString(r[:]))
}

func tmpPrefix(tp bus.TopicPartition) string {
	return tp.Topic + "+" + strconv.Itoa(int(tp.Partition)) + "+"
}

func (in *Ingester) part(tp bus.TopicPartition) *partState {
	p := in.parts[tp]
	if p == nil {
		p = &partState{next: -1, committed: -1}
		in.parts[tp] = p
	}
	return p
}

// commitPoint is the offset below which everything of tp is durable.
func (in *Ingester) commitPoint(tp bus.TopicPartition) int64 {
	if b := in.batches[tp]; b != nil {
		return b.first
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

// maintain runs between polls while nothing is blocked: due flushes,
// leftover cleanup, commits, an HDFS check when idle.
func (in *Ingester) maintain(ctx context.Context) {
	now := in.now()
	for tp, b := range in.batches {
		if now.Sub(b.started) >= in.cfg.TemperatureRotateInterval || b.records >= in.cfg.TemperatureFlushRecords {
			if err := in.flush(tp); err != nil {
				t := tp
				in.block(&blockedOp{flush: &t}, err)
				return
			}
			in.lastCommit = time.Time{} // commit right away
		}
	}
	if len(in.cleanup) > 0 {
		in.cleanTmp()
	}
	if now.Sub(in.lastCommit) >= in.cfg.CommitInterval {
		in.lastCommit = now
		in.commit(ctx, nil)
	}
	if now.Sub(in.lastCheck) >= in.cfg.CheckInterval {
		in.checkHDFS()
	}
}

func (in *Ingester) checkHDFS() {
	in.lastCheck = in.now()
	err := in.fs.Ping()
	if err != nil {
		in.m.hdfsErrors.WithLabelValues("ping").Inc()
	}
	in.probe.Set(condHDFS, err)
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
		err = in.flush(*op.flush)
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
	if err := in.cons.Seek(bus.Offset{TopicPartition: tp, Offset: offset}); err != nil {
		return fmt.Errorf("put back %s@%d while paused: %w", tp, offset, err)
	}
	in.pauseParts([]bus.TopicPartition{tp})
	return nil
}

func (in *Ingester) pauseAll() {
	in.paused = true
	in.pauseParts(in.assignedList())
}

func (in *Ingester) resumeAll() {
	in.paused = false
	var parts []bus.TopicPartition
	for _, tp := range in.assignedList() {
		if in.stopped[tp] == nil {
			parts = append(parts, tp)
		}
	}
	if err := in.cons.Resume(parts); err != nil {
		in.log.Debug("resume", "err", err)
	}
}

func (in *Ingester) pauseParts(parts []bus.TopicPartition) {
	if len(parts) == 0 {
		return
	}
	if err := in.cons.Pause(parts); err != nil {
		in.log.Debug("pause", "err", err)
	}
}

func (in *Ingester) assignedList() []bus.TopicPartition {
	out := make([]bus.TopicPartition, 0, len(in.assigned))
	for tp := range in.assigned {
		out = append(out, tp)
	}
	return out
}

// applyAssignment gives newly assigned partitions the current pause state
// and removes what a crashed owner left in the temporary directory.
func (in *Ingester) applyAssignment() {
	if len(in.fresh) == 0 {
		return
	}
	parts := in.fresh
	in.fresh = nil
	if in.paused {
		in.pauseParts(parts)
	} else if err := in.cons.Resume(parts); err != nil {
		in.log.Debug("resume", "err", err)
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
	for _, tp := range parts {
		in.assigned[tp] = true
		delete(in.parts, tp)
	}
	in.fresh = append(in.fresh, parts...)
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
			if err := in.flush(tp); err != nil {
				in.log.Warn("rebalance: buffered readings not written; the new owner consumes them again", "partition", tp.String(), "err", err)
			}
		}
		in.dropBatch(tp)
	}
	if !lost {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		in.commit(ctx, keep)
		cancel()
	}
	for _, tp := range parts {
		delete(in.parts, tp)
		delete(in.assigned, tp)
		delete(in.cleanup, tp)
		delete(in.stopped, tp)
	}
	in.reportStopped()
	if in.blocked != nil && keep[in.blocked.partition()] {
		in.log.Info("rebalance: dropping failed work of a revoked partition; the new owner retries it", "partition", in.blocked.partition().String())
		in.unblock()
	}
	kept := in.fresh[:0]
	for _, tp := range in.fresh {
		if !keep[tp] {
			kept = append(kept, tp)
		}
	}
	in.fresh = kept
	in.index.reset()
}
