// Package edgeforwarder is what the rest of the repository may use of the edge-forwarder
// service, whose code is internal: the metrics it registers.
package edgeforwarder

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sensornode/sensornode/services/edge-forwarder/internal/forwarder"
)

// RegisterMetrics registers on reg every metric the service exports (as
// its Run does, the Go, process and build-info collectors of
// svc.NewRegistry aside); deploy/monitoring checks that the alerts and
// dashboards use only these.
func RegisterMetrics(reg prometheus.Registerer) { forwarder.RegisterMetrics(reg) }
