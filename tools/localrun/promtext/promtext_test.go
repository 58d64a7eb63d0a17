package promtext

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"testing/iotest"
)

const exposition = `# HELP sensornode_forwarder_messages_forwarded_total Messages forwarded.
# TYPE sensornode_forwarder_messages_forwarded_total counter
sensornode_forwarder_messages_forwarded_total{result="ok",topic="node1"} 12
sensornode_forwarder_messages_forwarded_total{result="ok",topic="node2"} 30
sensornode_forwarder_messages_forwarded_total{result="error",topic="node2"} 1
sensornode_forwarder_consumer_lag_messages{partition="0",topic="node1"} 3 1700000000000
weird_label{v="a \"quoted\", b\\c\nd"} +Inf
sensornode_build_info{service="x"} 1
# HELP sensornode_ingest_hdfs_write_duration_seconds HDFS write time.
# TYPE sensornode_ingest_hdfs_write_duration_seconds histogram
sensornode_ingest_hdfs_write_duration_seconds_bucket{kind="picture",le="0.5"} 4
sensornode_ingest_hdfs_write_duration_seconds_bucket{kind="picture",le="+Inf"} 5
sensornode_ingest_hdfs_write_duration_seconds_sum{kind="picture"} 2.5
sensornode_ingest_hdfs_write_duration_seconds_count{kind="picture"} 5
# TYPE go_gc_duration_seconds summary
go_gc_duration_seconds{quantile="0.5"} 0.001
go_gc_duration_seconds_sum 0.01
go_gc_duration_seconds_count 7
`

func TestParseAndSum(t *testing.T) {
	ss, err := Parse(strings.NewReader(exposition))
	if err != nil {
		t.Fatalf("Parse() error = %v", err)
	}
	if len(ss) != 13 {
		t.Fatalf("Parse() = %d samples, want 13", len(ss))
	}
	tests := []struct {
		name   string
		metric string
		match  map[string]string
		want   float64
		wantOK bool
	}{
		{"all", "sensornode_forwarder_messages_forwarded_total", nil, 43, true},
		{"ok only", "sensornode_forwarder_messages_forwarded_total", map[string]string{"result": "ok"}, 42, true},
		{"one topic", "sensornode_forwarder_messages_forwarded_total", map[string]string{"result": "ok", "topic": "node2"}, 30, true},
		{"with timestamp", "sensornode_forwarder_consumer_lag_messages", nil, 3, true},
		{"missing", "nope", nil, 0, false},
		{"label mismatch", "sensornode_build_info", map[string]string{"service": "y"}, 0, false},
		{"histogram bucket", "sensornode_ingest_hdfs_write_duration_seconds_bucket", map[string]string{"le": "0.5"}, 4, true},
		{"histogram +Inf bucket", "sensornode_ingest_hdfs_write_duration_seconds_bucket", map[string]string{"le": "+Inf", "kind": "picture"}, 5, true},
		{"histogram sum", "sensornode_ingest_hdfs_write_duration_seconds_sum", map[string]string{"kind": "picture"}, 2.5, true},
		{"histogram count", "sensornode_ingest_hdfs_write_duration_seconds_count", nil, 5, true},
		{"histogram family name alone", "sensornode_ingest_hdfs_write_duration_seconds", nil, 0, false},
		{"summary quantile", "go_gc_duration_seconds", map[string]string{"quantile": "0.5"}, 0.001, true},
		{"summary count", "go_gc_duration_seconds_count", nil, 7, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := ss.Sum(tt.metric, tt.match)
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("Sum(%s, %v) = %v, %v, want %v, %v", tt.metric, tt.match, got, ok, tt.want, tt.wantOK)
			}
		})
	}
	i := slices.IndexFunc(ss, func(s Sample) bool { return s.Name == "weird_label" })
	if i < 0 {
		t.Fatal("Parse() lost weird_label")
	}
	w := ss[i]
	if w.Labels["v"] != "a \"quoted\", b\\c\nd" || !math.IsInf(w.Value, 1) {
		t.Errorf("escaped sample = %q %v", w.Labels["v"], w.Value)
	}
	if m, ok := ss.Max("sensornode_forwarder_messages_forwarded_total", nil); !ok || m != 30 {
		t.Errorf("Max() = %v, %v, want 30, true", m, ok)
	}
}

func TestParseErrors(t *testing.T) {
	for _, give := range []string{
		"name{a=\"x\" 1\n",
		"name{a=x} 1\n",
		"name 1 2 3\n",
		"name abc\n",
		"{a=\"b\"} 1\n",
		"name 1", // the format ends every line with \n
		"# TYPE g gauge\ng 1\n# TYPE g counter\n",
	} {
		if _, err := Parse(strings.NewReader(give)); !errors.Is(err, ErrSyntax) {
			t.Errorf("Parse(%q) error = %v, want ErrSyntax", give, err)
		}
	}
}

func TestParseReadError(t *testing.T) {
	cut := errors.New("connection reset")
	_, err := Parse(iotest.ErrReader(cut))
	if !errors.Is(err, cut) || errors.Is(err, ErrSyntax) {
		t.Errorf("Parse(failing reader) error = %v, want %v and not ErrSyntax", err, cut)
	}
}

func TestScrape(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/metrics" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprint(w, exposition)
	}))
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	ss, err := Scrape(context.Background(), srv.Client(), addr)
	if err != nil || len(ss) != 13 {
		t.Fatalf("Scrape() = %d samples, %v", len(ss), err)
	}
	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no", http.StatusServiceUnavailable)
	}))
	defer bad.Close()
	if _, err := Scrape(context.Background(), bad.Client(), strings.TrimPrefix(bad.URL, "http://")); err == nil {
		t.Error("Scrape(503) error = nil, want an error")
	}
}
