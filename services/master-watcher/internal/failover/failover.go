// Package failover decides which master a node talks to. It is a pure state
// machine: it sees one probe round at a time, with the time passed in, and
// never reads a clock or touches the network.
//
// Parameters: F = FailAfter, W = Window (>= F), R = RecoverAfter, and the
// fail-back hold-down H, from HoldDown doubling per flap up to HoldDownMax.
// A master is a candidate when its last R probes all succeeded.
//
//  1. Nothing chosen yet: choose the first master in priority order whose
//     latest probe succeeded (reason initial), without waiting for R.
//  2. Fail over: if F or more of the active master's last W probes (counted
//     since it became active) failed, switch to the first candidate in
//     priority order, if there is one other than the active master (reason
//     failover). Without a candidate keep the active master, not ready.
//  3. Fail back: if the first candidate in priority order is above the
//     active master and at least H has passed since the last failover,
//     switch to it (reason failback).
//  4. Otherwise keep the active master. With every master down that means
//     keeping the last choice, not ready, and probing on.
//
// Ready means a master is chosen and its latest probe succeeded.
//
// Hold-down: H starts at HoldDown. A flap is a failover away from a master
// that was reached by a fail back less than H before: each flap doubles H, up
// to HoldDownMax. While the active master was reached by a fail back (or is
// the initial choice) and does not fail over, H halves after every H of
// stability, back to HoldDown.
//
// Bounds: a master failing every other probe collects F failures within W
// (with W >= 2F - 1) and is left. A candidate that still stalls (never R good
// probes in a row) is never switched to. After a switch the new active
// master's window is empty, so the next failover needs F more rounds, and a
// fail back needs R rounds of its target and H since the last failover: a
// flapping master gets at most one fail back per hold-down window, the window
// doubling per flap up to HoldDownMax.
package failover

import (
	"fmt"
	"time"
)

// Reason says why the active master changed.
type Reason string

// Reasons of a switch.
const (
	ReasonNone     Reason = ""
	ReasonInitial  Reason = "initial"
	ReasonFailover Reason = "failover"
	ReasonFailback Reason = "failback"
)

// None is the Active index before any master has been chosen.
const None = -1

// Defaults of the fields left zero in Config.
const (
	DefaultHoldDown    = 30 * time.Second
	DefaultHoldDownMax = 10 * time.Minute
)

// Decision is the state after a round.
type Decision struct {
	// Round counts observed rounds, starting at 1.
	Round uint64
	// Active is the index of the active master, None before the first choice.
	Active int
	// Previous is the index active before this round's switch (None when
	// nothing switched or on the initial choice).
	Previous int
	// Switched is true when this round changed Active; Reason says why.
	Switched bool
	Reason   Reason
	// Ready: a master is chosen and its latest probe succeeded.
	Ready bool
	// Since is when Active was chosen.
	Since time.Time
	// HoldDown is the fail-back hold-down now in force.
	HoldDown time.Duration
}

// Config holds the thresholds.
type Config struct {
	Masters int
	// FailAfter (F): failed probes among the active master's last Window
	// probes before failing over.
	FailAfter int
	// Window (W): probes of the active master looked at; 0 means 2F.
	Window int
	// RecoverAfter (R): consecutive good probes a master needs before it is
	// switched to (fail over or fail back; not the initial choice).
	RecoverAfter int
	// HoldDown is the minimum time from a failover to the next fail back;
	// 0 means DefaultHoldDown, negative disables the hold-down.
	HoldDown time.Duration
	// HoldDownMax bounds the doubling; 0 means DefaultHoldDownMax (at least
	// HoldDown).
	HoldDownMax time.Duration
}

func (c Config) withDefaults() Config {
	if c.Window == 0 {
		c.Window = 2 * c.FailAfter
	}
	if c.HoldDown == 0 {
		c.HoldDown = DefaultHoldDown
	}
	if c.HoldDown < 0 {
		c.HoldDown, c.HoldDownMax = 0, 0
	} else if c.HoldDownMax == 0 {
		c.HoldDownMax = max(DefaultHoldDownMax, c.HoldDown)
	}
	return c
}

// Validate checks the thresholds.
func (c Config) Validate() error {
	if c.Masters < 1 {
		return fmt.Errorf("failover: %d masters, want at least 1", c.Masters)
	}
	if c.FailAfter < 1 || c.RecoverAfter < 1 {
		return fmt.Errorf("failover: fail-over after %d and fail-back after %d probes, want both >= 1", c.FailAfter, c.RecoverAfter)
	}
	c = c.withDefaults()
	if c.Window < c.FailAfter || c.Window > 1024 {
		return fmt.Errorf("failover: window %d, want between fail-over after (%d) and 1024", c.Window, c.FailAfter)
	}
	if c.HoldDownMax < c.HoldDown {
		return fmt.Errorf("failover: hold-down max %v below hold-down %v", c.HoldDownMax, c.HoldDown)
	}
	return nil
}

// Selector is the state machine. It is not safe for concurrent use.
type Selector struct {
	cfg   Config
	good  []int // consecutive good probes per master
	win   []bool
	wlen  int // results of the active master in win (since it became active)
	wpos  int
	state Decision

	activeBy   Reason    // how the active master was reached
	failoverAt time.Time // last failover; zero: none
	flaps      int
	decayFrom  time.Time
}

// New returns a Selector with nothing chosen.
func New(cfg Config) (*Selector, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	s := &Selector{
		cfg:   cfg,
		good:  make([]int, cfg.Masters),
		win:   make([]bool, cfg.Window),
		state: Decision{Active: None, Previous: None},
	}
	s.state.HoldDown = s.hold()
	return s, nil
}

// Config returns the configuration with defaults applied.
func (s *Selector) Config() Config { return s.cfg }

// State returns the last decision (Round 0 before the first round).
func (s *Selector) State() Decision { return s.state }

func (s *Selector) hold() time.Duration {
	h := s.cfg.HoldDown
	for range s.flaps {
		if h >= s.cfg.HoldDownMax {
			break
		}
		h *= 2
	}
	return min(h, s.cfg.HoldDownMax)
}

// failures counts the failed probes in the active master's window.
func (s *Selector) failures() int {
	n := 0
	for i := range s.wlen {
		if !s.win[i] {
			n++
		}
	}
	return n
}

// Observe takes one probe round, up[i] telling whether master i answered,
// observed at now, and returns the decision. It panics if len(up) is not the
// number of masters: that is a programming error.
func (s *Selector) Observe(now time.Time, up []bool) Decision {
	if len(up) != s.cfg.Masters {
		panic(fmt.Sprintf("failover: %d results for %d masters", len(up), s.cfg.Masters))
	}
	first, cand := None, None
	for i, ok := range up {
		if ok {
			s.good[i]++
			if first == None {
				first = i
			}
		} else {
			s.good[i] = 0
		}
		if cand == None && s.good[i] >= s.cfg.RecoverAfter {
			cand = i
		}
	}
	d := s.state
	d.Round++
	d.Switched, d.Reason, d.Previous = false, ReasonNone, None
	a := d.Active
	if a != None {
		s.win[s.wpos] = up[a]
		s.wpos = (s.wpos + 1) % len(s.win)
		s.wlen = min(s.wlen+1, len(s.win))
	}
	// Decay: stable on a master reached by fail back or initially.
	if a != None && s.activeBy != ReasonFailover && s.flaps > 0 && now.Sub(s.decayFrom) >= s.hold() {
		s.flaps--
		s.decayFrom = now
	}
	to := None
	switch {
	case a == None && first != None:
		to, d.Reason = first, ReasonInitial
	case a != None && cand != None && cand != a && s.failures() >= s.cfg.FailAfter:
		to, d.Reason = cand, ReasonFailover
		if s.activeBy == ReasonFailback && now.Sub(d.Since) < s.hold() && s.hold() < s.cfg.HoldDownMax {
			s.flaps++
		}
		s.failoverAt = now
	case a != None && cand != None && cand < a && (s.failoverAt.IsZero() || now.Sub(s.failoverAt) >= s.hold()):
		to, d.Reason = cand, ReasonFailback
		s.decayFrom = now
	}
	if to != None {
		d.Switched = true
		d.Previous, d.Active, d.Since = a, to, now
		s.activeBy = d.Reason
		s.wlen, s.wpos = 0, 0
	}
	d.Ready = d.Active != None && up[d.Active]
	d.HoldDown = s.hold()
	s.state = d
	return d
}
