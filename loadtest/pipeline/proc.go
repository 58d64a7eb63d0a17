// Package pipeline runs sensornode's services as local child processes for
// `make run` and the load test: it builds the binaries, starts each with
// its SENSORNODE_* environment and a log file, watches for crashes,
// samples CPU time and resident memory from /proc, scrapes /metrics and
// stops everything cleanly (SIGTERM, then SIGKILL after a timeout).
package pipeline

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Spec says how to start one process.
type Spec struct {
	// Name is unique among the processes of a run: "camera-producer-3".
	Name string
	// Service is what it is: "camera-producer", "mirrormaker2", ...
	Service string
	Path    string
	Args    []string
	// Env is the complete environment (nothing is inherited).
	Env []string
	Dir string
	// Log receives stdout and stderr (appended).
	Log string
	// AdminAddr is host:port of the admin server (/metrics, /readyz); empty
	// for processes without one.
	AdminAddr string
}

// Proc is a started process.
type Proc struct {
	Spec     Spec
	cmd      *exec.Cmd
	log      *os.File
	started  time.Time
	done     chan struct{}
	stopping atomic.Bool
	mu       sync.Mutex
	err      error
	exited   time.Time
}

// Start starts the process in its own process group (so a terminal's
// Ctrl-C reaches only the harness, which stops children in order) with
// SIGTERM as its parent-death signal.
func Start(spec Spec) (*Proc, error) {
	if spec.Log == "" {
		return nil, fmt.Errorf("start %s: no log file", spec.Name)
	}
	if err := os.MkdirAll(filepath.Dir(spec.Log), 0o755); err != nil {
		return nil, err
	}
	lf, err := os.OpenFile(spec.Log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(spec.Path, spec.Args...)
	cmd.Env = spec.Env
	cmd.Dir = spec.Dir
	cmd.Stdout, cmd.Stderr = lf, lf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		lf.Close()
		return nil, fmt.Errorf("start %s: %w", spec.Name, err)
	}
	p := &Proc{Spec: spec, cmd: cmd, log: lf, started: time.Now(), done: make(chan struct{})}
	go func() {
		err := cmd.Wait()
		p.mu.Lock()
		p.err, p.exited = err, time.Now()
		p.mu.Unlock()
		lf.Close()
		close(p.done)
	}()
	return p, nil
}

// PID of the process.
func (p *Proc) PID() int { return p.cmd.Process.Pid }

// Started is when it was started.
func (p *Proc) Started() time.Time { return p.started }

// Done is closed when the process has exited.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Running reports whether the process has not exited.
func (p *Proc) Running() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// ExitErr is the process's exit error (nil: status 0) once Done.
func (p *Proc) ExitErr() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// Crashed reports whether the process exited without being asked to stop.
func (p *Proc) Crashed() bool { return !p.Running() && !p.stopping.Load() }

// Stop sends SIGTERM and waits up to timeout, then SIGKILLs. It returns
// the exit error, except the signal status of a process it killed on
// purpose; ErrKilled when SIGTERM was not enough.
func (p *Proc) Stop(timeout time.Duration) error {
	p.stopping.Store(true)
	if !p.Running() {
		return p.ExitErr()
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		err := p.ExitErr()
		if ee, ok := errors.AsType[*exec.ExitError](err); ok {
			if ws, ok := ee.Sys().(syscall.WaitStatus); ok && (ws.Signaled() && ws.Signal() == syscall.SIGTERM || ws.ExitStatus() == 128+int(syscall.SIGTERM)) {
				return nil // ended by the SIGTERM itself (default handling; a JVM exits 143)
			}
		}
		return err
	case <-time.After(timeout):
	}
	_ = p.cmd.Process.Kill()
	<-p.done
	return fmt.Errorf("%s: %w after %v", p.Spec.Name, ErrKilled, timeout)
}

// ErrKilled means a process ignored SIGTERM for the whole stop timeout.
var ErrKilled = errors.New("did not stop on SIGTERM, killed")

// WaitReady polls the admin server's /readyz until it answers 200, the
// process exits, or ctx ends.
func (p *Proc) WaitReady(ctx context.Context) error {
	if p.Spec.AdminAddr == "" {
		return nil
	}
	client := &http.Client{Timeout: 2 * time.Second}
	url := "http://" + p.Spec.AdminAddr + "/readyz"
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = fmt.Errorf("/readyz: %s", resp.Status)
		} else {
			last = err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s not ready: %w (last: %v)", p.Spec.Name, ctx.Err(), last)
		case <-p.done:
			return fmt.Errorf("%s exited before ready: %v (log %s)", p.Spec.Name, p.ExitErr(), p.Spec.Log)
		case <-tick.C:
		}
	}
}

// WithAdmin returns spec with its admin address (and
// SENSORNODE_ADMIN_ADDR) replaced by addr.
func (s Spec) WithAdmin(addr string) Spec {
	env := make([]string, 0, len(s.Env))
	for _, e := range s.Env {
		if !strings.HasPrefix(e, "SENSORNODE_ADMIN_ADDR=") {
			env = append(env, e)
		}
	}
	s.Env = append(env, "SENSORNODE_ADMIN_ADDR="+addr)
	s.AdminAddr = addr
	return s
}

// StartReady starts spec in g and waits until it is ready. A process that
// exits because its admin port is taken (any port of Linux's ephemeral
// range may be held for a moment by some client's outgoing connection) is
// started again, up to 3 times, on the address spare returns.
func StartReady(ctx context.Context, g *Group, spec Spec, spare func() string) (*Proc, error) {
	for attempt := 1; ; attempt++ {
		var logStart int64
		if fi, err := os.Stat(spec.Log); err == nil {
			logStart = fi.Size()
		}
		p, err := g.Start(spec)
		if err != nil {
			return nil, err
		}
		err = p.WaitReady(ctx)
		if err == nil || p.Running() || attempt == 3 || !strings.Contains(logSince(spec.Log, logStart), "address already in use") {
			return p, err
		}
		_ = p.Stop(time.Second) // expected: not a crash
		spec = spec.WithAdmin(spare())
	}
}

// logSince is what was appended to a log from offset on (at most 64 KiB).
func logSince(path string, offset int64) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	b := make([]byte, 64<<10)
	n, _ := f.ReadAt(b, offset)
	return string(b[:n])
}

// Group owns the processes of a run and reports crashes.
type Group struct {
	mu      sync.Mutex
	procs   []*Proc
	crashes chan *Proc
	sampler *Sampler
}

// NewGroup makes a group; a non-nil sampler tracks every process started.
func NewGroup(s *Sampler) *Group {
	return &Group{crashes: make(chan *Proc, 64), sampler: s}
}

// Start starts a process and watches it.
func (g *Group) Start(spec Spec) (*Proc, error) {
	p, err := Start(spec)
	if err != nil {
		return nil, err
	}
	g.mu.Lock()
	g.procs = append(g.procs, p)
	g.mu.Unlock()
	if g.sampler != nil {
		g.sampler.TrackAdmin(spec.Name, spec.Service, p.PID(), spec.AdminAddr)
	}
	go func() {
		<-p.done
		if p.Crashed() {
			select {
			case g.crashes <- p:
			default:
			}
		}
	}()
	return p, nil
}

// Crashes delivers processes that exited without being stopped.
func (g *Group) Crashes() <-chan *Proc { return g.crashes }

// Crashed lists every process that exited without being stopped.
func (g *Group) Crashed() []*Proc { return g.where((*Proc).Crashed) }

// Running lists the processes still running.
func (g *Group) Running() []*Proc { return g.where((*Proc).Running) }

// where lists the processes for which keep holds, in start order.
func (g *Group) where(keep func(*Proc) bool) []*Proc {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []*Proc
	for _, p := range g.procs {
		if keep(p) {
			out = append(out, p)
		}
	}
	return out
}

// StopAll stops every running process, in parallel, and joins their stop
// errors.
func (g *Group) StopAll(timeout time.Duration) error {
	procs := g.Running()
	errs := make([]error, len(procs))
	var wg sync.WaitGroup
	for i, p := range procs {
		wg.Go(func() { errs[i] = p.Stop(timeout) })
	}
	wg.Wait()
	return errors.Join(errs...)
}
