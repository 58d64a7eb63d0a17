// Package mwtest holds what master-watcher's tests share that is not about
// ZooKeeper (see zktest for that): waiting for a condition, and running a
// component for the length of a test.
package mwtest

import (
	"context"
	"sync"
	"testing"
	"time"
)

// Eventually calls cond every interval until it returns nil. When limit
// passes first, it fails the test with what and cond's last error.
func Eventually(t testing.TB, limit, interval time.Duration, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(interval)
	}
}

// Start runs run in a goroutine. stop cancels run's context, waits until
// run returns and reports an error it returned as a test error
// "<what>() = <err>". stop runs when the test ends; calling it before is
// fine.
func Start(t testing.TB, what string, run func(context.Context) error) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("%s() = %v", what, err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}
