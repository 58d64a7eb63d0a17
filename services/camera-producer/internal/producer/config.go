// Package producer is the camera producer service: a picture source
// (directory, V4L2 camera or synthetic) feeding the spool directory, and
// the one sending path from the spool to the node's local Kafka topic.
package producer

import (
	"fmt"
	"path/filepath"
	"time"

	"github.com/sensornode/sensornode/libs/bus"
	"github.com/sensornode/sensornode/libs/messages"
	"github.com/sensornode/sensornode/libs/svc"
	"github.com/sensornode/sensornode/services/camera-producer/internal/capture"
	"github.com/sensornode/sensornode/services/camera-producer/internal/motion"
	"github.com/sensornode/sensornode/services/camera-producer/internal/spool"
)

// Sources.
const (
	SourceDirectory = "directory"
	SourceCamera    = "camera"
	SourceSynthetic = "synthetic"
)

// Config is the camera producer's configuration, from SENSORNODE_*
// environment variables.
type Config struct {
	svc.Common

	// NodeID names the node ("node3"); CameraID, Topic and Dir default to
	// C3, node3 and /camera3 from its number.
	NodeID   string `envconfig:"NODE_ID" default:"node1"`
	CameraID string `envconfig:"CAMERA_ID"`
	Topic    string `envconfig:"TOPIC"`
	// Form is the wire form: binary (raw JPEG + headers) or json (thesis).
	Form string `envconfig:"FORM" default:"binary"`

	bus.TopicSettings
	// SizeHeadroomBytes is kept below the topic's max.message.bytes for
	// the record and batch framing.
	SizeHeadroomBytes int `envconfig:"SIZE_HEADROOM_BYTES" default:"4096"`
	// CheckInterval is how often Kafka is checked (readiness); was
	// SENSORNODE_PING_INTERVAL.
	CheckInterval       time.Duration `envconfig:"CHECK_INTERVAL" default:"5s"`
	TopicConfigInterval time.Duration `envconfig:"TOPIC_CONFIG_INTERVAL" default:"5m"`

	Source string `envconfig:"SOURCE" default:"directory"`

	Dir              string        `envconfig:"DIR"`
	QuarantineDir    string        `envconfig:"QUARANTINE_DIR"`
	ArchiveDir       string        `envconfig:"ARCHIVE_DIR"`
	IgnorePatterns   []string      `envconfig:"IGNORE_PATTERNS" default:".*,*.part,*.tmp,*~,*.swp,*.crdownload,*.partial"`
	NameTimePatterns []string      `envconfig:"NAME_TIME_PATTERNS" default:"%C-%Y%m%d%H%M%S-%L-%q,%v-%Y%m%d%H%M%S-%q,%Y%m%d-%H%M%S"`
	NameTimeZone     string        `envconfig:"NAME_TIME_ZONE" default:"Local"`
	SettleInterval   time.Duration `envconfig:"SETTLE_INTERVAL" default:"2s"`
	PartialTimeout   time.Duration `envconfig:"PARTIAL_TIMEOUT" default:"2m"`
	RescanInterval   time.Duration `envconfig:"RESCAN_INTERVAL" default:"10s"`
	RetryMinInterval time.Duration `envconfig:"RETRY_MIN_INTERVAL" default:"1s"`
	RetryMaxInterval time.Duration `envconfig:"RETRY_MAX_INTERVAL" default:"30s"`
	BacklogMaxFiles  int           `envconfig:"BACKLOG_MAX_FILES" default:"50000"`
	BacklogMaxBytes  int64         `envconfig:"BACKLOG_MAX_BYTES" default:"2147483648"`
	DiskGuardPolicy  string        `envconfig:"DISK_GUARD_POLICY" default:"warn"`

	Motion    motion.Config           `envconfig:"MOTION"`
	V4L2      capture.V4L2Config      `envconfig:"V4L2"`
	Synthetic capture.SyntheticConfig `envconfig:"SYNTHETIC"`

	// Kafka has this service's defaults (DefaultConfig): a small in-memory
	// queue, because the directory is the durable buffer. MaxMessageBytes
	// is the client's record limit (pictures are also checked against the
	// topic's max.message.bytes); QueueMaxBytes bounds the picture bytes
	// held in memory waiting for acknowledgement; after DeliveryTimeout the
	// client gives up on a record, the file stays and is retried, so
	// nothing is lost either way.
	Kafka bus.ProducerConfig `envconfig:"KAFKA"`

	// Resolved by Validate.
	form  messages.Form
	names spool.NameTimes
	guard spool.GuardPolicy
}

// DefaultConfig is the configuration before the environment is applied.
func DefaultConfig() Config {
	c := Config{Common: svc.DefaultCommon(":9101"), Kafka: bus.DefaultProducerConfig()}
	c.Kafka.MaxMessageBytes, c.Kafka.QueueMaxBytes = 2<<20, 4<<20
	return c
}

// RenamedEnv lists the variables renamed for one vocabulary across the
// services; the old names still work for one release (svc.Renamer).
func (*Config) RenamedEnv() map[string]string {
	return map[string]string{"PING_INTERVAL": "CHECK_INTERVAL"}
}

// Validate fills the defaults derived from NodeID and checks everything,
// reporting all problems at once.
func (c *Config) Validate() error {
	var p svc.Problems
	c.Common.Check(&p)
	if n, _ := messages.NodeNumber(c.NodeID); n > 0 {
		if c.CameraID == "" {
			c.CameraID = messages.CameraID(n)
		}
		if c.Topic == "" {
			c.Topic = messages.NodeTopic(n)
		}
		if c.Dir == "" {
			c.Dir = fmt.Sprintf("/camera%d", n)
		}
	}
	if c.NodeID == "" {
		p.Addf("SENSORNODE_NODE_ID is empty")
	}
	if c.CameraID == "" || c.Topic == "" || c.Dir == "" {
		p.Addf("SENSORNODE_NODE_ID %q has no node number: set SENSORNODE_CAMERA_ID, SENSORNODE_TOPIC and SENSORNODE_DIR", c.NodeID)
	}
	if c.CameraID != "" && messages.NewPicture(c.CameraID, c.NodeID, time.Unix(1, 0), []byte{0xFF, 0xD8, 0xFF, 0xD9}).Validate(0) != nil {
		p.Addf("SENSORNODE_CAMERA_ID %q: 1-64 characters of A-Z a-z 0-9 _ . -", c.CameraID)
	}
	var err error
	if c.form, err = messages.ParseForm(c.Form); err != nil {
		p.Addf("SENSORNODE_FORM: %v", err)
	}
	if c.names, err = spool.ParseNameTimes(c.NameTimePatterns, c.NameTimeZone); err != nil {
		p.Addf("SENSORNODE_NAME_TIME_PATTERNS / _ZONE: %v", err)
	}
	if c.guard, err = spool.ParseGuardPolicy(c.DiskGuardPolicy); err != nil {
		p.Addf("SENSORNODE_DISK_GUARD_POLICY: %v", err)
	}
	switch c.Source {
	case SourceDirectory:
	case SourceCamera, SourceSynthetic:
		if err := c.Motion.Validate(); err != nil {
			p.Addf("SENSORNODE_MOTION_*: %v", err)
		}
	default:
		p.Addf("SENSORNODE_SOURCE %q (want directory, camera or synthetic)", c.Source)
	}
	if c.Source == SourceCamera {
		if c.V4L2.Format, err = capture.ParseFormat(c.V4L2.FormatName); err != nil {
			p.Addf("SENSORNODE_V4L2_FORMAT: %v", err)
		}
		if c.V4L2.JPEGQuality < 1 || c.V4L2.JPEGQuality > 100 {
			p.Addf("SENSORNODE_V4L2_JPEG_QUALITY %d (want 1..100)", c.V4L2.JPEGQuality)
		}
		c.V4L2.Width, c.V4L2.Height, c.V4L2.Framerate = c.Motion.Width, c.Motion.Height, c.Motion.Framerate
	}
	if c.Source == SourceSynthetic {
		if err := c.Synthetic.Validate(); err != nil {
			p.Addf("SENSORNODE_SYNTHETIC_*: %v", err)
		}
		c.Synthetic.Width, c.Synthetic.Height, c.Synthetic.Framerate = c.Motion.Width, c.Motion.Height, c.Motion.Framerate
	}
	if c.Dir != "" && c.QuarantineDir == "" {
		c.QuarantineDir = filepath.Join(c.Dir, ".quarantine")
	}
	if c.SettleInterval <= 0 || c.PartialTimeout < c.SettleInterval || c.RescanInterval <= 0 {
		p.Addf("need SENSORNODE_SETTLE_INTERVAL > 0, SENSORNODE_PARTIAL_TIMEOUT >= it, SENSORNODE_RESCAN_INTERVAL > 0 (got %v, %v, %v)",
			c.SettleInterval, c.PartialTimeout, c.RescanInterval)
	}
	if c.RetryMinInterval <= 0 || c.RetryMaxInterval < c.RetryMinInterval {
		p.Addf("need 0 < SENSORNODE_RETRY_MIN_INTERVAL <= SENSORNODE_RETRY_MAX_INTERVAL (got %v, %v)", c.RetryMinInterval, c.RetryMaxInterval)
	}
	if c.BacklogMaxFiles < 0 || c.BacklogMaxBytes < 0 {
		p.Addf("SENSORNODE_BACKLOG_MAX_FILES / _BYTES must be >= 0 (0: no limit)")
	}
	c.TopicSettings.Check(&p)
	if c.SizeHeadroomBytes < 0 || c.SizeHeadroomBytes >= c.Kafka.MaxMessageBytes {
		p.Addf("SENSORNODE_SIZE_HEADROOM_BYTES %d must be in [0, SENSORNODE_KAFKA_MAX_MESSAGE_BYTES)", c.SizeHeadroomBytes)
	}
	if c.CheckInterval <= 0 || c.TopicConfigInterval <= 0 {
		p.Addf("SENSORNODE_CHECK_INTERVAL and _TOPIC_CONFIG_INTERVAL must be positive")
	}
	if err := c.Kafka.Validate(); err != nil {
		p.Addf("SENSORNODE_KAFKA_*: %v", err)
	}
	return p.Err()
}

// MessageForm is the validated wire form.
func (c *Config) MessageForm() messages.Form { return c.form }
