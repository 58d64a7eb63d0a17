package devstack

import (
	"context"
	"fmt"
	"syscall"
	"time"
)

// Process is a detached process started by Launch: other stacks on
// loopback (tools/kubestack) start and stop their processes the way
// devstack does its own. Its fields are what a state file records.
type Process struct {
	PID       int    `json:"pid"`
	StartTime uint64 `json:"start_time"` // clock ticks after boot, from /proc/PID/stat
	Boot      string `json:"boot_id"`
	Marker    string `json:"marker"` // a string on its command line
}

// Launch starts args detached (its own session, reparented to init, so it
// outlives the caller), stdout and stderr appended to logPath after a
// banner line, and returns once the command line holds marker.
func Launch(ctx context.Context, args, env []string, logPath, marker string) (Process, error) {
	pid, start, err := launch(ctx, launchSpec{
		Args: args, Env: env, Log: logPath, Marker: marker, Banner: fmt.Sprint(args),
	})
	if err != nil {
		return Process{}, err
	}
	return Process{PID: pid, StartTime: start, Boot: bootID(), Marker: marker}, nil
}

// Running tells whether p still runs (a reused pid does not count).
func (p Process) Running() bool {
	return check(p.PID, p.StartTime, p.Boot, p.Marker) != procGone
}

// Stop sends SIGTERM, then SIGKILL after grace, and waits until p is gone.
func (p Process) Stop(ctx context.Context, grace time.Duration) error {
	return p.stop(ctx, grace, nil)
}

// stop is Stop; onKill, if set, is called before the SIGKILL (devstack
// logs it).
func (p Process) stop(ctx context.Context, grace time.Duration, onKill func()) error {
	state := check(p.PID, p.StartTime, p.Boot, p.Marker)
	if state == procGone {
		return nil
	}
	alive := p.Running
	_ = syscall.Kill(p.PID, syscall.SIGTERM)
	if state == procStopped {
		_ = syscall.Kill(p.PID, syscall.SIGCONT)
	}
	gctx, cancel := context.WithTimeout(ctx, grace)
	err := waitGone(gctx, alive)
	cancel()
	if err == nil {
		return nil
	}
	if onKill != nil {
		onKill()
	}
	_ = syscall.Kill(p.PID, syscall.SIGKILL)
	kctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := waitGone(kctx, alive); err != nil {
		return fmt.Errorf("stop pid %d: %w", p.PID, err)
	}
	return nil
}
