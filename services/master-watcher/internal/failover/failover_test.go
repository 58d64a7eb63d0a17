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

// t0 is the time of the first probe round of the tests.
var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// scenario is a row of the table tests: probe rounds, the decision wanted
// after the last round, and every switch as "round:reason->active".
type scenario struct {
	name         string
	give         []string
	want         want
	wantSwitches string
}

// play feeds the rounds of give to s one second apart from t0 and returns
// every decision and the switches among them, formatted like
// scenario.wantSwitches.
func play(s *Selector, give []string) ([]Decision, string) {
	var ds []Decision
	var sw []string
	for i, up := range rounds(give...) {
		d := s.Observe(t0.Add(time.Duration(i)*time.Second), up)
		ds = append(ds, d)
		if d.Switched {
			sw = append(sw, fmtSwitch(d))
		}
	}
	return ds, strings.Join(sw, " ")
}

// check compares the last of the decisions play returned and its
// switches with the scenario's.
func (sc scenario) check(t *testing.T, ds []Decision, switches string) {
	t.Helper()
	got := ds[len(ds)-1]
	if got.Active != sc.want.active || got.Ready != sc.want.ready {
		t.Errorf("after %v: Active, Ready = %d, %t; want %d, %t", sc.give, got.Active, got.Ready, sc.want.active, sc.want.ready)
	}
	if switches != sc.wantSwitches {
		t.Errorf("switches = %q, want %q", switches, sc.wantSwitches)
	}
}

func TestSelector(t *testing.T) {
	const F, R = 2, 3
	tests := []scenario{
		{name: "all up: primary", give: repeat("UUU", 5), want: want{0, true}, wantSwitches: "1:initial->0"},
		{name: "primary down at start: secondary", give: repeat("DUU", 3), want: want{1, true}, wantSwitches: "1:initial->1"},
		{name: "all down at start: nothing chosen, not ready", give: repeat("DDD", 4), want: want{None, false}},
		{name: "primary down: fail over after F", give: seq(repeat("UUU", 3), repeat("DUU", F)), want: want{1, true},
			wantSwitches: "1:initial->0 5:failover->1"},
		{name: "primary down once: no switch, not ready at once", give: seq(repeat("UUU", 3), repeat("DUU", F-1)), want: want{0, false},
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
		{name: "tertiary first back after all down: fail over to it after R",
			give: seq(repeat("UUU", 1), repeat("DDD", 5), repeat("DDU", R)), want: want{2, true},
			wantSwitches: "1:initial->0 9:failover->2"},
		{name: "active dies while a higher master is up for fewer than R: take the candidate below",
			give: seq(repeat("UUU", 1), repeat("DUU", F), repeat("UDU", F)), want: want{2, true},
			wantSwitches: "1:initial->0 3:failover->1 5:failover->2"},
		{name: "active dies while a higher master is up for R: take the higher one",
			give: seq(repeat("UUU", 1), repeat("DUU", F), repeat("UUU", R-F), repeat("UDU", F)), want: want{0, true},
			wantSwitches: "1:initial->0 3:failover->1 6:failover->0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Rounds are a second apart; a hold-down of R seconds delays
			// every fail back by a little (see holddown_test.go for more).
			s, err := New(Config{Masters: 3, FailAfter: F, RecoverAfter: R, HoldDown: R * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			ds, sw := play(s, tt.give)
			for i, d := range ds {
				if d.Round != uint64(i+1) {
					t.Fatalf("round %d: Round = %d", i+1, d.Round)
				}
				if now := t0.Add(time.Duration(i) * time.Second); d.Switched && !d.Since.Equal(now) {
					t.Errorf("round %d: Since = %v, want %v", i+1, d.Since, now)
				}
			}
			tt.check(t, ds, sw)
			if got := ds[len(ds)-1]; s.State() != got {
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

// TestFlappingPrimary: a primary that answers every other probe. As the
// active master it is left once (F failures within the window) and never
// failed back to (it never has R good probes in a row); as an inactive
// master it causes no switch at all. Without hysteresis (F = R = 1, no
// hold-down) it switches every round, as the original did.
func TestFlappingPrimary(t *testing.T) {
	tests := []struct {
		name        string
		f, r        int
		noHold      bool
		start       string // rounds before flapping starts
		startActive int
		wantSwitch  int // switches during the flapping
		wantActive  int
	}{
		{name: "active primary flaps, F=2 R=2: left once", f: 2, r: 2, start: "UUU", startActive: 0, wantSwitch: 1, wantActive: 1},
		{name: "active primary flaps, F=3 R=5: left once", f: 3, r: 5, start: "UUU", startActive: 0, wantSwitch: 1, wantActive: 1},
		{name: "inactive primary flaps, F=2 R=2", f: 2, r: 2, start: "DUU", startActive: 1, wantSwitch: 0, wantActive: 1},
		{name: "inactive primary flaps, F=2 R=5", f: 2, r: 5, start: "DUU", startActive: 1, wantSwitch: 0, wantActive: 1},
		{name: "no hysteresis F=1 R=1 switches every round", f: 1, r: 1, noHold: true, start: "UUU", startActive: 0, wantSwitch: 100, wantActive: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := Config{Masters: 3, FailAfter: tt.f, RecoverAfter: tt.r}
			if tt.noHold {
				cfg.HoldDown = -1
			}
			s, _ := New(cfg)
			if d := s.Observe(t0, rounds(tt.start)[0]); d.Active != tt.startActive {
				t.Fatalf("start: Active = %d, want %d", d.Active, tt.startActive)
			}
			const n = 100
			switches := 0
			for i := range n {
				up := []bool{i%2 == 1, true, true} // down first, then up, ...
				d := s.Observe(t0.Add(time.Duration(i+1)*time.Second), up)
				if !d.Switched {
					continue
				}
				switches++
				if !d.Ready {
					t.Errorf("round %d: switched to %d but not ready", d.Round, d.Active)
				}
			}
			if switches != tt.wantSwitch {
				t.Errorf("%d switches in %d flapping rounds, want %d", switches, n, tt.wantSwitch)
			}
			if d := s.State(); d.Active != tt.wantActive {
				t.Errorf("after flapping: Active = %d, want %d", d.Active, tt.wantActive)
			}
		})
	}
}

// TestRulesOnRandomHistories checks the rules of the package comment on
// random probe histories, rounds one second apart: every switch but the
// initial one goes to the first master with R good probes in a row; a
// failover only when F of the active master's last W probes since it
// became active failed; a fail back never sooner than the hold-down after
// the last failover (so at most one fail back per hold-down window).
func TestRulesOnRandomHistories(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for trial := range 2000 {
		n := 1 + rng.IntN(5)
		f, r := 1+rng.IntN(5), 1+rng.IntN(5)
		w := f + rng.IntN(5)
		hold := time.Duration(rng.IntN(20)) * time.Second
		pUp := rng.Float64()
		s, err := New(Config{Masters: n, FailAfter: f, Window: w, RecoverAfter: r, HoldDown: hold, HoldDownMax: 8 * hold})
		if err != nil {
			if hold == 0 {
				continue
			}
			t.Fatal(err)
		}
		good := make([]int, n)
		var hist []bool // active master's results since it became active
		var lastFailover time.Time
		holdNow := s.State().HoldDown
		for k := range 300 {
			now := t0.Add(time.Duration(k) * time.Second)
			up := make([]bool, n)
			first := None
			for i := range up {
				up[i] = rng.Float64() < pUp
				if up[i] {
					good[i]++
				} else {
					good[i] = 0
				}
				if first == None && good[i] >= r {
					first = i
				}
			}
			prev := s.State()
			if prev.Active != None {
				hist = append(hist, up[prev.Active])
			}
			d := s.Observe(now, up)
			if d.Ready != (d.Active != None && up[d.Active]) {
				t.Fatalf("trial %d round %d: Ready = %t with active %d", trial, d.Round, d.Ready, d.Active)
			}
			if !d.Switched {
				holdNow = d.HoldDown
				continue
			}
			if d.Reason != ReasonInitial && d.Active != first {
				t.Fatalf("trial %d round %d: %s to %d, want the first master with R=%d good probes (%d)", trial, d.Round, d.Reason, d.Active, r, first)
			}
			switch d.Reason {
			case ReasonFailover:
				fails := 0
				for _, ok := range hist[max(0, len(hist)-w):] {
					if !ok {
						fails++
					}
				}
				if fails < f {
					t.Fatalf("trial %d round %d: failover with %d failures in the window, want >= F=%d", trial, d.Round, fails, f)
				}
				lastFailover = now
			case ReasonFailback:
				if !lastFailover.IsZero() && now.Sub(lastFailover) < holdNow {
					t.Fatalf("trial %d round %d: fail back %v after a failover, hold-down %v", trial, d.Round, now.Sub(lastFailover), holdNow)
				}
			}
			hist = nil
			holdNow = d.HoldDown
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
		{Config{Masters: 3, FailAfter: 3, Window: 2, RecoverAfter: 1}, true},
		{Config{Masters: 3, FailAfter: 1, RecoverAfter: 1, HoldDown: time.Minute, HoldDownMax: time.Second}, true},
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
