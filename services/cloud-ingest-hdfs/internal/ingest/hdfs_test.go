package ingest

import (
	"context"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/colinmarc/hdfs/v2"

	"github.com/sensornode/sensornode/libs/hdfsretry"
)

// replicatingCloser answers ErrReplicating to its first n Close calls.
type replicatingCloser struct{ n, calls int }

func (c *replicatingCloser) Close() error {
	c.calls++
	if c.calls <= c.n {
		return &os.PathError{Op: "create", Path: "/f", Err: hdfs.ErrReplicating}
	}
	return nil
}

func TestCloseRetryingSchedules(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		name        string
		first, max  time.Duration
		replicating int
		wantDelays  []time.Duration
	}{
		{name: "files store", first: hdfsretry.FirstDelay, max: 2 * time.Second, replicating: 3,
			wantDelays: []time.Duration{5 * ms, 10 * ms, 20 * ms}},
		{name: "bundle store", first: bundleCloseFirst, max: bundleCloseMax, replicating: 3,
			wantDelays: []time.Duration{ms, 2 * ms, 4 * ms}},
		{name: "bundle store cap", first: bundleCloseFirst, max: bundleCloseMax, replicating: 10,
			wantDelays: []time.Duration{ms, 2 * ms, 4 * ms, 8 * ms, 16 * ms, 32 * ms, 64 * ms, 128 * ms, 250 * ms, 250 * ms}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHDFS(HDFSConfig{CloseTimeout: time.Minute})
			var delays []time.Duration
			h.sleep = func(_ context.Context, d time.Duration) error {
				delays = append(delays, d)
				return nil
			}
			c := &replicatingCloser{n: tt.replicating}
			if err := h.closeRetrying(c, time.Now().Add(time.Minute), tt.first, tt.max); err != nil {
				t.Fatalf("closeRetrying() = %v, want nil", err)
			}
			if !slices.Equal(delays, tt.wantDelays) {
				t.Errorf("closeRetrying() waited %v, want %v", delays, tt.wantDelays)
			}
		})
	}
}
