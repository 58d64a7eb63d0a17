package viewer

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sensornode/sensornode/libs/svc"
	"github.com/sensornode/sensornode/services/viewer/internal/health"
	"github.com/sensornode/sensornode/services/viewer/internal/store"
	"github.com/sensornode/sensornode/services/viewer/internal/web"
)

// RegisterMetrics registers on reg every metric the viewer exports, as
// Run's readiness probe, store, health source and web server do
// (svc.NewRegistry's collectors aside), for deploy/monitoring's check.
func RegisterMetrics(reg prometheus.Registerer) {
	svc.NewProbe(reg)
	store.RegisterMetrics(reg)
	health.RegisterMetrics(reg)
	web.NewMetrics(reg, func() float64 { return 0 })
}
