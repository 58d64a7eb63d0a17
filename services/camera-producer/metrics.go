// Package cameraproducer is what the rest of the repository may use of the camera-producer
// service, whose code is internal: the metrics it registers, and its Run for
// a process that runs it with the other per-node services (services/node-agent).
package cameraproducer

import (
	"context"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sensornode/sensornode/services/camera-producer/internal/capture"
	"github.com/sensornode/sensornode/services/camera-producer/internal/producer"
)

// RegisterMetrics registers on reg every metric the service exports (as
// its Run does, the Go, process and build-info collectors of
// svc.NewRegistry aside); deploy/monitoring checks that the alerts and
// dashboards use only these.
func RegisterMetrics(reg prometheus.Registerer) { producer.RegisterMetrics(reg) }

// Name is the service's name.
const Name = producer.Name

// CameraBuilt reports whether the V4L2 camera source is in this binary.
const CameraBuilt = capture.CameraBuilt

// Config is the service's configuration (SENSORNODE_* variables).
type Config = producer.Config

// Options are Run's hooks; a host process sets Host, Producer and Admin.
type Options = producer.Options

// DefaultConfig is the configuration before the environment is applied.
func DefaultConfig() Config { return producer.DefaultConfig() }

// Run runs the service until ctx is done (see the README).
func Run(ctx context.Context, cfg *Config, log *slog.Logger, reg *prometheus.Registry, opt Options) error {
	return producer.Run(ctx, cfg, log, reg, opt)
}
