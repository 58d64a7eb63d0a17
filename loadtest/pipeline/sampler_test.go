package pipeline

import (
	"bufio"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
	"time"
)

var nan3 = [3]float64{math.NaN(), math.NaN(), math.NaN()}

// TestSamplerResetPeaks: after a child touched 64 MiB and gave them back,
// its peak RSS counts them until ResetPeaks brings it down.
func TestSamplerResetPeaks(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperTouch$")
	cmd.Env = append(os.Environ(), "PIPELINE_HELPER_TOUCH=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || strings.TrimSpace(line) != "touched" {
		t.Fatalf("helper said %q, %v; want touched", line, err)
	}
	s := NewSampler(time.Hour)
	s.Track("child", "test", cmd.Process.Pid)
	if err := s.ResetPeaks(); err != nil {
		t.Fatalf("ResetPeaks() error = %v", err)
	}
	s.SampleAll()
	pts := s.Snapshot()[0].Points
	if len(pts) != 2 {
		t.Fatalf("points = %d, want 2", len(pts))
	}
	before, after := pts[0], pts[1]
	if before.HWMBytes < before.RSSBytes+32<<20 {
		t.Errorf("before the reset: HWM %d, RSS %d; want HWM at least 32 MiB above", before.HWMBytes, before.RSSBytes)
	}
	if after.HWMBytes > before.HWMBytes-32<<20 {
		t.Errorf("after the reset: HWM %d, want at least 32 MiB below %d", after.HWMBytes, before.HWMBytes)
	}
}

// TestHelperTouch is TestSamplerResetPeaks's child: touches 64 MiB, gives
// them back to the OS, says so and waits to be killed.
func TestHelperTouch(t *testing.T) {
	if os.Getenv("PIPELINE_HELPER_TOUCH") != "1" {
		t.Skip("helper process of TestSamplerResetPeaks")
	}
	b := make([]byte, 64<<20)
	for i := range b {
		b[i] = 1
	}
	runtime.KeepAlive(b)
	b = nil
	debug.FreeOSMemory()
	fmt.Println("touched")
	time.Sleep(time.Minute)
}

// TestSamplerScrapesMemory: with ScrapeMetrics, each point carries the
// process's Go heap in use and its Kafka clients' buffered bytes (summed);
// NaN without an admin address, without the metric, or when off.
func TestSamplerScrapesMemory(t *testing.T) {
	full := `# TYPE go_memstats_heap_inuse_bytes gauge
go_memstats_heap_inuse_bytes 4.194304e+06
# TYPE sensornode_kafka_client_buffered_bytes gauge
sensornode_kafka_client_buffered_bytes{client="edge"} 1000
sensornode_kafka_client_buffered_bytes{client="cloud"} 234
# TYPE go_memstats_sys_bytes gauge
go_memstats_sys_bytes 3e+07
# TYPE go_memstats_heap_idle_bytes gauge
go_memstats_heap_idle_bytes 8e+06
# TYPE go_memstats_heap_released_bytes gauge
go_memstats_heap_released_bytes 2e+06
`
	heapOnly := "# TYPE go_memstats_heap_inuse_bytes gauge\ngo_memstats_heap_inuse_bytes 5\n"
	tests := []struct {
		name      string
		body      string // "" : no admin address
		scrape    bool
		wantHeap  float64
		wantKafka float64
		// wantGo is GoSys, HeapIdle, HeapReleased.
		wantGo [3]float64
	}{
		{"heap and both clients", full, true, 4194304, 1234, [3]float64{3e7, 8e6, 2e6}},
		{"no Kafka metric", heapOnly, true, 5, math.NaN(), nan3},
		{"no admin address", "", true, math.NaN(), math.NaN(), nan3},
		{"scraping off", full, false, math.NaN(), math.NaN(), nan3},
		{"not the text format", "<html>", true, math.NaN(), math.NaN(), nan3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			admin := ""
			if tt.body != "" {
				srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					if r.URL.Path != "/metrics" {
						http.NotFound(w, r)
						return
					}
					fmt.Fprint(w, tt.body)
				}))
				defer srv.Close()
				admin = strings.TrimPrefix(srv.URL, "http://")
			}
			s := NewSampler(time.Hour)
			if tt.scrape {
				s.ScrapeMetrics(2 * time.Second)
			}
			var seen []Point
			s.OnPoint(func(sr Series, p Point) {
				if sr.Name != "self" || sr.Admin != admin {
					t.Errorf("OnPoint series = %+v, want self at %q", sr, admin)
				}
				seen = append(seen, p)
			})
			s.TrackAdmin("self", "test", os.Getpid(), admin)
			snap := s.Snapshot()
			if len(snap) != 1 || len(snap[0].Points) != 1 || len(seen) != 1 {
				t.Fatalf("Snapshot() = %+v, OnPoint saw %d, want one point", snap, len(seen))
			}
			p := snap[0].Points[0]
			same := func(a, b float64) bool { return a == b || math.IsNaN(a) && math.IsNaN(b) }
			if !same(p.HeapInuse, tt.wantHeap) || !same(p.KafkaBuffered, tt.wantKafka) || p.RSSBytes <= 0 {
				t.Errorf("point = heap %v, kafka %v, rss %d; want heap %v, kafka %v, rss > 0", p.HeapInuse, p.KafkaBuffered, p.RSSBytes, tt.wantHeap, tt.wantKafka)
			}
			if gotGo := [3]float64{p.GoSys, p.HeapIdle, p.HeapReleased}; !same(gotGo[0], tt.wantGo[0]) || !same(gotGo[1], tt.wantGo[1]) || !same(gotGo[2], tt.wantGo[2]) {
				t.Errorf("point Go sys, idle, released = %v, want %v", gotGo, tt.wantGo)
			}
			if p.HWMBytes < p.RSSBytes || p.RSSFileBytes <= 0 {
				t.Errorf("point HWM %d, file %d, RSS %d; want HWM >= RSS, file > 0", p.HWMBytes, p.RSSFileBytes, p.RSSBytes)
			}
			if !same(seen[0].HeapInuse, p.HeapInuse) {
				t.Errorf("OnPoint saw heap %v, recorded %v", seen[0].HeapInuse, p.HeapInuse)
			}
		})
	}
}
