package watcher

import (
	"net"
	"os"
	"time"

	"github.com/sensornode/sensornode/libs/fleetview"
	"github.com/sensornode/sensornode/libs/svc"
	"github.com/sensornode/sensornode/services/master-watcher/internal/failover"
	"github.com/sensornode/sensornode/services/master-watcher/internal/masters"
	"github.com/sensornode/sensornode/services/master-watcher/internal/sink"
	"github.com/sensornode/sensornode/services/master-watcher/internal/zkview"
)

// DefaultCAFile is the cluster CA every pod sees (service account mount).
const DefaultCAFile = "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt"

// Config is the daemon's configuration, from SENSORNODE_* variables. It is
// flat on purpose: envconfig falls back to a field's bare tag when the
// prefixed variable is unset, so a nested field tagged PATH would read $PATH.
type Config struct {
	svc.Common // shutdown timeout 10 s: the watcher holds no data
	// NodeName names this node's view (downward API spec.nodeName);
	// default: the host name.
	NodeName string `envconfig:"NODE_NAME"`

	// Masters in priority order: https://10.0.0.1:6443,... or host:port.
	Masters []string `envconfig:"MASTERS"`

	ProbeMode       string        `envconfig:"PROBE_MODE" default:"https"`
	ProbeEndpoint   string        `envconfig:"PROBE_ENDPOINT" default:"/readyz"`
	ProbeInterval   time.Duration `envconfig:"PROBE_INTERVAL" default:"2s"`
	ProbeTimeout    time.Duration `envconfig:"PROBE_TIMEOUT" default:"2s"`
	ProbeCAFile     string        `envconfig:"PROBE_CA_FILE" default:"/var/run/secrets/kubernetes.io/serviceaccount/ca.crt"`
	ProbeCertFile   string        `envconfig:"PROBE_CERT_FILE"`
	ProbeKeyFile    string        `envconfig:"PROBE_KEY_FILE"`
	ProbeServerName string        `envconfig:"PROBE_SERVER_NAME"`

	// ProbeSlowThreshold: a probe that answers but takes longer counts as
	// failed (0: off).
	ProbeSlowThreshold time.Duration `envconfig:"PROBE_SLOW_THRESHOLD" default:"1s"`

	// FailoverAfter (F) failed probes among the active master's last
	// FailoverWindow (W; 0 means 2F) make it fail over; FailbackAfter (R)
	// consecutive good probes make a master a target (fail over or fail
	// back). A fail back waits FailbackHoldDown after the last failover,
	// doubling per flap up to FailbackHoldDownMax.
	FailoverAfter       int           `envconfig:"FAILOVER_AFTER" default:"2"`
	FailoverWindow      int           `envconfig:"FAILOVER_WINDOW" default:"0"`
	FailbackAfter       int           `envconfig:"FAILBACK_AFTER" default:"5"`
	FailbackHoldDown    time.Duration `envconfig:"FAILBACK_HOLD_DOWN" default:"30s"`
	FailbackHoldDownMax time.Duration `envconfig:"FAILBACK_HOLD_DOWN_MAX" default:"10m"`

	// Forwarder sink: enabled when the listen address is set.
	ForwardListenAddr     string        `envconfig:"FORWARD_LISTEN_ADDR"`
	ForwardMaxConnections int           `envconfig:"FORWARD_MAX_CONNECTIONS" default:"512"`
	ForwardDialTimeout    time.Duration `envconfig:"FORWARD_DIAL_TIMEOUT" default:"5s"`

	// Kubeconfig sink: enabled when the path is set.
	KubeconfigPath           string `envconfig:"KUBECONFIG_PATH"`
	KubeconfigTemplateFile   string `envconfig:"KUBECONFIG_TEMPLATE_FILE"`
	KubeconfigCluster        string `envconfig:"KUBECONFIG_CLUSTER" default:"sensornode"`
	KubeconfigUser           string `envconfig:"KUBECONFIG_USER" default:"default"`
	KubeconfigContext        string `envconfig:"KUBECONFIG_CONTEXT" default:"default"`
	KubeconfigCAFile         string `envconfig:"KUBECONFIG_CA_FILE"`
	KubeconfigClientCertFile string `envconfig:"KUBECONFIG_CLIENT_CERT_FILE"`
	KubeconfigClientKeyFile  string `envconfig:"KUBECONFIG_CLIENT_KEY_FILE"`
	KubeconfigTokenFile      string `envconfig:"KUBECONFIG_TOKEN_FILE"`

	// Hook sink: enabled when the command is set.
	HookCommand string        `envconfig:"HOOK_COMMAND"`
	HookTimeout time.Duration `envconfig:"HOOK_TIMEOUT" default:"30s"`

	// ZooKeeper view: enabled when servers are set.
	ZooKeeperServers        []string      `envconfig:"ZOOKEEPER_SERVERS"`
	ZooKeeperViewPath       string        `envconfig:"ZOOKEEPER_VIEW_PATH" default:"/sensornode/masters"`
	ZooKeeperSessionTimeout time.Duration `envconfig:"ZOOKEEPER_SESSION_TIMEOUT" default:"10s"`
	ZooKeeperCheckInterval  time.Duration `envconfig:"ZOOKEEPER_CHECK_INTERVAL" default:"10s"`
}

// DefaultConfig returns the configuration with every default applied, as
// if no variable were set; the environment is applied on top of it.
func DefaultConfig() Config {
	common := svc.DefaultCommon(":9105")
	common.ShutdownTimeout = 10 * time.Second
	return Config{
		Common:    common,
		ProbeMode: "https", ProbeEndpoint: "/readyz", ProbeInterval: 2 * time.Second, ProbeTimeout: 2 * time.Second,
		ProbeCAFile: DefaultCAFile, ProbeSlowThreshold: time.Second, FailoverAfter: 2, FailbackAfter: 5,
		FailbackHoldDown: 30 * time.Second, FailbackHoldDownMax: 10 * time.Minute,
		ForwardMaxConnections: 512, ForwardDialTimeout: 5 * time.Second,
		KubeconfigCluster: "sensornode", KubeconfigUser: "default", KubeconfigContext: "default",
		HookTimeout: 30 * time.Second, ZooKeeperViewPath: fleetview.DefaultPath,
		ZooKeeperSessionTimeout: 10 * time.Second, ZooKeeperCheckInterval: 10 * time.Second,
	}
}

// Validate checks the configuration and fills NodeName from the host name.
func (c *Config) Validate() error {
	var p svc.Problems
	c.Common.Check(&p)
	if c.NodeName == "" {
		if h, err := os.Hostname(); err == nil {
			c.NodeName = h
		}
	}
	mode, err := masters.ParseMode(c.ProbeMode)
	if err != nil {
		p.Addf("SENSORNODE_PROBE_MODE: %v", err)
	} else if _, err := masters.Parse(c.Masters, mode); err != nil {
		p.Addf("SENSORNODE_MASTERS: %v", err)
	}
	if mode != masters.ModeTCP && (len(c.ProbeEndpoint) == 0 || c.ProbeEndpoint[0] != '/') {
		p.Addf("SENSORNODE_PROBE_ENDPOINT %q: want a path like /readyz or /livez", c.ProbeEndpoint)
	}
	if c.ProbeInterval <= 0 || c.ProbeTimeout <= 0 {
		p.Addf("SENSORNODE_PROBE_INTERVAL and SENSORNODE_PROBE_TIMEOUT must be positive, got %v and %v", c.ProbeInterval, c.ProbeTimeout)
	}
	if mode == masters.ModeHTTPS && c.ProbeCAFile == "" {
		p.Addf("SENSORNODE_PROBE_CA_FILE is required with probe mode https")
	}
	if (c.ProbeCertFile == "") != (c.ProbeKeyFile == "") {
		p.Addf("SENSORNODE_PROBE_CERT_FILE and SENSORNODE_PROBE_KEY_FILE go together")
	}
	// A threshold at or above the timeout has no effect (the timeout fails
	// the probe first); that is allowed so that an existing short
	// SENSORNODE_PROBE_TIMEOUT keeps working with the default threshold.
	if c.ProbeSlowThreshold < 0 {
		p.Addf("SENSORNODE_PROBE_SLOW_THRESHOLD %v: want 0 (off) or positive", c.ProbeSlowThreshold)
	}
	if c.FailoverAfter < 1 || c.FailbackAfter < 1 {
		p.Addf("SENSORNODE_FAILOVER_AFTER and SENSORNODE_FAILBACK_AFTER must be >= 1, got %d and %d", c.FailoverAfter, c.FailbackAfter)
	} else if err := c.failoverConfig(1).Validate(); err != nil {
		p.Addf("SENSORNODE_FAILOVER_WINDOW, SENSORNODE_FAILBACK_HOLD_DOWN(_MAX): %v", err)
	}
	if c.FailbackHoldDown <= 0 {
		p.Addf("SENSORNODE_FAILBACK_HOLD_DOWN must be positive, got %v", c.FailbackHoldDown)
	}
	if c.ForwardListenAddr != "" {
		if _, _, err := net.SplitHostPort(c.ForwardListenAddr); err != nil {
			p.Addf("SENSORNODE_FORWARD_LISTEN_ADDR %q: %v", c.ForwardListenAddr, err)
		}
		if c.ForwardMaxConnections < 1 || c.ForwardDialTimeout <= 0 {
			p.Addf("SENSORNODE_FORWARD_MAX_CONNECTIONS must be >= 1 and SENSORNODE_FORWARD_DIAL_TIMEOUT positive")
		}
	}
	if c.KubeconfigPath != "" && (c.KubeconfigClientCertFile == "") != (c.KubeconfigClientKeyFile == "") {
		p.Addf("SENSORNODE_KUBECONFIG_CLIENT_CERT_FILE and SENSORNODE_KUBECONFIG_CLIENT_KEY_FILE go together")
	}
	if c.HookCommand != "" {
		if _, err := sink.ParseCommand(c.HookCommand); err != nil {
			p.Addf("SENSORNODE_HOOK_COMMAND: %v", err)
		}
		if c.HookTimeout <= 0 {
			p.Addf("SENSORNODE_HOOK_TIMEOUT must be positive")
		}
	}
	if len(c.ZooKeeperServers) > 0 {
		if err := c.viewConfig().Validate(); err != nil {
			p.Addf("SENSORNODE_ZOOKEEPER_*: %v", err)
		}
	}
	if c.ForwardListenAddr == "" && c.KubeconfigPath == "" && c.HookCommand == "" && len(c.ZooKeeperServers) == 0 {
		p.Addf("no sink configured: set SENSORNODE_FORWARD_LISTEN_ADDR, SENSORNODE_KUBECONFIG_PATH, SENSORNODE_HOOK_COMMAND and/or SENSORNODE_ZOOKEEPER_SERVERS")
	}
	return p.Err()
}

func (c *Config) failoverConfig(n int) failover.Config {
	return failover.Config{
		Masters: n, FailAfter: c.FailoverAfter, Window: c.FailoverWindow, RecoverAfter: c.FailbackAfter,
		HoldDown: c.FailbackHoldDown, HoldDownMax: c.FailbackHoldDownMax,
	}
}

func (c *Config) viewConfig() zkview.Config {
	return zkview.Config{
		Servers: c.ZooKeeperServers, Path: c.ZooKeeperViewPath, Node: c.NodeName,
		SessionTimeout: c.ZooKeeperSessionTimeout, CheckInterval: c.ZooKeeperCheckInterval,
	}
}

func (c *Config) mode() masters.Mode {
	m, _ := masters.ParseMode(c.ProbeMode)
	return m
}
