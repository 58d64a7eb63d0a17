// Package temperature is the temperature producer: it reads the node's CPU
// temperature each interval (sysfs thermal zone, vcgencmd, the original
// design's /tempN files, or a synthetic sensor) and sends each plausible
// reading to the local edge topic temperatureLocal, keyed by node,
// buffering (bounded, optionally on disk) while the brokers are away.
package temperature

import (
	"fmt"
	"time"

	"github.com/sensornode/sensornode/libs/bus"
	"github.com/sensornode/sensornode/libs/messages"
	"github.com/sensornode/sensornode/libs/svc"
)

// Sources.
const (
	SourceSysfs     = "sysfs"
	SourceVcgencmd  = "vcgencmd"
	SourceFile      = "file"
	SourceSynthetic = "synthetic"
)

// Config is the temperature producer's configuration (SENSORNODE_*).
type Config struct {
	svc.Common

	NodeID string `envconfig:"NODE_ID" default:"node1"`
	Topic  string `envconfig:"TOPIC" default:"temperatureLocal"`
	Form   string `envconfig:"FORM" default:"binary"`

	bus.TopicSettings
	// CheckInterval is how often Kafka is checked (readiness); was
	// SENSORNODE_PING_INTERVAL.
	CheckInterval time.Duration `envconfig:"CHECK_INTERVAL" default:"5s"`

	Source       string        `envconfig:"SOURCE" default:"sysfs"`
	ReadInterval time.Duration `envconfig:"READ_INTERVAL" default:"10s"`
	SysfsPath    string        `envconfig:"SYSFS_PATH" default:"/sys/class/thermal/thermal_zone0/temp"`
	VcgencmdPath string        `envconfig:"VCGENCMD_PATH" default:"vcgencmd"`
	// VcgencmdTimeout bounds one run of the command.
	VcgencmdTimeout time.Duration `envconfig:"VCGENCMD_TIMEOUT" default:"5s"`
	// FilePath is the original design's reading file or directory; default
	// /temp<N> from the node number.
	FilePath string `envconfig:"FILE_PATH"`
	// SyntheticBaseCelsius etc. shape the synthetic sensor.
	SyntheticBaseCelsius      float64       `envconfig:"SYNTHETIC_BASE_CELSIUS" default:"45"`
	SyntheticAmplitudeCelsius float64       `envconfig:"SYNTHETIC_AMPLITUDE_CELSIUS" default:"5"`
	SyntheticPeriod           time.Duration `envconfig:"SYNTHETIC_PERIOD" default:"10m"`

	// BufferMaxReadings bounds the readings held while unacknowledged; when
	// full the oldest is dropped (counted and logged).
	BufferMaxReadings int `envconfig:"BUFFER_MAX_READINGS" default:"20000"`
	// MaxInflight bounds the readings handed to the Kafka client at once.
	MaxInflight int `envconfig:"MAX_INFLIGHT" default:"500"`
	// SpoolDir, when set, keeps unacknowledged readings on disk too, so
	// they survive a restart during a broker outage.
	SpoolDir         string        `envconfig:"SPOOL_DIR"`
	SpoolMaxBytes    int64         `envconfig:"SPOOL_MAX_BYTES" default:"16777216"`
	RetryMinInterval time.Duration `envconfig:"RETRY_MIN_INTERVAL" default:"1s"`
	RetryMaxInterval time.Duration `envconfig:"RETRY_MAX_INTERVAL" default:"30s"`

	// Kafka has defaults for tiny records (DefaultConfig).
	Kafka bus.ProducerConfig `envconfig:"KAFKA"`

	form messages.Form
}

// DefaultConfig is the configuration before the environment is applied.
func DefaultConfig() Config {
	c := Config{Common: svc.DefaultCommon(":9102"), Kafka: bus.DefaultProducerConfig()}
	c.Kafka.MaxMessageBytes, c.Kafka.QueueMaxBytes = 64<<10, 1<<20
	return c
}

// RenamedEnv lists the variables renamed for one vocabulary across the
// services; the old names still work for one release (svc.Renamer).
func (*Config) RenamedEnv() map[string]string {
	return map[string]string{"PING_INTERVAL": "CHECK_INTERVAL"}
}

// Validate fills derived defaults and checks everything.
func (c *Config) Validate() error {
	var p svc.Problems
	c.Common.Check(&p)
	c.TopicSettings.Check(&p)
	if err := (messages.TemperatureReading{NodeID: c.NodeID, ReadAt: time.Unix(1, 0)}).Validate(); err != nil {
		p.Addf("SENSORNODE_NODE_ID %q: %v", c.NodeID, err)
	}
	if c.Topic == "" {
		p.Addf("SENSORNODE_TOPIC is empty")
	}
	var err error
	if c.form, err = messages.ParseForm(c.Form); err != nil {
		p.Addf("SENSORNODE_FORM: %v", err)
	}
	switch c.Source {
	case SourceSysfs, SourceVcgencmd, SourceSynthetic:
	case SourceFile:
		if c.FilePath == "" {
			if n, ok := messages.NodeNumber(c.NodeID); ok {
				c.FilePath = fmt.Sprintf("/temp%d", n)
			} else {
				p.Addf("SENSORNODE_FILE_PATH is empty and SENSORNODE_NODE_ID %q has no node number", c.NodeID)
			}
		}
	default:
		p.Addf("SENSORNODE_SOURCE %q (want sysfs, vcgencmd, file or synthetic)", c.Source)
	}
	if c.ReadInterval <= 0 || c.VcgencmdTimeout <= 0 || c.CheckInterval <= 0 || c.SyntheticPeriod <= 0 {
		p.Addf("SENSORNODE_READ_INTERVAL, _VCGENCMD_TIMEOUT, _CHECK_INTERVAL and _SYNTHETIC_PERIOD must be positive")
	}
	if c.BufferMaxReadings < 1 || c.MaxInflight < 1 {
		p.Addf("SENSORNODE_BUFFER_MAX_READINGS and SENSORNODE_MAX_INFLIGHT must be >= 1")
	}
	if c.SpoolMaxBytes < 0 {
		p.Addf("SENSORNODE_SPOOL_MAX_BYTES must be >= 0 (0: no limit)")
	}
	if c.RetryMinInterval <= 0 || c.RetryMaxInterval < c.RetryMinInterval {
		p.Addf("need 0 < SENSORNODE_RETRY_MIN_INTERVAL <= SENSORNODE_RETRY_MAX_INTERVAL")
	}
	if err := c.Kafka.Validate(); err != nil {
		p.Addf("SENSORNODE_KAFKA_*: %v", err)
	}
	return p.Err()
}

// MessageForm is the validated wire form.
func (c *Config) MessageForm() messages.Form { return c.form }
