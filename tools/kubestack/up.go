package kubestack

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/sensornode/sensornode/tools/devstack"
)

// order is the start order of the processes.
var order = []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok"}

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
	for _, d := range []string{"logs", "etcd", "certs"} {
		if err := os.MkdirAll(filepath.Join(cfg.Dir, d), 0o755); err != nil {
			return nil, err
		}
	}
	s := &Stack{
		dir: cfg.Dir,
		log: cfg.Logger,
		st: state{
			Ports: portsFrom(cfg.PortBase), Bin: bin,
			Processes: map[string]devstack.Process{}, Started: time.Now().UTC(),
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
	for _, id := range []string{"admin", "kube-controller-manager", "kube-scheduler", "kwok"} {
		path := filepath.Join(s.dir, id+".kubeconfig")
		if id == "admin" {
			path = s.Kubeconfig()
		}
		if err := writeKubeconfig(path, pkiDir, id, s.Server()); err != nil {
			return err
		}
	}
	stages := filepath.Join(s.dir, "kwok-stages.yaml")
	if err := os.WriteFile(stages, kwokStages, 0o644); err != nil {
		return err
	}
	for _, name := range order {
		if err := s.launch(ctx, name, s.args(name, pkiDir, stages)); err != nil {
			return err
		}
		if err := s.waitHealthy(ctx, name); err != nil {
			return err
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
		return fmt.Errorf("nodes: %w (kwok log: %s)", err, s.LogFile("kwok"))
	}
	// Pods need the default ServiceAccount, which the controller manager
	// creates: waiting for it here keeps that race out of every caller.
	return poll(ctx, time.Minute, func() error {
		return c.Get(ctx, "/api/v1/namespaces/default/serviceaccounts/default", nil)
	})
}

func (s *Stack) launch(ctx context.Context, name string, args []string) error {
	s.log.Info("starting", "process", name)
	args = append([]string{filepath.Join(s.st.Bin, name)}, args...)
	// The run dir is on every command line (the marker that tells a reused pid).
	p, err := devstack.Launch(ctx, args, os.Environ(), s.LogFile(name), s.dir)
	if err != nil {
		return fmt.Errorf("start %s: %w", name, err)
	}
	s.st.Processes[name] = p
	return writeState(s.dir, s.st)
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
	p := s.st.Ports
	pk := func(f string) string { return filepath.Join(pkiDir, f) }
	loop := func(port int) string { return "127.0.0.1:" + strconv.Itoa(port) }
	switch name {
	case "etcd":
		return []string{
			"--name=kubestack",
			"--data-dir=" + filepath.Join(s.dir, "etcd"),
			"--listen-client-urls=http://" + loop(p.EtcdClient),
			"--advertise-client-urls=http://" + loop(p.EtcdClient),
			"--listen-peer-urls=http://" + loop(p.EtcdPeer),
			"--initial-advertise-peer-urls=http://" + loop(p.EtcdPeer),
			"--initial-cluster=kubestack=http://" + loop(p.EtcdPeer),
			// A test cluster: durability against power loss is not needed,
			// and fsync on a shared disk is what slows etcd most.
			"--unsafe-no-fsync",
			"--log-level=warn",
		}
	case "kube-apiserver":
		return []string{
			"--etcd-servers=http://" + loop(p.EtcdClient),
			"--bind-address=127.0.0.1",
			"--advertise-address=127.0.0.1",
			// The endpoint reconciler refuses a loopback address; nothing
			// runs in pods here that would reach the kubernetes Service.
			"--endpoint-reconciler-type=none",
			"--secure-port=" + strconv.Itoa(p.APIServer),
			"--cert-dir=" + filepath.Join(s.dir, "certs"),
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
		return []string{
			"--kubeconfig=" + filepath.Join(s.dir, "kube-controller-manager.kubeconfig"),
			"--authentication-kubeconfig=" + filepath.Join(s.dir, "kube-controller-manager.kubeconfig"),
			"--authorization-kubeconfig=" + filepath.Join(s.dir, "kube-controller-manager.kubeconfig"),
			"--bind-address=127.0.0.1",
			"--secure-port=" + strconv.Itoa(p.ControllerMgr),
			"--cert-dir=" + filepath.Join(s.dir, "certs"),
			"--leader-elect=false",
			"--use-service-account-credentials=true",
			"--service-account-private-key-file=" + pk("sa.key"),
			"--root-ca-file=" + pk("ca.crt"),
			"--cluster-signing-cert-file=" + pk("ca.crt"),
			"--cluster-signing-key-file=" + pk("ca.key"),
			"--service-cluster-ip-range=" + serviceCIDR,
		}
	case "kube-scheduler":
		return []string{
			"--kubeconfig=" + filepath.Join(s.dir, "kube-scheduler.kubeconfig"),
			"--authentication-kubeconfig=" + filepath.Join(s.dir, "kube-scheduler.kubeconfig"),
			"--authorization-kubeconfig=" + filepath.Join(s.dir, "kube-scheduler.kubeconfig"),
			"--bind-address=127.0.0.1",
			"--secure-port=" + strconv.Itoa(p.Scheduler),
			"--cert-dir=" + filepath.Join(s.dir, "certs"),
			"--leader-elect=false",
		}
	case "kwok":
		return []string{
			"--kubeconfig=" + filepath.Join(s.dir, "kwok.kubeconfig"),
			"--config=" + stages,
			"--manage-all-nodes=false",
			"--manage-nodes-with-annotation-selector=" + kwokNodeAnnotation + "=fake",
			"--cidr=" + podCIDR,
			"--node-ip=127.0.0.1",
			"--node-lease-duration-seconds=40",
			"--server-address=" + loop(p.KwokServer),
		}
	}
	return nil
}
