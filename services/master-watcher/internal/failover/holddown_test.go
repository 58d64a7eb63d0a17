package failover

import (
	"testing"
	"time"
)

// These tests use only F and R and rely on the defaults of the window
// (2F) and the hold-down (DefaultHoldDown doubling up to
// DefaultHoldDownMax). Rounds are one second apart.

func TestWindowAndCandidates(t *testing.T) {
	const F, R = 2, 3
	tests := []scenario{
		{name: "active fails every other probe: left within the window (2F rounds)",
			give: seq(repeat("UU", 2), repeat("DU", 1), repeat("UU", 1), repeat("DU", 1), repeat("UU", 1), repeat("DU", 1)),
			want: want{1, true}, wantSwitches: "1:initial->0 5:failover->1"},
		{name: "active's latest probe failed: not ready at once, no switch yet",
			give: seq(repeat("UU", 3), repeat("DU", 1)), want: want{0, false}, wantSwitches: "1:initial->0"},
		{name: "failover target needs R good probes: stay (not ready) until it has them",
			give: seq(repeat("UD", 3), repeat("DU", R)), want: want{1, true}, wantSwitches: "1:initial->0 6:failover->1"},
		{name: "after all down the first master back is taken after R good probes",
			give: seq(repeat("UUU", 1), repeat("DDD", 5), repeat("DDU", R)), want: want{2, true},
			wantSwitches: "1:initial->0 9:failover->2"},
		{name: "active dies while a higher master has fewer than R good: go to the one with R",
			give: seq(repeat("UUU", 1), repeat("DUU", F), repeat("UDU", F)), want: want{2, true},
			wantSwitches: "1:initial->0 3:failover->1 5:failover->2"},
		{name: "candidate still stalling (runs shorter than R): no fail back",
			give: seq(repeat("UU", 1), repeat("DU", F), repeat("UU", R-1), repeat("DU", 1), repeat("UU", R-1), repeat("DU", 1), repeat("UU", 1), repeat("DU", 1), repeat("UU", R-1)),
			want: want{1, true}, wantSwitches: "1:initial->0 3:failover->1"},
		{name: "primary back for R good probes but inside the hold-down: stay",
			give: seq(repeat("UU", 1), repeat("DU", F), repeat("UU", 20)), want: want{1, true},
			wantSwitches: "1:initial->0 3:failover->1"},
		{name: "primary back after the hold-down: fail back once",
			give: seq(repeat("UU", 1), repeat("DU", F), repeat("UU", 40)), want: want{0, true},
			wantSwitches: "1:initial->0 3:failover->1 33:failback->0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := New(Config{Masters: len(tt.give[0]), FailAfter: F, RecoverAfter: R})
			if err != nil {
				t.Fatal(err)
			}
			ds, sw := play(s, tt.give)
			tt.check(t, ds, sw)
		})
	}
}

// TestFailbackHoldDownDoubles: a primary up 5 rounds and down 2, forever
// (the case: a switch every ~14 s). Every fail back must come at
// least one hold-down after the failover before it, the hold-down doubling
// per flap up to DefaultHoldDownMax; so at most one fail back per window.
// After a long stable stretch the hold-down decays back.
func TestFailbackHoldDownDoubles(t *testing.T) {
	s, err := New(Config{Masters: 2, FailAfter: 2, RecoverAfter: 3})
	if err != nil {
		t.Fatal(err)
	}
	var failovers, failbacks []time.Time
	const n = 3600
	i := 0
	for ; i < n; i++ {
		now := t0.Add(time.Duration(i) * time.Second)
		d := s.Observe(now, []bool{i%7 < 5, true})
		switch d.Reason {
		case ReasonFailover:
			failovers = append(failovers, now)
		case ReasonFailback:
			failbacks = append(failbacks, now)
		}
	}
	if len(failbacks) < 4 {
		t.Fatalf("%d fail backs in %d rounds, want the primary to be retried several times", len(failbacks), n)
	}
	if len(failbacks) > 12 {
		t.Errorf("%d fail backs in %d rounds of a flapping primary, want the hold-down to space them out", len(failbacks), n)
	}
	hold := DefaultHoldDown
	for k, fb := range failbacks {
		fo := failovers[k]
		if gap := fb.Sub(fo); gap < hold {
			t.Errorf("fail back %d came %v after its failover, want at least the hold-down %v", k, gap, hold)
		}
		hold = min(2*hold, DefaultHoldDownMax)
	}
	// Stable for long: the hold-down decays, so a single failure later
	// costs only the minimum hold-down again.
	for ; i < n+4*3600; i++ {
		s.Observe(t0.Add(time.Duration(i)*time.Second), []bool{true, true})
	}
	if d := s.State(); d.Active != 0 {
		t.Fatalf("after a stable primary: Active = %d, want 0", d.Active)
	}
	var fo time.Time
	for j := 0; j < 2*int(DefaultHoldDownMax/time.Second); j, i = j+1, i+1 {
		now := t0.Add(time.Duration(i) * time.Second)
		d := s.Observe(now, []bool{j >= 2, true})
		if d.Reason == ReasonFailover {
			fo = now
		}
		if d.Reason == ReasonFailback {
			if gap := now.Sub(fo); gap > DefaultHoldDown+5*time.Second {
				t.Errorf("after decay: fail back %v after the failover, want about the minimum hold-down %v", gap, DefaultHoldDown)
			}
			return
		}
	}
	t.Errorf("no fail back after decay")
}
