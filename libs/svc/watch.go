package svc

import (
	"context"
	"log/slog"
	"time"
)

// Watch keeps one readiness condition current by checking a dependency
// (a Kafka cluster, a topic's configuration) again and again: every
// service's "ping it, set readiness, log the change" loop.
//
// Each check's outcome is recorded on Probe under Condition; the first
// outcome and every change between met and not met is logged once (Up at
// info, Down at warn with the error), never every check; After, when set,
// runs after every check with its outcome (metrics, lag export).
type Watch struct {
	Condition string
	Check     func(ctx context.Context) error
	Probe     *Probe
	Log       *slog.Logger
	// Interval is the time between checks while the condition is met;
	// Retry, while it is not (0: Interval).
	Interval, Retry time.Duration
	// Timeout bounds one check (0: the smaller of Interval and 5 s).
	Timeout time.Duration
	// Up and Down are the log messages on becoming met and not met
	// (empty: "<condition> met" and "<condition> not met").
	Up, Down string
	After    func(ctx context.Context, err error)
}

// Run checks until ctx is done. The condition is registered (not met)
// first unless the caller registered it already.
func (w Watch) Run(ctx context.Context) {
	w.Probe.registerIfAbsent(w.Condition)
	up, down := w.Up, w.Down
	if up == "" {
		up = w.Condition + " met"
	}
	if down == "" {
		down = w.Condition + " not met"
	}
	timeout := w.Timeout
	if timeout <= 0 {
		timeout = min(w.Interval, 5*time.Second)
	}
	retry := w.Retry
	if retry <= 0 {
		retry = w.Interval
	}
	var was *bool
	for {
		cctx, cancel := context.WithTimeout(ctx, timeout)
		err := w.Check(cctx)
		cancel()
		if ctx.Err() != nil {
			return
		}
		w.Probe.Set(w.Condition, err)
		ok := err == nil
		if was == nil || *was != ok {
			if ok {
				w.Log.Info(up, "condition", w.Condition)
			} else {
				w.Log.Warn(down, "condition", w.Condition, "err", err)
			}
			was = &ok
		}
		if w.After != nil {
			w.After(ctx, err)
		}
		wait := w.Interval
		if !ok {
			wait = retry
		}
		if SleepCtx(ctx, wait) != nil {
			return
		}
	}
}
