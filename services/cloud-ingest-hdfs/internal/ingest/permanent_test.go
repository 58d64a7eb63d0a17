package ingest

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/sensornode/sensornode/libs/bus"
	"github.com/sensornode/sensornode/libs/messages"
)

// startWith is start with a hook run on the ingester before Run.
func startWith(t *testing.T, cfg Config, fs FS, cons *fakeConsumer, dlq bus.Publisher, hook func(*Ingester)) *run {
	t.Helper()
	m := NewMetrics(prometheus.NewRegistry())
	in, err := New(cfg, fs, dlq, slog.New(slog.NewTextHandler(io.Discard, nil)), m, nil)
	if err != nil {
		t.Fatal(err)
	}
	hook(in)
	cons.reb = in.Rebalance()
	ctx, cancel := context.WithCancel(context.Background())
	r := &run{in: in, m: m, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- in.Run(ctx, cons) }()
	t.Cleanup(func() { r.stop() })
	return r
}

// badReadingThenGood is a malformed temperature record (offset 0) followed
// by three readings, on tempTP, and five pictures on camTP.
func badReadingThenGood(t *testing.T) map[bus.TopicPartition][]*bus.Message {
	t.Helper()
	logs := map[bus.TopicPartition][]*bus.Message{}
	at := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	appendMsg(logs, tempTP, messages.Encoded{Key: []byte("bad"), Value: []byte("hot"), Headers: []messages.Header{
		{Key: messages.HeaderSchema, Value: []byte("1")}, {Key: messages.HeaderKind, Value: []byte("temperature")},
		{Key: messages.HeaderNode, Value: []byte("node1")}, {Key: messages.HeaderTime, Value: []byte("2026-05-01T12:00:00Z")}}})
	for i := range 3 {
		appendMsg(logs, tempTP, mustReading(t, "n1", at.Add(time.Duration(i)*time.Second), 40))
	}
	for i := range 5 {
		_, e := mustPicture(t, "C1", at.Add(time.Duration(i)*time.Second), uint64(i), messages.FormBinary)
		appendMsg(logs, camTP, e)
	}
	return logs
}

// A malformed record whose dead-letter topic does not exist stops only its
// partition (loudly), the others keep flowing, nothing is committed past it,
// and it resumes by itself once the topic exists.
func TestMissingDeadLetterTopicStopsOnlyItsPartition(t *testing.T) {
	logs := badReadingThenGood(t)
	topics := newTopicSet()
	dlq := &fakeDLQ{topics: topics}
	cons := newFakeConsumer(logs, nil, tempTP, camTP)
	r := startWith(t, testConfig(), newMemFS(), cons, dlq, func(in *Ingester) {
		in.stopRetry = 300 * time.Millisecond
	})
	waitFor(t, "pictures committed while the temperature partition is stopped", func() bool { return cons.committedOf(camTP) == 5 })
	if c := cons.committedOf(tempTP); c != 0 {
		t.Errorf("temperature committed %d past the record that could not be dead-lettered", c)
	}
	if got := testutil.ToFloat64(r.m.stopped); got != 1 {
		t.Errorf("stopped_partitions = %v, want 1", got)
	}
	if got := testutil.ToFloat64(r.m.blocked); got != 0 {
		t.Errorf("blocked = %v, want 0 (only the one partition stops)", got)
	}
	if err := r.in.probe.Ready(); err == nil || !strings.Contains(err.Error(), condStopped) {
		t.Errorf("Ready() = %v, want %q not ready", err, condStopped)
	}
	topics.ensure([]bus.TopicSpec{{Name: messages.DeadLetterTopic(tempTP.Topic)}})
	waitFor(t, "temperature resumed and committed", func() bool { return cons.committedOf(tempTP) == 4 })
	if n := len(dlq.list()); n != 1 {
		t.Errorf("%d dead letters, want 1", n)
	}
	waitFor(t, "stopped gauge back to 0", func() bool { return testutil.ToFloat64(r.m.stopped) == 0 })
}

// A dead letter that cannot fit its topic's limit even without the value,
// key and original headers stops only its partition.
func TestImpossibleDeadLetterStopsOnlyItsPartition(t *testing.T) {
	logs := badReadingThenGood(t)
	cfg := testConfig()
	cfg.DLQMaxMessageBytes = 4096 + 50 // room for 50 bytes: not even the dead-letter headers
	cons := newFakeConsumer(logs, nil, tempTP, camTP)
	r := startWith(t, cfg, newMemFS(), cons, &fakeDLQ{}, func(in *Ingester) { in.stopRetry = time.Hour })
	waitFor(t, "pictures committed while the temperature partition is stopped", func() bool { return cons.committedOf(camTP) == 5 })
	if c := cons.committedOf(tempTP); c != 0 {
		t.Errorf("temperature committed %d past the record that could not be dead-lettered", c)
	}
	if got := testutil.ToFloat64(r.m.stopped); got != 1 {
		t.Errorf("stopped_partitions = %v, want 1", got)
	}
	if !cons.isPaused(tempTP) || cons.isPaused(camTP) {
		t.Errorf("paused: temperature %v, camera %v; want only temperature", cons.isPaused(tempTP), cons.isPaused(camTP))
	}
}

// A file in a readings directory that does not parse (foreign, corrupt) is
// kept, counted and left out of duplicate detection: it does not stop the
// readings of that directory.
func TestCorruptReadingsFileDoesNotBlockItsDirectory(t *testing.T) {
	logs := map[bus.TopicPartition][]*bus.Message{}
	at := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	for i := range 3 {
		appendMsg(logs, tempTP, mustReading(t, "n1", at.Add(time.Duration(i)*time.Second), 40))
	}
	fs := newMemFS()
	foreign := "/t/temperature/n1/2026/05/01/12/notes.jsonl"
	fs.files[foreign] = []byte("this is not a reading\n")
	cons := newFakeConsumer(logs, nil, tempTP)
	r := start(t, testConfig(), fs, cons, &fakeDLQ{})
	waitFor(t, "readings committed", func() bool { return cons.committedOf(tempTP) == 3 })
	if got := testutil.ToFloat64(r.m.unreadable); got < 1 {
		t.Errorf("unreadable_reading_files_total = %v, want >= 1", got)
	}
	if string(fs.under("/t/temperature")[foreign]) != "this is not a reading\n" {
		t.Errorf("the foreign file was changed or removed")
	}
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	delete(fs.files, foreign)
	if n := len(storedReadings(t, fs, FormatJSONL)); n != 3 {
		t.Errorf("%d readings stored, want 3", n)
	}
}
