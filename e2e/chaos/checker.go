package chaos

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"
)

// Item is one thing the workload wrote: what it is and when it was written.
type Item struct {
	What string
	At   time.Time
}

// Ledger is everything the workload wrote.
type Ledger struct {
	Pictures  map[[32]byte]Item // SHA-256 of the JPEG
	Readings  map[string]Item   // reading identity
	Junk      map[string]Item   // junk file names (must be quarantined)
	Malformed map[string]Item   // malformed message ids (must be dead-lettered)
}

// NewLedger is an empty ledger.
func NewLedger() *Ledger {
	return &Ledger{Pictures: map[[32]byte]Item{}, Readings: map[string]Item{}, Junk: map[string]Item{}, Malformed: map[string]Item{}}
}

// Observed is what the pipeline delivered, read after healing and draining.
type Observed struct {
	Pictures    map[string][32]byte // HDFS path -> SHA-256 of its content
	Readings    map[string]int      // reading identity -> times stored
	Quarantined map[string]string   // junk file name -> reason
	DeadLetters map[string]string   // malformed message id -> reason
	// Uncovered lists committed cloud offsets whose message is not in HDFS.
	Uncovered []string
	// Crashes lists services that exited without being told to.
	Crashes []string
	// Other lists unexpected HDFS files.
	Other []string
	// Bundles are the committed bundles when ingest runs the bundle store
	// (CheckBundles); Unreadable names what of them could not be read back
	// through its index or disagrees with it.
	Bundles    []Bundle
	Unreadable []string
}

// Violation is one broken promise.
type Violation struct {
	Kind  string // lost, duplicated, corrupt, unexpected, bundle, not-quarantined, not-dead-lettered, uncovered, crash, recovery, not-injected
	Fault Fault  // the fault whose window the item was written in ("" if none)
	Text  string
}

func (v Violation) String() string {
	if v.Fault != "" {
		return fmt.Sprintf("%s (during %s): %s", v.Kind, v.Fault, v.Text)
	}
	return v.Kind + ": " + v.Text
}

// Result is the checker's verdict.
type Result struct {
	Violations []Violation
	// Lost and Duplicated count per fault window ("" outside any).
	Lost, Duplicated map[Fault]int
	// Checked counts what the ledger held: what the verdict covers.
	Checked Counts
}

// Counts is the size of a ledger.
type Counts struct{ Pictures, Readings, Junk, Malformed int }

func (c Counts) String() string {
	return fmt.Sprintf("%d pictures, %d readings, %d junk files, %d malformed messages", c.Pictures, c.Readings, c.Junk, c.Malformed)
}

// OK is true without violations.
func (r Result) OK() bool { return len(r.Violations) == 0 }

// Check holds the observation against the ledger and the timeline.
// recoveryLimit is the longest allowed recovery after healing (the session
// timeout plus 60 s).
func Check(l *Ledger, o Observed, tl Timeline, plan Plan, recoveryLimit time.Duration) Result {
	r := Result{Lost: map[Fault]int{}, Duplicated: map[Fault]int{},
		Checked: Counts{len(l.Pictures), len(l.Readings), len(l.Junk), len(l.Malformed)}}
	add := func(kind string, at time.Time, format string, args ...any) {
		f := tl.faultAt(at)
		r.Violations = append(r.Violations, Violation{Kind: kind, Fault: f, Text: fmt.Sprintf(format, args...)})
		switch kind {
		case "lost":
			r.Lost[f]++
		case "duplicated":
			r.Duplicated[f]++
		}
	}
	var zero time.Time

	// Pictures: exactly once, byte-identical.
	seen := map[[32]byte][]string{}
	for p, sum := range o.Pictures {
		seen[sum] = append(seen[sum], p)
	}
	for _, sum := range sortedKeys(seen) {
		paths := seen[sum]
		sort.Strings(paths)
		it, ok := l.Pictures[sum]
		if !ok {
			add("corrupt", zero, "%s is not byte-identical to any picture written", strings.Join(paths, ", "))
			continue
		}
		if len(paths) > 1 {
			add("duplicated", it.At, "%s stored %d times: %s", it.What, len(paths), strings.Join(paths, ", "))
		}
	}
	for _, sum := range sortedKeys(l.Pictures) {
		if _, ok := seen[sum]; !ok {
			it := l.Pictures[sum]
			add("lost", it.At, "picture %s", it.What)
		}
	}
	// Readings: exactly once.
	for _, id := range sortedKeys(l.Readings) {
		it := l.Readings[id]
		switch n := o.Readings[id]; {
		case n == 0:
			add("lost", it.At, "reading %s", id)
		case n > 1:
			add("duplicated", it.At, "reading %s stored %d times", id, n)
		}
	}
	for _, id := range sortedKeys(o.Readings) {
		if _, ok := l.Readings[id]; !ok {
			add("unexpected", zero, "reading %s stored %d times, never written", id, o.Readings[id])
		}
	}
	for _, p := range o.Other {
		add("unexpected", zero, "file %s", p)
	}
	// Bundles: readable through their index, no key in two, no overlap.
	// (A key stored twice is a picture stored twice, counted as duplicated
	// above by its content; this names the bundles.)
	for _, u := range o.Unreadable {
		add("corrupt", zero, "%s", u)
	}
	for _, b := range CheckBundles(o.Bundles) {
		add("bundle", zero, "%s", b)
	}
	// Junk quarantined with a reason, malformed messages dead-lettered with one.
	for _, name := range sortedKeys(l.Junk) {
		if reason := o.Quarantined[name]; reason == "" {
			add("not-quarantined", l.Junk[name].At, "junk file %s has no quarantine entry with a reason", name)
		}
	}
	for _, id := range sortedKeys(l.Malformed) {
		if reason := o.DeadLetters[id]; reason == "" {
			add("not-dead-lettered", l.Malformed[id].At, "malformed message %s (%s) not in a dead-letter topic with a reason", id, l.Malformed[id].What)
		}
	}
	for _, u := range o.Uncovered {
		add("uncovered", zero, "%s", u)
	}
	for _, c := range o.Crashes {
		add("crash", zero, "%s", c)
	}
	// Every planned fault injected, healed, recovered in time.
	injected := map[int]bool{}
	for i, e := range tl.Events {
		switch {
		case e.Err != "":
			r.Violations = append(r.Violations, Violation{Kind: "not-injected", Fault: e.Step.Fault, Text: e.Err})
		case e.Recovery() < 0:
			r.Violations = append(r.Violations, Violation{Kind: "recovery", Fault: e.Step.Fault, Text: fmt.Sprintf("step %d never recovered", i+1)})
		case e.Recovery() > recoveryLimit:
			r.Violations = append(r.Violations, Violation{Kind: "recovery", Fault: e.Step.Fault,
				Text: fmt.Sprintf("step %d recovered %v after healing, limit %v", i+1, e.Recovery().Round(time.Second), recoveryLimit)})
		default:
			injected[i] = true
		}
	}
	for i := len(tl.Events); i < len(plan.Steps); i++ {
		r.Violations = append(r.Violations, Violation{Kind: "not-injected", Fault: plan.Steps[i].Fault, Text: fmt.Sprintf("step %d never ran", i+1)})
	}
	return r
}

// faultAt is the fault whose window (injection to recovery, or to healing
// plus Gap if it never recovered) contains t.
func (tl Timeline) faultAt(t time.Time) Fault {
	if t.IsZero() {
		return ""
	}
	for _, e := range tl.Events {
		end := e.Recovered
		if end.IsZero() {
			end = e.Healed.Add(Gap)
		}
		if !t.Before(e.Injected) && !t.After(end) {
			return e.Step.Fault
		}
	}
	return ""
}

// Failure is the message a failed run prints: seed, violations (at most
// max of them) and the fault timeline.
func (r Result) Failure(tl Timeline, maxShown int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "chaos: %d violations (seed %d; reproduce with CHAOS_SEED=%d)\n", len(r.Violations), tl.Seed, tl.Seed)
	for i, v := range r.Violations {
		if i == maxShown {
			fmt.Fprintf(&b, "  ... and %d more\n", len(r.Violations)-maxShown)
			break
		}
		fmt.Fprintf(&b, "  %s\n", v)
	}
	b.WriteString(tl.String())
	return b.String()
}

type ordered interface{ ~string | ~[32]byte }

func sortedKeys[K ordered, V any](m map[K]V) []K {
	ks := make([]K, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.SortFunc(ks, func(a, b K) int { return strings.Compare(fmt.Sprint(a), fmt.Sprint(b)) })
	return ks
}
