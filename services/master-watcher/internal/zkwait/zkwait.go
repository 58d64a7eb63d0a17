// Package zkwait waits until a ZooKeeper ensemble has a quorum: the
// init-container replacement of the original Kafka start script, which
// looped on `echo stat | nc` until ZooKeeper said Mode: leader or follower.
//
// An attempt asks every listed server for its mode with the srvr
// four-letter word (the one 4lw ZooKeeper whitelists by default) and
// counts leaders and followers; a majority of the listed servers means the
// ensemble has a quorum. With the session method it then opens a real
// session and reads "/", which only succeeds through a server that is part
// of a quorum. The default checks both.
package zkwait

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/sensornode/sensornode/libs/zkconn"
	"github.com/sensornode/sensornode/libs/zksrvr"
)

// Method selects the checks of an attempt.
type Method string

// Methods.
const (
	MethodSrvr    Method = "srvr"
	MethodSession Method = "session"
	MethodBoth    Method = "both"
)

// ParseMethod parses srvr, session or both.
func ParseMethod(s string) (Method, error) {
	switch m := Method(strings.ToLower(strings.TrimSpace(s))); m {
	case MethodSrvr, MethodSession, MethodBoth:
		return m, nil
	}
	return "", fmt.Errorf("wait method %q: want srvr, session or both", s)
}

// Config configures Wait.
type Config struct {
	// Servers are the voting members, host:port.
	Servers []string
	// Timeout bounds the whole wait; 0 waits until ctx is done.
	Timeout time.Duration
	// Interval between attempts (the original slept 2 s).
	Interval time.Duration
	// AttemptTimeout bounds each server's answer and the session check.
	AttemptTimeout time.Duration
	Method         Method
}

// Validate checks cfg.
func (c Config) Validate() error {
	var p []string
	if len(c.Servers) == 0 {
		p = append(p, "no zookeeper servers")
	}
	for _, s := range c.Servers {
		if _, _, err := net.SplitHostPort(s); err != nil {
			p = append(p, fmt.Sprintf("server %q: %v", s, err))
		}
	}
	if c.Timeout < 0 || c.Interval <= 0 || c.AttemptTimeout <= 0 {
		p = append(p, "timeout must be >= 0, interval and attempt timeout > 0")
	}
	if _, err := ParseMethod(string(c.Method)); err != nil {
		p = append(p, err.Error())
	}
	if len(p) > 0 {
		return errors.New(strings.Join(p, "; "))
	}
	return nil
}

// SplitChroot splits a ZooKeeper connect list whose last entry may carry a
// chroot ("a:2181,b:2181/edge" as Kafka's zookeeper.connect) into servers
// and the chroot ("" when none).
func SplitChroot(list []string) (servers []string, chroot string) {
	for i, s := range list {
		s = strings.TrimSpace(s)
		if j := strings.Index(s, "/"); j >= 0 {
			if i == len(list)-1 {
				chroot = s[j:]
			}
			s = s[:j]
		}
		if s != "" {
			servers = append(servers, s)
		}
	}
	return servers, chroot
}

// ServerState is one server's answer to srvr.
type ServerState struct {
	Server string
	Mode   string // leader, follower, observer, standalone; "" on error
	Err    error
}

// Voting reports whether the server takes part in a quorum.
func (s ServerState) Voting(single bool) bool {
	return s.Mode == "leader" || s.Mode == "follower" || (single && s.Mode == "standalone")
}

func (s ServerState) String() string {
	if s.Err != nil {
		return s.Server + "=" + s.Err.Error()
	}
	return s.Server + "=" + s.Mode
}

// Attempt is the outcome of one check.
type Attempt struct {
	N        int
	Servers  []ServerState // empty with MethodSession
	InQuorum int
	Need     int
	// SessionErr is the session check's error; nil when it passed or was
	// not made (see SessionChecked).
	SessionChecked bool
	SessionErr     error
	Quorum         bool
}

func (a Attempt) serverSummary() string {
	parts := make([]string, len(a.Servers))
	for i, s := range a.Servers {
		parts[i] = s.String()
	}
	return strings.Join(parts, " ")
}

// Describe says in words what the attempt found.
func (a Attempt) Describe() string {
	var parts []string
	if len(a.Servers) > 0 {
		parts = append(parts, fmt.Sprintf("%d of %d servers in a quorum, need %d (%s)", a.InQuorum, len(a.Servers), a.Need, a.serverSummary()))
	}
	if a.SessionChecked {
		if a.SessionErr != nil {
			parts = append(parts, "session read failed: "+a.SessionErr.Error())
		} else {
			parts = append(parts, "session read ok")
		}
	}
	return strings.Join(parts, "; ")
}

// Check makes one attempt.
func Check(ctx context.Context, cfg Config, log *slog.Logger) Attempt {
	a := Attempt{Need: len(cfg.Servers)/2 + 1}
	if cfg.Method != MethodSession {
		single := len(cfg.Servers) == 1
		a.Servers = make([]ServerState, len(cfg.Servers))
		done := make(chan struct{}, len(cfg.Servers))
		for i, s := range cfg.Servers {
			go func() {
				defer func() { done <- struct{}{} }()
				mode, err := Srvr(ctx, s, cfg.AttemptTimeout)
				a.Servers[i] = ServerState{Server: s, Mode: mode, Err: err}
			}()
		}
		for range cfg.Servers {
			<-done
		}
		for _, s := range a.Servers {
			if s.Voting(single) {
				a.InQuorum++
			}
		}
		if a.InQuorum < a.Need {
			return a
		}
	}
	if cfg.Method != MethodSrvr {
		a.SessionChecked = true
		a.SessionErr = readRoot(ctx, cfg.Servers, cfg.AttemptTimeout, log)
		if a.SessionErr != nil {
			return a
		}
	}
	a.Quorum = true
	return a
}

// ended: ctx is done, or its deadline passed (a connection deadline set
// from it can fire a moment before ctx itself reports it).
func ended(ctx context.Context) bool {
	dl, ok := ctx.Deadline()
	return ctx.Err() != nil || ok && !time.Now().Before(dl)
}

// ErrTimeout is returned when no quorum appeared in time.
var ErrTimeout = errors.New("no zookeeper quorum")

// Wait checks every cfg.Interval until the ensemble has a quorum (nil),
// cfg.Timeout passes or ctx is done. Every attempt is logged; onAttempt,
// if not nil, sees each too.
func Wait(ctx context.Context, cfg Config, log *slog.Logger, onAttempt func(Attempt)) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	start := time.Now()
	if cfg.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, cfg.Timeout)
		defer cancel()
	}
	log.Info("waiting for a zookeeper quorum", "servers", strings.Join(cfg.Servers, ","), "method", string(cfg.Method),
		"timeout", cfg.Timeout.String(), "interval", cfg.Interval.String())
	var last Attempt
	for n := 1; ; n++ {
		a := Check(ctx, cfg, log)
		a.N = n
		if onAttempt != nil {
			onAttempt(a)
		}
		// An attempt cut short by the end of the wait says nothing about
		// the servers (i/o timeout): the error names the last real answer.
		if ended(ctx) && !a.Quorum && n > 1 {
			if ctx.Err() == nil || errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return fmt.Errorf("%w after %v (%d attempts; last: %s)", ErrTimeout, time.Since(start).Round(time.Second), n-1, last.Describe())
			}
			return ctx.Err()
		}
		last = a
		elapsed := time.Since(start).Round(time.Millisecond).String()
		if last.Quorum {
			log.Info("zookeeper has a quorum", "attempt", n, "in_quorum", last.InQuorum, "need", last.Need, "took", elapsed, "detail", last.Describe())
			return nil
		}
		log.Info("zookeeper quorum not reached yet", "attempt", n, "in_quorum", last.InQuorum, "need", last.Need, "elapsed", elapsed, "detail", last.Describe())
		t := time.NewTimer(cfg.Interval)
		select {
		case <-ctx.Done():
			t.Stop()
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return fmt.Errorf("%w after %v (%d attempts; last: %s)", ErrTimeout, time.Since(start).Round(time.Second), n, last.Describe())
			}
			return ctx.Err()
		case <-t.C:
		}
	}
}

// Srvr asks one server for its mode with the srvr four-letter word
// (zksrvr.Mode) within timeout. A server outside a quorum answers without
// a mode: an error.
func Srvr(ctx context.Context, addr string, timeout time.Duration) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return zksrvr.Mode(ctx, addr)
}

// readRoot opens a session and reads "/".
func readRoot(ctx context.Context, servers []string, timeout time.Duration, log *slog.Logger) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	conn, err := zkconn.Connect(ctx, servers, 10*time.Second, log)
	if err != nil {
		if ctx.Err() != nil {
			return errors.New("no session within the attempt timeout")
		}
		return err
	}
	defer conn.Close()
	type res struct{ err error }
	ch := make(chan res, 1)
	go func() {
		_, _, err := conn.Exists("/")
		ch <- res{err}
	}()
	select {
	case r := <-ch:
		return r.err
	case <-ctx.Done():
		conn.Close() // fails the pending read, ending the goroutine
		<-ch
		return errors.New("read of / timed out")
	}
}
