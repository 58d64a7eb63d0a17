package devstack

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"
)

// CheckError is a failed health check; Process names the process whose log
// tells more, if any.
type CheckError struct {
	Process string
	Err     error
	// Permanent means polling will not fix it: the process is gone.
	Permanent bool
}

func (e *CheckError) Error() string {
	if e.Process == "" {
		return e.Err.Error()
	}
	return e.Process + ": " + e.Err.Error()
}

func (e *CheckError) Unwrap() error { return e.Err }

func checkErr(process string, err error) error {
	if err == nil {
		return nil
	}
	var ce *CheckError
	if errors.As(err, &ce) {
		return err
	}
	return &CheckError{Process: process, Err: err}
}

// pollInterval is the pause between health check rounds.
const pollInterval = 500 * time.Millisecond

// poll runs check until it passes, fails permanently, or ctx is done. The
// error then carries the tail of the log of the process that failed.
func (s *Stack) poll(ctx context.Context, what string, check func(context.Context) error) error {
	start := time.Now()
	t := time.NewTicker(pollInterval)
	defer t.Stop()
	var last error
	for {
		attempt, cancel := context.WithTimeout(ctx, 30*time.Second)
		last = check(attempt)
		cancel()
		if last == nil {
			return nil
		}
		var ce *CheckError
		if errors.As(last, &ce) && ce.Permanent {
			return s.withLogTail(fmt.Errorf("%s: %w", what, last))
		}
		select {
		case <-ctx.Done():
			return s.withLogTail(fmt.Errorf("%s not healthy after %s: %w", what, time.Since(start).Round(time.Second), last))
		case <-t.C:
		}
	}
}

// withLogTail appends the last lines of the log of the process err names.
func (s *Stack) withLogTail(err error) error {
	var ce *CheckError
	if !errors.As(err, &ce) || ce.Process == "" {
		return err
	}
	return fmt.Errorf("%w\n--- last lines of %s ---\n%s", err, logPath(s.dir, ce.Process), tailFile(logPath(s.dir, ce.Process), 25))
}

// checkAlive fails permanently if a process is gone, and for now if it is
// paused.
func checkAlive(st *state, p *process) error {
	switch st.status(p) {
	case procGone:
		return &CheckError{Process: p.Name, Err: ErrNotRunning, Permanent: true}
	case procStopped:
		return &CheckError{Process: p.Name, Err: errors.New("paused (SIGSTOP)")}
	}
	return nil
}

// checkStack checks the whole stack once.
func (s *Stack) checkStack(ctx context.Context, st *state) error {
	for _, p := range st.Processes {
		if err := checkAlive(st, p); err != nil {
			return err
		}
	}
	if err := s.checkEnsemble(ctx, st); err != nil {
		return err
	}
	if err := s.checkRegistrations(ctx, st); err != nil {
		return err
	}
	if err := s.checkEdgeTopic(ctx, st); err != nil {
		return err
	}
	if err := s.checkCloud(ctx, st); err != nil {
		return err
	}
	if st.HDFS {
		if err := s.checkHDFS(ctx, st, NameNodeName); err != nil {
			return err
		}
	}
	return nil
}

// checkProcess checks that one process is alive and serving.
func (s *Stack) checkProcess(ctx context.Context, st *state, p *process) error {
	if err := checkAlive(st, p); err != nil {
		return err
	}
	l := st.layout()
	switch p.Kind {
	case KindZooKeeper:
		_, err := zkServing(ctx, addr(l.ZooKeeperClient(p.Index)))
		return checkErr(p.Name, err)
	case KindEdgeKafka:
		if err := s.checkRegistered(ctx, st, EdgeChroot, []int{p.Index}, p.Name); err != nil {
			return err
		}
		return checkErr(p.Name, checkInSync(ctx, addr(p.Ports["plaintext"]), l.EdgeBootstrap(), int32(p.Index)))
	case KindCloudKafka:
		if err := s.checkRegistered(ctx, st, CloudChroot, []int{1}, p.Name); err != nil {
			return err
		}
		return s.checkCloud(ctx, st)
	case KindNameNode, KindDataNode:
		return s.checkHDFS(ctx, st, p.Name)
	}
	return nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand never fails on Linux
	return hex.EncodeToString(b)
}

// WaitHealthy returns when the whole stack is healthy: every process runs,
// every ZooKeeper server is leader or follower, every broker is registered,
// a topic can be created and deleted on each cluster (on the cloud one
// through SASL_SSL), HDFS is out of safe mode with a live DataNode and
// takes a small file. It fails at once if a process is not running.
func (s *Stack) WaitHealthy(ctx context.Context) error {
	st, err := s.load()
	if err != nil {
		return err
	}
	return s.poll(ctx, "stack", func(ctx context.Context) error { return s.checkStack(ctx, st) })
}

// CheckHealthy checks the stack once.
func (s *Stack) CheckHealthy(ctx context.Context) error {
	st, err := s.load()
	if err != nil {
		return err
	}
	return s.checkStack(ctx, st)
}

// ProcessStatus is the state of one process.
type ProcessStatus struct {
	Name    string
	Kind    Kind
	PID     int // of the last start; meaningless unless Running
	Running bool
	Paused  bool
	Ports   map[string]int
	Log     string
	Healthy bool
	Problem string // why not healthy
}

// Status checks every process once, concurrently.
func (s *Stack) Status(ctx context.Context) ([]ProcessStatus, error) {
	st, err := s.load()
	if err != nil {
		return nil, err
	}
	out := make([]ProcessStatus, len(st.Processes))
	var wg sync.WaitGroup
	for i, p := range st.Processes {
		ps := st.status(p)
		out[i] = ProcessStatus{
			Name: p.Name, Kind: p.Kind, PID: p.PID, Ports: p.Ports, Log: p.Log,
			Running: ps != procGone, Paused: ps == procStopped,
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
			defer cancel()
			if err := s.checkProcess(cctx, st, p); err != nil {
				var ce *CheckError
				if errors.As(err, &ce) && ce.Process == p.Name {
					err = ce.Err
				}
				out[i].Problem = err.Error()
				return
			}
			out[i].Healthy = true
		}()
	}
	wg.Wait()
	return out, nil
}
