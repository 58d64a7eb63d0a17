package harness

import (
	"slices"
	"sync"
	"time"

	"github.com/sensornode/sensornode/libs/bundlestore"
)

// Pic is one picture the harness wrote and what became of it.
type Pic struct {
	Key    string
	Camera int
	Size   string
	Phase  string
	Seq    uint64
	Bytes  int
	SHA    [32]byte
	Ready  time.Time
	// Final is where the picture's journey ends: StageHDFS, or StageCloud
	// for the Kafka drains and head-to-head runs.
	Final string

	// First sighting per stage and how often it was seen.
	Edge        time.Time
	EdgeN       int
	EdgeTopic   string
	RecordBytes int // key + value + headers on the edge
	ValueBytes  int
	Cloud       time.Time
	CloudN      int
	Mirror      time.Time // MirrorMaker 2's copy on the cloud cluster
	MirrorN     int
	HDFS        time.Time
	HDFSN       int
	HDFSSize    int64 // -1 in a bundle (known once read back)
	HDFSPath    string
	// HDFSStore is the picture store it was found in: "files" or "avro";
	// in a bundle, HDFSBundled locates its Avro block.
	HDFSStore   string
	HDFSBundled *bundlestore.Picture
}

// Ledger tracks every picture by key.
type Ledger struct {
	mu      sync.Mutex
	pics    map[string]*Pic
	order   []*Pic
	unknown map[string]int // stage -> records/files with keys never written
}

// NewLedger makes an empty ledger.
func NewLedger() *Ledger {
	return &Ledger{pics: map[string]*Pic{}, unknown: map[string]int{}}
}

// Add records a picture written by the harness.
func (l *Ledger) Add(p *Pic) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.pics[p.Key] = p
	l.order = append(l.order, p)
}

// Stages a record or file can be seen at.
const (
	StageEdge   = "edge"
	StageCloud  = "cloud"
	StageMirror = "mirror"
	StageHDFS   = "hdfs"
)

// Seen notes that key was seen at stage at time t (the first sighting
// counts for latency; later ones count as duplicates). For StageEdge, size
// and value are the record's and value's bytes; for StageHDFS, size is the
// file size and where its path.
func (l *Ledger) Seen(stage, key string, t time.Time, size, value int, where string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	p, ok := l.pics[key]
	if !ok {
		l.unknown[stage]++
		return
	}
	first := func(at *time.Time, n *int) bool {
		*n++
		if *n == 1 {
			*at = t
			return true
		}
		return false
	}
	switch stage {
	case StageEdge:
		if first(&p.Edge, &p.EdgeN) {
			p.RecordBytes, p.ValueBytes, p.EdgeTopic = size, value, where
		}
	case StageCloud:
		first(&p.Cloud, &p.CloudN)
	case StageMirror:
		first(&p.Mirror, &p.MirrorN)
	case StageHDFS:
		if first(&p.HDFS, &p.HDFSN) {
			p.HDFSSize, p.HDFSPath, p.HDFSStore = int64(size), where, StoreFiles
		}
	}
}

// SeenInBundle notes that picture bp was found in its committed bundle,
// made durable at t.
func (l *Ledger) SeenInBundle(bp bundlestore.Picture, t time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	p, ok := l.pics[bp.Key]
	if !ok {
		l.unknown[StageHDFS]++
		return
	}
	p.HDFSN++
	if p.HDFSN == 1 {
		p.HDFS, p.HDFSSize, p.HDFSPath, p.HDFSStore, p.HDFSBundled = t, -1, bp.Bundle, StoreAvro, &bp
	}
}

// Picture stores of cloud-ingest-hdfs (SENSORNODE_PICTURE_STORE).
const (
	StoreFiles = "files"
	StoreAvro  = "avro"
)

// Unknown is how many records or files of stage had keys the harness never
// wrote.
func (l *Ledger) Unknown(stage string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.unknown[stage]
}

// Phase returns copies of the pictures of phase, in write order.
func (l *Ledger) Phase(phase string) []Pic {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []Pic
	for _, p := range l.order {
		if p.Phase == phase {
			out = append(out, *p)
		}
	}
	return out
}

// All returns copies of every picture, in write order.
func (l *Ledger) All() []Pic {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]Pic, len(l.order))
	for i, p := range l.order {
		out[i] = *p
	}
	return out
}

// Count tells, for the pictures of phase, how many there are and how many
// reached stage.
func (l *Ledger) Count(phase, stage string) (total, arrived int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, p := range l.order {
		if phase != "" && p.Phase != phase {
			continue
		}
		total++
		var n int
		switch stage {
		case StageEdge:
			n = p.EdgeN
		case StageCloud:
			n = p.CloudN
		case StageMirror:
			n = p.MirrorN
		case StageHDFS:
			n = p.HDFSN
		}
		if n > 0 {
			arrived++
		}
	}
	return total, arrived
}

// at returns the time a picture reached stage (zero if it did not).
func at(p Pic, stage string) time.Time {
	switch stage {
	case StageEdge:
		return p.Edge
	case StageCloud:
		return p.Cloud
	case StageMirror:
		return p.Mirror
	case StageHDFS:
		return p.HDFS
	}
	return time.Time{}
}

// Latencies returns, in ms, to - from for the pictures that reached both
// (from "ready" means the harness's ready time).
func Latencies(ps []Pic, from, to string) []float64 {
	var out []float64
	for _, p := range ps {
		a := p.Ready
		if from != "ready" {
			a = at(p, from)
		}
		b := at(p, to)
		if a.IsZero() || b.IsZero() {
			continue
		}
		out = append(out, float64(b.Sub(a))/float64(time.Millisecond))
	}
	return out
}

// Span returns the first and last arrival at stage among ps, and how many
// arrived.
func Span(ps []Pic, stage string) (first, last time.Time, n int) {
	var ts []time.Time
	for _, p := range ps {
		if t := at(p, stage); !t.IsZero() {
			ts = append(ts, t)
		}
	}
	if len(ts) == 0 {
		return time.Time{}, time.Time{}, 0
	}
	slices.SortFunc(ts, func(a, b time.Time) int { return a.Compare(b) })
	return ts[0], ts[len(ts)-1], len(ts)
}
