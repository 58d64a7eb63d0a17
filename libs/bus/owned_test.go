package bus

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
)

// pauseLog records Pause and Resume calls as "P t/0,t/1" and "R t/2".
type pauseLog struct{ calls []string }

func (p *pauseLog) record(op string, parts []TopicPartition) error {
	s := make([]string, len(parts))
	for i, tp := range parts {
		s[i] = fmt.Sprintf("%s/%d", tp.Topic, tp.Partition)
	}
	slices.Sort(s)
	p.calls = append(p.calls, op+" "+strings.Join(s, ","))
	return errors.New("not owned") // logged, never returned
}

func (p *pauseLog) Pause(parts []TopicPartition) error  { return p.record("P", parts) }
func (p *pauseLog) Resume(parts []TopicPartition) error { return p.record("R", parts) }

func tps(ns ...int32) []TopicPartition {
	out := make([]TopicPartition, len(ns))
	for i, n := range ns {
		out[i] = TopicPartition{Topic: "t", Partition: n}
	}
	return out
}

// The pause state reaches partitions assigned while paused
// (and while not), revoked ones are neither owned nor given a state, and
// a resume leaves out the partitions the loop keeps paused.
func TestOwned(t *testing.T) {
	var (
		a   Owned
		c   pauseLog
		log = slog.New(slog.DiscardHandler)
	)
	a.Assigned(tps(0, 1))
	if got := a.Apply(&c, log); len(got) != 2 {
		t.Errorf("Apply() = %v, want the two assigned partitions", got)
	}
	if got := a.Apply(&c, log); got != nil {
		t.Errorf("second Apply() = %v, want nil (nothing new)", got)
	}
	if n := a.SetPaused(&c, log, true, nil); n != 2 || !a.Paused() {
		t.Errorf("SetPaused(true) = %d, Paused() = %t; want 2, true", n, a.Paused())
	}
	a.Assigned(tps(2, 3))
	a.Revoked(tps(1, 3))
	a.Apply(&c, log)
	if n := a.SetPaused(&c, log, false, func(tp TopicPartition) bool { return tp.Partition == 2 }); n != 1 || a.Paused() {
		t.Errorf("SetPaused(false) = %d, Paused() = %t; want 1, false", n, a.Paused())
	}
	want := []string{"R t/0,t/1", "P t/0,t/1", "P t/2", "R t/0"}
	if !slices.Equal(c.calls, want) {
		t.Errorf("calls = %q, want %q", c.calls, want)
	}
	if got := a.Parts(); len(got) != 2 {
		t.Errorf("Parts() = %v, want t/0 and t/2", got)
	}
}
