package harness

import (
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/sensornode/sensornode/loadtest/memory"
	"github.com/sensornode/sensornode/loadtest/pipeline"
)

func TestMemoryWindows(t *testing.T) {
	timeline := []span{
		{"confluent", "rest", sec(0), sec(5)},
		{"confluent", "steady/640x480", sec(5), sec(30)},
		{"confluent", "steady/1280x720", sec(30), sec(60)},
		{"confluent", "h2h/640x480", sec(70), sec(80)}, // inside a drain: left out
		{"confluent", "drain/640x480", sec(60), sec(90)},
		{"franz", "rest", sec(100), sec(105)},
		{"franz", "drain/640x480", sec(150), sec(170)},
	}
	tests := []struct {
		name    string
		backend string
		want    []memory.Window
	}{
		{"phases of one backend", "confluent", []memory.Window{
			{Phase: memory.PhaseRest, From: sec(0), To: sec(5), Label: "rest"},
			{Phase: memory.PhaseSteady, From: sec(5), To: sec(30), Label: "steady 640x480"},
			{Phase: memory.PhaseSteady, From: sec(30), To: sec(60), Label: "steady 1280x720"},
			{Phase: memory.PhaseDrain, From: sec(60), To: sec(90), Label: "drain 640x480", PeaksReset: true},
		}},
		{"the other backend", "franz", []memory.Window{
			{Phase: memory.PhaseRest, From: sec(100), To: sec(105), Label: "rest"},
			{Phase: memory.PhaseDrain, From: sec(150), To: sec(170), Label: "drain 640x480", PeaksReset: true},
		}},
		{"unknown backend", "kafka", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := memoryWindows(timeline, tt.backend); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("memoryWindows(%s) = %+v, want %+v", tt.backend, got, tt.want)
			}
		})
	}
}

// TestDrainSpans: the RSS chart of a backend shades its drains, in
// seconds since the backend's start, labelled with the size.
func TestDrainSpans(t *testing.T) {
	timeline := []span{
		{"confluent", "rest", sec(0), sec(5)},
		{"confluent", "drain/1280x720", sec(80), sec(95)},
		{"confluent", "drain/640x480", sec(60), sec(80)},
		{"franz", "drain/640x480", sec(150), sec(170)},
	}
	tests := []struct {
		name     string
		backend  string
		from, to float64
		want     []memory.Span
	}{
		{"drains of the backend only, in order", "confluent", 0, 100, []memory.Span{
			{Label: "drain 640x480", From: 60, To: 80}, {Label: "drain 1280x720", From: 80, To: 95}}},
		{"relative to the backend's start", "franz", 100, 200, []memory.Span{{Label: "drain 640x480", From: 50, To: 70}}},
		{"run ended during a drain: clipped", "confluent", 0, 90, []memory.Span{
			{Label: "drain 640x480", From: 60, To: 80}, {Label: "drain 1280x720", From: 80, To: 90}}},
		{"no drains", "franz", 0, 100, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := drainSpans(timeline, tt.backend, sec(tt.from), sec(tt.to)); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("drainSpans(%s) = %+v, want %+v", tt.backend, got, tt.want)
			}
		})
	}
}

func TestMemoryProcs(t *testing.T) {
	series := []pipeline.Series{
		{Name: "edge-forwarder", Service: pipeline.EdgeForwarder, Points: []pipeline.Point{
			{At: sec(1), RSSBytes: 100, HeapInuse: 40, KafkaBuffered: math.NaN(), HWMBytes: 120, RSSFileBytes: 30, GoSys: 60, HeapIdle: 15, HeapReleased: 5}}},
		{Name: "mirrormaker2-640x480", Service: "mirrormaker2", Points: []pipeline.Point{{At: sec(1), RSSBytes: 999}}},
		{Name: "devstack/edge-kafka-1", Service: devstackProc, Points: []pipeline.Point{{At: sec(1), RSSBytes: 999}}},
	}
	got := memoryProcs(series)
	if len(got) != 1 || got[0].Name != "edge-forwarder" || len(got[0].Samples) != 1 {
		t.Fatalf("memoryProcs() = %+v, want edge-forwarder only", got)
	}
	if s := got[0].Samples[0]; s.RSS != 100 || s.Heap != 40 || !math.IsNaN(s.Kafka) || !s.At.Equal(sec(1)) ||
		s.HWM != 120 || s.File != 30 || s.GoSys != 60 || s.HeapIdle != 15 || s.HeapReleased != 5 {
		t.Errorf("memoryProcs() sample = %+v, want RSS 100, heap 40, Kafka NaN, HWM 120, file 30, sys 60, idle 15, released 5", s)
	}
}

// TestProfiler: during a drain a service's heap profile is fetched when
// its RSS rises above the highest so far, not otherwise, and not outside
// drains; the file ends with the last fetched.
func TestProfiler(t *testing.T) {
	var fetches atomic.Int32
	fail := atomic.Bool{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/debug/pprof/heap" || fail.Load() {
			http.Error(w, "no", http.StatusNotFound)
			return
		}
		n := fetches.Add(1)
		w.Write([]byte{byte('0' + n)})
	}))
	defer srv.Close()
	admin := strings.TrimPrefix(srv.URL, "http://")
	dir := t.TempDir()
	pr := newProfiler(dir)
	fw := pipeline.Series{Name: "edge-forwarder-drain", Service: pipeline.EdgeForwarder, Admin: admin}
	pt := func(s float64, rssMiB int64) pipeline.Point {
		return pipeline.Point{At: sec(s), RSSBytes: rssMiB << 20, HeapInuse: float64(rssMiB<<20) / 2, KafkaBuffered: 7}
	}
	step := func(sr pipeline.Series, p pipeline.Point) { pr.point(sr, p); pr.wait() }

	step(fw, pt(0, 50)) // no drain yet
	pr.setPhase("confluent", "drain/640x480")
	step(fw, pt(1, 50))                                                                        // fetch 1
	step(fw, pt(2, 40))                                                                        // lower: none
	step(fw, pt(3, 80))                                                                        // fetch 2
	step(fw, pt(4, 80))                                                                        // equal: none
	step(pipeline.Series{Name: "mm2", Service: "mirrormaker2", Admin: admin}, pt(5, 500))      // not a service
	step(pipeline.Series{Name: "edge-forwarder", Service: pipeline.EdgeForwarder}, pt(5, 900)) // no admin
	fail.Store(true)
	step(fw, pt(6, 90)) // failed fetch keeps the profile of 80 MiB
	pr.setPhase("confluent", "")
	fail.Store(false)
	step(fw, pt(7, 200)) // drain over

	if n := fetches.Load(); n != 2 {
		t.Errorf("fetches = %d, want 2", n)
	}
	got := pr.profiles("confluent")
	if len(got) != 1 {
		t.Fatalf("profiles() = %+v, want one", got)
	}
	p := got[0]
	wantFile := filepath.Join("profiles", "confluent", "drain-640x480", "edge-forwarder.heap.pb.gz")
	if p.File != wantFile || p.Instance != "edge-forwarder-drain" || p.Phase != "drain/640x480" || p.Err != "" ||
		p.RSS != 80<<20 || p.PeakRSS != 90<<20 || p.HeapInuse != 40<<20 || p.KafkaBuffered != 7 || !p.At.Equal(sec(3)) {
		t.Errorf("profile = %+v, want the one at 80 MiB (peak 90) in %s", p, wantFile)
	}
	b, err := os.ReadFile(filepath.Join(dir, wantFile))
	if err != nil || string(b) != "2" {
		t.Errorf("profile file = %q, %v; want the second fetch", b, err)
	}
	if got := pr.profiles("franz"); len(got) != 0 {
		t.Errorf("profiles(franz) = %+v, want none", got)
	}
}

func TestProfilerRecordsFailure(t *testing.T) {
	pr := newProfiler(t.TempDir())
	pr.setPhase("franz", "drain/640x480")
	pr.point(pipeline.Series{Name: "cloud-ingest-hdfs", Service: pipeline.CloudIngest, Admin: "127.0.0.1:1"},
		pipeline.Point{At: sec(1), RSSBytes: 1 << 20, HeapInuse: math.NaN(), KafkaBuffered: math.NaN()})
	pr.wait()
	got := pr.profiles("franz")
	if len(got) != 1 || got[0].Err == "" || got[0].Instance != "cloud-ingest-hdfs" {
		t.Errorf("profiles() = %+v, want one with the fetch error", got)
	}
}

// TestProfilerFetchesAgainAfterRise: a rise while a fetch is under way is
// fetched once that one is done (the highest of the rises), so the peak
// is not missed.
func TestProfilerFetchesAgainAfterRise(t *testing.T) {
	var fetches atomic.Int32
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if fetches.Add(1) == 1 {
			<-release
		}
		w.Write([]byte("p"))
	}))
	defer srv.Close()
	pr := newProfiler(t.TempDir())
	pr.setPhase("franz", "drain/640x480")
	fw := pipeline.Series{Name: "edge-forwarder-drain", Service: pipeline.EdgeForwarder, Admin: strings.TrimPrefix(srv.URL, "http://")}
	for i, mib := range []int64{50, 60, 70, 65} {
		pr.point(fw, pipeline.Point{At: sec(float64(i)), RSSBytes: mib << 20, HeapInuse: 1, KafkaBuffered: 2})
	}
	close(release)
	pr.wait()
	if n := fetches.Load(); n != 2 {
		t.Errorf("fetches = %d, want 2 (the first, then one for the rise to 70 MiB)", n)
	}
	got := pr.profiles("franz")
	if len(got) != 1 || got[0].RSS != 70<<20 || got[0].PeakRSS != 70<<20 || !got[0].At.Equal(sec(2)) {
		t.Errorf("profiles() = %+v, want one at 70 MiB (the peak)", got)
	}
}
