package kubestack

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sensornode/sensornode/tools/devstack"
)

// groups are the processes in start order: a group starts at once, then
// waits until all of it is healthy (an etcd member is not before a quorum
// of them runs).
var groups = func() [][]string {
	var g [5][]string
	for i := 1; i <= Masters; i++ {
		n := strconv.Itoa(i)
		g[0] = append(g[0], "etcd-"+n)
		g[1] = append(g[1], "kube-apiserver-"+n)
		g[2] = append(g[2], "kube-controller-manager-"+n, "kube-scheduler-"+n)
	}
	for _, n := range Nodes {
		g[3] = append(g[3], WatcherProcess(n.Name))
		g[4] = append(g[4], KwokProcess(n.Name))
	}
	return g[:]
}()

// order is every process in start order.
var order = slices.Concat(groups...)

// KwokProcess is the name of the kwok process that plays node's kubelet.
func KwokProcess(node string) string { return kwokPrefix + node }

// nodeIndex is the index in Nodes of a kwok's or master-watcher's node
// (-1: none).
func nodeIndex(process string) int {
	return slices.IndexFunc(Nodes, func(n Node) bool {
		return KwokProcess(n.Name) == process || WatcherProcess(n.Name) == process
	})
}

// procSpec splits a process name into its binary and master (1..Masters;
// 0 for a node's kwok or master-watcher, which are no master's).
func procSpec(name string) (bin string, master int) {
	if strings.HasPrefix(name, kwokPrefix) {
		return "kwok", 0
	}
	if strings.HasPrefix(name, watcherPrefix) {
		return watcherBin, 0
	}
	i := strings.LastIndexByte(name, '-')
	if i < 0 {
		return name, 0
	}
	m, err := strconv.Atoi(name[i+1:])
	if err != nil {
		return name, 0
	}
	return name[:i], m
}

// Up builds the binaries if the cache lacks them, then reuses the stack in
// cfg.Dir if all of it runs and is healthy; otherwise it stops what is left
// of it, wipes the dir and starts a fresh one: new PKI, empty etcd, the
// thesis's nodes Ready.
func Up(ctx context.Context, cfg Config) (*Stack, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	bin, err := Build(ctx, cfg.CacheDir, cfg.BuildProgress)
	if err != nil {
		return nil, err
	}
	if old, err := Open(cfg.Dir); err == nil {
		old = old.WithLogger(cfg.Logger)
		hctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		herr := old.Healthy(hctx)
		cancel()
		if herr == nil && old.st.Ports == portsFrom(cfg.PortBase) && old.st.Bin == bin {
			cfg.Logger.Info("reusing running stack", "dir", cfg.Dir)
			return old, nil
		}
		cfg.Logger.Info("replacing stack", "dir", cfg.Dir, "reason", herr)
		if err := old.Down(ctx); err != nil {
			return nil, err
		}
	} else if !errors.Is(err, ErrNoStack) {
		return nil, err
	}
	if err := os.RemoveAll(cfg.Dir); err != nil {
		return nil, err
	}
	for _, d := range []string{"logs", "etcd", "certs"} { // certs/NAME: self-signed serving certificates
		if err := os.MkdirAll(filepath.Join(cfg.Dir, d), 0o755); err != nil {
			return nil, err
		}
	}
	s := &Stack{
		dir: cfg.Dir,
		log: cfg.Logger,
		st: state{
			Ports: portsFrom(cfg.PortBase), Bin: bin,
			Processes: map[string]devstack.Process{}, Args: map[string][]string{}, Env: map[string][]string{},
			Started: time.Now().UTC(),
		},
	}
	if err := s.start(ctx); err != nil {
		return s, fmt.Errorf("%w (processes that started keep running: `kubestack down`)", err)
	}
	return s, nil
}

func (s *Stack) start(ctx context.Context) error {
	pkiDir := filepath.Join(s.dir, "pki")
	if _, err := newPKI(pkiDir, time.Now()); err != nil {
		return fmt.Errorf("pki: %w", err)
	}
	if err := writeKubeconfig(s.Kubeconfig(), pkiDir, "admin", s.Server()); err != nil {
		return err
	}
	for _, n := range Nodes {
		if err := writeKubeconfig(s.kwokKubeconfig(n.Name), pkiDir, "kwok", s.NodeServer(n.Name)); err != nil {
			return err
		}
		if err := writeKubeconfig(s.NodeKubeconfig(n.Name), pkiDir, "admin", s.NodeServer(n.Name)); err != nil {
			return err
		}
	}
	if err := s.buildWatcher(ctx); err != nil {
		return err
	}
	for i := 1; i <= Masters; i++ {
		if err := writeKubeconfig(s.MasterKubeconfig(i), pkiDir, "admin", s.MasterServer(i)); err != nil {
			return err
		}
		for _, id := range []string{"kube-controller-manager", "kube-scheduler"} {
			if err := writeKubeconfig(s.componentKubeconfig(id, i), pkiDir, id, s.MasterServer(i)); err != nil {
				return err
			}
		}
	}
	stages := filepath.Join(s.dir, "kwok-stages.yaml")
	if err := os.WriteFile(stages, kwokStages, 0o644); err != nil {
		return err
	}
	for _, g := range groups {
		for _, name := range g {
			s.st.Args[name] = s.args(name, pkiDir, stages)
			if bin, _ := procSpec(name); bin == watcherBin {
				s.st.Env[name] = s.watcherEnv(nodeIndex(name))
			}
			if err := s.launch(ctx, name); err != nil {
				return err
			}
		}
		for _, name := range g {
			if err := s.waitHealthy(ctx, name); err != nil {
				return err
			}
		}
	}
	c, err := s.Client()
	if err != nil {
		return err
	}
	if err := createNodes(ctx, c); err != nil {
		return err
	}
	s.log.Info("waiting for nodes to be ready", "nodes", len(Nodes))
	if err := poll(ctx, 2*time.Minute, func() error { return nodesReady(ctx, c) }); err != nil {
		return fmt.Errorf("nodes: %w (kwok logs: %s)", err, s.LogFile("kwok-*"))
	}
	// Pods need the default ServiceAccount, which the controller manager
	// creates: waiting for it here keeps that race out of every caller.
	return poll(ctx, time.Minute, func() error {
		return c.Get(ctx, "/api/v1/namespaces/default/serviceaccounts/default", nil)
	})
}

func (s *Stack) componentKubeconfig(identity string, master int) string {
	return filepath.Join(s.dir, identity+"-"+strconv.Itoa(master)+".kubeconfig")
}

func (s *Stack) launch(ctx context.Context, name string) error {
	s.log.Info("starting", "process", name)
	bin, _ := procSpec(name)
	path := filepath.Join(s.st.Bin, bin)
	if bin == watcherBin {
		path = s.watcherPath()
	}
	args := append([]string{path}, s.st.Args[name]...)
	// The run dir is on every command line (the marker that tells a reused
	// pid): in an argument, or in master-watcher's path.
	p, err := devstack.Launch(ctx, args, environ(s.st.Env[name]), s.LogFile(name), s.dir)
	if err != nil {
		return fmt.Errorf("start %s: %w", name, err)
	}
	s.st.Processes[name] = p
	return writeState(s.dir, s.st)
}

// Stop stops one process (SIGTERM, SIGKILL after 20 s), e.g. a master's
// kube-apiserver-2 and etcd-2 for a master loss.
func (s *Stack) Stop(ctx context.Context, name string) error {
	p, ok := s.st.Processes[name]
	if !ok {
		return fmt.Errorf("no process %q", name)
	}
	s.log.Info("stopping", "process", name, "pid", p.PID)
	return p.Stop(ctx, 20*time.Second)
}

// MasterProcesses are master i's processes in start order.
func MasterProcesses(i int) []string {
	n := strconv.Itoa(i)
	return []string{"etcd-" + n, "kube-apiserver-" + n, "kube-controller-manager-" + n, "kube-scheduler-" + n}
}

// StopMaster stops master i's processes, last started first.
func (s *Stack) StopMaster(ctx context.Context, i int) error {
	ps := MasterProcesses(i)
	slices.Reverse(ps)
	for _, n := range ps {
		if err := s.Stop(ctx, n); err != nil {
			return err
		}
	}
	return nil
}

// StartMaster starts master i's processes again and waits until each is
// healthy.
func (s *Stack) StartMaster(ctx context.Context, i int) error {
	for _, n := range MasterProcesses(i) {
		if err := s.Start(ctx, n); err != nil {
			return err
		}
	}
	return nil
}

// Start starts a stopped process again with its first command line and
// waits until it is healthy; a running one is left alone.
func (s *Stack) Start(ctx context.Context, name string) error {
	p, ok := s.st.Processes[name]
	if !ok {
		return fmt.Errorf("no process %q", name)
	}
	if !p.Running() {
		if err := s.launch(ctx, name); err != nil {
			return err
		}
	}
	return s.waitHealthy(ctx, name)
}

func (s *Stack) waitHealthy(ctx context.Context, name string) error {
	hc, err := s.healthClient()
	if err != nil {
		return err
	}
	p := s.st.Processes[name]
	err = poll(ctx, 2*time.Minute, func() error {
		if !p.Running() {
			return errExited
		}
		return get(ctx, hc, s.healthURL(name))
	})
	if err != nil {
		return fmt.Errorf("%s not healthy: %w (log: %s)", name, err, s.LogFile(name))
	}
	return nil
}

var errExited = errors.New("process exited")

// poll runs f every 200 ms until it succeeds, the process exited, or
// timeout.
func poll(ctx context.Context, timeout time.Duration, f func() error) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for {
		err := f()
		if err == nil || errors.Is(err, errExited) {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w: last: %v", context.Cause(ctx), err)
		case <-t.C:
		}
	}
}

func (s *Stack) args(name, pkiDir, stages string) []string {
	bin, m := procSpec(name)
	pk := func(f string) string { return filepath.Join(pkiDir, f) }
	loop := func(port int) string { return "127.0.0.1:" + strconv.Itoa(port) }
	switch bin {
	case watcherBin: // configured by its environment (watcherEnv)
		return nil
	case "kwok":
		// One kwok per node, as each board runs its own kubelet: stopping
		// it stops the node's heartbeats (a worker loss). It reaches the
		// API servers through its node's master-watcher.
		j := nodeIndex(name)
		return []string{
			"--kubeconfig=" + s.kwokKubeconfig(Nodes[j].Name),
			"--config=" + stages,
			"--manage-single-node=" + Nodes[j].Name,
			// Pod IPs from a /24 of the node's own (kwok allocates them
			// without coordination between its processes).
			fmt.Sprintf("--cidr=10.244.%d.0/24", j),
			"--node-ip=127.0.0.1",
			"--node-lease-duration-seconds=40",
			"--server-address=" + loop(s.st.Ports.Kwok[j]),
		}
	}
	p := s.st.Ports.Masters[m-1]
	certDir := filepath.Join(s.dir, "certs", name)
	switch bin {
	case "etcd":
		var cluster []string
		for i, mp := range s.st.Ports.Masters {
			cluster = append(cluster, fmt.Sprintf("master-%d=http://%s", i+1, loop(mp.EtcdPeer)))
		}
		return []string{
			"--name=master-" + strconv.Itoa(m),
			"--data-dir=" + filepath.Join(s.dir, "etcd", strconv.Itoa(m)),
			"--listen-client-urls=http://" + loop(p.EtcdClient),
			"--advertise-client-urls=http://" + loop(p.EtcdClient),
			"--listen-peer-urls=http://" + loop(p.EtcdPeer),
			"--initial-advertise-peer-urls=http://" + loop(p.EtcdPeer),
			"--initial-cluster=" + strings.Join(cluster, ","),
			"--initial-cluster-state=new",
			"--initial-cluster-token=kubestack",
			// A test cluster: durability against power loss is not needed,
			// and fsync on a shared disk is what slows etcd most.
			"--unsafe-no-fsync",
			"--log-level=warn",
		}
	case "kube-apiserver":
		return []string{
			// Its own member only, as on the thesis's masters.
			"--etcd-servers=http://" + loop(p.EtcdClient),
			"--bind-address=127.0.0.1",
			"--advertise-address=127.0.0.1",
			// The endpoint reconciler refuses a loopback address; nothing
			// runs in pods here that would reach the kubernetes Service.
			"--endpoint-reconciler-type=none",
			"--secure-port=" + strconv.Itoa(p.APIServer),
			"--cert-dir=" + certDir,
			"--tls-cert-file=" + pk("apiserver.crt"),
			"--tls-private-key-file=" + pk("apiserver.key"),
			"--client-ca-file=" + pk("ca.crt"),
			"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
			"--service-account-key-file=" + pk("sa.pub"),
			"--service-account-signing-key-file=" + pk("sa.key"),
			"--service-cluster-ip-range=" + serviceCIDR,
			"--authorization-mode=Node,RBAC",
			"--allow-privileged=true",
		}
	case "kube-controller-manager":
		return append(s.controlPlaneFlags(bin, m, p.ControllerMgr, certDir),
			"--use-service-account-credentials=true",
			"--service-account-private-key-file="+pk("sa.key"),
			"--root-ca-file="+pk("ca.crt"),
			"--cluster-signing-cert-file="+pk("ca.crt"),
			"--cluster-signing-key-file="+pk("ca.key"),
			"--service-cluster-ip-range="+serviceCIDR,
		)
	case "kube-scheduler":
		return s.controlPlaneFlags(bin, m, p.Scheduler, certDir)
	}
	return nil
}

// controlPlaneFlags are the flags kube-controller-manager and
// kube-scheduler share: their kubeconfig for the API server and for
// delegated authentication and authorization, a loopback secure port with
// certificates in certDir, and leader election among the masters.
func (s *Stack) controlPlaneFlags(bin string, master, port int, certDir string) []string {
	kc := s.componentKubeconfig(bin, master)
	return []string{
		"--kubeconfig=" + kc,
		"--authentication-kubeconfig=" + kc,
		"--authorization-kubeconfig=" + kc,
		"--bind-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(port),
		"--cert-dir=" + certDir,
		"--leader-elect=true",
	}
}
