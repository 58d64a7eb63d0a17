package forwarder

import (
	"errors"
	"testing"

	"github.com/sensornode/sensornode/libs/bus"
)

// The entry count follows adds, in-order acks, acks behind a gap, rewinds
// and drops, so it can bound memory.
func TestTrackerEntries(t *testing.T) {
	tr := newTracker()
	a := bus.TopicPartition{Topic: "a"}
	b := bus.TopicPartition{Topic: "b"}
	var ea [4]*entry
	var ga uint64
	for i := range ea {
		ea[i], ga = tr.add(a, int64(i), 1, false)
	}
	eb, gb := tr.add(b, 0, 1, false)
	steps := []struct {
		name string
		do   func()
		want int
	}{
		{"added", func() {}, 5},
		{"ack behind a gap keeps the entry", func() { tr.report(a, ga, ea[2], nil) }, 5},
		{"in-order ack pops", func() { tr.report(a, ga, ea[0], nil) }, 4},
		{"failure keeps the entry", func() { tr.report(a, ga, ea[1], errors.New("x")) }, 4},
		{"rewind clears the partition", func() { tr.report(a, ga, ea[3], nil); tr.rewound(a) }, 1},
		{"drop clears", func() { tr.drop([]bus.TopicPartition{b}) }, 0},
		{"late report of a dropped partition", func() { tr.report(b, gb, eb, nil) }, 0},
	}
	for _, s := range steps {
		s.do()
		if tr.entries != s.want {
			t.Errorf("%s: entries = %d, want %d", s.name, tr.entries, s.want)
		}
	}
}
