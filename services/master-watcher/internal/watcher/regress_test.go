package watcher

import (
	"fmt"
	"testing"

	"github.com/sensornode/sensornode/services/master-watcher/internal/failover"
)

// TestNotReadyAsSoonAsActiveStopsAnswering: /readyz says not ready on the
// first failed probe of the active master, before any failover.
func TestNotReadyAsSoonAsActiveStopsAnswering(t *testing.T) {
	p, s := newFakeAPI(t, "primary"), newFakeAPI(t, "secondary")
	cfg := testConfig("", p, s)
	cfg.FailoverAfter = 3
	r := start(t, cfg)
	within(t, r.w, 0, 3, "initial choice", func(d failover.Decision) bool { return d.Active == 0 && d.Ready })
	from := r.w.State().Round
	p.set(failing)
	within(t, r.w, from, 2, "not ready while still on the primary", func(d failover.Decision) bool { return d.Active == 0 && !d.Ready })
	eventually(t, "/readyz not ready", func() error {
		if err := r.ready.Ready(); err == nil {
			return fmt.Errorf("ready although the active master fails its probes")
		}
		return nil
	})
}
