package spool

import (
	"context"
	"errors"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"

	"github.com/sensornode/sensornode/libs/messages"
)

// Outcome of a send attempt.
type Outcome int

// Outcomes.
const (
	Sent     Outcome = iota + 1 // acknowledged: delete or archive
	Retry                       // failed: try again after a backoff
	Reject                      // junk (Err says why): quarantine
	Gone                        // the file disappeared
	Changed                     // the file changed while being read: look again
	Released                    // not attempted (shutting down): back in the queue
)

// Result reports what happened to an Item.
type Result struct {
	Outcome Outcome
	Err     error
	Key     string    // the picture key, for logs
	AckedAt time.Time // Sent only
}

type done struct {
	it  Item
	res Result
}

// Done reports the result for an Item handed out by Next. It never blocks
// for long: safe to call from a Kafka client's delivery goroutine.
func (w *Watcher) Done(it Item, res Result) { w.results.Post(done{it, res}) }

func (w *Watcher) applyResults() {
	for _, d := range w.results.Take() {
		w.apply(d.it, d.res)
	}
}

func (w *Watcher) apply(it Item, res Result) {
	e, ok := w.entries[it.Name]
	if !ok || e.st != stInflight {
		return
	}
	switch res.Outcome {
	case Sent:
		fi, err := os.Lstat(it.Path)
		if err == nil && (fi.Size() != it.Size || !fi.ModTime().Equal(it.ModTime)) {
			w.log.Warn("file changed while it was being sent; sending the new content too", "file", it.Name, "key", res.Key)
			w.rewait(e)
			return
		}
		w.m.Sent.Inc()
		w.m.SentBytes.Add(float64(it.Size))
		w.m.SendDuration.Observe(res.AckedAt.Sub(it.DetectedAt).Seconds())
		if e.attempts > 0 {
			w.log.Info("picture sent after retries", "file", it.Name, "key", res.Key, "attempts", e.attempts+1,
				"failing_for", res.AckedAt.Sub(e.firstFail).Round(time.Millisecond))
		} else {
			w.log.Debug("picture sent", "file", it.Name, "key", res.Key)
		}
		if err == nil {
			w.dispose(it.Path)
		}
		w.remove(e)
	case Retry:
		e.attempts++
		if e.attempts == 1 {
			e.firstFail = w.cfg.Now()
		}
		reason := retryReason(res.Err)
		w.m.Retries.WithLabelValues(reason).Inc()
		d := w.retryDelay(e.attempts)
		if e.attempts == 1 || e.attempts%10 == 0 {
			w.log.Warn("send failed, will retry", "file", it.Name, "attempt", e.attempts, "retry_in", d.Round(time.Millisecond), "err", res.Err)
		}
		e.notBefore = w.cfg.Now().Add(d)
		w.setState(e, stBackoff)
	case Released:
		w.setState(e, stQueued)
	case Reject:
		w.quarantine(e, res.Err)
	case Gone:
		w.forget(e)
	case Changed:
		w.rewait(e)
	}
}

func (w *Watcher) rewait(e *entry) {
	w.setState(e, stWaiting)
	e.changedAt = w.cfg.Now()
	e.closed = false
	e.gen++
	w.evaluate(e, false)
}

func retryReason(err error) string {
	switch {
	case err == nil:
		return "other"
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return "cancelled"
	}
	return "delivery"
}

func (w *Watcher) retryDelay(attempt int) time.Duration {
	d := w.cfg.RetryMin << min(attempt-1, 20)
	if d <= 0 || d > w.cfg.RetryMax {
		d = w.cfg.RetryMax
	}
	return d/2 + rand.N(d/2+1)
}

// dispose deletes or archives a sent file.
func (w *Watcher) dispose(path string) {
	if w.cfg.ArchiveDir != "" {
		if _, err := moveAside(path, w.cfg.ArchiveDir); err != nil {
			w.m.Errors.WithLabelValues("archive").Inc()
			w.log.Error("cannot archive sent picture; deleting it instead", "file", filepath.Base(path), "err", err)
		} else {
			return
		}
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		w.m.Errors.WithLabelValues("delete").Inc()
		w.log.Error("cannot delete sent picture; it will be sent again", "file", filepath.Base(path), "err", err)
	}
}

// quarantine moves a junk file aside with a reason file. Nothing is lost
// silently: metric, log line, file kept.
func (w *Watcher) quarantine(e *entry, cause error) {
	reason := messages.Reason(cause)
	path := filepath.Join(w.cfg.Dir, e.name)
	if _, err := os.Lstat(path); errors.Is(err, fs.ErrNotExist) {
		w.forget(e)
		return
	}
	// The reason first, then the file: a quarantined file always has its
	// reason. When either step fails (a full disk) the file stays in the
	// spool and the whole quarantine is tried again.
	dst, err := freeName(path, w.cfg.QuarantineDir)
	if err == nil {
		err = writeReason(dst, reason, cause, e.size, w.cfg.Now())
		if err == nil {
			if err = moveTo(path, dst); err != nil {
				_ = os.Remove(dst + ".reason")
			}
		}
	}
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			w.forget(e)
			return
		}
		w.m.Errors.WithLabelValues("quarantine").Inc()
		w.log.Error("cannot quarantine file; will try again", "file", e.name, "reason", reason, "err", err)
		e.quarantine = cause
		e.notBefore = w.cfg.Now().Add(w.cfg.RetryMax)
		w.setState(e, stBackoff)
		return
	}
	e.quarantine = nil
	w.m.Quarantined.WithLabelValues(reason).Inc()
	w.log.Warn("file quarantined", "file", e.name, "reason", reason, "detail", cause.Error(), "to", dst)
	w.remove(e)
}
