package report

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/sensornode/sensornode/loadtest/perfparse"
	"github.com/sensornode/sensornode/loadtest/saturation"
	"github.com/sensornode/sensornode/loadtest/stats"
)

func fixture() *Result {
	sum := func(mean float64) stats.Summary {
		return stats.Summary{N: 100, Mean: mean, P50: mean - 1, P95: mean + 5, P99: mean + 10, Min: 1, Max: mean + 20}
	}
	complete := Completeness{Produced: 100, Edge: 100, Cloud: 100, HDFS: 100, Verified: 50}
	steady := &Steady{OfferedPerSec: 5, Duration: Duration(20 * time.Second), PicturesPerSec: 4.9, MBPerSec: 0.4,
		Stages: Stages{Producer: sum(7.5), Forwarder: sum(12), Ingest: sum(30), EndToEnd: sum(50)}, Completeness: complete}
	return &Result{
		Profile: "standard", Command: "loadtest -profile standard",
		Started: time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC), Finished: time.Date(2026, 11, 27, 12, 9, 30, 0, time.UTC),
		Machine:  Machine{CPUModel: "AMD EPYC", CPUs: 2, MemBytes: 24 << 30, Kernel: "Linux 6.1 amd64"},
		Versions: Versions{Go: "go1.26.8", Kafka: "3.9.2", Hadoop: "3.4.2", Git: "abc123"},
		Settings: Settings{Cluster: "devstack /x", Cameras: 5, RatePerCamera: 1, SteadyDuration: Duration(20 * time.Second),
			Form: "binary", Sizes: []string{"640x480"}, Backends: []string{"confluent", "franz"}, DrainMB: 48,
			Stores: []string{"files", "avro"}, BundleMaxAge: Duration(2 * time.Second), EdgeRF: 3, EdgeMinISR: 2, CloudRF: 1},
		Backends: []Backend{
			{Backend: "confluent", Sizes: []SizeResult{{Size: "640x480", MeanPictureBytes: 79000, MeanRecordBytes: 79300, Steady: steady,
				Drain: &Drain{KafkaN: 608, HDFSN: 608, Producer: Rate{N: 608, PerSec: 300, MBPerSec: 24}, Forwarder: Rate{N: 608, PerSec: 150, MBPerSec: 12},
					Ingest: Rate{N: 100, PerSec: 40, MBPerSec: 3.2},
					Stores: []StoreDrain{
						{Store: "files", Ingest: Rate{N: 608, PerSec: 40, MBPerSec: 3.2, Usage: &Usage{RSSMax: 40 << 20}}, RatioToForwarder: 40.0 / 150,
							NameNode: NameNodeObjects{Pictures: 608, PerPicture: 2.01, StorePerPicture: 2}},
						{Store: "avro", BundleMaxAge: Duration(2 * time.Second), Ingest: Rate{N: 608, PerSec: 141, MBPerSec: 11.3, Usage: &Usage{RSSMax: 55 << 20}},
							RatioToForwarder: 141.0 / 150, NameNode: NameNodeObjects{Err: "jmx: connection refused"}},
					}}}},
				Usage:        []Usage{{Service: "camera-producer", Instances: 5, CPUCores: 0.01, RSSMean: 30 << 20, RSSMax: 32 << 20}},
				Completeness: complete,
				Phases:       []PhaseCompleteness{{Phase: "steady/640x480", Completeness: complete}}},
			{Backend: "franz", Sizes: []SizeResult{{Size: "640x480", Steady: steady}},
				Usage:        []Usage{{Service: "camera-producer", Instances: 5, CPUCores: math.NaN(), RSSMean: 20 << 20, RSSMax: 22 << 20}},
				Completeness: complete},
		},
		Baselines: Baselines{Sizes: []SizeBaselines{{
			Size: "640x480", RecordBytes: 79091, Pictures: 608, PerfRecords: 1824, HDFSFiles: 100,
			Perf:    &Perf{Result: perfparse.Result{Window: perfparse.Window{Records: 608, RecordsPerSec: 600, MBPerSec: 45}, P50Ms: 10, P99Ms: 40}},
			Mirror:  &Mirror{Err: "MirrorMaker 2 exited: exit status 1"},
			RawHDFS: &Rate{N: 100, PerSec: 50, MBPerSec: 4},
		}}},
		Notes: []string{"MirrorMaker 2 at 640x480 failed: exit status 1"},
	}
}

func TestRenderSaturation(t *testing.T) {
	r := fixture()
	st := *r.Backends[0].Sizes[0].Steady
	st.Saturation = &saturation.Verdict{Saturated: true, Reasons: []string{"CPU-bound (at least 0.9 cores): cloud-ingest-hdfs (0.97 cores)"}}
	r.Backends[0].Sizes[0].Steady = &st
	st.Store, st.NameNode = "avro", &NameNodeObjects{Pictures: 30000, PerPicture: 0.0011, StorePerPicture: 0.0008}
	franz := *r.Backends[1].Sizes[0].Steady
	franz.Saturation = &saturation.Verdict{}
	r.Backends[1].Sizes[0].Steady = &franz
	renderHas(t, r,
		"| steady: machine saturated | **yes** (below) |",
		"Saturated at 640x480 while the pictures were written:\n\n- CPU-bound (at least 0.9 cores): cloud-ingest-hdfs (0.97 cores)\n",
		"| steady: machine saturated | no |",
		"| steady: store; NameNode objects per picture, JMX (store listing) | avro; 0.0011 (0.0008) |",
	)
}

// renderHas renders r and fails t for each of want the report lacks.
func renderHas(t *testing.T, r *Result, want ...string) {
	t.Helper()
	var b strings.Builder
	if err := Render(&b, r); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("report lacks %q", w)
		}
	}
}

func TestRender(t *testing.T) {
	renderHas(t, fixture(),
		"# sensornode load test: standard profile, PASSED",
		"| thesis, Raspberry Pi 2 (Table 5.1) | 76.6 |",
		"| thesis, Raspberry Pi 2 (Table 5.2) | 21.0 |",
		"| sensornode: mean (n) | **7.5** (100) |",
		"| thesis / sensornode mean | 10.2× |", // 76.6 / 7.5
		"| p50 / p95 / p99 | 6.5 / 12.5 / 17.5 |",
		// camera-producer 300/s vs ProducerPerformance 600/s
		"| 640x480 | 608 / 1824 | 79091 | 600.0 (47.45) | 10.0 / 40.0 | — | confluent: 300.0 (24.00) | 0.50 |",
		// ingest 40/s vs plain client 50/s
		"| 640x480 | 100 | 50.0 (4.00) | — | confluent: 40.0 (3.20) | 0.80 |",
		"failed: MirrorMaker 2 exited: exit status 1",
		"## Problems and notes",
		"## Memory by Kafka backend",
		"| camera-producer | 30.0 / 32.0 | 20.0 / 22.0 |",
		"| CPU | AMD EPYC, 2 logical CPUs |",
		"Kafka buffer-size error",
		// per store: ratio to the forwarder's drain of the same backlog, objects per picture, peak RSS
		"| 640x480 | files | 608 | 40.0 (3.20) | 150.0 | 0.27× | 2.0100 (2.0000) | 40.0 |",
		"| 640x480 | avro (roll 2s) | 608 | 141.0 (11.30) | 150.0 | 0.94× | failed: jmx: connection refused | 55.0 |",
		"| files 40.0, avro 141.0 | files 0.27×, avro 0.94× |",
		"| cloud-ingest-hdfs picture stores | files, avro (steady phases on files); bundles roll after 2s or at 128 MiB (default) |",
	)
}

func TestDrainRatio(t *testing.T) {
	tests := []struct {
		name       string
		give, over Rate
		want       float64
	}{
		{"ingest slower", Rate{N: 600, PerSec: 150}, Rate{N: 600, PerSec: 1500}, 0.1},
		{"ingest keeps up", Rate{N: 600, PerSec: 1425}, Rate{N: 600, PerSec: 1500}, 0.95},
		{"ingest faster", Rate{N: 600, PerSec: 3000}, Rate{N: 600, PerSec: 1500}, 2},
		{"ingest failed", Rate{Err: "timeout", PerSec: 10}, Rate{PerSec: 1500}, math.NaN()},
		{"forwarder failed", Rate{PerSec: 10}, Rate{Err: "crashed", PerSec: 1500}, math.NaN()},
		{"nothing measured", Rate{}, Rate{PerSec: 1500}, math.NaN()},
		{"forwarder NaN", Rate{PerSec: 10}, Rate{PerSec: math.NaN()}, math.NaN()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := DrainRatio(tt.give, tt.over)
			if same := math.Abs(got-tt.want) < 1e-9 || math.IsNaN(got) && math.IsNaN(tt.want); !same {
				t.Errorf("DrainRatio(%v, %v) = %v, want %v", tt.give.PerSec, tt.over.PerSec, got, tt.want)
			}
		})
	}
}

func TestRenderFailed(t *testing.T) {
	r := fixture()
	r.Failures = []string{"confluent: 3 of 100 pictures missing in HDFS\nsecond line | pipe"}
	r.Backends[0].Sizes[0].Steady.Completeness.Missing = 3
	renderHas(t, r,
		"# sensornode load test: standard profile, FAILED",
		"## Failures",
		"- confluent: 3 of 100 pictures missing in HDFS second line \\| pipe",
		"| **NO** |",
	)
	if r.Passed() {
		t.Error("Passed() = true with failures")
	}
}

func TestCompleteness(t *testing.T) {
	tests := []struct {
		name string
		give Completeness
		want bool
	}{
		{"complete", Completeness{Produced: 10, HDFS: 10}, true},
		{"nothing produced", Completeness{}, false},
		{"missing", Completeness{Produced: 10, HDFS: 9, Missing: 1}, false},
		{"corrupt", Completeness{Produced: 10, HDFS: 10, ChecksumMismatch: 1}, false},
		{"size", Completeness{Produced: 10, HDFS: 10, SizeMismatch: 1}, false},
		{"unexpected file", Completeness{Produced: 10, HDFS: 10, Unexpected: 1}, false},
		{"drain lost on the cloud", Completeness{Produced: 10, HDFS: 10, CloudFinal: 5, CloudFinalMissing: 1}, false},
	}
	for _, tt := range tests {
		if got := tt.give.OK(); got != tt.want {
			t.Errorf("%s: OK() = %v, want %v", tt.name, got, tt.want)
		}
	}
	sum := Completeness{Produced: 1, MissingKeys: []string{"a"}}.Add(Completeness{Produced: 2, Missing: 1, MissingKeys: []string{"b"}})
	if sum.Produced != 3 || sum.Missing != 1 || len(sum.MissingKeys) != 2 {
		t.Errorf("Add() = %+v", sum)
	}
}

func TestJSONWritesNaNAsNull(t *testing.T) {
	r := fixture()
	r.Backends[0].Sizes[0].MeanPictureBytes = math.NaN()
	b, err := JSON(r)
	if err != nil {
		t.Fatalf("JSON() error = %v", err)
	}
	var back map[string]any
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatalf("JSON() is not valid JSON: %v", err)
	}
	be := back["backends"].([]any)[0].(map[string]any)
	size := be["sizes"].([]any)[0].(map[string]any)
	if v, ok := size["mean_picture_bytes"]; !ok || v != nil {
		t.Errorf("mean_picture_bytes = %v (present %v), want null", v, ok)
	}
	if got := back["settings"].(map[string]any)["steady_duration"]; got != "20s" {
		t.Errorf("steady_duration = %v, want 20s", got)
	}
	if got := back["started"]; got != "2026-11-27T12:00:00Z" {
		t.Errorf("started = %v", got)
	}
	perf := back["baselines"].(map[string]any)["sizes"].([]any)[0].(map[string]any)["producer_performance"].(map[string]any)
	if got := perf["result"].(map[string]any)["records_per_sec"]; got != 600.0 {
		t.Errorf("embedded window field records_per_sec = %v, want 600", got)
	}
	if _, ok := back["plots"]; ok {
		t.Error("omitempty field plots present")
	}
}
