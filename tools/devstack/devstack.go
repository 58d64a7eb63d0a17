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
	"path/filepath"
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

// loadProc loads the state and looks up the process called name in it.
func (s *Stack) loadProc(name string) (*state, *process, error) {
	st, err := s.load()
	if err != nil {
		return nil, nil, err
	}
	p, err := st.proc(name)
	if err != nil {
		return nil, nil, err
	}
	return st, p, nil
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
	if st.status(p) == procGone {
		return nil
	}
	grace := stopGraceOther
	if p.Kind == KindEdgeKafka || p.Kind == KindCloudKafka {
		grace = stopGraceBroker
	}
	s.log.Info("stopping", "process", p.Name, "pid", p.PID)
	proc := Process{PID: p.PID, StartTime: p.StartTime, Boot: p.BootID, Marker: p.marker(st.Dir)}
	if err := proc.stop(ctx, grace, func() {
		s.log.Warn("no exit after SIGTERM, sending SIGKILL", "process", p.Name, "grace", grace)
	}); err != nil {
		return fmt.Errorf("stop %s: %w", p.Name, err)
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
