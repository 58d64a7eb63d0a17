// Package health gathers the pipeline's state for the viewer's pipeline
// page: from a Prometheus server's HTTP API when one is configured, else by
// scraping the services' metrics endpoints it can reach; and the fleet's
// master view from ZooKeeper when it is configured.
//
// Both metric sources answer the same queries (queries below): with
// Prometheus they run as PromQL instant queries; scraped, they are
// evaluated over the scraped samples, a target's node being its
// "node=host:port" prefix (else its address) and its job the service of
// its sensornode_build_info. With Prometheus the labels are those of the
// chart's PodMonitors: job (the service) and node (the sensor node id).
package health

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/singleflight"

	"github.com/sensornode/sensornode/libs/fleetview"
	"github.com/sensornode/sensornode/libs/svc"
	"github.com/sensornode/sensornode/libs/zkconn"
)

// Config says where health comes from.
type Config struct {
	PrometheusURL    string        // e.g. http://prometheus:9090; "" scrapes MetricsTargets instead
	MetricsTargets   []string      // host:port of services' admin endpoints (/metrics); "node=host:port" names the node
	ZooKeeperServers []string      // "" means no master view
	ZooKeeperView    string        // master-watcher's SENSORNODE_ZOOKEEPER_VIEW_PATH
	Timeout          time.Duration // per query/scrape
	CacheFor         time.Duration // a snapshot is reused this long

	// Log receives what could not be read; nil: slog.Default().
	Log *slog.Logger
}

// Defaults used for zero Config fields.
const (
	DefaultTimeout  = 5 * time.Second
	DefaultCacheFor = 10 * time.Second
)

// Node is one node's pipeline figures (counters are totals since the
// services started; rates per second over the last few minutes where the
// source can tell, else NaN).
type Node struct {
	Node             string
	PicturesProduced float64 // sensornode_camera_pictures_sent_total
	ReadingsProduced float64 // sensornode_temp_readings_sent_total
	Forwarded        float64 // sensornode_forwarder_messages_forwarded_total{result="ok"} of forwarders labelled with the node
	Stored           float64 // messages from this node cloud-ingest-hdfs stored (sensornode_ingest_stored_by_node_total); NaN: not known
	SpoolBacklog     float64 // pictures waiting in camera-producer's spool
	Master           string  // the master this node's watcher uses ("" unknown)
	LastHeartbeat    time.Time
}

// Lag is one consumer group's lag.
type Lag struct {
	Service string // edge-forwarder, cloud-ingest-hdfs
	Topic   string
	Lag     float64
}

// Snapshot is the pipeline at one moment.
type Snapshot struct {
	Taken        time.Time
	Source       string // "prometheus <url>", "scrape", ...
	Nodes        []Node
	Lags         []Lag
	DeadLetters  map[string]float64 // by "<service>/<reason>": the services count dead letters by reason
	Quarantined  float64            // pictures/files quarantined (camera-producer)
	Stored       map[string]float64 // messages cloud-ingest-hdfs stored, by kind (picture, temperature)
	FleetMaster  string             // the master the fleet agrees on ("" none/unknown)
	FleetAgrees  bool
	MasterViewOK bool     // false: no ZooKeeper view configured or reachable
	Problems     []string // what could not be read, one line each
}

// series is one labelled value of a query's answer.
type series struct {
	labels map[string]string
	value  float64
}

// metricSource answers queries.
type metricSource interface {
	name() string // for Snapshot.Source
	kind() string // prometheus or scrape
	run(ctx context.Context, qs []query) ([][]series, []error)
}

// Source makes snapshots.
type Source struct {
	cfg     Config
	log     *slog.Logger
	now     func() time.Time
	metrics metricSource
	fleet   func(ctx context.Context) (fleetview.Summary, error) // nil: not configured
	errs    *prometheus.CounterVec

	group  singleflight.Group
	mu     sync.Mutex
	last   Snapshot
	lastAt time.Time
}

// New makes a source.
func New(cfg Config, reg prometheus.Registerer) (*Source, error) {
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.CacheFor <= 0 {
		cfg.CacheFor = DefaultCacheFor
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.ZooKeeperView == "" {
		cfg.ZooKeeperView = fleetview.DefaultPath
	}
	hc := &http.Client{Timeout: cfg.Timeout}
	s := &Source{cfg: cfg, log: cfg.Log, now: time.Now, errs: RegisterMetrics(reg)}
	switch {
	case cfg.PrometheusURL != "":
		if !strings.HasPrefix(cfg.PrometheusURL, "http://") && !strings.HasPrefix(cfg.PrometheusURL, "https://") {
			return nil, fmt.Errorf("prometheus url %q: want http:// or https://", cfg.PrometheusURL)
		}
		s.metrics = &promAPI{url: strings.TrimSuffix(cfg.PrometheusURL, "/"), client: hc}
	case len(cfg.MetricsTargets) > 0:
		sc := &scraper{client: hc}
		for _, t := range cfg.MetricsTargets {
			tg, err := parseTarget(t)
			if err != nil {
				return nil, err
			}
			sc.targets = append(sc.targets, tg)
		}
		s.metrics = sc
	}
	if len(cfg.ZooKeeperServers) > 0 {
		s.fleet = func(ctx context.Context) (fleetview.Summary, error) {
			ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
			defer cancel()
			conn, err := zkconn.Connect(ctx, cfg.ZooKeeperServers, 10*time.Second, cfg.Log)
			if err != nil {
				return fleetview.Summary{}, err
			}
			defer conn.Close()
			views, invalid, err := fleetview.ReadViews(conn, cfg.ZooKeeperView)
			if err != nil {
				return fleetview.Summary{}, err
			}
			return fleetview.Summarize(views, invalid), nil
		}
	}
	return s, nil
}

// Snapshot is the current state; partial data comes with Problems, not an
// error; an error only when nothing at all could be read.
func (s *Source) Snapshot(ctx context.Context) (Snapshot, error) {
	s.mu.Lock()
	if !s.lastAt.IsZero() && s.now().Sub(s.lastAt) < s.cfg.CacheFor {
		snap := s.last
		s.mu.Unlock()
		return snap, nil
	}
	s.mu.Unlock()
	v, err, _ := s.group.Do("snapshot", func() (any, error) {
		snap, err := s.take(ctx)
		if err != nil {
			return Snapshot{}, err
		}
		s.mu.Lock()
		s.last, s.lastAt = snap, s.now()
		s.mu.Unlock()
		return snap, nil
	})
	return v.(Snapshot), err
}

func (s *Source) take(ctx context.Context) (Snapshot, error) {
	snap := Snapshot{Taken: s.now().UTC(), DeadLetters: map[string]float64{}, Stored: map[string]float64{}}
	nodes := map[string]*Node{}
	node := func(name string) *Node {
		n := nodes[name]
		if n == nil {
			n = &Node{Node: name, Stored: math.NaN()}
			nodes[name] = n
		}
		return n
	}
	anything := false
	var sources []string
	if s.metrics != nil {
		sources = append(sources, s.metrics.name())
		answers, errs := s.metrics.run(ctx, queries)
		for _, err := range errs {
			s.errs.WithLabelValues(s.metrics.kind()).Inc()
			snap.Problems = append(snap.Problems, err.Error())
			s.log.Warn("pipeline health: metrics not read", "source", s.metrics.name(), "err", err)
		}
		for i, q := range queries {
			if answers[i] != nil {
				anything = true
			}
			for _, r := range answers[i] {
				q.apply(&snap, node, r)
			}
		}
	} else {
		snap.Problems = append(snap.Problems, "no metrics source: neither a Prometheus URL nor metrics targets configured")
	}
	if s.fleet != nil {
		sources = append(sources, "zookeeper "+strings.Join(s.cfg.ZooKeeperServers, ","))
		sum, err := s.fleet(ctx)
		if err != nil {
			s.errs.WithLabelValues("zookeeper").Inc()
			snap.Problems = append(snap.Problems, fmt.Sprintf("master view: %v", err))
			s.log.Warn("pipeline health: master view not read", "err", err)
		} else {
			anything = true
			snap.MasterViewOK = true
			snap.FleetAgrees = sum.Agree()
			if snap.FleetAgrees {
				snap.FleetMaster = sum.Groups[0].Active
			}
			for _, v := range sum.Views {
				node(v.Node).Master = v.Active
			}
			for _, iv := range sum.Invalid {
				snap.Problems = append(snap.Problems, fmt.Sprintf("master view of %s: %v", iv.Node, iv.Err))
			}
		}
	} else {
		snap.Problems = append(snap.Problems, "no master view: ZooKeeper not configured")
	}
	snap.Source = strings.Join(sources, ", ")
	for _, n := range nodes {
		snap.Nodes = append(snap.Nodes, *n)
	}
	sort.Slice(snap.Nodes, func(i, j int) bool { return snap.Nodes[i].Node < snap.Nodes[j].Node })
	sort.Slice(snap.Lags, func(i, j int) bool {
		a, b := snap.Lags[i], snap.Lags[j]
		return a.Service < b.Service || a.Service == b.Service && a.Topic < b.Topic
	})
	if !anything {
		return snap, fmt.Errorf("pipeline health: nothing could be read: %s", strings.Join(snap.Problems, "; "))
	}
	return snap, nil
}

// query is one figure of the snapshot: agg by (by) (metric{match}).
type query struct {
	metric string
	match  map[string]string
	agg    string // sum or max
	by     []string
	set    func(snap *Snapshot, node func(string) *Node, labels map[string]string, v float64)
}

func (q query) apply(snap *Snapshot, node func(string) *Node, r series) {
	if slices.Contains(q.by, "node") && r.labels["node"] == "" {
		return // a per-node figure of a series without a node
	}
	q.set(snap, node, r.labels, r.value)
}

// promQL is the query as PromQL.
func (q query) promQL() string {
	var sel []string
	for _, k := range slices.Sorted(maps.Keys(q.match)) {
		sel = append(sel, fmt.Sprintf("%s=%q", k, q.match[k]))
	}
	m := q.metric
	if len(sel) > 0 {
		m += "{" + strings.Join(sel, ",") + "}"
	}
	if len(q.by) == 0 {
		return fmt.Sprintf("%s(%s)", q.agg, m)
	}
	return fmt.Sprintf("%s by (%s) (%s)", q.agg, strings.Join(q.by, ", "), m)
}

// eval is the query over scraped samples.
func (q query) eval(samples []sample) []series {
	groups := map[string]*series{}
	var order []string
	for _, s := range samples {
		if s.name != q.metric || math.IsNaN(s.value) {
			continue
		}
		ok := true
		for k, v := range q.match {
			if s.labels[k] != v {
				ok = false
				break
			}
		}
		if !ok {
			continue
		}
		labels := map[string]string{}
		var key strings.Builder
		for _, b := range q.by {
			labels[b] = s.labels[b]
			key.WriteString(s.labels[b] + "\xff")
		}
		g := groups[key.String()]
		if g == nil {
			groups[key.String()] = &series{labels: labels, value: s.value}
			order = append(order, key.String())
			continue
		}
		switch q.agg {
		case "max":
			g.value = max(g.value, s.value)
		default:
			g.value += s.value
		}
	}
	out := make([]series, 0, len(order))
	for _, k := range order {
		out = append(out, *groups[k])
	}
	return out
}

// queries are the snapshot's figures, by the services' metric names.
var queries = []query{
	{metric: "sensornode_camera_pictures_sent_total", agg: "sum", by: []string{"node"},
		set: func(_ *Snapshot, n func(string) *Node, l map[string]string, v float64) {
			n(l["node"]).PicturesProduced = v
		}},
	{metric: "sensornode_temp_readings_sent_total", agg: "sum", by: []string{"node"},
		set: func(_ *Snapshot, n func(string) *Node, l map[string]string, v float64) {
			n(l["node"]).ReadingsProduced = v
		}},
	{metric: "sensornode_forwarder_messages_forwarded_total", match: map[string]string{"result": "ok"}, agg: "sum", by: []string{"node"},
		set: func(_ *Snapshot, n func(string) *Node, l map[string]string, v float64) { n(l["node"]).Forwarded = v }},
	{metric: "sensornode_camera_backlog_files", agg: "sum", by: []string{"node"},
		set: func(_ *Snapshot, n func(string) *Node, l map[string]string, v float64) { n(l["node"]).SpoolBacklog = v }},
	{metric: "sensornode_camera_heartbeat_timestamp_seconds", agg: "max", by: []string{"node"},
		set: func(_ *Snapshot, n func(string) *Node, l map[string]string, v float64) {
			n(l["node"]).LastHeartbeat = time.Unix(0, int64(v*1e9)).UTC()
		}},
	{metric: "sensornode_kafka_consumer_lag_messages", agg: "sum", by: []string{"job", "topic"},
		set: func(s *Snapshot, _ func(string) *Node, l map[string]string, v float64) {
			s.Lags = append(s.Lags, Lag{Service: l["job"], Topic: l["topic"], Lag: v})
		}},
	{metric: "sensornode_forwarder_dead_lettered_total", agg: "sum", by: []string{"reason"},
		set: func(s *Snapshot, _ func(string) *Node, l map[string]string, v float64) {
			s.DeadLetters["edge-forwarder/"+l["reason"]] += v
		}},
	{metric: "sensornode_ingest_dead_lettered_total", agg: "sum", by: []string{"reason"},
		set: func(s *Snapshot, _ func(string) *Node, l map[string]string, v float64) {
			s.DeadLetters["cloud-ingest-hdfs/"+l["reason"]] += v
		}},
	{metric: "sensornode_camera_pictures_quarantined_total", agg: "sum", by: nil,
		set: func(s *Snapshot, _ func(string) *Node, _ map[string]string, v float64) { s.Quarantined += v }},
	{metric: "sensornode_ingest_stored_by_node_total", agg: "sum", by: []string{"source_node"},
		set: func(_ *Snapshot, n func(string) *Node, l map[string]string, v float64) {
			n(l["source_node"]).Stored = v
		}},
	{metric: "sensornode_ingest_messages_total", match: map[string]string{"result": "stored"}, agg: "sum", by: []string{"kind"},
		set: func(s *Snapshot, _ func(string) *Node, l map[string]string, v float64) { s.Stored[l["kind"]] += v }},
}

// RegisterMetrics registers the health source's metrics on reg (New does).
func RegisterMetrics(reg prometheus.Registerer) *prometheus.CounterVec {
	return svc.NewMetricFactory(reg).CounterVec("sensornode_viewer_health_errors_total",
		"Failed reads of the pipeline's health, by source (prometheus, scrape, zookeeper).",
		svc.Label("source", "prometheus", "scrape", "zookeeper"))
}
