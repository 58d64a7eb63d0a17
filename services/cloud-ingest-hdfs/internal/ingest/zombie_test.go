package ingest

import (
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sensornode/sensornode/libs/bus"
)

// A member whose HDFS write stalls past the session timeout has been
// kicked out of the group: the partition's next owner consumes the same
// records again and writes its own readings file. When the stalled write
// completes, the zombie must not rename its file into place (two files
// holding the same offsets), and must commit nothing.
func TestZombieWriteStalledPastSessionTimeoutIsNotRenamed(t *testing.T) {
	cfg := testConfig()
	cfg.Kafka.SessionTimeout = 400 * time.Millisecond
	logs := map[bus.TopicPartition][]*bus.Message{}
	at := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	for i := range 3 {
		appendMsg(logs, tempTP, mustReading(t, "n1", at.Add(time.Duration(i)*time.Second), float64(i)))
	}
	fs := newMemFS()
	cons := newFakeConsumer(logs, nil, tempTP)
	var stalled atomic.Bool
	fs.setFail(func(op, name string) bool {
		if op == "create" && strings.Contains(name, tempTP.Topic) && stalled.CompareAndSwap(false, true) {
			// The write hangs past the session timeout; meanwhile the
			// group rebalances without this member.
			cons.loseOnNextPoll(tempTP)
			time.Sleep(cfg.Kafka.SessionTimeout * 3 / 2)
		}
		return false
	})
	r := start(t, cfg, fs, cons, &fakeDLQ{})
	waitFor(t, "the stalled write", stalled.Load)
	time.Sleep(cfg.Kafka.SessionTimeout * 3)
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	if got := fs.under("/t/temperature"); len(got) != 0 {
		for name := range got {
			t.Errorf("zombie renamed %s into place after its write outlasted the session timeout", name)
		}
	}
	if c := cons.committedOf(tempTP); c > 0 {
		t.Errorf("zombie committed offset %d", c)
	}
}
