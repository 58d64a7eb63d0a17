package auth

import (
	"math"
	"sync"
	"time"
)

// Limiter rate-limits failed logins by key (a client address, a user
// name) with token buckets: Burst failures at once, then one more every
// Refill. Only failures take tokens (Fail); Wait says whether an attempt
// may be made at all. At most Max keys are tracked; full buckets are
// forgotten first (they are the same as a new one).
type Limiter struct {
	burst  float64
	refill time.Duration
	max    int
	now    func() time.Time

	mu sync.Mutex
	m  map[string]*bucket
}

type bucket struct {
	tokens float64
	at     time.Time
}

// NewLimiter makes a limiter; now nil means time.Now.
func NewLimiter(burst int, refill time.Duration, maxKeys int, now func() time.Time) *Limiter {
	if now == nil {
		now = time.Now
	}
	return &Limiter{burst: float64(max(burst, 1)), refill: refill, max: max(maxKeys, 1), now: now, m: map[string]*bucket{}}
}

// Wait is 0 when key has a token left, else how long until it has one.
func (l *Limiter) Wait(key string) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.m[key]
	if !ok {
		return 0
	}
	l.fill(b, l.now())
	if b.tokens >= 1 {
		return 0
	}
	return time.Duration(math.Ceil((1 - b.tokens) * float64(l.refill)))
}

// Fail takes a token from key's bucket.
func (l *Limiter) Fail(key string) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.m[key]
	if !ok {
		if len(l.m) >= l.max {
			l.evictLocked(now)
		}
		b = &bucket{tokens: l.burst, at: now}
		l.m[key] = b
	}
	l.fill(b, now)
	b.tokens = max(b.tokens-1, 0)
}

func (l *Limiter) fill(b *bucket, now time.Time) {
	if l.refill > 0 {
		b.tokens = min(l.burst, b.tokens+float64(now.Sub(b.at))/float64(l.refill))
	}
	b.at = now
}

// evictLocked forgets full buckets, or one arbitrary bucket when none is
// full (an attacker with many addresses gets no more than that bound).
func (l *Limiter) evictLocked(now time.Time) {
	for k, b := range l.m {
		l.fill(b, now)
		if b.tokens >= l.burst {
			delete(l.m, k)
		}
	}
	for k := range l.m {
		if len(l.m) < l.max {
			break
		}
		delete(l.m, k)
	}
}
