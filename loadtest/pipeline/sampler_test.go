package pipeline

import (
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"
)

// TestSamplerScrapesMemory: with ScrapeMetrics, each point carries the
// process's Go heap in use and its Kafka clients' buffered bytes (summed);
// NaN without an admin address, without the metric, or when off.
func TestSamplerScrapesMemory(t *testing.T) {
	full := `# TYPE go_memstats_heap_inuse_bytes gauge
go_memstats_heap_inuse_bytes 4.194304e+06
# TYPE sensornode_kafka_client_buffered_bytes gauge
sensornode_kafka_client_buffered_bytes{client="edge"} 1000
sensornode_kafka_client_buffered_bytes{client="cloud"} 234
`
	heapOnly := "# TYPE go_memstats_heap_inuse_bytes gauge\ngo_memstats_heap_inuse_bytes 5\n"
	tests := []struct {
		name      string
		body      string // "" : no admin address
		scrape    bool
		wantHeap  float64
		wantKafka float64
	}{
		{"heap and both clients", full, true, 4194304, 1234},
		{"no Kafka metric", heapOnly, true, 5, math.NaN()},
		{"no admin address", "", true, math.NaN(), math.NaN()},
		{"scraping off", full, false, math.NaN(), math.NaN()},
		{"not the text format", "<html>", true, math.NaN(), math.NaN()},
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
			if !same(seen[0].HeapInuse, p.HeapInuse) {
				t.Errorf("OnPoint saw heap %v, recorded %v", seen[0].HeapInuse, p.HeapInuse)
			}
		})
	}
}
