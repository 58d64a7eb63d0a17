package hdfsretry

import (
	"context"
	"errors"
	"os"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/colinmarc/hdfs/v2"
)

// closer fails its first Close calls with errs, then succeeds.
type closer struct {
	errs  []error
	calls int
}

func (c *closer) Close() error {
	c.calls++
	if c.calls <= len(c.errs) {
		return c.errs[c.calls-1]
	}
	return nil
}

// errReplicating is what FileWriter.Close returns while the last block
// is not yet reported (hdfs.IsErrReplicating looks for exactly this).
var errReplicating = &os.PathError{Op: "create", Path: "/f", Err: hdfs.ErrReplicating}

func replicating(n int) []error {
	errs := make([]error, n)
	for i := range errs {
		errs[i] = errReplicating
	}
	return errs
}

func TestClose(t *testing.T) {
	ms := time.Millisecond
	errBroken := errors.New("broken pipe")
	errGiveUp := errors.New("give up")
	tests := []struct {
		name       string
		give       []error
		first      time.Duration // 0: Close (FirstDelay)
		maxDelay   time.Duration
		giveUpAt   int // the wait call that gives up, 0 for none
		wantErr    error
		wantCalls  int
		wantDelays []time.Duration
	}{
		{name: "first close succeeds", maxDelay: time.Second, wantCalls: 1},
		{name: "other error is not retried", give: []error{errBroken}, maxDelay: time.Second,
			wantErr: errBroken, wantCalls: 1},
		{name: "replicating then other error", give: []error{errReplicating, errBroken}, maxDelay: time.Second,
			wantErr: errBroken, wantCalls: 2, wantDelays: []time.Duration{5 * ms}},
		{name: "delay doubles up to the cap", give: replicating(10), maxDelay: time.Second, wantCalls: 11,
			wantDelays: []time.Duration{5 * ms, 10 * ms, 20 * ms, 40 * ms, 80 * ms, 160 * ms, 320 * ms, 640 * ms, time.Second, time.Second}},
		{name: "cloud-ingest-hdfs cap", give: replicating(11), maxDelay: 2 * time.Second, wantCalls: 12,
			wantDelays: []time.Duration{5 * ms, 10 * ms, 20 * ms, 40 * ms, 80 * ms, 160 * ms, 320 * ms, 640 * ms, 1280 * ms, 2 * time.Second, 2 * time.Second}},
		{name: "first delay given", give: replicating(5), first: ms, maxDelay: 8 * ms, wantCalls: 6,
			wantDelays: []time.Duration{ms, 2 * ms, 4 * ms, 8 * ms, 8 * ms}},
		{name: "wait gives up", give: replicating(5), maxDelay: time.Second, giveUpAt: 3,
			wantErr: errGiveUp, wantCalls: 3, wantDelays: []time.Duration{5 * ms, 10 * ms, 20 * ms}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &closer{errs: tt.give}
			var delays []time.Duration
			wait := func(closeErr error, d time.Duration) error {
				if !errors.Is(closeErr, hdfs.ErrReplicating) {
					t.Errorf("wait(%v, %v): want an ErrReplicating error", closeErr, d)
				}
				delays = append(delays, d)
				if len(delays) == tt.giveUpAt {
					return errGiveUp
				}
				return nil
			}
			var err error
			if tt.first > 0 {
				err = CloseFrom(c, tt.first, tt.maxDelay, wait)
			} else {
				err = Close(c, tt.maxDelay, wait)
			}
			if !errors.Is(err, tt.wantErr) || (err == nil) != (tt.wantErr == nil) {
				t.Errorf("Close() = %v, want %v", err, tt.wantErr)
			}
			if c.calls != tt.wantCalls {
				t.Errorf("Close() called Close %d times, want %d", c.calls, tt.wantCalls)
			}
			if !slices.Equal(delays, tt.wantDelays) {
				t.Errorf("Close() waited %v, want %v", delays, tt.wantDelays)
			}
		})
	}
}

func TestUntilDone(t *testing.T) {
	t.Run("sleeps the delay", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			start := time.Now()
			if err := UntilDone(context.Background())(errReplicating, 40*time.Millisecond); err != nil {
				t.Fatalf("UntilDone(live ctx) = %v, want nil", err)
			}
			if got := time.Since(start); got != 40*time.Millisecond {
				t.Errorf("UntilDone(live ctx) slept %v, want 40ms", got)
			}
		})
	})
	t.Run("gives up when ctx is done", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			errStop := errors.New("stopping")
			ctx, cancel := context.WithCancelCause(context.Background())
			time.AfterFunc(10*time.Millisecond, func() { cancel(errStop) })
			start := time.Now()
			err := UntilDone(ctx)(errReplicating, time.Second)
			if !errors.Is(err, hdfs.ErrReplicating) || !errors.Is(err, errStop) {
				t.Errorf("UntilDone(cancelled ctx) = %v, want it to wrap ErrReplicating and the cause", err)
			}
			if got := time.Since(start); got != 10*time.Millisecond {
				t.Errorf("UntilDone(cancelled ctx) returned after %v, want 10ms", got)
			}
		})
	})
	t.Run("closes with the devstack's wait", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			c := &closer{errs: replicating(3)}
			start := time.Now()
			if err := Close(c, time.Second, UntilDone(context.Background())); err != nil {
				t.Fatalf("Close() = %v, want nil", err)
			}
			if got, want := time.Since(start), 35*time.Millisecond; got != want {
				t.Errorf("Close() took %v, want %v (5+10+20 ms)", got, want)
			}
		})
	})
}
