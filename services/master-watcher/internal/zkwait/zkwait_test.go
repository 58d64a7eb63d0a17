package zkwait

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sensornode/sensornode/libs/svc/svctest"
)

const srvrFollower = "Zookeeper version: 3.8.4-9316c2a7a97e1666d8f4593f34dd6fc36ecc436c, built on 2024-02-12 22:16 UTC\n" +
	"Latency min/avg/max: 0/0.5/3\nReceived: 10\nSent: 9\nConnections: 1\nOutstanding: 0\nZxid: 0x100000002\nMode: follower\nNode count: 5\n"

var (
	srvrLeader     = strings.Replace(srvrFollower, "Mode: follower", "Mode: leader", 1)
	srvrStandalone = strings.Replace(srvrFollower, "Mode: follower", "Mode: standalone", 1)
)

const (
	notServing = "This ZooKeeper instance is not currently serving requests\n"
	notAllowed = "srvr is not executed because it is not in the whitelist.\n"
)

func TestSplitChroot(t *testing.T) {
	tests := []struct {
		give        []string
		wantServers string
		wantChroot  string
	}{
		{[]string{"a:2181", "b:2181"}, "a:2181,b:2181", ""},
		{[]string{"a:2181", "b:2181/edge"}, "a:2181,b:2181", "/edge"},
		{[]string{" a:2181 ", "b:2181/kafka/edge"}, "a:2181,b:2181", "/kafka/edge"},
	}
	for _, tt := range tests {
		s, c := SplitChroot(tt.give)
		if strings.Join(s, ",") != tt.wantServers || c != tt.wantChroot {
			t.Errorf("SplitChroot(%q) = %q, %q; want %q, %q", tt.give, s, c, tt.wantServers, tt.wantChroot)
		}
	}
}

// fake4lw answers every connection with its current answer; "" refuses
// (the listener is closed).
type fake4lw struct {
	t    *testing.T
	addr string
	mu   sync.Mutex
	ans  string
	ln   net.Listener
	wg   sync.WaitGroup
}

func newFake4lw(t *testing.T, answer string) *fake4lw {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fake4lw{t: t, addr: ln.Addr().String(), ans: "listening"}
	f.serve(ln)
	f.set(answer)
	t.Cleanup(func() { f.set("") })
	return f
}

func (f *fake4lw) serve(ln net.Listener) {
	f.ln = ln
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			buf := make([]byte, 4)
			io.ReadFull(c, buf)
			f.mu.Lock()
			ans := f.ans
			f.mu.Unlock()
			if string(buf) == "srvr" {
				io.WriteString(c, ans)
			}
			c.Close()
		}
	}()
}

func (f *fake4lw) set(answer string) {
	f.mu.Lock()
	was := f.ans
	f.ans = answer
	f.mu.Unlock()
	switch {
	case answer == "" && was != "":
		f.ln.Close()
		f.wg.Wait()
	case answer != "" && was == "":
		ln, err := net.Listen("tcp", f.addr)
		if err != nil {
			f.t.Fatal(err)
		}
		f.serve(ln)
	}
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

func cfg(servers ...*fake4lw) Config {
	c := Config{Interval: 20 * time.Millisecond, AttemptTimeout: time.Second, Method: MethodSrvr}
	for _, s := range servers {
		c.Servers = append(c.Servers, s.addr)
	}
	return c
}

func TestCheckSrvrMajority(t *testing.T) {
	tests := []struct {
		name       string
		answers    []string
		wantQuorum bool
		wantIn     int
	}{
		{"all in quorum", []string{srvrLeader, srvrFollower, srvrFollower}, true, 3},
		{"one down", []string{srvrLeader, srvrFollower, ""}, true, 2},
		{"two down", []string{"", notServing, ""}, false, 0},
		{"one follower left is not a majority", []string{srvrFollower, "", ""}, false, 1},
		{"4lw not allowed", []string{notAllowed, notAllowed, notAllowed}, false, 0},
		{"standalone in a list of 3 does not count", []string{srvrStandalone, "", ""}, false, 0},
		{"single standalone server", []string{srvrStandalone}, true, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var fs []*fake4lw
			for _, a := range tt.answers {
				fs = append(fs, newFake4lw(t, a))
			}
			a := Check(context.Background(), cfg(fs...), discard())
			if a.Quorum != tt.wantQuorum || a.InQuorum != tt.wantIn || a.Need != len(tt.answers)/2+1 {
				t.Errorf("Check = quorum %t, %d in quorum (need %d); want %t, %d: %s", a.Quorum, a.InQuorum, a.Need, tt.wantQuorum, tt.wantIn, a.Describe())
			}
			if len(a.Servers) != len(tt.answers) {
				t.Errorf("%d server states, want %d", len(a.Servers), len(tt.answers))
			}
		})
	}
}

// waiter runs Wait in the background and records its attempts.
type waiter struct {
	done     chan error
	mu       sync.Mutex
	attempts []Attempt
}

func startWait(c Config, log *slog.Logger) *waiter {
	w := &waiter{done: make(chan error, 1)}
	go func() {
		w.done <- Wait(context.Background(), c, log, func(a Attempt) {
			w.mu.Lock()
			w.attempts = append(w.attempts, a)
			w.mu.Unlock()
		})
	}()
	return w
}

// Attempts returns a copy of the attempts so far.
func (w *waiter) Attempts() []Attempt {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.attempts)
}

// keepsWaiting looks every poll until Wait has made n attempts and fails
// t if Wait returns first; why says why it must not.
func (w *waiter) keepsWaiting(t *testing.T, n int, poll time.Duration, why string) {
	t.Helper()
	for len(w.Attempts()) < n {
		select {
		case err := <-w.done:
			t.Fatalf("Wait returned %v %s", err, why)
		case <-time.After(poll):
		}
	}
}

// returns fails t unless Wait returns nil within limit; after says after
// what it should.
func (w *waiter) returns(t *testing.T, limit time.Duration, after string) {
	t.Helper()
	select {
	case err := <-w.done:
		if err != nil {
			t.Fatalf("Wait = %v %s, want nil", err, after)
		}
	case <-time.After(limit):
		t.Fatalf("Wait still waiting %v %s", limit, after)
	}
}

func TestWaitUntilQuorum(t *testing.T) {
	a, b, c := newFake4lw(t, ""), newFake4lw(t, notServing), newFake4lw(t, "")
	w := startWait(cfg(a, b, c), discard())
	// It keeps waiting while there is no quorum...
	w.keepsWaiting(t, 5, 5*time.Millisecond, "without a quorum")
	// ...and returns once a majority is back.
	a.set(srvrLeader)
	b.set(srvrFollower)
	w.returns(t, 10*time.Second, "after the quorum came back")
	attempts := w.Attempts()
	last := attempts[len(attempts)-1]
	if !last.Quorum || last.InQuorum != 2 || last.N != len(attempts) {
		t.Errorf("last attempt %+v, want quorum with 2 of 3", last)
	}
	for _, at := range attempts[:len(attempts)-1] {
		if at.Quorum {
			t.Errorf("attempt %d reported a quorum before it existed", at.N)
		}
	}
}

func TestWaitTimeout(t *testing.T) {
	a := newFake4lw(t, notServing)
	c := cfg(a)
	c.Timeout = 200 * time.Millisecond
	err := Wait(context.Background(), c, discard(), nil)
	if !errors.Is(err, ErrTimeout) || !strings.Contains(err.Error(), "not serving") {
		t.Errorf("Wait = %v, want ErrTimeout naming the last answer", err)
	}
}

func TestWaitCancelled(t *testing.T) {
	a := newFake4lw(t, notServing)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	ctx, cancel2 := context.WithCancel(ctx)
	cancel2()
	if err := Wait(ctx, cfg(a), discard(), nil); !errors.Is(err, context.Canceled) {
		t.Errorf("Wait(cancelled) = %v, want context.Canceled", err)
	}
}

func TestConfigValidate(t *testing.T) {
	base := func() Config {
		return Config{Servers: []string{"a:1"}, Interval: time.Second, AttemptTimeout: time.Second, Method: MethodBoth}
	}
	svctest.Validate(t, base, []svctest.ConfigCase[Config]{
		{Name: "ok", Change: func(*Config) {}},
		{Name: "no servers", Change: func(c *Config) { c.Servers = nil }, WantErr: "no zookeeper servers"},
		{Name: "bad server", Change: func(c *Config) { c.Servers = []string{"a"} }, WantErr: `server "a"`},
		{Name: "zero interval", Change: func(c *Config) { c.Interval = 0 }, WantErr: "interval and attempt timeout > 0"},
		{Name: "bad method", Change: func(c *Config) { c.Method = "ping" }, WantErr: `wait method "ping"`},
	})
}

// The end of the wait cuts the attempt in flight short (i/o timeout): the
// error still names the last real answer. Found by CI, where
// TestWaitTimeout's last attempt was cut short under load and the error
// named "i/o timeout" instead of the server's answer.
func TestWaitTimeoutNamesLastRealAnswer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var held []net.Conn
	var mu sync.Mutex
	done := make(chan struct{})
	go func() {
		defer close(done)
		for n := 0; ; n++ {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			if n == 0 {
				buf := make([]byte, 4)
				io.ReadFull(c, buf)
				io.WriteString(c, notServing)
				c.Close()
				continue
			}
			mu.Lock()
			held = append(held, c) // never answers
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		mu.Lock()
		for _, c := range held {
			c.Close()
		}
		mu.Unlock()
	})
	c := Config{Servers: []string{ln.Addr().String()}, Interval: 20 * time.Millisecond, AttemptTimeout: time.Minute,
		Method: MethodSrvr, Timeout: 500 * time.Millisecond}
	err = Wait(context.Background(), c, discard(), nil)
	if !errors.Is(err, ErrTimeout) || !strings.Contains(err.Error(), "not serving") {
		t.Errorf("Wait = %v, want ErrTimeout naming the last answer (not serving)", err)
	}
}
