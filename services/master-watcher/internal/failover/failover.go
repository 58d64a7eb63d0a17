// Package failover decides which master a node talks to. It is a pure state
// machine: it sees one probe round at a time, with the time passed in, and
// never reads a clock or touches the network.
//
// Rules, with F = FailAfter and R = RecoverAfter, over per-master counts of
// consecutive good and failed probes. Let h be the first master in priority
// order whose last probe succeeded.
//
//  1. Nothing chosen yet: choose h as soon as there is one (reason initial).
//  2. Fail back: if h has higher priority than the active master and h has
//     R consecutive good probes, switch to h.
//  3. Fail over: if the active master has F consecutive failed probes and h
//     exists, switch to h.
//  4. Otherwise keep the active master. With every master down that means
//     keeping the last choice, not ready, and probing on.
//
// Ready means a master is chosen and it has fewer than F consecutive
// failures.
//
// Bound on switching: a switch always goes to h, so right after it every
// master above the new one has zero consecutive good probes and the new one
// has zero consecutive failures. Another fail back then needs R more rounds
// and another fail over F more rounds, so two switches are always at least
// min(F, R) rounds apart, whatever the probes say. A master flapping on every
// probe never gets R >= 2 good probes in a row nor, as the active one,
// F >= 2 failures in a row, so with F, R >= 2 it causes no switch at all.
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
	// Ready: a master is chosen and it is not considered down.
	Ready bool
	// Since is when Active was chosen.
	Since time.Time
}

// Config holds the hysteresis thresholds.
type Config struct {
	Masters int
	// FailAfter (F): consecutive failed probes of the active master before
	// failing over.
	FailAfter int
	// RecoverAfter (R): consecutive good probes of a higher-priority master
	// before failing back to it.
	RecoverAfter int
}

// Validate checks the thresholds.
func (c Config) Validate() error {
	if c.Masters < 1 {
		return fmt.Errorf("failover: %d masters, want at least 1", c.Masters)
	}
	if c.FailAfter < 1 || c.RecoverAfter < 1 {
		return fmt.Errorf("failover: fail-over after %d and fail-back after %d probes, want both >= 1", c.FailAfter, c.RecoverAfter)
	}
	return nil
}

// Selector is the state machine. It is not safe for concurrent use.
type Selector struct {
	cfg   Config
	good  []int // consecutive good probes per master
	bad   []int // consecutive failed probes per master
	state Decision
}

// New returns a Selector with nothing chosen.
func New(cfg Config) (*Selector, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Selector{
		cfg:   cfg,
		good:  make([]int, cfg.Masters),
		bad:   make([]int, cfg.Masters),
		state: Decision{Active: None, Previous: None},
	}, nil
}

// State returns the last decision (Round 0 before the first round).
func (s *Selector) State() Decision { return s.state }

// Observe takes one probe round, up[i] telling whether master i answered,
// observed at now, and returns the decision. It panics if len(up) is not the
// number of masters: that is a programming error.
func (s *Selector) Observe(now time.Time, up []bool) Decision {
	if len(up) != s.cfg.Masters {
		panic(fmt.Sprintf("failover: %d results for %d masters", len(up), s.cfg.Masters))
	}
	h := None
	for i, ok := range up {
		if ok {
			s.good[i]++
			s.bad[i] = 0
			if h == None {
				h = i
			}
		} else {
			s.bad[i]++
			s.good[i] = 0
		}
	}
	d := s.state
	d.Round++
	d.Switched, d.Reason, d.Previous = false, ReasonNone, None
	a := d.Active
	switch {
	case a == None && h != None:
		d.Switched, d.Reason = true, ReasonInitial
	case a != None && h != None && h < a && s.good[h] >= s.cfg.RecoverAfter:
		d.Switched, d.Reason = true, ReasonFailback
	case a != None && h != None && h != a && s.bad[a] >= s.cfg.FailAfter:
		d.Switched, d.Reason = true, ReasonFailover
	}
	if d.Switched {
		d.Previous, d.Active, d.Since = a, h, now
	}
	d.Ready = d.Active != None && s.bad[d.Active] < s.cfg.FailAfter
	s.state = d
	return d
}
