package chaos

import (
	"fmt"
	"strings"
	"time"
)

// Event is one fault as it happened: injected, healed, and recovered (the
// pipeline delivered to HDFS again and the backlog drained). A zero
// Recovered means it never recovered; Err is set when injecting or healing
// failed (the fault then counts as not injected).
type Event struct {
	Step      Step
	Injected  time.Time
	Healed    time.Time
	Recovered time.Time
	Err       string
}

// Recovery is the time from healing to recovery, or -1 if it never
// recovered.
func (e Event) Recovery() time.Duration {
	if e.Recovered.IsZero() || e.Healed.IsZero() {
		return -1
	}
	return max(0, e.Recovered.Sub(e.Healed))
}

// Timeline is what the nemesis did during one run.
type Timeline struct {
	Seed    uint64
	Start   time.Time
	Events  []Event
	Samples []Sample // throughput samples for the SVG
}

// Sample is the number of pictures and readings in HDFS at a time.
type Sample struct {
	At       time.Time
	Pictures int
	Readings int
}

// String is the timeline in seconds from the start, for failure messages.
func (tl Timeline) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "fault timeline (seed %d; reproduce with CHAOS_SEED=%d):\n", tl.Seed, tl.Seed)
	rel := func(t time.Time) string {
		if t.IsZero() {
			return "-"
		}
		return fmt.Sprintf("%.1fs", t.Sub(tl.Start).Seconds())
	}
	for i, e := range tl.Events {
		fmt.Fprintf(&b, "  %2d  %-26s injected %-8s healed %-8s recovered %-8s", i+1, e.Step.Fault, rel(e.Injected), rel(e.Healed), rel(e.Recovered))
		if e.Err != "" {
			fmt.Fprintf(&b, " ERROR: %s", e.Err)
		}
		b.WriteByte('\n')
	}
	return b.String()
}
