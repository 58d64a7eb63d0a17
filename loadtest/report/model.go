// Package report holds the load test's results and renders them as
// Markdown, laid out like Tables 5.1 and 5.2 of the thesis with the
// baselines side by side.
package report

import (
	"encoding/json"
	"math"
	"time"

	"github.com/sensornode/sensornode/loadtest/memory"
	"github.com/sensornode/sensornode/loadtest/namenode"
	"github.com/sensornode/sensornode/loadtest/perfparse"
	"github.com/sensornode/sensornode/loadtest/saturation"
	"github.com/sensornode/sensornode/loadtest/stats"
)

// Result is everything a load test run measured.
type Result struct {
	Profile   string    `json:"profile"`
	Command   string    `json:"command"`
	Started   time.Time `json:"started"`
	Finished  time.Time `json:"finished"`
	Machine   Machine   `json:"machine"`
	Versions  Versions  `json:"versions"`
	Settings  Settings  `json:"settings"`
	Backends  []Backend `json:"backends"`
	Baselines Baselines `json:"baselines"`
	// Failures are problems that make the run fail (incomplete delivery, a
	// crashed service) or made part of it impossible (a baseline that
	// could not run), each a full sentence with the error.
	Failures []string `json:"failures"`
	// Notes are observations that do not fail the run.
	Notes []string `json:"notes,omitempty"`
	Plots []Plot   `json:"plots,omitempty"`
	Files []string `json:"files,omitempty"`
}

// Machine describes where the run happened.
type Machine struct {
	CPUModel  string     `json:"cpu_model"`
	CPUs      int        `json:"cpus"`
	MemBytes  int64      `json:"mem_bytes"`
	Kernel    string     `json:"kernel"`
	LoadStart [3]float64 `json:"load_start"`
	LoadEnd   [3]float64 `json:"load_end"`
}

// Versions of everything involved.
type Versions struct {
	Go          string `json:"go"`
	Java        string `json:"java"`
	Kafka       string `json:"kafka"`
	Hadoop      string `json:"hadoop"`
	Git         string `json:"git"`
	Confluent   string `json:"confluent_kafka_go"`
	Librdkafka  string `json:"librdkafka"`
	FranzGo     string `json:"franz_go"`
	ColinmarcFS string `json:"colinmarc_hdfs"`
}

// Duration marshals as a Go duration string.
type Duration time.Duration

// MarshalJSON writes "1m30s".
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// String is the Go duration string.
func (d Duration) String() string { return time.Duration(d).String() }

// Settings of the run.
type Settings struct {
	Cluster        string   `json:"cluster"`
	Cameras        int      `json:"cameras"`
	RatePerCamera  float64  `json:"rate_per_camera"`
	SteadyDuration Duration `json:"steady_duration"`
	Form           string   `json:"form"`
	Sizes          []string `json:"sizes"`
	Backends       []string `json:"backends"`
	DrainMB        int      `json:"drain_mb"`
	// Stores are cloud-ingest-hdfs's picture stores: the steady phases
	// use the first, the ingest drains run on each.
	Stores        []string `json:"stores"`
	BundleMaxAge  Duration `json:"bundle_max_age"` // 0: the service's default
	BundleMaxMB   int      `json:"bundle_max_mb"`  // 0: the service's default
	HeadToHead    Duration `json:"head_to_head_duration"`
	EdgeRF        int      `json:"edge_rf"`
	EdgeMinISR    int      `json:"edge_min_isr"`
	CloudRF       int      `json:"cloud_rf"`
	CloudTLS      bool     `json:"cloud_tls"`
	Prefix        string   `json:"prefix"`
	HDFSRoot      string   `json:"hdfs_root"`
	TempProducers bool     `json:"temp_producers"`
	// ServiceEnv is the non-secret environment of each service kind.
	ServiceEnv map[string][]string `json:"service_env,omitempty"`
}

// Backend is what one Kafka backend measured.
type Backend struct {
	Backend string       `json:"backend"`
	Sizes   []SizeResult `json:"sizes"`
	// Usage is per service over all steady phases of this backend.
	Usage        []Usage      `json:"usage"`
	Completeness Completeness `json:"completeness"`
	// Phases is the final completeness check of every phase.
	Phases   []PhaseCompleteness `json:"phases"`
	Readings Readings            `json:"readings"`
	// Memory is each service's RSS, Go heap in use and Kafka client
	// buffers per phase (rest, steady, drain), package memory.
	Memory []memory.Row `json:"memory,omitempty"`
	// PerNodeServices run once per node; PerNodeRestRSS is their mean RSS
	// per instance at rest, summed: what one node's share costs (NaN when
	// one of them was not measured).
	PerNodeServices []string `json:"per_node_services,omitempty"`
	PerNodeRestRSS  float64  `json:"per_node_rest_rss_bytes"`
	// DrainAttribution splits each service's drain peak into the binary,
	// the Go runtime, the Go heap and the rest (librdkafka's C memory),
	// against GoalDrainPeakMiB.
	DrainAttribution []memory.Attribution `json:"drain_attribution,omitempty"`
	// HeapProfiles are the Go heap profiles fetched at the drains' peaks.
	HeapProfiles []HeapProfile `json:"heap_profiles,omitempty"`
}

// HeapProfile is a Go heap profile (/debug/pprof/heap) of a service
// instance, fetched when its RSS was the highest of the service in a drain
// phase so far: the last one fetched is the one closest to the peak.
type HeapProfile struct {
	Service  string    `json:"service"`
	Instance string    `json:"instance"`
	Phase    string    `json:"phase"` // drain/<size>
	File     string    `json:"file"`  // relative to the results directory
	At       time.Time `json:"at"`
	// RSS, HeapInuse and KafkaBuffered are the sample that triggered the
	// fetch (metrics NaN when not scraped); PeakRSS is the service's
	// highest sample in the phase, which a later fetch may have missed.
	RSS           float64 `json:"rss_bytes"`
	HeapInuse     float64 `json:"heap_inuse_bytes"`
	KafkaBuffered float64 `json:"kafka_buffered_bytes"`
	PeakRSS       float64 `json:"peak_rss_bytes"`
	Err           string  `json:"error,omitempty"`
}

// PhaseCompleteness is the completeness of one phase ("steady/640x480",
// "kdrain/640x480", ...).
type PhaseCompleteness struct {
	Phase        string       `json:"phase"`
	Completeness Completeness `json:"completeness"`
}

// Usage is a service's CPU and memory over a window.
type Usage struct {
	Service   string  `json:"service"`
	Instances int     `json:"instances"`
	CPUCores  float64 `json:"cpu_cores_per_instance"`
	RSSMean   float64 `json:"rss_mean_bytes"`
	RSSMax    int64   `json:"rss_max_bytes"`
}

// SizeResult is one picture size on one backend.
type SizeResult struct {
	Size             string  `json:"size"`
	MeanPictureBytes float64 `json:"mean_picture_bytes"`
	MeanRecordBytes  float64 `json:"mean_record_bytes"`
	Steady           *Steady `json:"steady,omitempty"`
	Drain            *Drain  `json:"drain,omitempty"`
}

// Stage latencies, in milliseconds.
type Stages struct {
	// Producer: picture ready in the spool directory -> appended to the
	// edge topic (leader's LogAppendTime).
	Producer stats.Summary `json:"producer_ms"`
	// Forwarder: edge append -> cloud append.
	Forwarder stats.Summary `json:"forwarder_ms"`
	// Ingest: cloud append -> HDFS file closed (its modification time).
	Ingest stats.Summary `json:"ingest_ms"`
	// EndToEnd: picture ready -> durable in HDFS.
	EndToEnd stats.Summary `json:"end_to_end_ms"`
}

// Steady is a phase at a fixed offered rate.
type Steady struct {
	OfferedPerSec  float64      `json:"offered_per_sec"`
	Duration       Duration     `json:"duration"`
	Stages         Stages       `json:"stages"`
	PicturesPerSec float64      `json:"pictures_per_sec"`
	MBPerSec       float64      `json:"mb_per_sec"`
	Completeness   Completeness `json:"completeness"`
	Usage          []Usage      `json:"usage"`
	// Store is cloud-ingest-hdfs's picture store in the phase.
	Store string `json:"store,omitempty"`
	// NameNode is what the phase's pictures cost the NameNode, once all
	// were committed (nil when they were not).
	NameNode *NameNodeObjects `json:"namenode,omitempty"`
	// Saturation says whether the machine kept up with the offered load
	// while the pictures were written, and if not where it did not.
	Saturation *saturation.Verdict `json:"saturation,omitempty"`
}

// Completeness compares what was produced with what arrived.
type Completeness struct {
	Produced         int      `json:"produced"`
	Edge             int      `json:"edge"`
	EdgeDuplicates   int      `json:"edge_duplicates"`
	Cloud            int      `json:"cloud"`
	CloudDuplicates  int      `json:"cloud_duplicates"`
	HDFS             int      `json:"hdfs"`
	Missing          int      `json:"missing"`
	Unexpected       int      `json:"unexpected"`
	SizeMismatch     int      `json:"size_mismatch"`
	Verified         int      `json:"verified"` // read back and SHA-256 compared
	ChecksumMismatch int      `json:"checksum_mismatch"`
	MissingKeys      []string `json:"missing_keys,omitempty"`
	// CloudFinal pictures (Kafka drains, head to head) end on a cloud
	// topic; CloudFinalMissing of them never got there.
	CloudFinal        int `json:"cloud_final"`
	CloudFinalMissing int `json:"cloud_final_missing"`
}

// OK reports a complete, intact delivery.
func (c Completeness) OK() bool {
	return c.Produced > 0 && c.Missing == 0 && c.HDFS == c.Produced && c.SizeMismatch == 0 && c.ChecksumMismatch == 0 &&
		c.Unexpected == 0 && c.CloudFinalMissing == 0
}

// Add sums two completeness counts.
func (c Completeness) Add(o Completeness) Completeness {
	c.Produced += o.Produced
	c.Edge += o.Edge
	c.EdgeDuplicates += o.EdgeDuplicates
	c.Cloud += o.Cloud
	c.CloudDuplicates += o.CloudDuplicates
	c.HDFS += o.HDFS
	c.Missing += o.Missing
	c.Unexpected += o.Unexpected
	c.SizeMismatch += o.SizeMismatch
	c.Verified += o.Verified
	c.ChecksumMismatch += o.ChecksumMismatch
	c.CloudFinal += o.CloudFinal
	c.CloudFinalMissing += o.CloudFinalMissing
	for _, k := range o.MissingKeys {
		c.AddMissingKey(k)
	}
	return c
}

// MaxMissingKeys bounds Completeness.MissingKeys: examples, not a list.
const MaxMissingKeys = 10

// AddMissingKey notes the key of a missing picture, unless MaxMissingKeys
// are noted already.
func (c *Completeness) AddMissingKey(key string) {
	if len(c.MissingKeys) < MaxMissingKeys {
		c.MissingKeys = append(c.MissingKeys, key)
	}
}

// Readings compares the temperature readings on the edge with HDFS.
type Readings struct {
	Edge       int `json:"edge"`
	HDFS       int `json:"hdfs"`
	Duplicates int `json:"hdfs_duplicates"`
	Missing    int `json:"missing"`
	Unexpected int `json:"unexpected"`
	// EdgeSameIdentity counts edge readings that share their identity
	// (node, read second, source, value) with an earlier one: one reading
	// for the pipeline, stored once.
	EdgeSameIdentity int `json:"edge_same_identity"`
	// Missing, after every service stopped, split by where the reading
	// still is: nowhere (Lost: committed past, in no file), uncommitted on
	// the cloud topic (NotWritten) or on the edge topic (NotForwarded).
	Lost         int      `json:"missing_lost"`
	NotWritten   int      `json:"missing_not_written"`
	NotForwarded int      `json:"missing_not_forwarded"`
	MissingIDs   []string `json:"missing_ids,omitempty"` // the first few, with where they are
}

// Rate is a throughput measured by draining a backlog.
type Rate struct {
	N        int     `json:"n"`
	Bytes    int64   `json:"bytes"`
	Seconds  float64 `json:"seconds"`
	PerSec   float64 `json:"per_sec"`
	MBPerSec float64 `json:"mb_per_sec"` // 10^6 bytes
	// Batched is how many pictures arrived at the first arrival's
	// timestamp (one produce batch shares its append time); the rate
	// counts the others over first..last arrival.
	Batched int `json:"first_batch"`
	// IncludesStartup: everything arrived in one batch (one bundle), so
	// the rate is over process start to arrival, a lower bound.
	IncludesStartup bool `json:"includes_startup,omitempty"`
	// StartupSeconds is from the process start to the first arrival.
	StartupSeconds float64 `json:"startup_seconds"`
	// TailN pictures (the bundle store's last bundle, rolled by age, not
	// by size) arrived TailSeconds after the arrival before them; the
	// rate leaves them out (0: none left out).
	TailN       int     `json:"tail_n,omitempty"`
	TailSeconds float64 `json:"tail_seconds,omitempty"`
	Usage       *Usage  `json:"usage,omitempty"`
	Err         string  `json:"error,omitempty"`
}

// Drain is the capacity of each stage, each draining a backlog alone: the
// Kafka stages a backlog of KafkaN pictures (sized in bytes, so that it
// spans many produce batches), cloud-ingest-hdfs one of HDFSN pictures of
// the same size (the same megabytes) per picture store.
type Drain struct {
	KafkaN    int  `json:"kafka_n"`
	HDFSN     int  `json:"hdfs_n"`
	Producer  Rate `json:"producer"`
	Forwarder Rate `json:"forwarder"`
	// Ingest is the first picture store's drain (Stores[0].Ingest).
	Ingest Rate `json:"ingest"`
	// Stores are cloud-ingest-hdfs's drains, one per picture store.
	Stores []StoreDrain `json:"stores,omitempty"`
}

// StoreDrain is cloud-ingest-hdfs draining a backlog into one picture
// store.
type StoreDrain struct {
	Store  string `json:"store"` // files or avro
	Ingest Rate   `json:"ingest"`
	// BundleMaxAge is the bundles' roll age during the drain (avro).
	BundleMaxAge Duration `json:"bundle_max_age,omitempty"`
	// BundleMaxMB is the bundles' roll size in MiB (avro; 0: default).
	BundleMaxMB int `json:"bundle_max_mb,omitempty"`
	// RatioToForwarder is ingest / forwarder drain pictures/s on the same
	// backlog; NaN when either is unknown.
	RatioToForwarder float64         `json:"ratio_to_forwarder"`
	NameNode         NameNodeObjects `json:"namenode"`
}

// NameNodeObjects is what a drain cost the NameNode: files (inodes, with
// directories) and blocks, from its JMX before the drain and after every
// picture was committed (bundles rolled: indexes and the schema file
// included), and counted by listing the store's own directory.
type NameNodeObjects struct {
	Pictures int              `json:"pictures"`
	Before   namenode.Objects `json:"jmx_before"`
	After    namenode.Objects `json:"jmx_after"`
	// PerPicture is the JMX delta per picture: every client of the
	// NameNode counts (a shared NameNode, the run's temperature files).
	PerPicture float64 `json:"per_picture"`
	// Store is the delta in the store's directory, by listing it: its
	// inodes and blocks (by size and the server's block size).
	Store           namenode.Objects `json:"store_delta"`
	StorePerPicture float64          `json:"store_per_picture"`
	Err             string           `json:"error,omitempty"`
}

// DrainRatio is a's drain rate over b's (pictures/s); NaN when either
// failed or measured nothing.
func DrainRatio(a, b Rate) float64 {
	if a.Err != "" || b.Err != "" || a.PerSec <= 0 || b.PerSec <= 0 || math.IsNaN(a.PerSec) || math.IsNaN(b.PerSec) {
		return math.NaN()
	}
	return a.PerSec / b.PerSec
}

// Baselines are the alternatives measured on the same stack, per size.
type Baselines struct {
	Sizes []SizeBaselines `json:"sizes"`
}

// SizeBaselines are the baselines at one size.
type SizeBaselines struct {
	Size        string  `json:"size"`
	RecordBytes int     `json:"record_bytes"`
	Pictures    int     `json:"pictures"`      // Kafka drains: camera-producer, forwarder, MirrorMaker 2
	PerfRecords int     `json:"perf_records"`  // ProducerPerformance
	HDFSFiles   int     `json:"hdfs_pictures"` // plain HDFS client
	Perf        *Perf   `json:"producer_performance,omitempty"`
	Mirror      *Mirror `json:"mirrormaker2,omitempty"`
	RawHDFS     *Rate   `json:"raw_hdfs,omitempty"`
	// RawHDFSLatency is the per-file write time (create..close) in ms.
	RawHDFSLatency stats.Summary `json:"raw_hdfs_latency_ms"`
}

// Perf is Kafka's ProducerPerformance at the pictures' record size.
type Perf struct {
	Result perfparse.Result `json:"result"`
	Usage  *Usage           `json:"usage,omitempty"`
	Err    string           `json:"error,omitempty"`
}

// Mirror is MirrorMaker 2 against edge-forwarder.
type Mirror struct {
	Drain Rate `json:"drain"`
	// HeadToHead: the same records, forwarded by both at once at the
	// steady rate: edge append -> cloud append, ms.
	MirrorLatency    stats.Summary `json:"mirror_latency_ms"`
	ForwarderLatency stats.Summary `json:"forwarder_latency_ms"`
	MirrorUsage      *Usage        `json:"mirror_usage,omitempty"`
	ForwarderUsage   *Usage        `json:"forwarder_usage,omitempty"`
	Err              string        `json:"error,omitempty"`
}

// Plot is an SVG file of the results directory.
type Plot struct {
	File    string `json:"file"`
	Caption string `json:"caption"`
}

// Passed reports whether the run delivered everything with no failure.
func (r *Result) Passed() bool { return len(r.Failures) == 0 }
