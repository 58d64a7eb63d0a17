// Package devstack runs real ZooKeeper, Kafka and HDFS processes on
// 127.0.0.1 for local runs and integration tests: a ZooKeeper ensemble, an
// edge Kafka cluster (chroot /edge), a one-broker cloud Kafka cluster
// (chroot /cloud, PLAINTEXT and SASL_SSL/SCRAM-SHA-512) and an HDFS NameNode
// with one DataNode.
//
// Every process is a plain java command started detached; a JSON state file
// in the stack dir records how to find, kill and restart each by name, so
// any process (the CLI, a test binary) can Open the stack and act on it.
package devstack

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
)

// DefaultUpTimeout bounds Up when ctx has no deadline.
const DefaultUpTimeout = 5 * time.Minute

// Stack is a stack in a directory. Its methods read the state file each
// time, so they see restarts done by other processes.
type Stack struct {
	dir string
	log *slog.Logger
	st  *state // as last read; ports, paths and credentials never change
}

// Open opens the stack in dir, running or not.
func Open(dir string) (*Stack, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	st, err := readState(abs)
	if err != nil {
		return nil, err
	}
	return &Stack{dir: abs, log: slog.New(slog.DiscardHandler), st: st}, nil
}

// WithLogger returns a copy of s that reports progress to l.
func (s *Stack) WithLogger(l *slog.Logger) *Stack {
	c := *s
	c.log = l
	return &c
}

// Up brings the stack in cfg.Dir up and returns when it is healthy. It
// reuses what already runs there and starts what does not; a healthy
// running stack is returned as is. When Up fails, what it started keeps
// running for inspection: call Down.
func Up(ctx context.Context, cfg Config) (*Stack, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("devstack config: %w", err)
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultUpTimeout)
		defer cancel()
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, err
	}
	lock, err := LockFile(ctx, filepath.Join(cfg.Dir, lockFileName), syscall.LOCK_EX)
	if err != nil {
		return nil, err
	}
	defer lock.Unlock()

	prev, err := readState(cfg.Dir)
	if err != nil && !errors.Is(err, ErrNoStack) {
		return nil, err
	}
	if prev != nil {
		if err := compatible(prev, cfg); err != nil {
			return nil, err
		}
	}
	java, err := lookPath(cfg.Java, "java")
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errNoJava, err)
	}
	start := time.Now()
	st := &state{
		Version:     stateVersion,
		Dir:         cfg.Dir,
		PortBase:    cfg.PortBase,
		ZooKeepers:  cfg.ZooKeepers,
		EdgeBrokers: cfg.EdgeBrokers,
		HDFS:        !cfg.NoHDFS,
		Java:        java,
		SCRAMUser:   "sensornode",
		SCRAMPass:   randomHex(16),
	}
	if st.KafkaCP, err = resolveClasspath(ctx, cfg, classpathKafka); err != nil {
		return nil, err
	}
	if st.HDFS {
		if st.HadoopCP, err = resolveClasspath(ctx, cfg, classpathHadoop); err != nil {
			return nil, err
		}
	}
	running := prev != nil && prev.anyAlive()
	if prev != nil {
		st.SCRAMUser, st.SCRAMPass = prev.SCRAMUser, prev.SCRAMPass
	}
	// A stack the CLI brought up (or took over) is never stopped by tests.
	st.OwnedByTests = cfg.OwnedByTests && (!running || prev.OwnedByTests)

	in := renderInput{
		Dir:             cfg.Dir,
		Layout:          st.layout(),
		Java:            java,
		KafkaClasspath:  st.KafkaCP,
		HadoopClasspath: st.HadoopCP,
		Env:             childEnv(),
		TLS:             newTLSPaths(cfg.Dir),
	}
	specs := render(in)
	for _, sp := range specs {
		p := &process{
			Name: sp.Name, Kind: sp.Kind, Index: sp.Index,
			Args: sp.Args, Env: sp.Env, WorkDir: sp.WorkDir, DataDir: sp.DataDir,
			Ports: sp.Ports, Log: sp.Log,
		}
		if prev != nil {
			if old, err := prev.proc(sp.Name); err == nil {
				p.PID, p.StartTime, p.BootID, p.StartedAt = old.PID, old.StartTime, old.BootID, old.StartedAt
			}
		}
		st.Processes = append(st.Processes, p)
	}
	if err := writeFiles(in, specs, st); err != nil {
		return nil, err
	}
	if err := writeState(st); err != nil {
		return nil, err
	}
	s := &Stack{dir: cfg.Dir, log: cfg.Logger, st: st}
	startErr := s.startAll(ctx, st, in)
	if err := writeState(st); err != nil {
		return nil, errors.Join(startErr, err)
	}
	if startErr != nil {
		return nil, startErr
	}
	s.log.Info("waiting for the stack to be healthy")
	if err := s.ensureSCRAM(ctx, st); err != nil {
		return nil, err
	}
	if err := s.poll(ctx, "stack", func(ctx context.Context) error { return s.checkStack(ctx, st) }); err != nil {
		return nil, err
	}
	s.log.Info("stack is healthy", "took", time.Since(start).Round(100*time.Millisecond))
	return s, nil
}

// compatible refuses to reuse a dir for a differently shaped stack.
func compatible(prev *state, cfg Config) error {
	if prev.PortBase != cfg.PortBase || prev.ZooKeepers != cfg.ZooKeepers ||
		prev.EdgeBrokers != cfg.EdgeBrokers || prev.HDFS == cfg.NoHDFS {
		return fmt.Errorf("%s holds a stack with port base %d, %d zookeepers, %d edge brokers, hdfs %t; "+
			"asked for port base %d, %d, %d, hdfs %t: run clean first or use another dir",
			cfg.Dir, prev.PortBase, prev.ZooKeepers, prev.EdgeBrokers, prev.HDFS,
			cfg.PortBase, cfg.ZooKeepers, cfg.EdgeBrokers, !cfg.NoHDFS)
	}
	return nil
}

// childEnv is the environment of every process: PATH (Hadoop runs df, du
// and id), HOME, a UTF-8 locale and fewer malloc arenas (smaller RSS).
func childEnv() []string {
	path := os.Getenv("PATH")
	if path == "" {
		path = "/usr/local/bin:/usr/bin:/bin"
	}
	home, _ := os.UserHomeDir()
	return []string{"PATH=" + path, "HOME=" + home, "LANG=C.UTF-8", "MALLOC_ARENA_MAX=2"}
}

// writeFiles writes configuration, TLS material and the SCRAM password
// file, and creates data and log dirs.
func writeFiles(in renderInput, specs []procSpec, st *state) error {
	for _, d := range []string{"logs", "tmp"} {
		if err := os.MkdirAll(filepath.Join(in.Dir, d), 0o755); err != nil {
			return err
		}
	}
	files := in.sharedFiles()
	for _, sp := range specs {
		files = append(files, sp.Files...)
		if err := os.MkdirAll(sp.DataDir, 0o755); err != nil {
			return err
		}
	}
	for _, f := range files {
		if err := writeFileAtomic(f.Path, []byte(f.Content), os.FileMode(f.Mode)); err != nil {
			return err
		}
	}
	if err := ensureTLS(in.TLS, time.Now()); err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(in.Dir, scramFileName), []byte(st.SCRAMPass), 0o600)
}

// startAll starts every process that is not running: the ensemble and HDFS
// at once, the brokers once the ensemble has a quorum.
func (s *Stack) startAll(ctx context.Context, st *state, in renderInput) error {
	var zks, brokers, hdfs []*process
	for _, p := range st.Processes {
		switch st.status(p) {
		case procStopped:
			return fmt.Errorf("%s is paused: resume it first", p.Name)
		case procRunning:
			continue
		}
		switch p.Kind {
		case KindZooKeeper:
			zks = append(zks, p)
		case KindEdgeKafka, KindCloudKafka:
			brokers = append(brokers, p)
		default:
			hdfs = append(hdfs, p)
		}
	}
	for _, group := range [][]*process{zks, brokers, hdfs} {
		for _, p := range group {
			if err := checkPortsFree(p); err != nil {
				return err
			}
		}
	}
	for _, p := range zks {
		if err := s.launch(ctx, st, p); err != nil {
			return err
		}
	}
	var (
		wg      sync.WaitGroup
		hdfsErr error
	)
	if len(hdfs) > 0 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			hdfsErr = s.startHDFS(ctx, st, in, hdfs)
		}()
	}
	err := s.startBrokers(ctx, st, brokers)
	wg.Wait()
	return errors.Join(err, hdfsErr)
}

func (s *Stack) startBrokers(ctx context.Context, st *state, brokers []*process) error {
	if len(brokers) == 0 {
		return nil
	}
	s.log.Info("waiting for a zookeeper quorum")
	err := s.poll(ctx, "zookeeper ensemble", func(ctx context.Context) error {
		for _, p := range st.Processes {
			if p.Kind == KindZooKeeper {
				if err := checkAlive(st, p); err != nil {
					return err
				}
			}
		}
		return s.checkEnsemble(ctx, st)
	})
	if err != nil {
		return err
	}
	for _, p := range brokers {
		if err := s.waitBrokerUnregistered(ctx, st, p); err != nil {
			return err
		}
		if err := s.launch(ctx, st, p); err != nil {
			return err
		}
	}
	return nil
}

// waitBrokerUnregistered waits out the registration of a killed broker.
func (s *Stack) waitBrokerUnregistered(ctx context.Context, st *state, p *process) error {
	chroot := EdgeChroot
	if p.Kind == KindCloudKafka {
		chroot = CloudChroot
	}
	// The session expires within its timeout plus a tick.
	wctx, cancel := context.WithTimeout(ctx, 2*time.Duration(brokerSessionTimeoutMS+zkTickTimeMS)*time.Millisecond)
	defer cancel()
	if err := s.waitUnregistered(wctx, st, chroot, p.Index); err != nil {
		return fmt.Errorf("%s: old registration: %w", p.Name, err)
	}
	return nil
}

func (s *Stack) startHDFS(ctx context.Context, st *state, in renderInput, procs []*process) error {
	if _, err := os.Stat(filepath.Join(nameDir(st.Dir), "current", "VERSION")); errors.Is(err, os.ErrNotExist) {
		s.log.Info("formatting the namenode")
		// Blocks of an earlier file system are garbage to a new one.
		if err := os.RemoveAll(dataDir(st.Dir)); err != nil {
			return err
		}
		args := in.nameNodeFormatArgs()
		err := runForeground(ctx, launchSpec{
			Args: args, Env: in.Env, WorkDir: filepath.Join(st.Dir, NameNodeName),
			Log: logPath(st.Dir, NameNodeName), Banner: "formatting " + NameNodeName,
		})
		if err != nil {
			return fmt.Errorf("format namenode: %w", err)
		}
	}
	for _, p := range procs {
		if err := s.launch(ctx, st, p); err != nil {
			return err
		}
	}
	return nil
}

// launch starts p and records its pid in st (the caller writes st).
func (s *Stack) launch(ctx context.Context, st *state, p *process) error {
	s.log.Info("starting", "process", p.Name)
	pid, startTime, err := launch(ctx, launchSpec{
		Args: p.Args, Env: p.Env, WorkDir: p.WorkDir, Log: p.Log,
		Marker: p.marker(st.Dir), Banner: "starting " + p.Name,
	})
	if pid > 0 && startTime > 0 {
		// Recorded even when launch gave up waiting, so Down finds it.
		p.PID, p.StartTime, p.BootID, p.StartedAt = pid, startTime, bootID(), time.Now().UTC()
	}
	if err != nil {
		return s.withLogTail(&CheckError{Process: p.Name, Err: err})
	}
	return nil
}

// checkPortsFree fails if another process listens on one of p's ports.
func checkPortsFree(p *process) error {
	for role, port := range p.Ports {
		ln, err := net.Listen("tcp", addr(port))
		if err != nil {
			return fmt.Errorf("%s: port %d (%s) is in use on 127.0.0.1: another stack or program? "+
				"(choose another port base)", p.Name, port, role)
		}
		ln.Close()
	}
	return nil
}

// ensureSCRAM creates the SCRAM user once the cloud broker answers.
func (s *Stack) ensureSCRAM(ctx context.Context, st *state) error {
	p, err := st.proc(CloudKafkaName)
	if err != nil {
		return err
	}
	return s.poll(ctx, "cloud scram user", func(ctx context.Context) error {
		if err := checkAlive(st, p); err != nil {
			return err
		}
		return s.ensureSCRAMUser(ctx, st)
	})
}

// load reads the state file afresh.
func (s *Stack) load() (*state, error) {
	st, err := readState(s.dir)
	if err != nil {
		return nil, err
	}
	s.st = st
	return st, nil
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

// Kill sends sig to a process and waits until it is gone. A paused process
// is continued after the signal so that it can act on it. Use Pause and
// Resume for SIGSTOP and SIGCONT.
func (s *Stack) Kill(ctx context.Context, name string, sig syscall.Signal) error {
	if sig == syscall.SIGSTOP || sig == syscall.SIGCONT || sig == 0 {
		return fmt.Errorf("kill %s: signal %v: use Pause or Resume", name, sig)
	}
	st, err := s.load()
	if err != nil {
		return err
	}
	p, err := st.proc(name)
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
	st, err := s.load()
	if err != nil {
		return err
	}
	p, err := st.proc(name)
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
	st, err := s.load()
	if err != nil {
		return nil, err
	}
	p, err := st.proc(name)
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

// Grace periods of Down before SIGKILL.
const (
	stopGraceBroker = 60 * time.Second
	stopGraceOther  = 30 * time.Second
)

// Down stops every process: brokers and HDFS first with SIGTERM (SIGKILL
// after a grace period), then the ensemble, which the brokers need to shut
// down cleanly.
func (s *Stack) Down(ctx context.Context) error {
	lock, err := LockFile(ctx, filepath.Join(s.dir, lockFileName), syscall.LOCK_EX)
	if err != nil {
		return err
	}
	defer lock.Unlock()
	st, err := s.load()
	if err != nil {
		return err
	}
	var first, second []*process
	for _, p := range st.Processes {
		if p.Kind == KindZooKeeper {
			second = append(second, p)
		} else {
			first = append(first, p)
		}
	}
	return errors.Join(s.stopAll(ctx, st, first), s.stopAll(ctx, st, second))
}

func (s *Stack) stopAll(ctx context.Context, st *state, procs []*process) error {
	errs := make([]error, len(procs))
	var wg sync.WaitGroup
	for i, p := range procs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.stop(ctx, st, p)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// stop ends one process: SIGTERM, then SIGKILL after its grace period.
func (s *Stack) stop(ctx context.Context, st *state, p *process) error {
	was := st.status(p)
	if was == procGone {
		return nil
	}
	grace := stopGraceOther
	if p.Kind == KindEdgeKafka || p.Kind == KindCloudKafka {
		grace = stopGraceBroker
	}
	alive := func() bool { return st.status(p) != procGone }
	s.log.Info("stopping", "process", p.Name, "pid", p.PID)
	_ = syscall.Kill(p.PID, syscall.SIGTERM)
	if was == procStopped {
		_ = syscall.Kill(p.PID, syscall.SIGCONT)
	}
	gctx, cancel := context.WithTimeout(ctx, grace)
	err := waitGone(gctx, alive)
	cancel()
	if err == nil {
		return nil
	}
	s.log.Warn("no exit after SIGTERM, sending SIGKILL", "process", p.Name, "grace", grace)
	_ = syscall.Kill(p.PID, syscall.SIGKILL)
	kctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := waitGone(kctx, alive); err != nil {
		return fmt.Errorf("stop %s (pid %d): %w", p.Name, p.PID, err)
	}
	return nil
}

// Clean stops the stack and deletes its dir: data, logs, TLS material and
// state.
func (s *Stack) Clean(ctx context.Context) error {
	if err := s.Down(ctx); err != nil {
		return err
	}
	return os.RemoveAll(s.dir)
}

// CleanDir deletes a stack dir that has no state file, refusing if it
// holds anything a stack would not create.
func CleanDir(dir string) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	known := func(n string) bool {
		for _, prefix := range []string{"zk-", "edge-kafka-", "cloud-kafka-", "hdfs", "logs", "tmp", "tls", "conf", ".lock", "users.lock", "tests.", scramFileName, stateFileName, "." + stateFileName} {
			if strings.HasPrefix(n, prefix) {
				return true
			}
		}
		return false
	}
	for _, e := range entries {
		if !known(e.Name()) {
			return fmt.Errorf("%s holds %s, which devstack did not create: not deleting", dir, e.Name())
		}
	}
	return os.RemoveAll(dir)
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

// Dir is the stack dir.
func (s *Stack) Dir() string { return s.dir }

// OwnedByTests reports whether devstacktest started the stack (and the last
// test binary using it stops it).
func (s *Stack) OwnedByTests() bool {
	st, err := s.load()
	if err != nil {
		return false
	}
	return st.OwnedByTests
}

// Running reports whether any process of the stack runs.
func (s *Stack) Running() bool {
	st, err := s.load()
	if err != nil {
		return false
	}
	return st.anyAlive()
}

// Processes lists the process names in start order.
func (s *Stack) Processes() []string {
	out := make([]string, len(s.st.Processes))
	for i, p := range s.st.Processes {
		out[i] = p.Name
	}
	return out
}

// Layout is the stack's port layout.
func (s *Stack) Layout() Layout { return s.st.layout() }

// EdgeBootstrap is the edge cluster's bootstrap.servers (PLAINTEXT).
func (s *Stack) EdgeBootstrap() string { return s.st.layout().EdgeBootstrap() }

// EdgeBrokerAddr is the listener of edge broker id (1-based).
func (s *Stack) EdgeBrokerAddr(id int) string { return addr(s.st.layout().EdgeKafka(id)) }

// EdgeBrokers is the number of edge brokers; their ids are 1..EdgeBrokers.
func (s *Stack) EdgeBrokers() int { return s.st.EdgeBrokers }

// CloudBootstrap is the cloud cluster's PLAINTEXT bootstrap.servers.
func (s *Stack) CloudBootstrap() string { return addr(s.st.layout().CloudPlaintext()) }

// CloudSecureBootstrap is the cloud cluster's SASL_SSL bootstrap.servers.
func (s *Stack) CloudSecureBootstrap() string { return addr(s.st.layout().CloudSASLSSL()) }

// CloudProxiedBootstrap is the bootstrap.servers of the cloud cluster
// through a proxy: the broker's PROXIED listener advertises this address,
// which nothing of the stack listens on. Run a proxy there to
// CloudProxiedTarget (faultproxy.New(st.CloudProxiedBootstrap(),
// st.CloudProxiedTarget())) and cut it to make the cloud unreachable for
// these clients while the broker keeps running. PLAINTEXT. There is one
// such port per stack: tests take devstacktest.Exclusive first.
func (s *Stack) CloudProxiedBootstrap() string { return addr(s.st.layout().CloudProxy()) }

// CloudProxiedTarget is the broker's PROXIED listener, the target of a
// proxy on CloudProxiedBootstrap.
func (s *Stack) CloudProxiedTarget() string { return addr(s.st.layout().CloudProxied()) }

// CACertFile is the PEM file of the CA that signed the cloud broker's
// certificate (valid for 127.0.0.1 and localhost).
func (s *Stack) CACertFile() string { return newTLSPaths(s.dir).CACert }

// SCRAMMechanism is the SASL mechanism of the cloud SASL_SSL listener.
func (s *Stack) SCRAMMechanism() string { return "SCRAM-SHA-512" }

// SCRAMUser is the cloud cluster's SCRAM user.
func (s *Stack) SCRAMUser() string { return s.st.SCRAMUser }

// SCRAMPassword is the SCRAM user's password.
func (s *Stack) SCRAMPassword() string { return s.st.SCRAMPass }

// SCRAMPasswordFile holds SCRAMPassword (mode 0600, no newline).
func (s *Stack) SCRAMPasswordFile() string { return filepath.Join(s.dir, scramFileName) }

// CloudSecureConfig is the librdkafka configuration (bootstrap.servers
// aside) of a client of the SASL_SSL listener.
func (s *Stack) CloudSecureConfig() map[string]string { return cloudSecureConfig(s.st, s.CACertFile()) }

// ZooKeeperServers lists host:port of every ensemble member.
func (s *Stack) ZooKeeperServers() []string { return s.st.layout().ZooKeeperServers() }

// ZooKeeperConnect is the ensemble's connect string without a chroot.
func (s *Stack) ZooKeeperConnect() string { return s.st.layout().ZooKeeperConnect("") }

// EdgeChroot is the ZooKeeper chroot of the edge cluster.
func (s *Stack) EdgeChroot() string { return EdgeChroot }

// CloudChroot is the ZooKeeper chroot of the cloud cluster.
func (s *Stack) CloudChroot() string { return CloudChroot }

// HasHDFS reports whether the stack runs HDFS.
func (s *Stack) HasHDFS() bool { return s.st.HDFS }

// NameNodeAddr is the NameNode's RPC address (fs.defaultFS without hdfs://).
func (s *Stack) NameNodeAddr() string { return addr(s.st.layout().NameNodeRPC()) }

// NameNodeHTTP is the NameNode's HTTP address (web UI, /jmx, WebHDFS).
func (s *Stack) NameNodeHTTP() string { return addr(s.st.layout().NameNodeHTTP()) }

// NameNodeState reads the NameNode's safe mode and DataNode counts.
func (s *Stack) NameNodeState(ctx context.Context) (NameNodeState, error) {
	return nameNodeState(ctx, s.NameNodeHTTP())
}

// Java is the java binary the stack runs on.
func (s *Stack) Java() string { return s.st.Java }

// KafkaClasspath is the classpath of Kafka 3.9 with its tools
// (org.apache.kafka.tools.ProducerPerformance) and MirrorMaker 2
// (org.apache.kafka.connect.mirror.MirrorMaker).
func (s *Stack) KafkaClasspath() string { return s.st.KafkaCP }

// HadoopClasspath is the classpath of hadoop-common and hadoop-hdfs; empty
// without HDFS.
func (s *Stack) HadoopClasspath() string { return s.st.HadoopCP }

// Log4jConfig is the log4j 1 properties file the stack's JVMs use (INFO
// to stdout); pass it as -Dlog4j.configuration=file:PATH.
func (s *Stack) Log4jConfig() string { return log4jPath(s.dir) }

// ToolsLog4jConfig is a log4j 1 properties file for command line tools:
// WARN and above to stderr.
func (s *Stack) ToolsLog4jConfig() string { return toolsLog4jPath(s.dir) }

// KafkaTool returns a command running a Java main class on the stack's Java
// and Kafka classpath with a heap of heapMB and log4j warnings on stderr,
// for example
//
//	st.KafkaTool(ctx, 256, "org.apache.kafka.tools.ProducerPerformance",
//		"--topic", t, "--num-records", "1000", "--record-size", "60000",
//		"--throughput", "-1", "--producer-props", "bootstrap.servers="+st.EdgeBootstrap(), "acks=all")
//
// or "org.apache.kafka.connect.mirror.MirrorMaker" with an mm2.properties.
// The caller sets Stdout and Stderr and runs it.
func (s *Stack) KafkaTool(ctx context.Context, heapMB int, mainClass string, args ...string) *exec.Cmd {
	argv := []string{
		fmt.Sprintf("-Xmx%dm", heapMB), "-XX:+UseG1GC", "-Djava.awt.headless=true",
		"-Dlog4j.configuration=file:" + s.ToolsLog4jConfig(),
		"-cp", s.KafkaClasspath(), mainClass,
	}
	cmd := exec.CommandContext(ctx, s.Java(), append(argv, args...)...)
	cmd.Env = childEnv()
	cmd.WaitDelay = 10 * time.Second
	return cmd
}

// LogFile is the log of a process (stdout and stderr, appended across
// restarts).
func (s *Stack) LogFile(name string) (string, error) {
	if !slices.Contains(s.Processes(), name) {
		return "", fmt.Errorf("%q: %w", name, ErrUnknownProcess)
	}
	return logPath(s.dir, name), nil
}

// FreePort returns port n (0..99) of the range the stack leaves free for
// callers: PortBase+900+n.
func (s *Stack) FreePort(n int) (int, error) {
	if n < 0 || n >= PortSpan-FreePortOffset {
		return 0, fmt.Errorf("free port %d: want 0..%d", n, PortSpan-FreePortOffset-1)
	}
	return s.st.PortBase + FreePortOffset + n, nil
}

// EnvVar is one line of Env.
type EnvVar struct {
	Name, Value string
}

// Env lists the SENSORNODE_* variables that point services and tools at
// the stack, in a stable order.
func (s *Stack) Env() []EnvVar {
	env := []EnvVar{
		{"SENSORNODE_DEVSTACK_DIR", s.dir},
		{"SENSORNODE_DEVSTACK_EDGE_BROKERS", s.EdgeBootstrap()},
		{"SENSORNODE_DEVSTACK_CLOUD_BROKERS", s.CloudBootstrap()},
		{"SENSORNODE_DEVSTACK_CLOUD_SECURE_BROKERS", s.CloudSecureBootstrap()},
		{"SENSORNODE_DEVSTACK_CLOUD_CA_FILE", s.CACertFile()},
		{"SENSORNODE_DEVSTACK_CLOUD_SASL_MECHANISM", s.SCRAMMechanism()},
		{"SENSORNODE_DEVSTACK_CLOUD_SASL_USERNAME", s.SCRAMUser()},
		{"SENSORNODE_DEVSTACK_CLOUD_SASL_PASSWORD_FILE", s.SCRAMPasswordFile()},
		{"SENSORNODE_DEVSTACK_ZOOKEEPER_CONNECT", s.ZooKeeperConnect()},
		{"SENSORNODE_DEVSTACK_EDGE_ZOOKEEPER_CHROOT", EdgeChroot},
		{"SENSORNODE_DEVSTACK_CLOUD_ZOOKEEPER_CHROOT", CloudChroot},
	}
	if s.HasHDFS() {
		env = append(env,
			EnvVar{"SENSORNODE_DEVSTACK_NAMENODE_ADDR", s.NameNodeAddr()},
			EnvVar{"SENSORNODE_DEVSTACK_NAMENODE_HTTP_ADDR", s.NameNodeHTTP()},
		)
	}
	env = append(env,
		EnvVar{"SENSORNODE_DEVSTACK_JAVA", s.Java()},
		EnvVar{"SENSORNODE_DEVSTACK_KAFKA_CLASSPATH", s.KafkaClasspath()},
	)
	if s.HasHDFS() {
		env = append(env, EnvVar{"SENSORNODE_DEVSTACK_HADOOP_CLASSPATH", s.HadoopClasspath()})
	}
	return env
}
