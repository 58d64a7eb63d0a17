// Package sink acts on the choice of active master: a local TCP proxy,
// a kubeconfig file and a hook command. Sinks that may be slow (files,
// processes) run behind a Runner so that they never hold up probing.
package sink

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/sensornode/sensornode/libs/svc"
	"github.com/sensornode/sensornode/services/master-watcher/internal/masters"
)

// Change describes the active master after a switch.
type Change struct {
	Node   string
	Active masters.Master
	// Previous is nil on the initial choice.
	Previous *masters.Master
	// Reason: initial, failover or failback.
	Reason string
	// Ready: the active master answered its latest probes.
	Ready   bool
	Since   time.Time
	Masters []masters.Master
}

// ApplyFunc acts on a change.
type ApplyFunc func(ctx context.Context, c Change) error

// Runner applies changes in its own goroutine, latest first: Notify never
// blocks, and changes that arrive while one is being applied collapse into
// the newest. With retry, a failed apply is retried with backoff until it
// succeeds or a newer change replaces it.
type Runner struct {
	name    string
	apply   ApplyFunc
	retry   bool
	log     *slog.Logger
	backoff svc.Backoff

	mu      sync.Mutex
	pending *Change
	wake    chan struct{}
}

// NewRunner returns a runner for apply, named name in logs.
func NewRunner(name string, apply ApplyFunc, retry bool, log *slog.Logger) *Runner {
	return &Runner{
		name: name, apply: apply, retry: retry, log: log.With("sink", name),
		backoff: svc.Backoff{Min: 500 * time.Millisecond, Max: 30 * time.Second},
		wake:    make(chan struct{}, 1),
	}
}

// Name is the sink's name.
func (r *Runner) Name() string { return r.name }

// Notify hands over the newest change without blocking.
func (r *Runner) Notify(c Change) {
	r.mu.Lock()
	r.pending = &c
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

func (r *Runner) take() (Change, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.pending == nil {
		return Change{}, false
	}
	c := *r.pending
	r.pending = nil
	return c, true
}

// Run applies changes until ctx is done.
func (r *Runner) Run(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-r.wake:
		}
		c, ok := r.take()
		for ok {
			err := r.apply(ctx, c)
			if err == nil || !r.retry || ctx.Err() != nil {
				r.backoff.Reset()
				break
			}
			d := r.backoff.Next()
			r.log.Warn("sink failed, retrying", "active", c.Active.URL, "retry_in", d.String(), "err", err)
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(d):
			case <-r.wake:
			}
			if newer, has := r.take(); has {
				c = newer
			}
		}
	}
}
