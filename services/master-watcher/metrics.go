// Package masterwatcher is what the rest of the repository may use of the master-watcher
// service, whose code is internal: the metrics it registers, and its daemon
// for a process that runs it with the other per-node services
// (services/node-agent).
package masterwatcher

import (
	"context"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sensornode/sensornode/libs/svc"
	"github.com/sensornode/sensornode/services/master-watcher/internal/cli"
	"github.com/sensornode/sensornode/services/master-watcher/internal/watcher"
)

// RegisterMetrics registers on reg every metric the service exports (as
// its Run does, the Go, process and build-info collectors of
// svc.NewRegistry aside); deploy/monitoring checks that the alerts and
// dashboards use only these.
func RegisterMetrics(reg prometheus.Registerer) { cli.RegisterMetrics(reg) }

// Name is the service's name.
const Name = cli.Name

// Config is the daemon's configuration (SENSORNODE_* variables).
type Config = watcher.Config

// DefaultConfig is the configuration before the environment is applied.
func DefaultConfig() Config { return watcher.DefaultConfig() }

// Daemon runs the daemon (master-watcher's `run` command) until ctx is
// done; with host set it serves no admin server (reg is then
// host.Registry(Name)).
func Daemon(ctx context.Context, cfg Config, log *slog.Logger, reg *prometheus.Registry, host *svc.Host) error {
	return cli.Daemon(ctx, cfg, log, reg, host)
}
