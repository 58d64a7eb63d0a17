package forwarder

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/sensornode/sensornode/libs/bus"
	"github.com/sensornode/sensornode/libs/messages"
	"github.com/sensornode/sensornode/libs/svc"
)

// Forms the forwarder can write to the cloud.
const (
	FormPassThrough = "passthrough" // bytes, key and headers untouched
	FormJSON        = "json"        // thesis JSON, for legacy cloud consumers
	FormBinary      = "binary"      // compact binary form
)

// Config is the edge-forwarder configuration, read from SENSORNODE_*
// environment variables.
type Config struct {
	svc.Common

	// Edge is the local cluster the forwarder consumes from. Its topics
	// come from PictureTopics and TemperatureTopics.
	Edge bus.ConsumerConfig `envconfig:"EDGE_KAFKA"`
	// Cloud is the cloud cluster the forwarder produces to.
	Cloud bus.ProducerConfig `envconfig:"CLOUD_KAFKA"`

	// PictureTopics are the edge picture topics (entries starting with ^
	// are regular expressions); they go to CloudPictureTopic.
	PictureTopics     []string `envconfig:"PICTURE_TOPICS" default:"^node[0-9]+$"`
	CloudPictureTopic string   `envconfig:"CLOUD_PICTURE_TOPIC" default:"cameraData"`
	// TemperatureTopics are the edge temperature topics; they go to
	// CloudTemperatureTopic.
	TemperatureTopics     []string `envconfig:"TEMPERATURE_TOPICS" default:"temperatureLocal"`
	CloudTemperatureTopic string   `envconfig:"CLOUD_TEMPERATURE_TOPIC" default:"temperatureData"`

	// Form is what the cloud gets: passthrough (default), json or binary
	// (SENSORNODE_FORM, as the producers name the form they write; was
	// SENSORNODE_FORM).
	Form string `envconfig:"FORM" default:"passthrough"`
	// MaxPictureBytes bounds a picture decoded for transcoding.
	MaxPictureBytes int `envconfig:"MAX_PICTURE_BYTES" default:"8388608"`

	// MaxInflightBytes bounds the bytes sent to the cloud and not yet
	// acknowledged; above it the forwarder pauses fetching. It must leave
	// room for one message in the cloud producer's queue:
	// MaxInflightBytes + CLOUD_KAFKA_MAX_MESSAGE_BYTES <= CLOUD_KAFKA_QUEUE_MAX_BYTES.
	MaxInflightBytes int `envconfig:"MAX_INFLIGHT_BYTES" default:"8388608"`
	// BackpressureWait is how long a message that would exceed the
	// in-flight bounds waits for cloud acknowledgements to make room before
	// the edge partitions are paused and the message is put back. Under a
	// normal load room frees within milliseconds, so the consumer keeps its
	// prefetched data; only a slow or unreachable cloud causes a pause
	// (which makes the client drop and later refetch what it prefetched).
	BackpressureWait time.Duration `envconfig:"BACKPRESSURE_WAIT" default:"2s"`
	// MaxInflightMessages bounds the number of messages sent and not yet
	// committable (unacknowledged, or acknowledged behind an
	// unacknowledged one).
	MaxInflightMessages int `envconfig:"MAX_INFLIGHT_MESSAGES" default:"10000"`
	// CommitInterval is how often acknowledged offsets are committed on
	// the edge.
	CommitInterval time.Duration `envconfig:"COMMIT_INTERVAL" default:"1s"`
	// RevokeTimeout bounds the wait for in-flight messages of partitions
	// taken away by a rebalance.
	RevokeTimeout time.Duration `envconfig:"REVOKE_TIMEOUT" default:"10s"`
	// RetryMaxInterval caps the wait before re-sending after a failed
	// delivery (was SENSORNODE_RETRY_MAX_INTERVAL).
	RetryMaxInterval time.Duration `envconfig:"RETRY_MAX_INTERVAL" default:"30s"`
	// CheckInterval is how often both clusters are pinged (readiness,
	// disconnected time) and lag is exported.
	CheckInterval time.Duration `envconfig:"CHECK_INTERVAL" default:"5s"`

	// TopicSettings (SENSORNODE_CREATE_TOPICS) make the forwarder create
	// the cloud topics and their dead-letter topics on the cloud cluster
	// when they are missing (existing topics are left alone), with a
	// max.message.bytes that fits the cloud producer's largest record.
	bus.TopicSettings
}

// DefaultConfig is the configuration before the environment is applied:
// defaults of fields whose bus types carry no default tag (the group id,
// the cloud producer's tuning).
func DefaultConfig() Config {
	c := Config{Common: svc.DefaultCommon(":9103"), Cloud: bus.DefaultProducerConfig()}
	c.Edge.GroupID = "edge-forwarder"
	return c
}

// RenamedEnv lists the variables renamed for one vocabulary across the
// services; the old names still work for one release (svc.Renamer).
func (*Config) RenamedEnv() map[string]string {
	return map[string]string{"FORWARD_FORM": "FORM", "RETRY_BACKOFF_MAX": "RETRY_MAX_INTERVAL"}
}

// Validate checks the configuration, reporting every problem at once.
func (c *Config) Validate() error {
	var p svc.Problems
	c.Common.Check(&p)
	c.TopicSettings.Check(&p)
	if len(c.Edge.Topics) > 0 {
		p.Addf("SENSORNODE_EDGE_KAFKA_TOPICS is not used: set SENSORNODE_PICTURE_TOPICS and SENSORNODE_TEMPERATURE_TOPICS")
	}
	if err := c.EdgeConsumerConfig().Validate(); err != nil {
		p.Addf("edge kafka: %v", err)
	}
	if err := c.Cloud.Validate(); err != nil {
		p.Addf("cloud kafka: %v", err)
	}
	if _, err := c.Routes(); err != nil {
		p.Addf("%v", err)
	}
	switch c.Form {
	case FormPassThrough, FormJSON, FormBinary:
	default:
		p.Addf("SENSORNODE_FORM %q: want %s, %s or %s", c.Form, FormPassThrough, FormJSON, FormBinary)
	}
	if c.MaxPictureBytes < 1024 {
		p.Addf("SENSORNODE_MAX_PICTURE_BYTES %d < 1024", c.MaxPictureBytes)
	}
	if c.MaxInflightBytes < 1 || c.MaxInflightMessages < 1 {
		p.Addf("SENSORNODE_MAX_INFLIGHT_BYTES and SENSORNODE_MAX_INFLIGHT_MESSAGES must be positive")
	}
	if c.MaxInflightBytes+c.Cloud.MaxMessageBytes > c.Cloud.QueueMaxBytes {
		p.Addf("SENSORNODE_MAX_INFLIGHT_BYTES %d + SENSORNODE_CLOUD_KAFKA_MAX_MESSAGE_BYTES %d exceeds SENSORNODE_CLOUD_KAFKA_QUEUE_MAX_BYTES %d",
			c.MaxInflightBytes, c.Cloud.MaxMessageBytes, c.Cloud.QueueMaxBytes)
	}
	p.Positive(map[string]time.Duration{
		"SENSORNODE_COMMIT_INTERVAL":    c.CommitInterval,
		"SENSORNODE_REVOKE_TIMEOUT":     c.RevokeTimeout,
		"SENSORNODE_RETRY_MAX_INTERVAL": c.RetryMaxInterval,
		"SENSORNODE_CHECK_INTERVAL":     c.CheckInterval,
	})
	return p.Err()
}

// CloudTopicSpecs are the topics SENSORNODE_CREATE_TOPICS creates on the
// cloud cluster: the cloud picture and temperature topics and their
// dead-letter topics, each with max.message.bytes room for the cloud
// producer's largest record.
func (c *Config) CloudTopicSpecs() []bus.TopicSpec {
	var specs []bus.TopicSpec
	seen := map[string]bool{}
	for _, t := range []string{c.CloudPictureTopic, c.CloudTemperatureTopic} {
		for _, name := range []string{t, messages.DeadLetterTopic(t)} {
			if seen[name] {
				continue
			}
			seen[name] = true
			specs = append(specs, c.TopicSpec(name, c.Cloud.MaxMessageBytes))
		}
	}
	return specs
}

// EdgeConsumerConfig is the edge consumer configuration with the
// subscription filled in from the routes.
func (c *Config) EdgeConsumerConfig() bus.ConsumerConfig {
	e := c.Edge
	e.Topics = append(append([]string(nil), c.PictureTopics...), c.TemperatureTopics...)
	return e
}

// Route sends the edge topics matching it to one cloud topic.
type Route struct {
	Kind  messages.Kind
	Cloud string
	exact map[string]bool
	re    []*regexp.Regexp
}

// Match reports whether the edge topic belongs to the route.
func (r *Route) Match(topic string) bool {
	if r.exact[topic] {
		return true
	}
	for _, re := range r.re {
		if re.MatchString(topic) {
			return true
		}
	}
	return false
}

// Routes compiles the topic mapping: pictures first, then temperatures.
func (c *Config) Routes() ([]*Route, error) {
	var p svc.Problems
	build := func(kind messages.Kind, env string, topics []string, cloud, cloudEnv string) *Route {
		r := &Route{Kind: kind, Cloud: cloud, exact: map[string]bool{}}
		if len(topics) == 0 {
			p.Addf("%s is empty", env)
		}
		for _, t := range topics {
			t = strings.TrimSpace(t)
			switch {
			case t == "":
				p.Addf("%s has an empty entry", env)
			case strings.HasPrefix(t, "^"):
				re, err := regexp.Compile(t)
				if err != nil {
					p.Addf("%s entry %q: %v", env, t, err)
					continue
				}
				r.re = append(r.re, re)
			default:
				r.exact[t] = true
			}
		}
		if cloud == "" {
			p.Addf("%s is empty", cloudEnv)
		}
		return r
	}
	routes := []*Route{
		build(messages.KindPicture, "SENSORNODE_PICTURE_TOPICS", c.PictureTopics, c.CloudPictureTopic, "SENSORNODE_CLOUD_PICTURE_TOPIC"),
		build(messages.KindTemperature, "SENSORNODE_TEMPERATURE_TOPICS", c.TemperatureTopics, c.CloudTemperatureTopic, "SENSORNODE_CLOUD_TEMPERATURE_TOPIC"),
	}
	for t := range routes[1].exact {
		if routes[0].Match(t) {
			p.Addf("temperature topic %q also matches SENSORNODE_PICTURE_TOPICS", t)
		}
	}
	if err := p.Err(); err != nil {
		return nil, err
	}
	return routes, nil
}

// route finds the route of an edge topic.
func route(routes []*Route, topic string) (*Route, error) {
	for _, r := range routes {
		if r.Match(topic) {
			return r, nil
		}
	}
	return nil, fmt.Errorf("topic %q matches no route", topic)
}
