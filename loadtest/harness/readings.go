package harness

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"time"

	"github.com/sensornode/sensornode/libs/bus"
	"github.com/sensornode/sensornode/libs/messages"
	"github.com/sensornode/sensornode/loadtest/pipeline"
	"github.com/sensornode/sensornode/loadtest/report"
)

// The final readings check. Readings are counted by the pipeline's own
// identity (messages.ReadingIdentity: node, read second, source, value),
// which is what cloud-ingest-hdfs de-duplicates by: two readings of one
// node in one second with the same value are one reading, and ingest
// stores it once. (The temperature producer takes a reading a second on a
// ticker; a tick delayed past a second boundary by load lands in the same
// second as the next one, and one time in a few the synthetic value is the
// same. Counted to the microsecond, as before, such a pair was reported
// as one reading "missing in HDFS".) Those pairs are counted apart
// (edge_same_identity).
//
// After every service stopped, HDFS is read again (ingest writes its
// buffered readings when it stops), and a reading still not there is
// looked up where it can still be: uncommitted on the cloud temperature
// topic (ingest consumes it again when it starts: not yet written), or
// uncommitted on the edge temperature topic (not yet forwarded). One in
// neither was committed past without being stored: lost.

// readingsVerdict compares the readings on the edge with those in HDFS,
// after every service stopped.
func (br *backendRun) readingsVerdict(ctx context.Context) (report.Readings, error) {
	stored, err := br.storedReadings()
	if err != nil {
		return report.Readings{}, fmt.Errorf("reading the temperature files: %w", err)
	}
	edge, collapsed := br.readings.snapshot()
	rd := report.Readings{Edge: len(edge), HDFS: len(stored), EdgeSameIdentity: collapsed}
	for id, n := range stored {
		if n > 1 {
			rd.Duplicates += n - 1
		}
		if edge[id] == 0 {
			rd.Unexpected++
		}
	}
	var missing []string
	for id := range edge {
		if stored[id] == 0 {
			missing = append(missing, id)
		}
	}
	sort.Strings(missing)
	rd.Missing = len(missing)
	if len(missing) == 0 {
		return rd, nil
	}
	d, log := br.d, br.h.log.With("check", "readings")
	cloud, err := uncommittedReadings(ctx, d.Cluster.Cloud, d.Prefix+pipeline.CloudIngest, d.CloudTempTopic(), log)
	if err != nil {
		return rd, fmt.Errorf("looking for missing readings on the cloud topic: %w", err)
	}
	edgeLeft, err := uncommittedReadings(ctx, d.Cluster.Edge, d.Prefix+pipeline.EdgeForwarder, d.LocalTempTopic(), log)
	if err != nil {
		return rd, fmt.Errorf("looking for missing readings on the edge topic: %w", err)
	}
	for _, id := range missing {
		var where string
		switch {
		case cloud[id] != "":
			rd.NotWritten++
			where = "uncommitted at " + cloud[id]
		case edgeLeft[id] != "":
			rd.NotForwarded++
			where = "uncommitted at " + edgeLeft[id]
		default:
			rd.Lost++
			where = "lost"
		}
		if len(rd.MissingIDs) < 10 {
			rd.MissingIDs = append(rd.MissingIDs, id+" ("+where+")")
		}
	}
	return rd, nil
}

// readingsFailure is the failure message of a readings check that did
// not pass ("" if it passed).
func readingsFailure(rd report.Readings) string {
	switch {
	case rd.Edge == 0:
		return "no temperature reading reached the edge topic"
	case rd.Missing > 0 || rd.Duplicates > 0 || rd.Unexpected > 0:
		return fmt.Sprintf("temperature readings: %d on the edge, %d missing in HDFS after every service stopped "+
			"(%d lost: committed past, in no file; %d not yet written: uncommitted on the cloud topic; %d not yet forwarded: uncommitted on the edge topic), "+
			"%d duplicated, %d unexpected (first missing: %s)",
			rd.Edge, rd.Missing, rd.Lost, rd.NotWritten, rd.NotForwarded, rd.Duplicates, rd.Unexpected, strings.Join(rd.MissingIDs, ", "))
	}
	return ""
}

// uncommittedReadings reads topic as a member of group, whose own members
// have stopped: a member starts at the group's committed offsets (at the
// start where none is), so what it reads is what the group has not
// committed. It never commits. It returns the identity of every reading
// read, with where it is (topic[partition]@offset).
func uncommittedReadings(ctx context.Context, c bus.Config, group, topic string, log *slog.Logger) (map[string]string, error) {
	c.Backend = "" // the harness always observes with the default backend
	c.ClientID = "loadtest-check"
	cons, err := bus.NewConsumer(bus.ConsumerConfig{Config: c, GroupID: group, Topics: []string{topic},
		MaxFetchBytes: 1 << 20, QueueMaxBytes: 8 << 20, SessionTimeout: 10 * time.Second}, bus.WithLogger(log))
	if err != nil {
		return nil, err
	}
	defer cons.Close()
	out := map[string]string{}
	const idle = 10 * time.Second // no record for that long once assigned: read to the end
	deadline := time.Now().Add(2 * time.Minute)
	last := time.Now()
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("%s as group %s: not read to its end within 2 minutes", topic, group)
		}
		m, err := cons.Poll(ctx, 200*time.Millisecond)
		if err != nil {
			return nil, fmt.Errorf("%s as group %s: %w", topic, group, err)
		}
		if m != nil {
			last = time.Now()
			if r, err := messages.DecodeTemperature(m.Value, m.Headers); err == nil {
				out[r.Identity()] = fmt.Sprintf("%s@%d", m.TopicPartition(), m.Offset)
			}
			continue
		}
		parts, _ := cons.Assignment()
		if len(parts) == 0 {
			last = time.Now() // not in the group yet
			continue
		}
		if readToEnd(cons, parts) || time.Since(last) >= idle {
			return out, nil
		}
	}
}

// readToEnd reports whether every partition of parts is known to be read
// to its high watermark.
func readToEnd(cons bus.Consumer, parts []bus.TopicPartition) bool {
	lag, err := cons.Lag()
	if err != nil {
		return false
	}
	for _, tp := range parts {
		if l, ok := lag[tp]; !ok || l > 0 {
			return false
		}
	}
	return true
}
