// Package agent runs the per-node services, camera-producer, temp-producer
// and master-watcher, in one process with one admin server: the combined
// per-node mode of issue 14, which pays the Go runtime's floor (and, on the
// confluent build, librdkafka's) once instead of three times. Each service
// is still its own package and runs its own Run; this package only loads
// their configurations from the environment, shares what can be shared
// (one Kafka producer and admin client for both producers) and stops the
// whole process when any service fails.
package agent

import (
	"fmt"
	"os"
	"reflect"
	"slices"
	"strings"

	"github.com/sensornode/sensornode/libs/bus"
	"github.com/sensornode/sensornode/libs/svc"
	cameraproducer "github.com/sensornode/sensornode/services/camera-producer"
	masterwatcher "github.com/sensornode/sensornode/services/master-watcher"
	tempproducer "github.com/sensornode/sensornode/services/temp-producer"
)

// Name is the command's name.
const Name = "node-agent"

// Services, in the order they start.
var Services = []string{cameraproducer.Name, tempproducer.Name, masterwatcher.Name}

// Config is the agent's own configuration: the process-wide settings
// (SENSORNODE_LOG_LEVEL, _ADMIN_ADDR, _ADMIN_PPROF_ENABLED,
// _SHUTDOWN_TIMEOUT, _MEMORY_LIMIT_BYTES: one admin server, one Go memory
// limit) and which services to run. Each service reads its own
// configuration from the same variables as its own binary (see Scope).
type Config struct {
	svc.Common

	// Services lists the services to run (default all three).
	Services []string `envconfig:"NODE_AGENT_SERVICES" default:"camera-producer,temp-producer,master-watcher"`
	// ShareKafka gives camera-producer and temp-producer one Kafka producer
	// and one admin client (one set of buffers and connections) when both
	// run and their client settings agree (see SharedProducer).
	ShareKafka bool `envconfig:"NODE_AGENT_SHARE_KAFKA" default:"true"`
}

// DefaultConfig is the configuration before the environment is applied;
// the admin port 9107 is the agent's own (the services' are 9101, 9102
// and 9105).
func DefaultConfig() Config {
	return Config{Common: svc.DefaultCommon(":9107")}
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	var p svc.Problems
	c.Common.Check(&p)
	if len(c.Services) == 0 {
		p.Addf("SENSORNODE_NODE_AGENT_SERVICES is empty")
	}
	for i, s := range c.Services {
		if !slices.Contains(Services, s) {
			p.Addf("SENSORNODE_NODE_AGENT_SERVICES: unknown service %q (want some of %s)", s, strings.Join(Services, ", "))
		}
		if slices.Contains(c.Services[:i], s) {
			p.Addf("SENSORNODE_NODE_AGENT_SERVICES: %q twice", s)
		}
	}
	return p.Err()
}

// KnownEnv lists the services' variables, plain and scoped, so that the
// agent's start does not report them as unknown (svc.KnownEnver).
func (c *Config) KnownEnv() []string {
	var out []string
	for _, s := range Services {
		for _, k := range svc.EnvNames(newServiceConfig(s)) {
			out = append(out, k, svc.ScopedName(s, k))
		}
	}
	return out
}

// Runs reports whether service is among those to run.
func (c *Config) Runs(service string) bool { return slices.Contains(c.Services, service) }

// newServiceConfig is service's default configuration, as a pointer
// LoadConfig fills.
func newServiceConfig(service string) svc.Validator {
	switch service {
	case cameraproducer.Name:
		c := cameraproducer.DefaultConfig()
		return &c
	case tempproducer.Name:
		c := tempproducer.DefaultConfig()
		return &c
	case masterwatcher.Name:
		c := masterwatcher.DefaultConfig()
		return &c
	}
	return nil
}

// Scope makes the environment what service's own binary would see: every
// scoped variable SENSORNODE_<SERVICE>_<NAME> (see svc.ScopePrefix) replaces
// SENSORNODE_<NAME> until restore is called. That is how two services that
// read one name for different things get their own values in one process:
// SENSORNODE_TOPIC (camera-producer: the node's picture topic;
// temp-producer: temperatureLocal) and SENSORNODE_SOURCE (directory,
// camera or synthetic; sysfs, vcgencmd, file or synthetic), and, when
// their values differ, SENSORNODE_RETRY_* and SENSORNODE_KAFKA_*.
// Unscoped variables apply to every service that reads them, as
// SENSORNODE_NODE_ID and SENSORNODE_KAFKA_BROKERS do on a node. Not safe
// for concurrent use with other readers of the environment: the agent
// loads the configurations one after the other before starting anything.
func Scope(service string) (restore func()) {
	prefix := svc.ScopePrefix(service)
	type saved struct {
		key, val string
		set      bool
	}
	var undo []saved
	for _, kv := range os.Environ() {
		k, v, _ := strings.Cut(kv, "=")
		name, ok := strings.CutPrefix(k, prefix)
		if !ok || name == "" {
			continue
		}
		key := svc.EnvPrefix + "_" + name
		old, set := os.LookupEnv(key)
		undo = append(undo, saved{key: key, val: old, set: set})
		os.Setenv(key, v)
	}
	return func() {
		for _, s := range slices.Backward(undo) {
			if s.set {
				os.Setenv(s.key, s.val)
			} else {
				os.Unsetenv(s.key)
			}
		}
	}
}

// Loaded are the configurations of the services to run (nil: not run)
// and the warnings their loading gave (deprecated names in use).
type Loaded struct {
	Camera   *cameraproducer.Config
	Temp     *tempproducer.Config
	Watcher  *masterwatcher.Config
	Warnings []string
}

// Load reads the configuration of every service c runs from the
// environment, each under its Scope.
func Load(c *Config) (Loaded, error) {
	var l Loaded
	for _, s := range Services {
		if !c.Runs(s) {
			continue
		}
		cfg := newServiceConfig(s)
		restore := Scope(s)
		warnings, err := svc.LoadConfigWarnings(cfg)
		restore()
		if err != nil {
			return Loaded{}, fmt.Errorf("%s: %w", s, err)
		}
		for _, w := range warnings {
			l.Warnings = append(l.Warnings, s+": "+w)
		}
		switch cfg := cfg.(type) {
		case *cameraproducer.Config:
			l.Camera = cfg
		case *tempproducer.Config:
			l.Temp = cfg
		case *masterwatcher.Config:
			l.Watcher = cfg
		}
	}
	return l, nil
}

// SharedProducer is the configuration of the one Kafka producer
// camera-producer and temp-producer share: the connection settings
// (brokers, backend, security; bus.Config), Linger and DeliveryTimeout
// must agree, else ok is false and why says what differs. Its queue holds
// what the two separate queues held (QueueMaxBytes and QueueMaxMessages
// summed), so neither service gets less room than alone; its record limit
// is the larger of the two (each service still checks its own records
// against its own).
func SharedProducer(cam, temp bus.ProducerConfig) (shared bus.ProducerConfig, ok bool, why string) {
	var diff []string
	if !reflect.DeepEqual(cam.Config, temp.Config) {
		diff = append(diff, "connection (SENSORNODE_KAFKA_BROKERS, _BACKEND, security ...)")
	}
	if cam.Linger != temp.Linger {
		diff = append(diff, "SENSORNODE_KAFKA_LINGER")
	}
	if cam.DeliveryTimeout != temp.DeliveryTimeout {
		diff = append(diff, "SENSORNODE_KAFKA_DELIVERY_TIMEOUT")
	}
	if len(diff) > 0 {
		return bus.ProducerConfig{}, false, "settings differ: " + strings.Join(diff, ", ")
	}
	shared = cam
	shared.MaxMessageBytes = max(cam.MaxMessageBytes, temp.MaxMessageBytes)
	shared.QueueMaxBytes = cam.QueueMaxBytes + temp.QueueMaxBytes
	shared.QueueMaxMessages = queueMessages(cam) + queueMessages(temp)
	return shared, true, ""
}

func queueMessages(c bus.ProducerConfig) int {
	if c.QueueMaxMessages == 0 {
		return bus.DefaultQueueMaxMessages
	}
	return c.QueueMaxMessages
}
