// Package viewer is what the rest of the repository may use of the viewer
// service, whose code is internal: the metrics it registers.
package viewer

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sensornode/sensornode/services/viewer/internal/viewer"
)

// RegisterMetrics registers on reg every metric the service exports (as
// its Run does, the Go, process and build-info collectors of
// svc.NewRegistry aside); deploy/monitoring checks that the alerts and
// dashboards use only these.
func RegisterMetrics(reg prometheus.Registerer) { viewer.RegisterMetrics(reg) }
