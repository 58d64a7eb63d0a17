package devstack

import (
	"context"
	"fmt"
	"path/filepath"
	"syscall"
	"time"
)

// Kill sends sig to a process and waits until it is gone. A paused process
// is continued after the signal so that it can act on it. Use Pause and
// Resume for SIGSTOP and SIGCONT.
func (s *Stack) Kill(ctx context.Context, name string, sig syscall.Signal) error {
	if sig == syscall.SIGSTOP || sig == syscall.SIGCONT || sig == 0 {
		return fmt.Errorf("kill %s: signal %v: use Pause or Resume", name, sig)
	}
	st, p, err := s.loadProc(name)
	if err != nil {
		return err
	}
	was := st.status(p)
	if was == procGone {
		return fmt.Errorf("kill %s: %w", name, ErrNotRunning)
	}
	s.log.Info("signalling", "process", name, "pid", p.PID, "signal", sig)
	if err := syscall.Kill(p.PID, sig); err != nil {
		return fmt.Errorf("kill %s (pid %d): %w", name, p.PID, err)
	}
	if was == procStopped && sig != syscall.SIGKILL {
		_ = syscall.Kill(p.PID, syscall.SIGCONT)
	}
	if err := waitGone(ctx, func() bool { return st.status(p) != procGone }); err != nil {
		return fmt.Errorf("kill %s (pid %d): still running: %w", name, p.PID, err)
	}
	return nil
}

// Pause stops a process with SIGSTOP: it keeps its sockets but answers
// nothing, like a hung machine.
func (s *Stack) Pause(name string) error {
	return s.signalState(name, syscall.SIGSTOP, procStopped)
}

// Resume continues a paused process with SIGCONT.
func (s *Stack) Resume(name string) error {
	return s.signalState(name, syscall.SIGCONT, procRunning)
}

func (s *Stack) signalState(name string, sig syscall.Signal, want procState) error {
	st, p, err := s.loadProc(name)
	if err != nil {
		return err
	}
	if st.status(p) == procGone {
		return fmt.Errorf("%s: %w", name, ErrNotRunning)
	}
	if err := syscall.Kill(p.PID, sig); err != nil {
		return fmt.Errorf("signal %s (pid %d): %w", name, p.PID, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return waitGone(ctx, func() bool {
		got := st.status(p)
		return got != want && got != procGone
	})
}

// Start starts a process of the stack that is not running (a paused one is
// resumed) and waits until it is healthy again: a ZooKeeper server back in
// the quorum; a broker registered, answering metadata on its own listener
// and in the ISR of every partition it hosts; the NameNode out of safe mode
// with a live DataNode and a file writable.
func (s *Stack) Start(ctx context.Context, name string) error {
	st, err := s.startProcess(ctx, name)
	if err != nil {
		return err
	}
	p, err := st.proc(name)
	if err != nil {
		return err
	}
	return s.poll(ctx, name, func(ctx context.Context) error { return s.checkProcess(ctx, st, p) })
}

func (s *Stack) startProcess(ctx context.Context, name string) (*state, error) {
	lock, err := LockFile(ctx, filepath.Join(s.dir, lockFileName), syscall.LOCK_EX)
	if err != nil {
		return nil, err
	}
	defer lock.Unlock()
	st, p, err := s.loadProc(name)
	if err != nil {
		return nil, err
	}
	switch st.status(p) {
	case procRunning:
		return st, nil
	case procStopped:
		return st, s.Resume(name)
	}
	if p.Kind == KindEdgeKafka || p.Kind == KindCloudKafka {
		if err := s.waitBrokerUnregistered(ctx, st, p); err != nil {
			return nil, err
		}
	}
	if err := waitPortsFree(ctx, p); err != nil {
		return nil, err
	}
	if err := s.launch(ctx, st, p); err != nil {
		return nil, err
	}
	if err := writeState(st); err != nil {
		return nil, err
	}
	return st, nil
}

// waitPortsFree waits a little for ports a process held to be released.
func waitPortsFree(ctx context.Context, p *process) error {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	for {
		err := checkPortsFree(p)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(200 * time.Millisecond):
		}
	}
}
