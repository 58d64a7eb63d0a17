package report

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/sensornode/sensornode/loadtest/memory"
)

func TestPerNodeGoal(t *testing.T) {
	const mb = 1 << 20
	two := []string{"camera-producer", "temp-producer"}
	three := append(two, "master-watcher")
	tests := []struct {
		name string
		give Backend
		want string
	}{
		{"without master-watcher, under", Backend{PerNodeServices: two, PerNodeRestRSS: 30 * mb}, "goal ≤ 40 MiB with master-watcher, not run here: 10.0 MiB left for it"},
		{"without master-watcher, over", Backend{PerNodeServices: two, PerNodeRestRSS: 41 * mb}, "goal ≤ 40 MiB with master-watcher, not run here: **not met** without it"},
		{"all three, met", Backend{PerNodeServices: three, PerNodeRestRSS: 40 * mb}, "goal ≤ 40 MiB: met"},
		{"all three, not met", Backend{PerNodeServices: three, PerNodeRestRSS: 52 * mb}, "goal ≤ 40 MiB: **not met**"},
		{"not measured", Backend{PerNodeServices: two, PerNodeRestRSS: math.NaN()}, "goal ≤ 40 MiB: not measured"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := perNodeGoal(tt.give); got != tt.want {
				t.Errorf("perNodeGoal(%v MiB) = %q, want %q", tt.give.PerNodeRestRSS/mb, got, tt.want)
			}
		})
	}
}

func TestRenderMemory(t *testing.T) {
	const mb = 1 << 20
	st := func(mean, peak float64) memory.Stat { return memory.Stat{Mean: mean * mb, Peak: peak * mb, N: 3} }
	none := memory.Stat{Mean: math.NaN(), Peak: math.NaN()}
	withMemory := func(mirrorPeak int64, fwConfluent, fwFranz int64) *Result {
		r := fixture()
		r.Backends[0].Memory = []memory.Row{
			{Service: "edge-forwarder", Phase: memory.PhaseRest, Instances: 1, RSS: st(20, 21), Heap: st(4, 5), Kafka: memory.Stat{N: 3}},
			{Service: "edge-forwarder", Phase: memory.PhaseDrain, Instances: 2, RSS: st(60, 112), Heap: st(10, 30), Kafka: st(40, 64)},
		}
		r.Backends[0].PerNodeServices = []string{"camera-producer", "temp-producer"}
		r.Backends[0].PerNodeRestRSS = 53 * mb
		r.Backends[0].HeapProfiles = []HeapProfile{
			{Service: "edge-forwarder", Instance: "edge-forwarder-drain", Phase: "drain/640x480", File: "profiles/confluent/drain-640x480/edge-forwarder.pb.gz",
				At: time.Now(), RSS: 110 * mb, PeakRSS: 112 * mb, HeapInuse: 30 * mb, KafkaBuffered: 64 * mb},
			{Service: "cloud-ingest-hdfs", Instance: "cloud-ingest-hdfs", Phase: "drain/640x480", Err: "connection refused", RSS: 50 * mb, PeakRSS: 52 * mb, HeapInuse: math.NaN(), KafkaBuffered: math.NaN()},
		}
		r.Backends[1].Memory = []memory.Row{
			{Service: "edge-forwarder", Phase: memory.PhaseRest, Instances: 1, RSS: st(15, 16), Heap: none, Kafka: none},
		}
		r.Backends[0].DrainAttribution = []memory.Attribution{
			{Service: "edge-forwarder", Instance: "edge-forwarder-drain", Peak: 112 * mb, RSS: 100 * mb, File: 20 * mb, GoRuntime: 5 * mb,
				HeapInuse: 20 * mb, HeapFree: 10 * mb, Other: 45 * mb, Kafka: 10 * mb},
			{Service: "temp-producer", Instance: "temp-producer-1", Peak: 30 * mb, RSS: 30 * mb, File: 15 * mb, GoRuntime: 5 * mb, HeapInuse: 8 * mb, HeapFree: 2 * mb},
		}
		r.Backends[1].PerNodeServices = []string{"camera-producer", "temp-producer"}
		r.Backends[1].PerNodeRestRSS = 39 * mb
		r.Backends[1].Sizes[0].Drain = &Drain{Forwarder: Rate{Usage: &Usage{RSSMax: fwFranz * mb}}}
		r.Backends[0].Sizes[0].Drain.Forwarder.Usage = &Usage{RSSMax: fwConfluent * mb}
		r.Baselines.Sizes[0].Mirror = &Mirror{Drain: Rate{N: 608, Usage: &Usage{RSSMax: mirrorPeak * mb}}}
		return r
	}
	tests := []struct {
		name    string
		give    *Result
		want    []string
		notWant []string
	}{
		{
			name: "table, sums, ratios, profiles",
			give: withMemory(400, 112, 40),
			want: []string{
				"## Memory per service and phase",
				"| service | phase | confluent: RSS | Go heap | Kafka buffered | franz: RSS | Go heap | Kafka buffered |",
				"| edge-forwarder | rest | 20.0 / 21.0 | 4.0 / 5.0 | 0.0 / 0.0 | 15.0 / 16.0 | — | — |",
				"| edge-forwarder | drain | 60.0 / 112.0 | 10.0 / 30.0 | 40.0 / 64.0 | — | — | — |",
				"(camera-producer + temp-producer), mean RSS summed, confluent: **53.0 MiB**.",
				"franz: **39.0 MiB** (goal ≤ 40 MiB with master-watcher, not run here: 1.0 MiB left for it).",
				"| 640x480 | 608 | 400.0 | 112.0 | 0.28x (**not met**) | 40.0 | 0.10x (met) |",
				"| confluent | drain/640x480 | edge-forwarder | edge-forwarder-drain | 110.0 (112.0) | 30.0 | 64.0 | `profiles/confluent/drain-640x480/edge-forwarder.pb.gz` |",
				"| confluent | drain/640x480 | cloud-ingest-hdfs | cloud-ingest-hdfs | 50.0 (52.0) | — | — | failed: connection refused |",
				"### What stops the drain goal (every service ≤ 40 MiB)",
				"| confluent | edge-forwarder | 112.0 | **+72.0** | 100.0 | 20.0 | 5.0 | 20.0 | 10.0 | 45.0 | 10.0 | C memory (librdkafka, malloc) 45.0 MiB: even at 0, the Go heap (30.0 MiB) must be ≤ 3.0 |",
				"| confluent | temp-producer | 30.0 | met | 30.0 | 15.0 | 5.0 | 8.0 | 2.0 | 0.0 | 0.0 | — |",
			},
			notWant: []string{"| edge-forwarder | steady |"},
		},
		{
			name: "MirrorMaker 2 not measured: no ratio",
			give: withMemory(0, 112, 40),
			want: []string{"| 640x480 | 608 | — | 112.0 | — | 40.0 | — |"},
		},
		{
			name:    "no memory measured: no section",
			give:    fixture(),
			notWant: []string{"## Memory per service and phase", "### Drain peak", "### What stops"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b strings.Builder
			if err := Render(&b, tt.give); err != nil {
				t.Fatal(err)
			}
			out := b.String()
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("report lacks %q; memory section:\n%s", w, section(out, "## Memory per service"))
				}
			}
			for _, w := range tt.notWant {
				if strings.Contains(out, w) {
					t.Errorf("report has %q", w)
				}
			}
			if _, err := JSON(tt.give); err != nil {
				t.Errorf("JSON() error = %v", err)
			}
		})
	}
}

// section is out from the line starting with heading to the next "## ".
func section(out, heading string) string {
	i := strings.Index(out, heading)
	if i < 0 {
		return "(none)"
	}
	rest := out[i:]
	if j := strings.Index(rest[3:], "\n## "); j >= 0 {
		return rest[:j+3]
	}
	return rest
}

func TestPeakOfUnmeasured(t *testing.T) {
	for _, tt := range []struct {
		name string
		give *Usage
		want float64 // NaN: not measured
	}{
		{"no usage", nil, math.NaN()},
		{"no sample", &Usage{}, math.NaN()},
		{"a sample before the runtime started", &Usage{RSSMax: 200 << 10}, math.NaN()},
		{"a running service", &Usage{RSSMax: 83 << 20}, 83 << 20},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := peakOf(tt.give)
			if math.IsNaN(tt.want) != math.IsNaN(got) || (!math.IsNaN(got) && got != tt.want) {
				t.Errorf("peakOf(%+v) = %v, want %v", tt.give, got, tt.want)
			}
			if math.IsNaN(tt.want) && ratioGoal(memory.Ratio(got, 300<<20)) == "0.00x (met)" {
				t.Errorf("an unmeasured peak meets the goal")
			}
		})
	}
}

func TestStopsGoal(t *testing.T) {
	const mb = 1 << 20
	tests := []struct {
		name string
		give memory.Attribution
		want string
	}{
		{"met", memory.Attribution{Peak: 40 * mb, File: 16 * mb, GoRuntime: 5 * mb, HeapInuse: 19 * mb}, "—"},
		{"franz: the Go heap", memory.Attribution{Peak: 52 * mb, File: 16 * mb, GoRuntime: 5 * mb, HeapInuse: 23 * mb, HeapFree: 8 * mb},
			"Go heap 31.0 MiB, must be ≤ 19.0"},
		{"confluent: C memory the larger", memory.Attribution{Peak: 75 * mb, File: 20 * mb, GoRuntime: 5 * mb, HeapInuse: 13 * mb, HeapFree: 7 * mb, Other: 30 * mb},
			"C memory (librdkafka, malloc) 30.0 MiB: even at 0, the Go heap (20.0 MiB) must be ≤ 15.0"},
		{"the floor alone", memory.Attribution{Peak: 45 * mb, File: 30 * mb, GoRuntime: 11 * mb, HeapInuse: 4 * mb}, "the floor alone (41.0 MiB)"},
		{"not measured", memory.Attribution{Peak: math.NaN()}, "—"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := stopsGoal(tt.give); got != tt.want {
				t.Errorf("stopsGoal(%+v) = %q, want %q", tt.give, got, tt.want)
			}
		})
	}
}
