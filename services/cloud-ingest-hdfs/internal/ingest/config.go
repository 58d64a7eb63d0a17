package ingest

import (
	"path"
	"strings"
	"time"

	"github.com/sensornode/sensornode/libs/archive"
	"github.com/sensornode/sensornode/libs/bus"
	"github.com/sensornode/sensornode/libs/messages"
	"github.com/sensornode/sensornode/libs/svc"
)

// Temperature file formats.
const (
	FormatJSONL = archive.FormatJSONL
	FormatCSV   = archive.FormatCSV
	FormatAvro  = archive.FormatAvro
)

// HDFSConfig says how to reach HDFS.
type HDFSConfig struct {
	// NameNodes are NameNode RPC addresses (several for HA).
	NameNodes []string `envconfig:"NAMENODE_ADDR" default:"127.0.0.1:8020"`
	User      string   `envconfig:"USER" default:"sensornode"`
	// RPCTimeout bounds one NameNode call; a NameNode that does not answer
	// in time is treated as down and the connection is made again.
	RPCTimeout time.Duration `envconfig:"RPC_TIMEOUT" default:"30s"`
	// WriteTimeout bounds writing (or reading) one file's data.
	WriteTimeout time.Duration `envconfig:"WRITE_TIMEOUT" default:"60s"`
	// CloseTimeout bounds the retries of Close while the NameNode reports
	// the last block as still replicating.
	CloseTimeout time.Duration `envconfig:"CLOSE_TIMEOUT" default:"30s"`
	// TmpDir holds files being written; they are renamed into place when
	// complete. Leftovers of a crash are removed when their partition is
	// assigned again.
	TmpDir string `envconfig:"TMP_DIR" default:"/sensornode/_tmp"`
}

// Config is the cloud-ingest-hdfs configuration, read from SENSORNODE_*
// environment variables.
type Config struct {
	svc.Common

	// Kafka is the cloud cluster: the consumer of the picture and
	// temperature topics, and the producer of dead letters.
	Kafka bus.ConsumerConfig `envconfig:"CLOUD_KAFKA"`
	// DLQMaxMessageBytes bounds one dead letter (the original record plus
	// headers); larger ones are truncated, with the original size in a
	// header.
	DLQMaxMessageBytes int `envconfig:"DLQ_MAX_MESSAGE_BYTES" default:"8388608"`

	HDFS HDFSConfig `envconfig:"HDFS"`

	// PictureLayout is the HDFS path of a picture. Placeholders: {camera},
	// {node}, {yyyy}, {MM}, {dd}, {HH}, {mm}, {ss} (capture time, UTC) and
	// {key} (required: it makes the name unique and redeliveries
	// idempotent).
	PictureLayout string `envconfig:"PICTURE_LAYOUT" default:"/sensornode/camera/{camera}/{yyyy}/{MM}/{dd}/{HH}{mm}{ss}-{key}.jpg"`
	// PictureStore is files (one HDFS file per picture, PictureLayout) or
	// avro (pictures appended to bundles: Avro container files per
	// partition under PictureBundleDir, see bundles.go).
	PictureStore string `envconfig:"PICTURE_STORE" default:"files"`
	// PictureBundleDir is the root of the bundle store: bundles go to
	// <dir>/<topic>/<partition>/<yyyy>/<MM>/<dd>/<HH>/ (ingest time of
	// their first picture, UTC), the schema file to <dir>/.
	PictureBundleDir string `envconfig:"PICTURE_BUNDLE_DIR" default:"/sensornode/bundles"`
	// PictureBundleMaxBytes rolls a bundle once it reaches this size.
	PictureBundleMaxBytes int64 `envconfig:"PICTURE_BUNDLE_MAX_BYTES" default:"134217728"`
	// PictureBundleMaxAge rolls a bundle this long after its first picture
	// was read: a picture is visible in HDFS within about this long.
	PictureBundleMaxAge time.Duration `envconfig:"PICTURE_BUNDLE_MAX_AGE" default:"60s"`
	// PictureBundleIndexKeys bounds, per partition, the keys of committed
	// bundles kept in memory to drop pictures forwarded again at new
	// offsets.
	PictureBundleIndexKeys int `envconfig:"PICTURE_BUNDLE_INDEX_KEYS" default:"100000"`
	// MaxPictureBytes bounds a decoded picture.
	MaxPictureBytes int `envconfig:"MAX_PICTURE_BYTES" default:"16777216"`

	// TemperatureDirLayout is the HDFS directory of one node-hour of
	// readings; it must hold {node}, {yyyy}, {MM}, {dd} and {HH}. Files in it
	// are named <topic>+<partition>+<first offset>+<last offset>.<format>.
	TemperatureDirLayout string `envconfig:"TEMPERATURE_DIR_LAYOUT" default:"/sensornode/temperature/{node}/{yyyy}/{MM}/{dd}/{HH}"`
	// TemperatureFormat is jsonl, csv or avro (Avro container files; the
	// schema file goes to the layout's root directory, its leading
	// literal components).
	TemperatureFormat string `envconfig:"TEMPERATURE_FORMAT" default:"jsonl"`
	// TemperatureRotateInterval: a partition's buffered readings are written
	// out (one file per node-hour) this long after the first one arrived.
	TemperatureRotateInterval time.Duration `envconfig:"TEMPERATURE_ROTATE_INTERVAL" default:"5m"`
	// TemperatureFlushRecords writes a partition's readings out earlier
	// when this many are buffered.
	TemperatureFlushRecords int `envconfig:"TEMPERATURE_FLUSH_RECORDS" default:"10000"`
	// TemperatureIndexDirs bounds how many node-hour directories keep the
	// identities of their stored readings in memory for de-duplication.
	TemperatureIndexDirs int `envconfig:"TEMPERATURE_INDEX_DIRS" default:"256"`

	// CommitInterval is how often durable offsets are committed.
	CommitInterval time.Duration `envconfig:"COMMIT_INTERVAL" default:"1s"`
	// RetryMaxInterval caps the wait between retries while HDFS (or the
	// dead-letter topic) fails (was SENSORNODE_RETRY_MAX_INTERVAL).
	RetryMaxInterval time.Duration `envconfig:"RETRY_MAX_INTERVAL" default:"30s"`
	// CheckInterval is how often Kafka and HDFS are checked for readiness
	// and lag is exported.
	CheckInterval time.Duration `envconfig:"CHECK_INTERVAL" default:"10s"`

	// TopicSettings (SENSORNODE_CREATE_TOPICS) make the service create its
	// input topics (the names in SENSORNODE_CLOUD_KAFKA_TOPICS; patterns
	// cannot be created) and their dead-letter topics when they are missing
	// (existing topics are left alone).
	bus.TopicSettings
}

// DefaultConfig is the configuration before the environment is applied:
// defaults of fields whose bus types carry no default tag (group id,
// topics).
func DefaultConfig() Config {
	c := Config{Common: svc.DefaultCommon(":9104")}
	c.Kafka.GroupID = "cloud-ingest-hdfs"
	c.Kafka.Topics = []string{messages.TopicCamera, messages.TopicTemperature}
	return c
}

// RenamedEnv lists the variables renamed for one vocabulary across the
// services; the old names still work for one release (svc.Renamer).
func (*Config) RenamedEnv() map[string]string {
	return map[string]string{"RETRY_BACKOFF_MAX": "RETRY_MAX_INTERVAL"}
}

// Validate checks the configuration, reporting every problem at once.
func (c *Config) Validate() error {
	var p svc.Problems
	c.Common.Check(&p)
	c.TopicSettings.Check(&p)
	if err := c.Kafka.Validate(); err != nil {
		p.Addf("cloud kafka: %v", err)
	}
	if err := c.DLQProducerConfig().Validate(); err != nil {
		p.Addf("dead-letter producer: %v", err)
	}
	// HDFS work is fenced at half the session timeout after a poll (see
	// Ingester.workDeadline); that must stay below the rebalance timeout
	// (franz's default, 60 s, the shortest of the backends') less a
	// heartbeat, and leave time for a picture write.
	if st := c.Kafka.SessionTimeout; st < 2*time.Second || st > 60*time.Second {
		p.Addf("SENSORNODE_CLOUD_KAFKA_SESSION_TIMEOUT %v: need 2s..60s (HDFS writes are fenced at half of it)", st)
	}
	if len(c.HDFS.NameNodes) == 0 {
		p.Addf("SENSORNODE_HDFS_NAMENODE_ADDR is empty")
	}
	for _, a := range c.HDFS.NameNodes {
		if !strings.Contains(a, ":") {
			p.Addf("SENSORNODE_HDFS_NAMENODE_ADDR %q is not host:port", a)
		}
	}
	if c.HDFS.User == "" {
		p.Addf("SENSORNODE_HDFS_USER is empty")
	}
	if !path.IsAbs(c.HDFS.TmpDir) || path.Clean(c.HDFS.TmpDir) == "/" {
		p.Addf("SENSORNODE_HDFS_TMP_DIR %q must be an absolute directory below /", c.HDFS.TmpDir)
	}
	if _, err := archive.ParseLayout(c.PictureLayout, []string{"key"}, nil); err != nil {
		p.Addf("SENSORNODE_PICTURE_LAYOUT: %v", err)
	}
	tl, err := archive.ParseLayout(c.TemperatureDirLayout, []string{"node", "yyyy", "MM", "dd", "HH"}, []string{"key", "camera"})
	if err != nil {
		p.Addf("SENSORNODE_TEMPERATURE_DIR_LAYOUT: %v", err)
	}
	switch c.TemperatureFormat {
	case FormatJSONL, FormatCSV:
	case FormatAvro:
		if err == nil && tl.Root() == "/" {
			p.Addf("SENSORNODE_TEMPERATURE_DIR_LAYOUT %q: with SENSORNODE_TEMPERATURE_FORMAT=avro it must start with a fixed directory (the schema file goes there)", c.TemperatureDirLayout)
		}
	default:
		p.Addf("SENSORNODE_TEMPERATURE_FORMAT %q: want %s, %s or %s", c.TemperatureFormat, FormatJSONL, FormatCSV, FormatAvro)
	}
	switch c.PictureStore {
	case StoreFiles, StoreAvro:
	default:
		p.Addf("SENSORNODE_PICTURE_STORE %q: want %s or %s", c.PictureStore, StoreFiles, StoreAvro)
	}
	if !path.IsAbs(c.PictureBundleDir) || path.Clean(c.PictureBundleDir) == "/" {
		p.Addf("SENSORNODE_PICTURE_BUNDLE_DIR %q must be an absolute directory below /", c.PictureBundleDir)
	}
	if c.PictureBundleMaxBytes < 1 {
		p.Addf("SENSORNODE_PICTURE_BUNDLE_MAX_BYTES must be positive")
	}
	if c.PictureBundleIndexKeys < 1 {
		p.Addf("SENSORNODE_PICTURE_BUNDLE_INDEX_KEYS must be positive")
	}
	if c.MaxPictureBytes < 1024 {
		p.Addf("SENSORNODE_MAX_PICTURE_BYTES %d < 1024", c.MaxPictureBytes)
	}
	if c.TemperatureFlushRecords < 1 {
		p.Addf("SENSORNODE_TEMPERATURE_FLUSH_RECORDS must be positive")
	}
	if c.TemperatureIndexDirs < 1 {
		p.Addf("SENSORNODE_TEMPERATURE_INDEX_DIRS must be positive")
	}
	p.Positive(map[string]time.Duration{
		"SENSORNODE_HDFS_RPC_TIMEOUT":            c.HDFS.RPCTimeout,
		"SENSORNODE_HDFS_WRITE_TIMEOUT":          c.HDFS.WriteTimeout,
		"SENSORNODE_HDFS_CLOSE_TIMEOUT":          c.HDFS.CloseTimeout,
		"SENSORNODE_TEMPERATURE_ROTATE_INTERVAL": c.TemperatureRotateInterval,
		"SENSORNODE_PICTURE_BUNDLE_MAX_AGE":      c.PictureBundleMaxAge,
		"SENSORNODE_COMMIT_INTERVAL":             c.CommitInterval,
		"SENSORNODE_RETRY_MAX_INTERVAL":          c.RetryMaxInterval,
		"SENSORNODE_CHECK_INTERVAL":              c.CheckInterval,
	})
	return p.Err()
}

// TopicSpecs are the topics SENSORNODE_CREATE_TOPICS creates: every input
// topic named in SENSORNODE_CLOUD_KAFKA_TOPICS, with max.message.bytes
// room for the largest record the consumer is set up to fetch
// (SENSORNODE_CLOUD_KAFKA_MAX_FETCH_BYTES), and its dead-letter topic, with
// room for the largest dead letter (SENSORNODE_DLQ_MAX_MESSAGE_BYTES).
// Entries starting with ^ are patterns, which name no topic: they are
// returned in patterns, not created.
func (c *Config) TopicSpecs() (specs []bus.TopicSpec, patterns []string) {
	seen := map[string]bool{}
	add := func(name string, maxRecordBytes int) {
		if seen[name] {
			return
		}
		seen[name] = true
		specs = append(specs, c.TopicSpec(name, maxRecordBytes))
	}
	for _, t := range c.Kafka.Topics {
		t = strings.TrimSpace(t)
		switch {
		case t == "":
		case strings.HasPrefix(t, "^"):
			patterns = append(patterns, t)
		default:
			// The fetch size no longer has to fit the largest record (a
			// larger one still comes whole) and defaults to 1 MiB: the
			// input topic must still take the forwarder's largest record
			// (8 MiB by default), which the dead-letter bound mirrors.
			add(t, max(c.Kafka.MaxFetchBytes, c.DLQMaxMessageBytes))
			add(messages.DeadLetterTopic(t), c.DLQMaxMessageBytes)
		}
	}
	return specs, patterns
}

// DLQProducerConfig is the dead-letter producer: the consumer's cluster
// and credentials.
func (c *Config) DLQProducerConfig() bus.ProducerConfig {
	return bus.ProducerConfig{
		Config:          c.Kafka.Config,
		Linger:          time.Millisecond,
		MaxMessageBytes: c.DLQMaxMessageBytes,
		QueueMaxBytes:   2*c.DLQMaxMessageBytes + 1<<20,
		DeliveryTimeout: 2 * time.Minute,
	}
}
