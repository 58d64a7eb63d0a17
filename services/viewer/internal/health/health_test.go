package health

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/sensornode/sensornode/libs/fleetview"
)

// promServer answers instant queries from answers (PromQL -> the API's
// result JSON); unknown queries get an empty vector.
func promServer(t *testing.T, answers map[string]string, calls *atomic.Int64) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/v1/query" {
			http.NotFound(w, r)
			return
		}
		if calls != nil {
			calls.Add(1)
		}
		q := r.URL.Query().Get("query")
		if q == "bad" || strings.Contains(q, "sensornode_camera_heartbeat_timestamp_seconds") && answers["fail heartbeat"] != "" {
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, `{"status":"error","errorType":"bad_data","error":"parse error"}`)
			return
		}
		res, ok := answers[q]
		if !ok {
			res = "[]"
		}
		fmt.Fprintf(w, `{"status":"success","data":{"resultType":"vector","result":%s}}`, res)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func vec(labels string, v float64) string {
	return fmt.Sprintf(`{"metric":{%s},"value":[1767225600.0,"%v"]}`, labels, v)
}

func TestPrometheusSnapshot(t *testing.T) {
	hb := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	answers := map[string]string{
		`sum by (node) (sensornode_camera_pictures_sent_total)`:                      "[" + vec(`"node":"node1"`, 120) + "," + vec(`"node":"node2"`, 7) + "]",
		`sum by (node) (sensornode_temp_readings_sent_total)`:                        "[" + vec(`"node":"node1"`, 3600) + "]",
		`sum by (node) (sensornode_forwarder_messages_forwarded_total{result="ok"})`: "[" + vec(`"node":"node1"`, 3720) + "]",
		`sum by (node) (sensornode_camera_backlog_files)`:                            "[" + vec(`"node":"node2"`, 42) + "]",
		`max by (node) (sensornode_camera_heartbeat_timestamp_seconds)`:              "[" + vec(`"node":"node1"`, float64(hb.Unix())) + "]",
		`sum by (job, topic) (sensornode_kafka_consumer_lag_messages)`: "[" + vec(`"job":"edge-forwarder","topic":"node1"`, 5) + "," +
			vec(`"job":"cloud-ingest-hdfs","topic":"cameraData"`, 2) + "]",
		`sum by (reason) (sensornode_ingest_dead_lettered_total)`:           "[" + vec(`"reason":"bad-id"`, 3) + "]",
		`sum(sensornode_camera_pictures_quarantined_total)`:                 "[" + vec(``, 4) + "]",
		`sum by (kind) (sensornode_ingest_messages_total{result="stored"})`: "[" + vec(`"kind":"picture"`, 127) + "]",
		`sum by (source_node) (sensornode_ingest_stored_by_node_total)`:     "[" + vec(`"source_node":"node1"`, 3700) + "]",
	}
	srv := promServer(t, answers, nil)
	s, err := New(Config{PrometheusURL: srv.URL + "/"}, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	snap, err := s.Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if snap.Source != "prometheus "+srv.URL {
		t.Errorf("Source = %q", snap.Source)
	}
	if len(snap.Nodes) != 2 {
		t.Fatalf("Nodes = %+v, want node1 and node2", snap.Nodes)
	}
	n1, n2 := snap.Nodes[0], snap.Nodes[1]
	if n1.Node != "node1" || n1.PicturesProduced != 120 || n1.ReadingsProduced != 3600 || n1.Forwarded != 3720 || !n1.LastHeartbeat.Equal(hb) || n1.Stored != 3700 {
		t.Errorf("node1 = %+v", n1)
	}
	if n2.Node != "node2" || n2.SpoolBacklog != 42 || n2.PicturesProduced != 7 || !math.IsNaN(n2.Stored) {
		t.Errorf("node2 = %+v", n2)
	}
	wantLags := []Lag{{"cloud-ingest-hdfs", "cameraData", 2}, {"edge-forwarder", "node1", 5}}
	if fmt.Sprint(snap.Lags) != fmt.Sprint(wantLags) {
		t.Errorf("Lags = %v, want %v", snap.Lags, wantLags)
	}
	if snap.DeadLetters["cloud-ingest-hdfs/bad-id"] != 3 || snap.Quarantined != 4 || snap.Stored["picture"] != 127 {
		t.Errorf("dead letters %v, quarantined %v, stored %v", snap.DeadLetters, snap.Quarantined, snap.Stored)
	}
	if snap.MasterViewOK || len(snap.Problems) != 1 || !strings.Contains(snap.Problems[0], "ZooKeeper not configured") {
		t.Errorf("MasterViewOK %t, Problems %q; want only the missing ZooKeeper", snap.MasterViewOK, snap.Problems)
	}
}

func TestPartialAndFailed(t *testing.T) {
	srv := promServer(t, map[string]string{"fail heartbeat": "yes"}, nil)
	s, err := New(Config{PrometheusURL: srv.URL}, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	snap, err := s.Snapshot(context.Background())
	if err != nil {
		t.Fatalf("Snapshot with one failing query = %v; want a partial snapshot", err)
	}
	if !containsSubstr(snap.Problems, "parse error") {
		t.Errorf("Problems = %q; want the failed query", snap.Problems)
	}

	down := httptest.NewServer(http.NotFoundHandler())
	down.Close()
	s, err = New(Config{PrometheusURL: down.URL, Timeout: time.Second}, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Snapshot(context.Background()); err == nil {
		t.Error("Snapshot with nothing reachable = nil error")
	}
	if _, err := New(Config{PrometheusURL: "prometheus:9090"}, nil); err == nil {
		t.Error("New(url without scheme) = nil error")
	}
	if _, err := New(Config{MetricsTargets: []string{"no-port"}}, nil); err == nil {
		t.Error("New(target without port) = nil error")
	}
}

func containsSubstr(ss []string, sub string) bool {
	for _, s := range ss {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

// metricsServer serves /metrics of a registry with the given service's
// build info.
func metricsServer(t *testing.T, service string, fill func(reg *prometheus.Registry)) string {
	t.Helper()
	reg := prometheus.NewRegistry()
	bi := prometheus.NewGauge(prometheus.GaugeOpts{Name: "sensornode_build_info", Help: "b", ConstLabels: prometheus.Labels{"service": service}})
	bi.Set(1)
	reg.MustRegister(bi)
	fill(reg)
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

func TestScrapeSnapshot(t *testing.T) {
	camera := metricsServer(t, "camera-producer", func(reg *prometheus.Registry) {
		sent := prometheus.NewCounter(prometheus.CounterOpts{Name: "sensornode_camera_pictures_sent_total", Help: "h"})
		sent.Add(11)
		backlog := prometheus.NewGauge(prometheus.GaugeOpts{Name: "sensornode_camera_backlog_files", Help: "h"})
		backlog.Set(3)
		q := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sensornode_camera_pictures_quarantined_total", Help: "h"}, []string{"reason"})
		q.WithLabelValues("not-jpeg").Add(2)
		q.WithLabelValues("too-large").Add(1)
		reg.MustRegister(sent, backlog, q)
	})
	ingest := metricsServer(t, "cloud-ingest-hdfs", func(reg *prometheus.Registry) {
		lag := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "sensornode_kafka_consumer_lag_messages", Help: "h"}, []string{"client", "topic", "partition"})
		lag.WithLabelValues("cloud-consumer", "cameraData", "0").Set(4)
		lag.WithLabelValues("cloud-consumer", "cameraData", "1").Set(6)
		msgs := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sensornode_ingest_messages_total", Help: "h"}, []string{"kind", "result"})
		msgs.WithLabelValues("picture", "stored").Add(9)
		msgs.WithLabelValues("picture", "duplicate").Add(100)
		dl := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sensornode_ingest_dead_lettered_total", Help: "h"}, []string{"reason"})
		dl.WithLabelValues("bad-id").Add(1)
		byNode := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sensornode_ingest_stored_by_node_total", Help: "h"}, []string{"kind", "source_node"})
		byNode.WithLabelValues("picture", "node1").Add(8)
		byNode.WithLabelValues("temperature", "node1").Add(1)
		reg.MustRegister(lag, msgs, dl, byNode)
	})
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	s, err := New(Config{MetricsTargets: []string{"node1=" + camera, ingest, strings.TrimPrefix(closed.URL, "http://")}, Timeout: time.Second}, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	snap, err := s.Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.Nodes) != 1 || snap.Nodes[0].Node != "node1" || snap.Nodes[0].PicturesProduced != 11 || snap.Nodes[0].SpoolBacklog != 3 || snap.Nodes[0].Stored != 9 {
		t.Errorf("Nodes = %+v", snap.Nodes)
	}
	if len(snap.Lags) != 1 || snap.Lags[0] != (Lag{"cloud-ingest-hdfs", "cameraData", 10}) {
		t.Errorf("Lags = %+v", snap.Lags)
	}
	if snap.Quarantined != 3 || snap.Stored["picture"] != 9 || snap.DeadLetters["cloud-ingest-hdfs/bad-id"] != 1 {
		t.Errorf("quarantined %v, stored %v, dead letters %v", snap.Quarantined, snap.Stored, snap.DeadLetters)
	}
	if !containsSubstr(snap.Problems, "scrape 127.0.0.1") {
		t.Errorf("Problems = %q; want the unreachable target", snap.Problems)
	}
}

func TestFleetAndCache(t *testing.T) {
	var calls atomic.Int64
	srv := promServer(t, nil, &calls)
	s, err := New(Config{PrometheusURL: srv.URL, CacheFor: time.Minute}, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	s.now = func() time.Time { return now }
	m := []string{"https://m1:6443", "https://m2:6443"}
	sum := fleetview.Summarize([]fleetview.View{
		{Node: "node1", Active: m[0], Masters: m}, {Node: "node2", Active: m[0], Masters: m}}, nil)
	var fleetErr error
	s.fleet = func(context.Context) (fleetview.Summary, error) { return sum, fleetErr }
	snap, err := s.Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !snap.MasterViewOK || !snap.FleetAgrees || snap.FleetMaster != m[0] || len(snap.Nodes) != 2 || snap.Nodes[1].Master != m[0] {
		t.Errorf("snapshot = %+v; want both nodes agreeing on %s", snap, m[0])
	}
	first := calls.Load()
	now = now.Add(30 * time.Second)
	if _, err := s.Snapshot(context.Background()); err != nil || calls.Load() != first {
		t.Errorf("a snapshot within CacheFor asked Prometheus again (%d queries, then %d)", first, calls.Load())
	}
	now = now.Add(time.Minute)
	sum = fleetview.Summarize([]fleetview.View{
		{Node: "node1", Active: m[0], Masters: m}, {Node: "node2", Active: m[1], Masters: m}}, nil)
	snap, err = s.Snapshot(context.Background())
	if err != nil || calls.Load() == first {
		t.Fatalf("a snapshot after CacheFor was not taken again: %v", err)
	}
	if snap.FleetAgrees || snap.FleetMaster != "" || snap.Nodes[1].Master != m[1] {
		t.Errorf("snapshot = %+v; want disagreement", snap)
	}
	now = now.Add(2 * time.Minute)
	fleetErr = errors.New("zookeeper down")
	snap, err = s.Snapshot(context.Background())
	if err != nil || snap.MasterViewOK || !containsSubstr(snap.Problems, "zookeeper down") {
		t.Errorf("snapshot with ZooKeeper down = %+v, %v; want a problem, no view", snap, err)
	}
}
