// Package ingest stores the cloud topics in HDFS: pictures as decoded JPEG
// files named after their key (or, SENSORNODE_PICTURE_STORE=avro, in
// bundles: Avro container files per partition, bundles.go), temperature
// readings in rolling per node-hour files named after the Kafka offsets
// they hold. Offsets are committed only once what they cover is durable in
// HDFS; redeliveries and duplicates forwarded twice are recognised and
// skipped.
package ingest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/sensornode/sensornode/libs/archive"
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
	pictures   archive.Layout
	tempDirs   archive.Layout
	cons       bus.Consumer
	parts      map[bus.TopicPartition]*partState
	batches    map[bus.TopicPartition]*tempBatch
	bundles    map[bus.TopicPartition]*bundlePart
	index      *readingIndex
	owned      bus.Owned // paused: a blocked write holds every partition
	cleanup    map[bus.TopicPartition]bool
	blocked    *blockedOp
	stopped    map[bus.TopicPartition]*blockedOp
	stopRetry  time.Duration
	backoff    svc.Backoff
	lastCheck  time.Time
	lastCommit time.Time
	// pollStart is when the last Poll began (time.Now, monotonic): the
	// last moment this member is known to have been in the group.
	pollStart time.Time
	// schemas are the schema files known to be there (writeSchema).
	schemas map[string]bool
	// fatal ends Run: a partition that could not be sought back.
	fatal error
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
// between the check and the RPC); the takeover fence closes that window
// for files named by offsets (readings files, bundles) with its
// per-takeover temporary directories (takeover.go).
func (in *Ingester) workDeadline() time.Time {
	return in.pollStart.Add(in.cfg.Kafka.SessionTimeout / 2)
}

// New creates an ingester writing to fs and dead-lettering with dlq. The
// consumer must be created with Rebalance() as its callbacks.
func New(cfg Config, fs FS, dlq bus.Publisher, log *slog.Logger, m *Metrics, probe *svc.Probe) (*Ingester, error) {
	pl, err := archive.ParseLayout(cfg.PictureLayout, []string{"key"}, nil)
	if err != nil {
		return nil, err
	}
	tl, err := archive.ParseLayout(cfg.TemperatureDirLayout, []string{"node", "yyyy", "MM", "dd", "HH"}, nil)
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
		bundles:   map[bus.TopicPartition]*bundlePart{},
		index:     newReadingIndex(cfg.TemperatureIndexDirs),
		cleanup:   map[bus.TopicPartition]bool{},
		stopped:   map[bus.TopicPartition]*blockedOp{},
		schemas:   map[string]bool{},
		stopRetry: stoppedRetry,
		backoff:   svc.Backoff{Min: 200 * time.Millisecond, Max: cfg.RetryMaxInterval},
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
			} else if in.owned.Paused() {
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
		if in.fatal != nil {
			err = in.fatal
			break
		}
	}
	in.finish()
	return err
}

// finish writes out what is buffered (one attempt) and commits.
func (in *Ingester) finish() {
	if in.blocked == nil {
		for tp := range in.batches {
			if err := in.flush(tp, false); err != nil {
				in.log.Warn("shutdown: buffered readings not written; they are consumed again on restart", "partition", tp.String(), "err", err)
				in.dropBatch(tp)
			}
		}
		in.closeBundles(nil, false, abandonShutdown)
	} else {
		in.closeBundles(nil, true, abandonShutdown)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	in.commit(ctx, nil)
}

// process stores one message. It returns an error only for failures worth
// retrying (HDFS, the dead-letter topic); bad messages are dead-lettered.
func (in *Ingester) process(ctx context.Context, msg *bus.Message) error {
	if stale, err := in.stale(msg); stale || err != nil {
		return err
	}
	kind, _, err := messages.KindOf(msg.Value, msg.Headers)
	switch {
	case err != nil:
		err = in.deadLetter(ctx, msg, kindUnknown, err)
	case kind == messages.KindPicture:
		var p messages.Picture
		if p, err = messages.DecodePicture(msg.Value, msg.Headers, in.cfg.MaxPictureBytes); err != nil {
			err = in.deadLetter(ctx, msg, kindPicture, err)
		} else {
			if in.cfg.PictureStore == StoreAvro {
				err = in.storeBundled(msg, p)
			} else {
				err = in.storePicture(msg, p)
			}
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

// maintain runs between polls while nothing is blocked: due flushes,
// leftover cleanup, commits, an HDFS check when idle.
func (in *Ingester) maintain(ctx context.Context) {
	now := in.now()
	for tp, b := range in.batches {
		if now.Sub(b.started) >= in.cfg.TemperatureRotateInterval || b.records >= in.cfg.TemperatureFlushRecords {
			if err := in.flush(tp, true); err != nil {
				t := tp
				in.block(&blockedOp{flush: &t}, err)
				return
			}
			in.lastCommit = time.Time{} // commit right away
		}
	}
	in.rollDue(now)
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
