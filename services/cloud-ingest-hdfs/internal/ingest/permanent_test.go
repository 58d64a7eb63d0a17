package ingest

import (
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/sensornode/sensornode/libs/bus/bustest"
	"github.com/sensornode/sensornode/libs/messages"
	"github.com/sensornode/sensornode/libs/svc/svctest"
)

// badReadingThenGood is a malformed temperature record (offset 0) followed
// by three readings, on tempTP, and five pictures on camTP.
func badReadingThenGood(t *testing.T, cl *bustest.Cluster) {
	t.Helper()
	at := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	appendMsg(t, cl, tempTP, messages.Encoded{Key: []byte("bad"), Value: []byte("hot"), Headers: []messages.Header{
		{Key: messages.HeaderSchema, Value: []byte("1")}, {Key: messages.HeaderKind, Value: []byte("temperature")},
		{Key: messages.HeaderNode, Value: []byte("node1")}, {Key: messages.HeaderTime, Value: []byte("2026-05-01T12:00:00Z")}}})
	for i := range 3 {
		appendMsg(t, cl, tempTP, mustReading(t, "n1", at.Add(time.Duration(i)*time.Second), 40))
	}
	for i := range 5 {
		_, e := mustPicture(t, "C1", at.Add(time.Duration(i)*time.Second), uint64(i), messages.FormBinary)
		appendMsg(t, cl, camTP, e)
	}
}

// A malformed record whose dead-letter topic does not exist stops only its
// partition (loudly), the others keep flowing, nothing is committed past it,
// and it resumes by itself once the topic exists.
func TestMissingDeadLetterTopicStopsOnlyItsPartition(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dlqTopic := messages.DeadLetterTopic(tempTP.Topic)
		cl := newCluster(dlqTopic)
		badReadingThenGood(t, cl)
		r := startWith(t, testConfig(), newMemFS(), cl, func(r *run) {
			r.in.stopRetry = 300 * time.Millisecond
		})
		svctest.Eventually(t, 10*time.Second, "pictures committed while the temperature partition is stopped", func() bool { return r.committed(camTP) == 5 })
		if c := r.committed(tempTP); c != 0 {
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
		if err := cl.CreateTopic(dlqTopic, 1, nil); err != nil {
			t.Fatal(err)
		}
		svctest.Eventually(t, 10*time.Second, "temperature resumed and committed", func() bool { return r.committed(tempTP) == 4 })
		if n := len(deadLetterRecords(cl)); n != 1 {
			t.Errorf("%d dead letters, want 1", n)
		}
		svctest.Eventually(t, 10*time.Second, "stopped gauge back to 0", func() bool { return testutil.ToFloat64(r.m.stopped) == 0 })
	})
}

// A dead letter that cannot fit its topic's limit even without the value,
// key and original headers stops only its partition.
func TestImpossibleDeadLetterStopsOnlyItsPartition(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cl := newCluster()
		badReadingThenGood(t, cl)
		cfg := testConfig()
		cfg.DLQMaxMessageBytes = 4096 + 50 // room for 50 bytes: not even the dead-letter headers
		r := startWith(t, cfg, newMemFS(), cl, func(r *run) { r.in.stopRetry = time.Hour })
		svctest.Eventually(t, 10*time.Second, "pictures committed while the temperature partition is stopped", func() bool { return r.committed(camTP) == 5 })
		if c := r.committed(tempTP); c != 0 {
			t.Errorf("temperature committed %d past the record that could not be dead-lettered", c)
		}
		if got := testutil.ToFloat64(r.m.stopped); got != 1 {
			t.Errorf("stopped_partitions = %v, want 1", got)
		}
		if !r.isPaused(tempTP) || r.isPaused(camTP) {
			t.Errorf("paused: temperature %v, camera %v; want only temperature", r.isPaused(tempTP), r.isPaused(camTP))
		}
	})
}

// A file in a readings directory that does not parse (foreign, corrupt) is
// kept, counted and left out of duplicate detection: it does not stop the
// readings of that directory.
func TestCorruptReadingsFileDoesNotBlockItsDirectory(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cl := newCluster()
		at := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
		for i := range 3 {
			appendMsg(t, cl, tempTP, mustReading(t, "n1", at.Add(time.Duration(i)*time.Second), 40))
		}
		fs := newMemFS()
		foreign := "/t/temperature/n1/2026/05/01/12/notes.jsonl"
		fs.files[foreign] = []byte("this is not a reading\n")
		r := start(t, testConfig(), fs, cl)
		svctest.Eventually(t, 10*time.Second, "readings committed", func() bool { return r.committed(tempTP) == 3 })
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
	})
}
