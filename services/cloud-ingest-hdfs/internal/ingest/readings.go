package ingest

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/sensornode/sensornode/libs/archive"
	"github.com/sensornode/sensornode/libs/bus"
	"github.com/sensornode/sensornode/libs/messages"
)

func (in *Ingester) bufferReading(msg *bus.Message, t messages.TemperatureReading) error {
	r := readingOf(t, msg)
	id := r.Identity()
	dir, err := in.tempDirs.RenderPath(archive.Vars{Node: r.Node, T: r.ReadAt})
	if err != nil {
		return err
	}
	if _, dup := in.index.pending[id]; dup {
		in.m.messages.WithLabelValues(kindTemperature, resultDuplicate).Inc()
		return nil
	}
	tp := msg.TopicPartition()
	// The fence comes first: the directory index reads what was written
	// before the former owners' directories were removed, and nothing of
	// theirs can be written after (takeover.go).
	took, err := in.takeOver(tp, &in.part(tp).tk)
	if err != nil {
		return err
	}
	if took {
		in.index.reset() // read before this takeover
	}
	d := in.index.dir(dir)
	if d == nil {
		ids, err := loadDir(in.fs, dir, func(name string, err error) {
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
	b := in.batches[tp]
	if b == nil {
		b = newTempBatch(msg.Offset, in.now())
		in.batches[tp] = b
	}
	b.add(dir, id, r)
	in.index.pending[id] = struct{}{}
	in.m.pending.Set(float64(len(in.index.pending)))
	return nil
}

// flush writes a partition's buffered readings, one file per node-hour
// directory, each named after the offsets it holds. A file that already
// exists was written by an earlier attempt of this same flush (same
// records, same name) and is kept. Avro files have their schema file
// written first (once), so a committed one always has it beside it.
//
// The files are written in the partition's takeover directory and renamed
// from there (takeover.go), as bundles are: a flush fenced by another
// member's takeover writes nothing more, and its batch is dropped and the
// partition sought back to its first reading (nothing of it committed):
// its readings come again, and are checked against what the other member
// wrote once this member has the partition again (after the rebalance,
// its next owner does the same). seek is false when the partition is
// going away (revoked, shutdown): nothing is sought.
func (in *Ingester) flush(tp bus.TopicPartition, seek bool) error {
	b := in.batches[tp]
	if b == nil {
		return nil
	}
	tk := &in.part(tp).tk
	if tk.dir == "" {
		// Taken over when the batch's first reading was read; lost since
		// (or the partition assigned again): what the batch was checked
		// against may be out of date.
		return in.fencedFlush(tp, b, seek, errors.New("no takeover of the partition"))
	}
	format := in.cfg.TemperatureFormat
	if format == FormatAvro {
		name := in.tempDirs.Root() + "/" + archive.ReadingSchemaFile
		if err := in.writeSchema(tp, name, archive.ReadingSchemaJSON, in.workDeadline()); err != nil {
			in.writeFailed(tp, name, err)
			return fmt.Errorf("%w: %v", errHDFS, err)
		}
	}
	files := b.sorted()
	for _, f := range files {
		data, err := archive.EncodeReadings(f.rs, format)
		if err != nil {
			// Readings of one partition and plain fields: cannot happen.
			return bus.Permanent(fmt.Errorf("encode readings of %s: %w", f.dir, err))
		}
		name, done, err := in.fileFor(tp, f, data)
		if err != nil {
			return err
		}
		if done {
			continue
		}
		start := in.now()
		if err := in.writeTakenOver(tk, f.first, name, data, in.workDeadline()); err != nil {
			if !errors.Is(err, ErrFenced) && in.takenOver(tp, tk, err) {
				return in.fencedFlush(tp, b, seek, err)
			}
			in.writeFailed(tp, name, err)
			return fmt.Errorf("%w: write %s: %v", errHDFS, name, err)
		}
		in.m.writeLatency.WithLabelValues(kindTemperature).Observe(in.now().Sub(start).Seconds())
		in.m.files.WithLabelValues(kindTemperature).Inc()
		in.m.bytes.WithLabelValues(kindTemperature).Add(float64(len(data)))
	}
	for _, f := range files {
		in.index.written(f.dir, f.ids)
		in.m.stored(kindTemperature, f.node, len(f.ids))
	}
	delete(in.batches, tp)
	in.m.pending.Set(float64(len(in.index.pending)))
	in.probe.Set(condHDFS, nil)
	return nil
}

// fencedFlush gives up b, tp's batch, whose flush another member's
// takeover fenced: nothing more of it is written, nothing of it committed;
// the partition is sought back (seek) to its first reading, so that its
// readings come again and are checked against what is in HDFS by then.
func (in *Ingester) fencedFlush(tp bus.TopicPartition, b *tempBatch, seek bool, cause error) error {
	in.log.Warn("readings flush fenced: another member took the partition over; nothing more of it is written or committed, its readings are consumed again",
		"partition", tp.String(), "first", b.first, "readings", b.records, "err", cause)
	in.dropBatch(tp)
	in.index.reset()
	in.rewind(tp, b.first, seek, "a fenced readings flush")
	return fmt.Errorf("%w: flush %s: %v", errTakenOver, tp, cause)
}

// fileFor returns the path f is written to, and whether it is already
// there. The name is the offsets' (archive.TempFileName). An existing file of that
// name counts as written only if it holds every reading of f (an earlier
// attempt of this flush); if it holds other readings (the topic was
// deleted and recreated, so its offsets restarted) or cannot be parsed, f
// goes under the same name plus a hash of its content, which a retry finds
// again: the hash is of data, f's file content, or for Avro (whose
// header holds a random sync marker) of f's readings as JSON Lines. The
// existing file is kept as it is.
func (in *Ingester) fileFor(tp bus.TopicPartition, f *tempFile, data []byte) (string, bool, error) {
	base := archive.TempFileName(tp.Topic, tp.Partition, f.first, f.last, in.cfg.TemperatureFormat)
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
		there, err := in.fs.ReadFile(name)
		if err != nil {
			in.m.hdfsErrors.WithLabelValues("read").Inc()
			return "", false, fmt.Errorf("%w: read %s: %v", errHDFS, name, err)
		}
		rs, perr := archive.DecodeReadings(there, in.cfg.TemperatureFormat)
		have := make(map[string]struct{}, len(rs))
		for _, r := range rs {
			have[r.Identity()] = struct{}{}
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
		content := data
		if in.cfg.TemperatureFormat == FormatAvro {
			content, _ = archive.EncodeReadings(f.rs, FormatJSONL) // text never fails
		}
		sum := sha256.Sum256(content)
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
