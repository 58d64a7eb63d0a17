// Package health gathers the pipeline's state for the viewer's pipeline
// page: from a Prometheus server's HTTP API when one is configured, else by
// scraping the services' metrics endpoints it can reach; and the fleet's
// master view from ZooKeeper when it is configured.
//
// SKELETON: the API the web package is written against. Bodies to come.
package health

import (
	"context"
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Config says where health comes from.
type Config struct {
	PrometheusURL    string        // e.g. http://prometheus:9090; "" scrapes MetricsTargets instead
	MetricsTargets   []string      // host:port of services' admin endpoints (/metrics)
	ZooKeeperServers []string      // "" means no master view
	ZooKeeperView    string        // master-watcher's SENSORNODE_ZOOKEEPER_VIEW_PATH
	Timeout          time.Duration // per query/scrape
	CacheFor         time.Duration // a snapshot is reused this long
}

// Node is one node's pipeline figures (counters are totals since the
// services started; rates per second over the last few minutes where the
// source can tell, else NaN).
type Node struct {
	Node             string
	PicturesProduced float64
	ReadingsProduced float64
	Forwarded        float64
	Stored           float64
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
	DeadLetters  map[string]float64 // by topic
	Quarantined  float64            // pictures/files quarantined (camera-producer)
	FleetMaster  string             // the master the fleet agrees on ("" none/unknown)
	FleetAgrees  bool
	MasterViewOK bool     // false: no ZooKeeper view configured or reachable
	Problems     []string // what could not be read, one line each
}

// Source makes snapshots.
type Source struct{}

// New makes a source.
func New(cfg Config, reg prometheus.Registerer) (*Source, error) {
	return nil, errors.New("health: not implemented")
}

// Snapshot is the current state; partial data comes with Problems, not an
// error; an error only when nothing at all could be read.
func (s *Source) Snapshot(ctx context.Context) (Snapshot, error) {
	return Snapshot{}, errors.New("not implemented")
}
