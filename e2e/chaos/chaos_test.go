package chaos

import (
	"crypto/sha256"
	"encoding/xml"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sensornode/sensornode/libs/bundle"
)

func TestPlanSameSeedSamePlan(t *testing.T) {
	a := NewPlan(42, 5*time.Minute, All)
	b := NewPlan(42, 5*time.Minute, All)
	if !reflect.DeepEqual(a, b) {
		t.Fatalf("same seed, different plans:\n%s\n%s", a, b)
	}
	if c := NewPlan(43, 5*time.Minute, All); reflect.DeepEqual(a.Steps, c.Steps) {
		t.Fatalf("seeds 42 and 43 gave the same plan:\n%s", a)
	}
}

func TestPlanInjectsEveryFaultAtLeastOnce(t *testing.T) {
	for seed := range uint64(50) {
		p := NewPlan(seed, time.Minute, Smoke) // too short: the mandatory ones still run
		for _, f := range Smoke {
			if !slices.ContainsFunc(p.Steps, func(s Step) bool { return s.Fault == f }) {
				t.Fatalf("seed %d: %s not planned:\n%s", seed, f, p)
			}
		}
		for i := 1; i < len(p.Steps); i++ {
			if p.Steps[i].At < p.Steps[i-1].At+p.Steps[i-1].Hold+Gap {
				t.Fatalf("seed %d: steps %d and %d overlap:\n%s", seed, i, i+1, p)
			}
		}
	}
	if p := NewPlan(1, 30*time.Minute, Smoke); len(p.Steps) < 3*len(Smoke) {
		t.Errorf("a 30 min plan has only %d steps:\n%s", len(p.Steps), p)
	}
}

// The reference run (30 min, all faults) must inject every fault at least
// three times (issue 11), whatever the seed.
func TestPlanThirtyMinutesEveryFaultThreeTimes(t *testing.T) {
	for seed := range uint64(50) {
		p := NewPlan(seed, 30*time.Minute, All)
		n := map[Fault]int{}
		for _, s := range p.Steps {
			n[s.Fault]++
		}
		for _, f := range All {
			if n[f] < 3 {
				t.Fatalf("seed %d: %s planned %d times in 30 min:\n%s", seed, f, n[f], p)
			}
		}
	}
}

func TestParseFaults(t *testing.T) {
	if f, err := ParseFaults(""); err != nil || !slices.Equal(f, Smoke) {
		t.Errorf(`ParseFaults("") = %v, %v`, f, err)
	}
	if f, err := ParseFaults("link-cut, forwarder-sigkill,link-cut"); err != nil || !slices.Equal(f, []Fault{LinkCut, ForwarderSIGKILL}) {
		t.Errorf("ParseFaults = %v, %v", f, err)
	}
	if _, err := ParseFaults("cloud-on-fire"); err == nil || !strings.Contains(err.Error(), "unknown fault") {
		t.Errorf("unknown fault: err = %v", err)
	}
}

// fixture is a clean run: everything written was delivered exactly once.
func fixture() (*Ledger, Observed, Timeline, Plan) {
	start := time.Date(2026, 12, 5, 16, 0, 0, 0, time.UTC)
	plan := NewPlan(7, time.Minute, []Fault{ForwarderSIGKILL, LinkCut})
	tl := Timeline{Seed: 7, Start: start}
	for _, s := range plan.Steps {
		in := start.Add(s.At)
		tl.Events = append(tl.Events, Event{Step: s, Injected: in, Healed: in.Add(s.Hold), Recovered: in.Add(s.Hold + 5*time.Second)})
	}
	l := NewLedger()
	o := Observed{Pictures: map[string][32]byte{}, Readings: map[string]int{}, Quarantined: map[string]string{}, DeadLetters: map[string]string{}}
	for i := range 20 {
		at := start.Add(time.Duration(i) * 3 * time.Second)
		sum := sha256.Sum256(fmt.Appendf(nil, "picture %d", i))
		l.Pictures[sum] = Item{What: fmt.Sprintf("cam1 #%d", i), At: at}
		o.Pictures[fmt.Sprintf("/camera/1/%d.jpg", i)] = sum
		id := fmt.Sprintf("node1|%d", i)
		l.Readings[id] = Item{What: id, At: at}
		o.Readings[id] = 1
	}
	// The same 20 pictures in two committed bundles of partition 0.
	for b := range 2 {
		s := bundle.Span{Topic: "cameraData", Partition: 0, First: int64(b * 10), Last: int64(b*10 + 9)}
		bu := Bundle{Path: "/bundles/cameraData/0/2026/12/05/16/" + bundle.Name(s.Topic, s.Partition, s.First, s.Last), Span: s}
		for i := range 10 {
			bu.Keys = append(bu.Keys, fmt.Sprintf("cam1-20261205T16%02d00Z-%016x", b*10+i, b*10+i))
		}
		o.Bundles = append(o.Bundles, bu)
	}
	l.Junk["junk-1.jpg"] = Item{What: "not a JPEG", At: start}
	o.Quarantined["junk-1.jpg"] = "not a JPEG: missing SOI"
	l.Malformed["m1"] = Item{What: "edge picture topic", At: start}
	o.DeadLetters["m1"] = "decode: bad magic"
	return l, o, tl, plan
}

func TestCheckCleanRunPasses(t *testing.T) {
	l, o, tl, plan := fixture()
	if r := Check(l, o, tl, plan, time.Minute); !r.OK() {
		t.Fatal(r.Failure(tl, 20))
	}
}

// TestCheckerSelfTest is the checker's self-test: each planted defect (one
// committed reading dropped, as with build tag chaos_planted_defect; one
// picture key committed in a second bundle, as that build does on the
// bundle store) must fail the check, and the failure must name it, the
// seed and the timeline.
func TestCheckerSelfTest(t *testing.T) {
	tests := []struct {
		name  string
		plant func(*Observed) string
		kind  string
	}{
		{name: "dropped reading", plant: DropOneReading, kind: "lost"},
		{name: "key in two bundles", plant: DuplicateOneBundleKey, kind: "bundle"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, o, tl, plan := fixture()
			planted := tt.plant(&o)
			if planted == "" {
				t.Fatal("nothing planted")
			}
			r := Check(l, o, tl, plan, time.Minute)
			if r.OK() {
				t.Fatalf("the checker passed a run with a planted defect (%s %s)", tt.name, planted)
			}
			msg := r.Failure(tl, 20)
			for _, want := range []string{tt.kind, planted, "CHAOS_SEED=7", "link-cut", "forwarder-sigkill"} {
				if !strings.Contains(msg, want) {
					t.Errorf("failure message lacks %q:\n%s", want, msg)
				}
			}
		})
	}
}

func TestCheckBundles(t *testing.T) {
	span := func(p int32, first, last int64) bundle.Span {
		return bundle.Span{Topic: "cameraData", Partition: p, First: first, Last: last}
	}
	tests := []struct {
		name string
		give []Bundle
		want []string // substrings, one per problem, in order
	}{
		{name: "none", give: nil},
		{name: "disjoint", give: []Bundle{
			{Path: "a", Span: span(0, 0, 9), Keys: []string{"k1", "k2"}},
			{Path: "b", Span: span(0, 10, 19), Keys: []string{"k3"}},
			{Path: "c", Span: span(1, 0, 9), Keys: []string{"k4"}}, // same offsets, other partition
		}},
		{name: "key in two bundles", give: []Bundle{
			{Path: "a", Span: span(0, 0, 9), Keys: []string{"k1"}},
			{Path: "b", Span: span(1, 0, 9), Keys: []string{"k1"}},
		}, want: []string{"key k1 in 2 committed bundle entries: a, b"}},
		{name: "key twice in one bundle", give: []Bundle{
			{Path: "a", Span: span(0, 0, 9), Keys: []string{"k1", "k1"}},
		}, want: []string{"key k1 in 2 committed bundle entries: a, a"}},
		{name: "overlap", give: []Bundle{
			{Path: "b", Span: span(0, 9, 12), Keys: []string{"k2"}},
			{Path: "a", Span: span(0, 0, 9), Keys: []string{"k1"}},
		}, want: []string{"overlap: a (offsets 0..9) and b (offsets 9..12)"}},
		{name: "overlap past a short bundle", give: []Bundle{
			{Path: "a", Span: span(0, 0, 100), Keys: []string{"k1"}},
			{Path: "b", Span: span(0, 10, 20), Keys: []string{"k2"}},
			{Path: "c", Span: span(0, 50, 60), Keys: []string{"k3"}},
		}, want: []string{"a (offsets 0..100) and b", "a (offsets 0..100) and c"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantLinesLike(t, "CheckBundles", CheckBundles(tt.give), tt.want)
		})
	}
}

// wantLinesLike checks the lines call returned: one per want, in order,
// each holding its want.
func wantLinesLike(t *testing.T, call string, got, want []string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s = %q, want %d lines like %q", call, got, len(want), want)
	}
	for i, w := range want {
		if !strings.Contains(got[i], w) {
			t.Errorf("%s[%d] = %q, want it to hold %q", call, i, got[i], w)
		}
	}
}

func TestCheckFindsEachViolation(t *testing.T) {
	cases := map[string]func(*Ledger, *Observed, *Timeline){
		"duplicated": func(l *Ledger, o *Observed, _ *Timeline) {
			for p, s := range o.Pictures {
				o.Pictures[p+".copy"] = s
				break
			}
		},
		"corrupt":           func(_ *Ledger, o *Observed, _ *Timeline) { o.Pictures["/camera/x.jpg"] = sha256.Sum256([]byte("x")) },
		"corrupt bundle":    func(_ *Ledger, o *Observed, _ *Timeline) { o.Unreadable = []string{"/bundles/x.avro: no index"} },
		"not-quarantined":   func(_ *Ledger, o *Observed, _ *Timeline) { o.Quarantined["junk-1.jpg"] = "" },
		"not-dead-lettered": func(_ *Ledger, o *Observed, _ *Timeline) { delete(o.DeadLetters, "m1") },
		"uncovered":         func(_ *Ledger, o *Observed, _ *Timeline) { o.Uncovered = []string{"cloud-temp/1 offset 7"} },
		"crash":             func(_ *Ledger, o *Observed, _ *Timeline) { o.Crashes = []string{"ingest-1 exit status 2"} },
		"recovery": func(_ *Ledger, _ *Observed, tl *Timeline) {
			tl.Events[0].Recovered = tl.Events[0].Healed.Add(2 * time.Minute)
		},
		"not-injected": func(_ *Ledger, _ *Observed, tl *Timeline) { tl.Events = tl.Events[:1] },
		"bundle": func(_ *Ledger, o *Observed, _ *Timeline) {
			o.Bundles[1].Span.First = o.Bundles[0].Span.Last // overlap by one offset
		},
	}
	for kind, mutate := range cases {
		t.Run(kind, func(t *testing.T) {
			l, o, tl, plan := fixture()
			mutate(l, &o, &tl)
			r := Check(l, o, tl, plan, time.Minute)
			want := strings.Fields(kind)[0] // "corrupt bundle": a corrupt violation
			if !slices.ContainsFunc(r.Violations, func(v Violation) bool { return v.Kind == want }) {
				t.Errorf("no %s violation: %v", want, r.Violations)
			}
		})
	}
}

func TestLostCountedInFaultWindow(t *testing.T) {
	l, o, tl, plan := fixture()
	e := tl.Events[1]
	for p, sum := range o.Pictures {
		if it := l.Pictures[sum]; !it.At.Before(e.Injected) && !it.At.After(e.Recovered) {
			delete(o.Pictures, p)
			break
		}
	}
	r := Check(l, o, tl, plan, time.Minute)
	if r.Lost[e.Step.Fault] != 1 {
		t.Errorf("lost in %s = %d, want 1: %v", e.Step.Fault, r.Lost[e.Step.Fault], r.Violations)
	}
}

func TestReport(t *testing.T) {
	l, o, tl, plan := fixture()
	for i := range 10 {
		tl.Samples = append(tl.Samples, Sample{At: tl.Start.Add(time.Duration(i) * 10 * time.Second), Pictures: i * 2, Readings: i * 3})
	}
	DropOneReading(&o)
	r := Check(l, o, tl, plan, time.Minute)
	md := Matrix(Header{Commit: "abc", Command: "make chaos", Backend: "confluent"}, tl, r)
	checked := fmt.Sprintf("checked against the ledger: %d pictures, %d readings, %d junk files, %d malformed messages",
		len(l.Pictures), len(l.Readings), len(l.Junk), len(l.Malformed))
	for _, want := range []string{"seed: `7`", "| link-cut | 1 |", "FAIL", "make chaos", checked} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q:\n%s", want, md)
		}
	}
	svg := SVG(tl)
	if err := xml.Unmarshal([]byte(svg), new(struct{})); err != nil {
		t.Errorf("SVG is not well-formed XML: %v\n%s", err, svg)
	}
	if strings.Count(svg, `fill="#e66"`) != len(tl.Events) {
		t.Errorf("SVG shades %d windows, want %d", strings.Count(svg, `fill="#e66"`), len(tl.Events))
	}
	dir := t.TempDir()
	if err := Write(dir, Header{}, tl, r); err != nil {
		t.Fatal(err)
	}
}
