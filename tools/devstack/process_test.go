package devstack

import (
	"context"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestProcessStop: the exported Launch/Process pair other stacks use. A
// process that ignores SIGTERM is killed after the grace period; a paused
// one is stopped too.
func TestProcessStop(t *testing.T) {
	tests := []struct {
		name   string
		script string
		pause  bool
	}{
		{name: "exits on SIGTERM", script: "while :; do sleep 1; done"},
		{name: "ignores SIGTERM", script: "trap '' TERM; while :; do sleep 1; done"},
		{name: "paused", script: "while :; do sleep 1; done", pause: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			mark := marker(dir, "p")
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			p, err := Launch(ctx, []string{"/bin/sh", "-c", tt.script, "sh", mark},
				[]string{"PATH=/usr/bin:/bin"}, filepath.Join(dir, "p.log"), mark)
			if err != nil {
				t.Fatalf("Launch() = %v", err)
			}
			if !p.Running() {
				t.Fatal("Running() = false right after Launch")
			}
			if tt.pause {
				if err := syscall.Kill(p.PID, syscall.SIGSTOP); err != nil {
					t.Fatal(err)
				}
			}
			if err := p.Stop(ctx, 500*time.Millisecond); err != nil {
				t.Fatalf("Stop() = %v", err)
			}
			if p.Running() {
				t.Error("Running() = true after Stop")
			}
			if err := p.Stop(ctx, time.Second); err != nil {
				t.Errorf("second Stop() = %v, want nil", err)
			}
		})
	}
}
