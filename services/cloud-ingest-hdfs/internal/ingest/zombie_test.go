package ingest

import (
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/sensornode/sensornode/libs/bus"
	"github.com/sensornode/sensornode/libs/bus/bustest"
	"github.com/sensornode/sensornode/libs/messages"
	"github.com/sensornode/sensornode/libs/svc/svctest"
)

// A member whose HDFS write stalls past the session timeout has been
// kicked out of the group: the partition's next owner consumes the same
// records again and writes its own readings file. When the stalled write
// completes, the zombie must not rename its file into place (two files
// holding the same offsets), and must commit nothing.
func TestZombieWriteStalledPastSessionTimeoutIsNotRenamed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := testConfig()
		cfg.Kafka.SessionTimeout = 400 * time.Millisecond
		cl := newCluster()
		// Partition 0: after the rebalances below the other member owns it
		// (range assignment: the lowest member ID gets the first partitions).
		tp := bus.TopicPartition{Topic: messages.TopicTemperature, Partition: 0}
		at := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
		for i := range 3 {
			appendMsg(t, cl, tp, mustReading(t, "n1", at.Add(time.Duration(i)*time.Second), float64(i)))
		}
		fs := newMemFS()
		var (
			stalled atomic.Bool
			zombie  *bustest.Consumer
		)
		fs.setFail(func(op, name string) bool {
			if op == "create" && strings.Contains(name, tp.Topic) && stalled.CompareAndSwap(false, true) {
				// The write hangs past the session timeout; meanwhile the
				// group rebalances without this member.
				zombie.LoseSession()
				time.Sleep(cfg.Kafka.SessionTimeout * 3 / 2)
			}
			return false
		})
		r := startWith(t, cfg, fs, cl, func(r *run) {
			zombie = r.cons
			// The next owner: a member of the group that joined after this
			// one (it gets partition 2 first, partitions 0 and 1 once the
			// zombie joined again) and writes nothing.
			other := cfg.Kafka
			other.Topics = []string{tp.Topic}
			leave, err := cl.StartMember(other)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(leave)
		})
		svctest.Eventually(t, 10*time.Second, "the stalled write", stalled.Load)
		time.Sleep(cfg.Kafka.SessionTimeout * 3)
		if err := r.stop(); err != nil {
			t.Fatal(err)
		}
		if got := fs.under("/t/temperature"); len(got) != 0 {
			for name := range got {
				t.Errorf("zombie renamed %s into place after its write outlasted the session timeout", name)
			}
		}
		if c := r.committed(tp); c > 0 {
			t.Errorf("zombie committed offset %d", c)
		}
	})
}
