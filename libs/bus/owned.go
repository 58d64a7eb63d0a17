package bus

import "log/slog"

// Pauser is the part of a Consumer that pauses and resumes fetching.
type Pauser interface {
	Pause(parts []TopicPartition) error
	Resume(parts []TopicPartition) error
}

// Pause pauses parts (nothing when empty). A failure is logged at debug
// level only: the client refuses partitions it no longer owns, which a
// poll loop learns from its revoke callback anyway.
func Pause(c Pauser, log *slog.Logger, parts []TopicPartition) {
	if len(parts) == 0 {
		return
	}
	if err := c.Pause(parts); err != nil {
		log.Debug("pause", "err", err)
	}
}

// Resume resumes parts (nothing when empty), logging a failure like Pause.
func Resume(c Pauser, log *slog.Logger, parts []TopicPartition) {
	if len(parts) == 0 {
		return
	}
	if err := c.Resume(parts); err != nil {
		log.Debug("resume", "err", err)
	}
}

// Owned is a poll loop's record of the partitions its consumer owns
// and whether the loop holds all of them paused (backpressure, a blocked
// write). Clients differ in whether a pause survives a revoke and a new
// assignment, so the partitions assigned since the last Apply are given
// the loop's pause state by Apply. The zero value owns nothing and is not
// paused. Not safe for concurrent use: the rebalance callbacks that call
// Assigned and Revoked run inside Poll, on the loop's goroutine.
type Owned struct {
	owned  map[TopicPartition]bool
	fresh  []TopicPartition // assigned, pause state not applied yet
	paused bool
}

// Assigned records newly assigned partitions.
func (a *Owned) Assigned(parts []TopicPartition) {
	if a.owned == nil {
		a.owned = map[TopicPartition]bool{}
	}
	for _, tp := range parts {
		a.owned[tp] = true
	}
	a.fresh = append(a.fresh, parts...)
}

// Revoked forgets revoked (or lost) partitions.
func (a *Owned) Revoked(parts []TopicPartition) {
	gone := make(map[TopicPartition]bool, len(parts))
	for _, tp := range parts {
		gone[tp] = true
		delete(a.owned, tp)
	}
	kept := a.fresh[:0]
	for _, tp := range a.fresh {
		if !gone[tp] {
			kept = append(kept, tp)
		}
	}
	a.fresh = kept
}

// Parts lists the owned partitions, in no particular order.
func (a *Owned) Parts() []TopicPartition {
	out := make([]TopicPartition, 0, len(a.owned))
	for tp := range a.owned {
		out = append(out, tp)
	}
	return out
}

// Paused reports whether the loop holds its partitions paused.
func (a *Owned) Paused() bool { return a.paused }

// Apply pauses or resumes, as the loop's pause state says, the partitions
// assigned since the last Apply, and returns them.
func (a *Owned) Apply(c Pauser, log *slog.Logger) []TopicPartition {
	parts := a.fresh
	if len(parts) == 0 {
		return nil
	}
	a.fresh = nil
	if a.paused {
		Pause(c, log, parts)
	} else {
		Resume(c, log, parts)
	}
	return parts
}

// SetPaused records the loop's pause state and pauses every owned
// partition (on), or resumes every owned one for which keepPaused (nil:
// none) is false. It returns how many partitions it paused or resumed.
func (a *Owned) SetPaused(c Pauser, log *slog.Logger, on bool, keepPaused func(TopicPartition) bool) int {
	a.paused = on
	var parts []TopicPartition
	for tp := range a.owned {
		if on || keepPaused == nil || !keepPaused(tp) {
			parts = append(parts, tp)
		}
	}
	if on {
		Pause(c, log, parts)
	} else {
		Resume(c, log, parts)
	}
	return len(parts)
}
