package watcher

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/sensornode/sensornode/libs/svc/svctest"
	"github.com/sensornode/sensornode/services/master-watcher/internal/failover"
)

// TestHookRetriedUntilItSucceeds: a hook that fails once (the node would
// stay on a dead master) is run again with backoff until it succeeds.
func TestHookRetriedUntilItSucceeds(t *testing.T) {
	p := newFakeAPI(t, "primary")
	dir := t.TempDir()
	runs := filepath.Join(dir, "runs")
	cfg := testConfig("", p)
	cfg.ForwardListenAddr = ""
	// Counts its runs in a file; the first run fails.
	cfg.HookCommand = fmt.Sprintf(`n=$(cat %[1]s 2>/dev/null || echo 0); n=$((n+1)); echo $n > %[1]s; [ $n -ge 2 ]`, runs)
	start(t, cfg)
	svctest.EventuallyNoError(t, 10*time.Second, "hook runs after a failed first run", func() error {
		if b, _ := os.ReadFile(runs); strings.TrimSpace(string(b)) != "2" {
			return fmt.Errorf("%q, want 2 (retried)", strings.TrimSpace(string(b)))
		}
		return nil
	})
}

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
	if got := testutil.ToFloat64(r.w.m.HoldDown); got != testInterval.Seconds() {
		t.Errorf("failback_hold_down_seconds = %v, want %v", got, testInterval.Seconds())
	}
	eventually(t, "/readyz not ready", func() error {
		if err := r.ready.Ready(); err == nil {
			return fmt.Errorf("ready although the active master fails its probes")
		}
		return nil
	})
}

// TestSlowProbeCountsAsFailed: a master answering 200 but slower than the
// slow-probe threshold (default 1s) is left.
func TestSlowProbeCountsAsFailed(t *testing.T) {
	p, s := newFakeAPI(t, "primary"), newFakeAPI(t, "secondary")
	cfg := testConfig("", p, s)
	cfg.ProbeTimeout = 3 * time.Second
	r := start(t, cfg)
	within(t, r.w, 0, 3, "initial choice", func(d failover.Decision) bool { return d.Active == 0 && d.Ready })
	from := r.w.State().Round
	p.mu.Lock()
	p.delay = 1200 * time.Millisecond
	p.mu.Unlock()
	within(t, r.w, from, uint64(2*testF+testR+1), "failover from the slow primary", func(d failover.Decision) bool { return d.Active == 1 })
}

// TestForwarderTriesNextLiveMaster: when the active master refuses a dial,
// a new connection through the forwarder reaches the next live master at
// once, long before the failover (F rounds of 300ms here).
func TestForwarderTriesNextLiveMaster(t *testing.T) {
	p, s := newFakeAPI(t, "primary"), newFakeAPI(t, "secondary")
	cfg := testConfig("", p, s)
	cfg.ProbeInterval = 300 * time.Millisecond
	cfg.FailoverAfter = 5
	r := start(t, cfg)
	within(t, r.w, 0, 3, "initial choice", func(d failover.Decision) bool { return d.Active == 0 && d.Ready })
	// The forwarder learns the choice just after the state is stored.
	eventually(t, "forwarder to reach the primary", func() error {
		if got, err := whoami(r.w.ProxyAddr()); err != nil || got != "primary" {
			return fmt.Errorf("reached %q (%v), want primary", got, err)
		}
		return nil
	})
	p.set(closed)
	t0 := time.Now()
	got, err := whoami(r.w.ProxyAddr())
	if err != nil || got != "secondary" {
		t.Fatalf("new connection after the active master died: reached %q (%v), want secondary", got, err)
	}
	if el := time.Since(t0); el > time.Second {
		t.Errorf("new connection took %v, want within 1s", el)
	}
	if d := r.w.State(); d.Active != 0 {
		t.Logf("note: failover already happened (%+v)", d)
	}
}

// TestReadinessReasonFollows: /readyz's reason is kept current while not
// ready: first the active master alone fails, then every master.
func TestReadinessReasonFollows(t *testing.T) {
	p, s := newFakeAPI(t, "primary"), newFakeAPI(t, "secondary")
	cfg := testConfig("", p, s)
	cfg.FailoverAfter = 50 // stay on the primary
	cfg.FailoverWindow = 50
	r := start(t, cfg)
	within(t, r.w, 0, 3, "initial choice", func(d failover.Decision) bool { return d.Active == 0 && d.Ready })
	p.set(failing)
	eventually(t, "reason: the active master does not answer", func() error {
		if err := r.ready.Ready(); err == nil || !strings.Contains(err.Error(), "does not answer") {
			return fmt.Errorf("readiness %v", err)
		}
		return nil
	})
	s.set(failing)
	eventually(t, "reason: no master answers", func() error {
		if err := r.ready.Ready(); err == nil || !strings.Contains(err.Error(), "no master answers") {
			return fmt.Errorf("readiness %v", err)
		}
		return nil
	})
}
