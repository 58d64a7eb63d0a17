package zkview

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sensornode/sensornode/libs/fleetview"
	"github.com/sensornode/sensornode/libs/svc"
	"github.com/sensornode/sensornode/libs/zkconn"
)

// Config configures a Publisher.
type Config struct {
	// Servers are ZooKeeper host:port addresses.
	Servers []string
	// Path is the parent znode of the views (DefaultPath).
	Path string
	// Node names this watcher's znode (the Kubernetes node name).
	Node string
	// SessionTimeout is asked of ZooKeeper; the ensemble clamps it to
	// [2, 20] x tickTime.
	SessionTimeout time.Duration
	// CheckInterval is how often the own znode is verified and the fleet's
	// views are read for the disagreement metric.
	CheckInterval time.Duration
}

// Validate checks the configuration.
func (c Config) Validate() error {
	switch {
	case len(c.Servers) == 0:
		return errors.New("zookeeper view: no servers")
	case c.Path == "" || !strings.HasPrefix(c.Path, "/") || strings.HasSuffix(c.Path, "/") || path.Clean(c.Path) != c.Path:
		return fmt.Errorf("zookeeper view: path %q: want an absolute znode path like %s", c.Path, fleetview.DefaultPath)
	case c.Node == "" || strings.Contains(c.Node, "/"):
		return fmt.Errorf("zookeeper view: node name %q: want a non-empty name without /", c.Node)
	case c.SessionTimeout <= 0 || c.CheckInterval <= 0:
		return errors.New("zookeeper view: session timeout and check interval must be positive")
	}
	for _, s := range c.Servers {
		if strings.Contains(s, "/") {
			return fmt.Errorf("zookeeper view: server %q: want host:port (no chroot; put it in the path)", s)
		}
	}
	return nil
}

// Metrics of the publisher.
type Metrics struct {
	Connected     prometheus.Gauge
	Expirations   prometheus.Counter
	Publishes     *prometheus.CounterVec
	FleetNodes    prometheus.Gauge
	Disagreeing   prometheus.Gauge
	Disagreements prometheus.Counter
}

// NewMetrics registers the publisher's metrics on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	f := svc.NewMetricFactory(reg)
	return &Metrics{
		Connected: f.Gauge("sensornode_master_watcher_zookeeper_connected",
			"1 while the watcher has a ZooKeeper session, else 0."),
		Expirations: f.Counter("sensornode_master_watcher_zookeeper_session_expirations_total",
			"ZooKeeper sessions that expired (the view is re-created on the next session)."),
		Publishes: f.CounterVec("sensornode_master_watcher_zookeeper_publishes_total",
			"Writes of the own view by result: created, updated, error.",
			svc.Label("result", "created", "updated", "error")),
		FleetNodes: f.Gauge("sensornode_master_watcher_fleet_nodes",
			"Views found in ZooKeeper at the last check, the own included."),
		Disagreeing: f.Gauge("sensornode_master_watcher_fleet_disagreeing_nodes",
			"Nodes whose view differs from this node's (other active master or master list, or unreadable) at the last check."),
		Disagreements: f.Counter("sensornode_master_watcher_fleet_disagreements_total",
			"Times a check found the fleet disagreeing after it had agreed (or at the first check)."),
	}
}

// Publisher keeps this node's view in ZooKeeper. Update never blocks; Run
// owns the ZooKeeper connection.
type Publisher struct {
	cfg    Config
	log    *slog.Logger
	m      *Metrics
	dialer zk.Dialer
	wake   chan struct{}

	mu        sync.Mutex
	view      *fleetview.View
	disagreed bool
	sessionID int64 // session that owns the published znode
}

// Option configures a Publisher.
type Option func(*Publisher)

// WithDialer replaces the TCP dialer (tests cut the network with it).
func WithDialer(d zk.Dialer) Option { return func(p *Publisher) { p.dialer = d } }

// NewPublisher checks cfg.
func NewPublisher(cfg Config, log *slog.Logger, m *Metrics, opts ...Option) (*Publisher, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	p := &Publisher{cfg: cfg, log: log.With("component", "zookeeper-view"), m: m, wake: make(chan struct{}, 1)}
	for _, o := range opts {
		o(p)
	}
	return p, nil
}

// ZNode is the path of this node's view.
func (p *Publisher) ZNode() string { return path.Join(p.cfg.Path, p.cfg.Node) }

// Update sets the view to publish.
func (p *Publisher) Update(v fleetview.View) {
	v.Node = p.cfg.Node
	p.mu.Lock()
	p.view = &v
	p.mu.Unlock()
	p.kick()
}

func (p *Publisher) kick() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// Run connects and keeps the view published until ctx is done; closing the
// session on the way out removes the znode at once. It never gives up: a
// connect that fails (for example names that do not resolve yet) is
// retried with backoff, and go-zookeeper reconnects by itself afterwards.
func (p *Publisher) Run(ctx context.Context) error {
	b := svc.Backoff{Min: time.Second, Max: 30 * time.Second}
	for {
		conn, _, err := zkconn.Dial(p.cfg.Servers, p.cfg.SessionTimeout, p.log, p.dialer, p.onEvent)
		if err == nil {
			p.serve(ctx, conn)
			return nil
		}
		d := b.Next()
		p.log.Warn("zookeeper connect failed, retrying", "retry_in", d.String(), "err", err)
		if svc.SleepCtx(ctx, d) != nil {
			return nil
		}
	}
}

func (p *Publisher) serve(ctx context.Context, conn *zk.Conn) {
	defer func() {
		conn.Close()
		p.m.Connected.Set(0)
	}()
	p.log.Info("publishing view", "znode", p.ZNode(), "servers", strings.Join(p.cfg.Servers, ","))
	t := time.NewTicker(p.cfg.CheckInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-p.wake:
		case <-t.C:
		}
		p.reconcile(conn)
	}
}

// onEvent runs on go-zookeeper's goroutine: quick and non-blocking.
func (p *Publisher) onEvent(ev zk.Event) {
	if ev.Type != zk.EventSession {
		return
	}
	switch ev.State {
	case zk.StateHasSession:
		p.m.Connected.Set(1)
		p.log.Info("zookeeper session established", "server", ev.Server)
	case zk.StateExpired:
		p.m.Connected.Set(0)
		p.m.Expirations.Inc()
		p.log.Warn("zookeeper session expired, the view will be re-created on a new session", "server", ev.Server)
	case zk.StateDisconnected:
		p.m.Connected.Set(0)
		p.log.Warn("zookeeper disconnected", "server", ev.Server)
	default:
		return
	}
	p.kick()
}

func (p *Publisher) reconcile(conn *zk.Conn) {
	if conn.State() != zk.StateHasSession {
		return
	}
	p.mu.Lock()
	v := p.view
	p.mu.Unlock()
	if v != nil {
		if err := p.publish(conn, *v); err != nil {
			p.m.Publishes.WithLabelValues("error").Inc()
			p.log.Warn("view not published, retrying at the next check", "znode", p.ZNode(), "err", err)
		}
	}
	p.observeFleet(conn, v)
}

func (p *Publisher) publish(conn *zk.Conn, v fleetview.View) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	znode := p.ZNode()
	sid := conn.SessionID()
	cur, stat, err := conn.Get(znode)
	switch {
	case errors.Is(err, zk.ErrNoNode):
		return p.create(conn, znode, data, sid)
	case err != nil:
		return fmt.Errorf("read own view: %w", err)
	case stat.EphemeralOwner != sid:
		// Left by this node's previous session (a restart) or, if two
		// watchers share a node name, by the other one: ours wins.
		p.log.Warn("replacing a view owned by another session", "znode", znode,
			"owner_session", fmt.Sprintf("0x%x", stat.EphemeralOwner), "session", fmt.Sprintf("0x%x", sid))
		if err := conn.Delete(znode, stat.Version); err != nil && !errors.Is(err, zk.ErrNoNode) {
			return fmt.Errorf("delete stale view: %w", err)
		}
		return p.create(conn, znode, data, sid)
	case !bytes.Equal(cur, data):
		if _, err := conn.Set(znode, data, stat.Version); err != nil {
			return fmt.Errorf("update view: %w", err)
		}
		p.m.Publishes.WithLabelValues("updated").Inc()
		p.log.Debug("view updated", "znode", znode, "active", v.Active, "ready", v.Ready)
	}
	return nil
}

func (p *Publisher) create(conn *zk.Conn, znode string, data []byte, sid int64) error {
	_, err := conn.Create(znode, data, zk.FlagEphemeral, zk.WorldACL(zk.PermAll))
	if errors.Is(err, zk.ErrNoNode) {
		if err := ensurePath(conn, p.cfg.Path); err != nil {
			return err
		}
		_, err = conn.Create(znode, data, zk.FlagEphemeral, zk.WorldACL(zk.PermAll))
	}
	if err != nil {
		return fmt.Errorf("create view: %w", err)
	}
	p.mu.Lock()
	prev := p.sessionID
	p.sessionID = sid
	p.mu.Unlock()
	p.m.Publishes.WithLabelValues("created").Inc()
	if prev != 0 && prev != sid {
		p.log.Info("view re-created on a new session", "znode", znode, "session", fmt.Sprintf("0x%x", sid))
	} else {
		p.log.Info("view created", "znode", znode, "session", fmt.Sprintf("0x%x", sid))
	}
	return nil
}

// ensurePath creates the persistent parents of a view.
func ensurePath(conn *zk.Conn, p string) error {
	cur := ""
	for _, part := range strings.Split(strings.Trim(p, "/"), "/") {
		cur += "/" + part
		_, err := conn.Create(cur, nil, 0, zk.WorldACL(zk.PermAll))
		if err != nil && !errors.Is(err, zk.ErrNodeExists) {
			return fmt.Errorf("create %s: %w", cur, err)
		}
	}
	return nil
}

func (p *Publisher) observeFleet(conn *zk.Conn, own *fleetview.View) {
	views, invalid, err := fleetview.ReadViews(conn, p.cfg.Path)
	if err != nil {
		if !errors.Is(err, fleetview.ErrNoViews) {
			p.log.Warn("fleet views not read", "err", err)
		}
		return
	}
	s := fleetview.Summarize(views, invalid)
	p.m.FleetNodes.Set(float64(len(views) + len(invalid)))
	if own == nil {
		return
	}
	n := s.Disagreeing(*own)
	p.m.Disagreeing.Set(float64(n))
	p.mu.Lock()
	was := p.disagreed
	p.disagreed = n > 0
	p.mu.Unlock()
	if n > 0 && !was {
		p.m.Disagreements.Inc()
		var groups []string
		for _, g := range s.Groups {
			groups = append(groups, fmt.Sprintf("%s: %s", orNone(g.Active), strings.Join(g.Nodes, ",")))
		}
		p.log.Warn("fleet disagrees on the active master", "disagreeing_nodes", n, "groups", strings.Join(groups, "; "))
	} else if n == 0 && was {
		p.log.Info("fleet agrees again", "nodes", len(views))
	}
}

// SessionOwner returns the session that created the published znode (0:
// not published yet). For tests and diagnostics.
func (p *Publisher) SessionOwner() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.sessionID
}
