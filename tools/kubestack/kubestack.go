// Package kubestack runs a real Kubernetes control plane on 127.0.0.1 with
// simulated nodes: etcd, kube-apiserver, kube-controller-manager,
// kube-scheduler built from the Go module proxy, and kwok playing the
// kubelets of the thesis's five boards. No container runs: kwok marks pods
// Running (and completes pods of Jobs and helm test pods). See README.md.
package kubestack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sensornode/sensornode/libs/atomicfile"

	"github.com/sensornode/sensornode/tools/devstack"
)

const (
	// EnvDir names the stack directory when --dir is not given.
	EnvDir = "SENSORNODE_KUBESTACK_DIR"
	// DirName is the default stack directory under the repo root.
	DirName = ".kubestack"
	// DefaultPortBase is the first of the stack's ports (see Ports).
	DefaultPortBase = 26400

	serviceCIDR = "10.96.0.0/16"
	serviceIP   = "10.96.0.1" // the kubernetes Service: first IP of serviceCIDR
	stateFile   = "state.json"
)

// ErrNoStack means the directory holds no started stack.
var ErrNoStack = errors.New("no kubestack here")

// Config of Up.
type Config struct {
	Dir      string // run dir: pki, data, logs, kubeconfig, state
	CacheDir string // build cache (DefaultCacheDir when empty)
	PortBase int    // DefaultPortBase when 0
	Logger   *slog.Logger
	// BuildProgress receives a line per build step of a cold build.
	BuildProgress io.Writer
}

func (c *Config) setDefaults() error {
	if c.CacheDir == "" {
		d, err := DefaultCacheDir()
		if err != nil {
			return err
		}
		c.CacheDir = d
	}
	if c.PortBase == 0 {
		c.PortBase = DefaultPortBase
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return nil
}

// Validate reports a config Up cannot use.
func (c Config) Validate() error {
	if c.Dir == "" || !filepath.IsAbs(c.Dir) {
		return fmt.Errorf("kubestack: dir %q must be an absolute path", c.Dir)
	}
	if c.PortBase < 1024 || c.PortBase+portCount > 65535 {
		return fmt.Errorf("kubestack: port base %d out of range", c.PortBase)
	}
	return nil
}

// Masters is the number of masters: like the thesis's, each runs an etcd
// member, a kube-apiserver (on its own member only), a controller manager
// and a scheduler (both with leader election).
const Masters = 3

// MasterPorts are one master's ports.
type MasterPorts struct {
	EtcdClient    int `json:"etcd_client"`
	EtcdPeer      int `json:"etcd_peer"`
	APIServer     int `json:"apiserver"`
	ControllerMgr int `json:"controller_manager"`
	Scheduler     int `json:"scheduler"`
}

// Ports of a stack, all on 127.0.0.1: master i (0-based) at base+10*i ..
// base+10*i+4; for node j (0-based, in Nodes order) its kwok at
// base+30+j, its master-watcher's forwarder at base+35+j and admin server
// at base+40+j.
type Ports struct {
	Masters  [Masters]MasterPorts   `json:"masters"`
	Kwok     [numNodes]int          `json:"kwok_servers"`
	Watchers [numNodes]WatcherPorts `json:"master_watchers"`
}

const portCount = 30 + 3*numNodes

func portsFrom(base int) Ports {
	var p Ports
	for i := range p.Masters {
		b := base + 10*i
		p.Masters[i] = MasterPorts{EtcdClient: b, EtcdPeer: b + 1, APIServer: b + 2, ControllerMgr: b + 3, Scheduler: b + 4}
	}
	for j := range p.Kwok {
		p.Kwok[j] = base + 30 + j
		p.Watchers[j] = WatcherPorts{Forward: base + 30 + numNodes + j, Admin: base + 30 + 2*numNodes + j}
	}
	return p
}

// state is <dir>/state.json.
type state struct {
	Ports     Ports                       `json:"ports"`
	Bin       string                      `json:"bin"`
	Processes map[string]devstack.Process `json:"processes"`
	Args      map[string][]string         `json:"args"` // command lines, for Start
	Env       map[string][]string         `json:"env"`  // variables added to the environment, for Start
	Started   time.Time                   `json:"started"`
}

// Stack is a started (or recorded) control plane.
type Stack struct {
	dir string
	st  state
	log *slog.Logger
}

// DefaultDir is $SENSORNODE_KUBESTACK_DIR, else .kubestack at the repo root.
func DefaultDir() (string, error) {
	if d := os.Getenv(EnvDir); d != "" {
		return filepath.Abs(d)
	}
	root, err := devstack.RepoRoot(".")
	if err != nil {
		return "", err
	}
	return filepath.Join(root, DirName), nil
}

// Open reads the stack recorded in dir; ErrNoStack if there is none.
func Open(dir string) (*Stack, error) {
	b, err := os.ReadFile(filepath.Join(dir, stateFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s", ErrNoStack, dir)
	}
	if err != nil {
		return nil, err
	}
	s := &Stack{dir: dir, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if err := json.Unmarshal(b, &s.st); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, stateFile), err)
	}
	return s, nil
}

// WithLogger returns s logging to l.
func (s *Stack) WithLogger(l *slog.Logger) *Stack {
	c := *s
	c.log = l
	return &c
}

// Dir is the run directory.
func (s *Stack) Dir() string { return s.dir }

// Ports are the stack's loopback ports.
func (s *Stack) Ports() Ports { return s.st.Ports }

// Kubeconfig is the path of the admin kubeconfig (system:masters).
func (s *Stack) Kubeconfig() string { return filepath.Join(s.dir, "kubeconfig") }

// Server is the URL of the first master's API server (the kubeconfig's).
func (s *Stack) Server() string { return s.MasterServer(1) }

// MasterServer is the URL of master i's API server (1..Masters).
func (s *Stack) MasterServer(i int) string {
	return "https://127.0.0.1:" + strconv.Itoa(s.st.Ports.Masters[i-1].APIServer)
}

// MasterKubeconfig is the admin kubeconfig of master i's API server alone.
func (s *Stack) MasterKubeconfig(i int) string {
	return filepath.Join(s.dir, "kubeconfig-master-"+strconv.Itoa(i))
}

// LogFile is the log of a process (etcd, kube-apiserver, ...).
func (s *Stack) LogFile(name string) string { return filepath.Join(s.dir, "logs", name+".log") }

// Processes are the names of the stack's processes in start order.
func (s *Stack) Processes() []string { return append([]string(nil), order...) }

// Env are the variables `kubestack env` prints.
func (s *Stack) Env() [][2]string {
	return [][2]string{
		{"KUBECONFIG", s.Kubeconfig()},
		{EnvDir, s.dir},
		{"SENSORNODE_KUBESTACK_SERVER", s.Server()},
		{"SENSORNODE_KUBESTACK_SERVERS", strings.Join(s.servers(), ",")},
	}
}

func (s *Stack) servers() []string {
	var out []string
	for i := 1; i <= Masters; i++ {
		out = append(out, s.MasterServer(i))
	}
	return out
}

// Running tells which processes run, by name.
func (s *Stack) Running() map[string]bool {
	m := make(map[string]bool, len(order))
	for _, n := range order {
		p, ok := s.st.Processes[n]
		m[n] = ok && p.Running()
	}
	return m
}

// Down stops every process, in reverse start order (then any other the
// state records, e.g. of an older layout).
func (s *Stack) Down(ctx context.Context) error {
	names := slices.Clone(order)
	slices.Reverse(names)
	for _, n := range slices.Sorted(maps.Keys(s.st.Processes)) {
		if !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	var errs []error
	for _, n := range names {
		p, ok := s.st.Processes[n]
		if !ok || !p.Running() {
			continue
		}
		s.log.Info("stopping", "process", n, "pid", p.PID)
		if err := p.Stop(ctx, 20*time.Second); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", n, err))
		}
	}
	return errors.Join(errs...)
}

// Healthy checks every process runs and answers its health endpoint.
func (s *Stack) Healthy(ctx context.Context) error {
	for _, n := range order {
		p, ok := s.st.Processes[n]
		if !ok || !p.Running() {
			return fmt.Errorf("%s is not running (log: %s)", n, s.LogFile(n))
		}
	}
	hc, err := s.healthClient()
	if err != nil {
		return err
	}
	for _, n := range order {
		if err := get(ctx, hc, s.healthURL(n)); err != nil {
			return fmt.Errorf("%s: %w", n, err)
		}
	}
	return nil
}

func (s *Stack) healthURL(name string) string {
	bin, m := procSpec(name)
	switch bin {
	case "kwok":
		return fmt.Sprintf("http://127.0.0.1:%d/healthz", s.st.Ports.Kwok[nodeIndex(name)])
	case watcherBin:
		return fmt.Sprintf("http://127.0.0.1:%d/readyz", s.st.Ports.Watchers[nodeIndex(name)].Admin)
	}
	p := s.st.Ports.Masters[m-1]
	switch bin {
	case "etcd":
		return fmt.Sprintf("http://127.0.0.1:%d/health", p.EtcdClient)
	case "kube-apiserver":
		return fmt.Sprintf("https://127.0.0.1:%d/readyz", p.APIServer)
	case "kube-controller-manager":
		return fmt.Sprintf("https://127.0.0.1:%d/healthz", p.ControllerMgr)
	case "kube-scheduler":
		return fmt.Sprintf("https://127.0.0.1:%d/healthz", p.Scheduler)
	}
	return ""
}

// healthClient presents the admin certificate; the controller manager's
// and scheduler's self-signed serving certificates are not verified (their
// /healthz is all it reads).
func (s *Stack) healthClient() (*http.Client, error) {
	tc, err := s.tlsConfig()
	if err != nil {
		return nil, err
	}
	tc.InsecureSkipVerify = true //nolint:gosec // loopback health probes of self-signed components
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: tc}}, nil
}

// get fails unless url answers 200.
func get(ctx context.Context, hc *http.Client, url string) error {
	r, err := doGet(ctx, hc, url)
	if err != nil {
		return err
	}
	if r.status != http.StatusOK {
		return fmt.Errorf("GET %s: %d: %.4096s", url, r.status, r.body)
	}
	return nil
}

type answer struct {
	status int
	body   string
}

// doGet reads url's status and body (up to 1 MiB).
func doGet(ctx context.Context, hc *http.Client, url string) (answer, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return answer{}, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return answer{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return answer{}, fmt.Errorf("GET %s: %w", url, err)
	}
	return answer{status: resp.StatusCode, body: string(b)}, nil
}

func writeState(dir string, st state) error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(filepath.Join(dir, stateFile), b, 0o644)
}
