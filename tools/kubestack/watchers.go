package kubestack

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sensornode/sensornode/tools/devstack"
	"github.com/sensornode/sensornode/tools/localrun/promtext"
)

// Every node runs a master-watcher (services/master-watcher, built from
// this repository at every fresh start) with its forwarder sink, as the
// thesis's boards do; the node's kwok (its kubelet) reaches the API
// servers only through that forwarder, so losing any one master, master 1
// included, leaves the nodes talking to a live one.

// WatcherPorts are one node's master-watcher ports.
type WatcherPorts struct {
	Forward int `json:"forward"` // the forwarder sink (TLS passes through)
	Admin   int `json:"admin"`   // /metrics, /livez, /readyz
}

// WatcherProcess is the name of node's master-watcher process.
func WatcherProcess(node string) string { return watcherPrefix + node }

const (
	kwokPrefix    = "kwok-"
	watcherPrefix = "master-watcher-"
	watcherBin    = "master-watcher"
)

// NodeServer is the URL of the API servers through node's master-watcher
// forwarder (the API server certificate holds 127.0.0.1).
func (s *Stack) NodeServer(node string) string {
	return "https://127.0.0.1:" + strconv.Itoa(s.st.Ports.Watchers[nodeIndexByName(node)].Forward)
}

// WatcherAdmin is the base URL of node's master-watcher admin server.
func (s *Stack) WatcherAdmin(node string) string {
	return "http://127.0.0.1:" + strconv.Itoa(s.st.Ports.Watchers[nodeIndexByName(node)].Admin)
}

// NodeKubeconfig is an admin kubeconfig whose server is node's
// master-watcher forwarder.
func (s *Stack) NodeKubeconfig(node string) string {
	return filepath.Join(s.dir, "kubeconfig-"+node)
}

// NodeClient is a cluster-admin client through node's master-watcher
// forwarder.
func (s *Stack) NodeClient(node string) (*Client, error) {
	return s.clientOf(s.NodeServer(node))
}

// nodeIndexByName is the index in Nodes of node, which must be one.
func nodeIndexByName(node string) int {
	j := slices.IndexFunc(Nodes, func(n Node) bool { return n.Name == node })
	if j < 0 {
		panic(fmt.Sprintf("kubestack: no node %q", node))
	}
	return j
}

// kwokKubeconfig is node's kwok kubeconfig: through its master-watcher.
func (s *Stack) kwokKubeconfig(node string) string {
	return filepath.Join(s.dir, "kwok-"+node+".kubeconfig")
}

// buildWatcher builds master-watcher from the repository into the run
// dir's bin/ (its path there is the marker on its command line).
func (s *Stack) buildWatcher(ctx context.Context) error {
	root, err := devstack.RepoRoot(".")
	if err != nil {
		return err
	}
	s.log.Info("building master-watcher", "repo", root)
	cmd := exec.CommandContext(ctx, "go", "build", "-o", s.watcherPath(), "./services/master-watcher/cmd/master-watcher")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("build master-watcher: %w\n%s", err, out)
	}
	return nil
}

func (s *Stack) watcherPath() string { return filepath.Join(s.dir, "bin", watcherBin) }

// watcherEnv configures node j's master-watcher with its real variables:
// the three API servers in priority order, probed at /readyz over HTTPS
// with the stack's CA (anonymous: /readyz is public), every other setting
// (probe interval 2 s, F=2, R=5, hold-down 30 s) at the daemon's default,
// the chart's.
func (s *Stack) watcherEnv(j int) []string {
	p := s.st.Ports.Watchers[j]
	return []string{
		"SENSORNODE_MASTERS=" + strings.Join(s.servers(), ","),
		"SENSORNODE_PROBE_MODE=https",
		"SENSORNODE_PROBE_CA_FILE=" + filepath.Join(s.dir, "pki", "ca.crt"),
		"SENSORNODE_FORWARD_LISTEN_ADDR=127.0.0.1:" + strconv.Itoa(p.Forward),
		"SENSORNODE_ADMIN_ADDR=127.0.0.1:" + strconv.Itoa(p.Admin),
		"SENSORNODE_NODE_NAME=" + Nodes[j].Name,
		"SENSORNODE_LOG_LEVEL=info",
	}
}

// environ is the caller's environment without SENSORNODE_ variables (a
// master-watcher must read only the ones the stack gives it), plus extra.
func environ(extra []string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SENSORNODE_") {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

// WatcherState is what a node's master-watcher reports on its admin
// server.
type WatcherState struct {
	Active int  // index of the active master (0-based), -1 before the first choice
	Ready  bool // /readyz answered 200
	Rounds int  // probe rounds done
}

// Watcher reads node's master-watcher's /readyz, its active master
// (sensornode_master_watcher_active_master_index) and its probe rounds
// (sensornode_master_watcher_probe_rounds_total).
func (s *Stack) Watcher(ctx context.Context, node string) (WatcherState, error) {
	ws := WatcherState{Active: -1}
	hc := &http.Client{Timeout: 5 * time.Second}
	base := s.WatcherAdmin(node)
	resp, err := doGet(ctx, hc, base+"/readyz")
	if err != nil {
		return ws, err
	}
	ws.Ready = resp.status == http.StatusOK
	ss, err := promtext.Scrape(ctx, hc, strings.TrimPrefix(base, "http://"))
	if err != nil {
		return ws, err
	}
	active, okA := ss.Max("sensornode_master_watcher_active_master_index", nil)
	rounds, okR := ss.Max("sensornode_master_watcher_probe_rounds_total", nil)
	if !okA || !okR {
		return ws, fmt.Errorf("%s: /metrics lacks sensornode_master_watcher_active_master_index or _probe_rounds_total", node)
	}
	ws.Active, ws.Rounds = int(active), int(rounds)
	return ws, nil
}
