package failover

import (
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// rounds parses "UUD" (master 0 up, 1 up, 2 down) per round.
func rounds(s ...string) [][]bool {
	out := make([][]bool, len(s))
	for i, r := range s {
		for _, c := range r {
			out[i] = append(out[i], c == 'U')
		}
	}
	return out
}

func repeat(s string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = s
	}
	return out
}

func seq(parts ...[]string) []string {
	var out []string
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

type want struct {
	active int
	ready  bool
}

func TestSelector(t *testing.T) {
	const F, R = 2, 3
	tests := []struct {
		name string
		give []string
		// want is checked after the last round; wantSwitches lists
		// (round, reason) pairs of every switch.
		want         want
		wantSwitches string
	}{
		{name: "all up: primary", give: repeat("UUU", 5), want: want{0, true}, wantSwitches: "1:initial->0"},
		{name: "primary down at start: secondary", give: repeat("DUU", 3), want: want{1, true}, wantSwitches: "1:initial->1"},
		{name: "all down at start: nothing chosen, not ready", give: repeat("DDD", 4), want: want{None, false}},
		{name: "primary down: fail over after F", give: seq(repeat("UUU", 3), repeat("DUU", F)), want: want{1, true},
			wantSwitches: "1:initial->0 5:failover->1"},
		{name: "primary down once: no switch, still ready", give: seq(repeat("UUU", 3), repeat("DUU", F-1)), want: want{0, true},
			wantSwitches: "1:initial->0"},
		{name: "primary and secondary down: tertiary", give: seq(repeat("UUU", 3), repeat("DUU", F), repeat("DDU", F)), want: want{2, true},
			wantSwitches: "1:initial->0 5:failover->1 7:failover->2"},
		{name: "primary back: fail back after R, skipping the dead secondary",
			give: seq(repeat("UUU", 3), repeat("DUU", F), repeat("DDU", F), repeat("UDU", R)), want: want{0, true},
			wantSwitches: "1:initial->0 5:failover->1 7:failover->2 10:failback->0"},
		{name: "primary back for fewer than R: stay", give: seq(repeat("UUU", 1), repeat("DUU", F), repeat("UUU", R-1)), want: want{1, true},
			wantSwitches: "1:initial->0 3:failover->1"},
		{name: "secondary back while on tertiary: fail back to secondary",
			give: seq(repeat("UUU", 1), repeat("DDU", F), repeat("DUU", R)), want: want{1, true},
			wantSwitches: "1:initial->0 3:failover->2 6:failback->1"},
		{name: "all down: keep the last choice, not ready", give: seq(repeat("UUU", 2), repeat("DDD", 10)), want: want{0, false},
			wantSwitches: "1:initial->0"},
		{name: "all down after failover: keep secondary", give: seq(repeat("UUU", 1), repeat("DUU", F), repeat("DDD", 5)), want: want{1, false},
			wantSwitches: "1:initial->0 3:failover->1"},
		{name: "all back: primary again and ready", give: seq(repeat("UUU", 2), repeat("DDD", 10), repeat("UUU", 1)), want: want{0, true},
			wantSwitches: "1:initial->0"},
		{name: "tertiary first back after all down: fail over to it",
			give: seq(repeat("UUU", 1), repeat("DDD", 5), repeat("DDU", 1)), want: want{2, true},
			wantSwitches: "1:initial->0 7:failover->2"},
		{name: "active dies while a higher master is up for fewer than R: take the higher one",
			give: seq(repeat("UUU", 1), repeat("DUU", F), repeat("UDU", F)), want: want{0, true},
			wantSwitches: "1:initial->0 3:failover->1 5:failover->0"},
	}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := New(Config{Masters: 3, FailAfter: F, RecoverAfter: R})
			if err != nil {
				t.Fatal(err)
			}
			var got Decision
			var sw []string
			for i, up := range rounds(tt.give...) {
				now := t0.Add(time.Duration(i) * time.Second)
				got = s.Observe(now, up)
				if got.Round != uint64(i+1) {
					t.Fatalf("round %d: Round = %d", i+1, got.Round)
				}
				if got.Switched {
					sw = append(sw, fmtSwitch(got))
					if !got.Since.Equal(now) {
						t.Errorf("round %d: Since = %v, want %v", i+1, got.Since, now)
					}
				}
			}
			if got.Active != tt.want.active || got.Ready != tt.want.ready {
				t.Errorf("after %v: Active, Ready = %d, %t; want %d, %t", tt.give, got.Active, got.Ready, tt.want.active, tt.want.ready)
			}
			if gotSw := strings.Join(sw, " "); gotSw != tt.wantSwitches {
				t.Errorf("switches = %q, want %q", gotSw, tt.wantSwitches)
			}
			if s.State() != got {
				t.Errorf("State() = %+v, want last decision %+v", s.State(), got)
			}
		})
	}
}

func fmtSwitch(d Decision) string {
	return strings.Join([]string{itoa(int(d.Round)), ":", string(d.Reason), "->", itoa(d.Active)}, "")
}

func itoa(i int) string {
	if i < 0 {
		return "-" + itoa(-i)
	}
	if i < 10 {
		return string(rune('0' + i))
	}
	return itoa(i/10) + string(rune('0'+i%10))
}

func TestPreviousOnSwitch(t *testing.T) {
	s, _ := New(Config{Masters: 2, FailAfter: 1, RecoverAfter: 1})
	d := s.Observe(time.Time{}, []bool{true, true})
	if d.Previous != None || d.Reason != ReasonInitial {
		t.Errorf("initial: Previous, Reason = %d, %q; want None, initial", d.Previous, d.Reason)
	}
	d = s.Observe(time.Time{}, []bool{false, true})
	if d.Previous != 0 || d.Active != 1 || d.Reason != ReasonFailover {
		t.Errorf("failover: %+v", d)
	}
	d = s.Observe(time.Time{}, []bool{false, true})
	if d.Switched || d.Previous != None || d.Reason != ReasonNone {
		t.Errorf("steady: %+v, want no switch", d)
	}
}

// TestFlappingPrimary: a primary that answers every other probe. With F, R
// >= 2 it never causes a switch, whether it is active or not; with smaller
// thresholds switches stay at least min(F, R) rounds apart.
func TestFlappingPrimary(t *testing.T) {
	tests := []struct {
		name          string
		f, r          int
		start         string // rounds before flapping starts
		startActive   int
		wantMaxSwitch int // switches during the flapping
	}{
		{name: "active primary flaps, F=2 R=2", f: 2, r: 2, start: "UUU", startActive: 0, wantMaxSwitch: 0},
		{name: "active primary flaps, F=3 R=5", f: 3, r: 5, start: "UUU", startActive: 0, wantMaxSwitch: 0},
		{name: "inactive primary flaps, F=2 R=2", f: 2, r: 2, start: "DUU", startActive: 1, wantMaxSwitch: 0},
		{name: "inactive primary flaps, F=2 R=5", f: 2, r: 5, start: "DUU", startActive: 1, wantMaxSwitch: 0},
		// No hysteresis: the original's behaviour, one switch per round.
		{name: "no hysteresis F=1 R=1 switches every round", f: 1, r: 1, start: "UUU", startActive: 0, wantMaxSwitch: 100},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := New(Config{Masters: 3, FailAfter: tt.f, RecoverAfter: tt.r})
			if d := s.Observe(time.Time{}, rounds(tt.start)[0]); d.Active != tt.startActive {
				t.Fatalf("start: Active = %d, want %d", d.Active, tt.startActive)
			}
			const n = 100
			switches, last := 0, uint64(0)
			window := uint64(min(tt.f, tt.r))
			for i := range n {
				up := []bool{i%2 == 1, true, true} // down first, then up, ...
				d := s.Observe(time.Time{}, up)
				if !d.Switched {
					continue
				}
				switches++
				if last != 0 && d.Round-last < window {
					t.Errorf("switches in rounds %d and %d, want at least %d rounds apart", last, d.Round, window)
				}
				last = d.Round
				if !d.Ready {
					t.Errorf("round %d: switched to %d but not ready", d.Round, d.Active)
				}
			}
			if switches > tt.wantMaxSwitch {
				t.Errorf("%d switches in %d flapping rounds, want at most %d", switches, n, tt.wantMaxSwitch)
			}
			if tt.wantMaxSwitch == 0 {
				if d := s.State(); d.Active != tt.startActive || !d.Ready {
					t.Errorf("after flapping: Active, Ready = %d, %t; want %d, true", d.Active, d.Ready, tt.startActive)
				}
			}
			if tt.wantMaxSwitch == 100 && switches < n-1 {
				t.Errorf("F=R=1: %d switches, want one per round (the test must be able to see switching)", switches)
			}
		})
	}
}

// TestSwitchesAtLeastMinFRApart checks the bound from the package comment on
// random probe histories: two switches are never closer than min(F, R)
// rounds, so any window of min(F, R) rounds holds at most one switch.
func TestSwitchesAtLeastMinFRApart(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for trial := range 2000 {
		n := 1 + rng.IntN(5)
		f, r := 1+rng.IntN(5), 1+rng.IntN(5)
		pUp := rng.Float64()
		s, _ := New(Config{Masters: n, FailAfter: f, RecoverAfter: r})
		var last uint64
		initial := true
		for range 300 {
			up := make([]bool, n)
			for i := range up {
				up[i] = rng.Float64() < pUp
			}
			d := s.Observe(time.Time{}, up)
			if !d.Switched {
				continue
			}
			if !up[d.Active] {
				t.Fatalf("trial %d: switched to master %d whose probe failed", trial, d.Active)
			}
			for j := 0; j < d.Active; j++ {
				if up[j] {
					t.Fatalf("trial %d: switched to %d although higher-priority %d is up", trial, d.Active, j)
				}
			}
			if !initial && d.Round-last < uint64(min(f, r)) {
				t.Fatalf("trial %d (F=%d R=%d): switches in rounds %d and %d", trial, f, r, last, d.Round)
			}
			initial, last = false, d.Round
		}
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		give    Config
		wantErr bool
	}{
		{Config{Masters: 3, FailAfter: 1, RecoverAfter: 1}, false},
		{Config{Masters: 0, FailAfter: 1, RecoverAfter: 1}, true},
		{Config{Masters: 3, FailAfter: 0, RecoverAfter: 1}, true},
		{Config{Masters: 3, FailAfter: 1, RecoverAfter: 0}, true},
	}
	for _, tt := range tests {
		if _, err := New(tt.give); (err != nil) != tt.wantErr {
			t.Errorf("New(%+v) error = %v, want error %t", tt.give, err, tt.wantErr)
		}
	}
}

func BenchmarkObserve(b *testing.B) {
	s, _ := New(Config{Masters: 3, FailAfter: 2, RecoverAfter: 5})
	ups := rounds("UUU", "DUU", "DUU", "DDU", "UDU", "UUU")
	for i := 0; b.Loop(); i++ {
		s.Observe(time.Time{}, ups[i%len(ups)])
	}
}
