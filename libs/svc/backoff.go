package svc

import (
	"context"
	"math/rand/v2"
	"time"
)

// Backoff computes exponential delays with full jitter between Min and Max.
// The zero value uses 100ms and 30s.
type Backoff struct {
	Min, Max time.Duration
	attempt  int
}

// Next returns the next delay and advances.
func (b *Backoff) Next() time.Duration {
	lo, hi := b.Min, b.Max
	if lo <= 0 {
		lo = 100 * time.Millisecond
	}
	if hi <= 0 {
		hi = 30 * time.Second
	}
	d := lo << min(b.attempt, 30)
	if d <= 0 || d > hi {
		d = hi
	}
	b.attempt++
	// Full jitter in [d/2, d]: spreads retries without ever waiting ~0.
	return d/2 + rand.N(d/2+1)
}

// Reset starts over after a success.
func (b *Backoff) Reset() { b.attempt = 0 }

// Sleep waits for the next delay or until ctx is done.
func (b *Backoff) Sleep(ctx context.Context) error {
	return SleepCtx(ctx, b.Next())
}

// SleepCtx waits d or until ctx is done, returning ctx.Err() in that case.
func SleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
