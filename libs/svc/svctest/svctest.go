// Package svctest holds the helpers every service's tests share: waiting
// for a condition, reading a metric from a registry, a buffer a service's
// logger and the test may use at once, running a service for the length
// of a test, and the environment, wanted error and cases of a config
// table test.
package svctest

import (
	"bytes"
	"context"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Eventually polls cond until it holds and fails t when limit passes
// first. It polls often at first (1 ms) and then every 50 ms, so fast
// conditions are seen at once and slow ones do not busy the machine; under
// testing/synctest the waits are virtual.
func Eventually(t testing.TB, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	EventuallyNoError(t, limit, what, func() error {
		if cond() {
			return nil
		}
		return errNotYet
	})
}

type notYet struct{}

func (notYet) Error() string { return "condition not met" }

var errNotYet error = notYet{}

// EventuallyNoError polls cond until it returns nil and fails t with the
// last error when limit passes first.
func EventuallyNoError(t testing.TB, limit time.Duration, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(limit)
	wait := time.Millisecond
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			if err == errNotYet {
				t.Fatalf("after %v: %s", limit, what)
			}
			t.Fatalf("after %v: %s: %v", limit, what, err)
		}
		time.Sleep(wait)
		wait = min(2*wait, 50*time.Millisecond)
	}
}

// Metric is the sum of the counter, gauge or untyped series of metric
// name in g whose labels hold every name/value pair in match (label name,
// value, label name, value, ...); 0 when there is none.
func Metric(t testing.TB, g prometheus.Gatherer, name string, match ...string) float64 {
	t.Helper()
	if len(match)%2 != 0 {
		t.Fatalf("Metric(%s): match %q is not name/value pairs", name, match)
	}
	mfs, err := g.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	series:
		for _, m := range mf.GetMetric() {
			for i := 0; i < len(match); i += 2 {
				found := false
				for _, l := range m.GetLabel() {
					found = found || (l.GetName() == match[i] && l.GetValue() == match[i+1])
				}
				if !found {
					continue series
				}
			}
			sum += m.GetCounter().GetValue() + m.GetGauge().GetValue() + m.GetUntyped().GetValue()
		}
	}
	return sum
}

// SyncBuffer is a bytes.Buffer that a service's logger and the test may
// use at the same time.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Start runs run in a goroutine for the length of the test. stop cancels
// run's context, waits until run returns and reports an error it returned
// as a test error "<what>() = <err>"; stop runs when the test ends, and
// calling it before is fine.
func Start(t testing.TB, what string, run func(context.Context) error) (stop func()) {
	halt := Background(run)
	stop = func() {
		if err := halt(); err != nil {
			t.Errorf("%s() = %v", what, err)
		}
	}
	t.Cleanup(stop)
	return stop
}

// Background runs run in a goroutine. halt cancels run's context, waits
// until run returns and returns its error; later calls return nil at once.
func Background(run func(context.Context) error) (halt func() error) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx) }()
	var once sync.Once
	return func() (err error) {
		once.Do(func() {
			cancel()
			err = <-done
		})
		return err
	}
}

// StartListening is Start for a run that reports its admin server's
// address through listening (a service's Options.AdminListening): it
// returns once the address is reported. A run that returns before that
// ends the test with its error.
func StartListening(t testing.TB, what string, run func(ctx context.Context, listening func(addr string)) error) (addr string, stop func()) {
	t.Helper()
	addrc := make(chan string, 1)
	exited := make(chan struct{})
	stop = Start(t, what, func(ctx context.Context) error {
		defer close(exited)
		return run(ctx, func(a string) { addrc <- a })
	})
	select {
	case addr = <-addrc:
		return addr, stop
	case <-exited:
		stop() // reports run's error
		t.Fatalf("%s() returned before its admin server listened", what)
		return "", stop
	}
}

// Setenv sets the variables for the rest of the test (t.Setenv).
func Setenv(t testing.TB, env map[string]string) {
	for k, v := range env {
		t.Setenv(k, v)
	}
}

// Succeeds checks err, returned by call, against wantErr: an error whose
// text contains wantErr, or none when wantErr is empty; a mismatch ends
// the test. It reports whether call succeeded, so that a table test goes
// on to check the result only then.
func Succeeds(t testing.TB, call string, err error, wantErr string) bool {
	t.Helper()
	if wantErr != "" {
		if err == nil || !strings.Contains(err.Error(), wantErr) {
			t.Fatalf("%s error = %v, want containing %q", call, err, wantErr)
		}
		return false
	}
	if err != nil {
		t.Fatalf("%s error = %v", call, err)
	}
	return true
}

// ConfigCase is one row of a configuration table test: Change turns a
// valid configuration into the one to check; WantErr is "" when Validate
// must accept it, else a part of the error it must return.
type ConfigCase[C any] struct {
	Name    string
	Change  func(*C)
	WantErr string
}

// Validate runs a subtest per case: a fresh valid configuration from
// base, changed by the case's Change, then its Validate method, checked
// against WantErr as Succeeds does.
func Validate[C any, P interface {
	*C
	Validate() error
}](t *testing.T, base func() C, cases []ConfigCase[C]) {
	t.Helper()
	for _, tt := range cases {
		t.Run(tt.Name, func(t *testing.T) {
			c := base()
			tt.Change(&c)
			Succeeds(t, "Validate()", P(&c).Validate(), tt.WantErr)
		})
	}
}

// FreeAddr is a loopback address ("127.0.0.1:port") whose port was free
// when it was asked for: for a server that must keep one address across
// restarts, or a port nothing listens on.
func FreeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}
