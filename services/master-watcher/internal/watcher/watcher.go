// Package watcher is the master-watcher daemon: it probes the masters every
// interval, lets the failover state machine choose the active one and
// applies the choice to the configured sinks and the ZooKeeper view.
package watcher

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/sensornode/sensornode/libs/fleetview"
	"github.com/sensornode/sensornode/libs/svc"
	"github.com/sensornode/sensornode/services/master-watcher/internal/failover"
	"github.com/sensornode/sensornode/services/master-watcher/internal/masters"
	"github.com/sensornode/sensornode/services/master-watcher/internal/probe"
	"github.com/sensornode/sensornode/services/master-watcher/internal/sink"
	"github.com/sensornode/sensornode/services/master-watcher/internal/zkview"
)

// ReadyCondition is the readiness condition the watcher maintains: met
// while the active master answers.
const ReadyCondition = "master"

// Watcher is the daemon.
type Watcher struct {
	cfg     Config
	masters []masters.Master
	prober  probe.Prober
	sel     *failover.Selector
	log     *slog.Logger
	m       *Metrics
	ready   *svc.Probe
	now     func() time.Time
	version string

	fwd     *sink.Proxy
	runners []*sink.Runner
	view    *zkview.Publisher

	mu    sync.Mutex
	state failover.Decision

	readyWhy string // the readiness reason last set; only the probe loop uses it
}

// Option configures a Watcher.
type Option func(*options)

type options struct {
	zkDialer zk.Dialer
	now      func() time.Time
	version  string
}

// WithZooKeeperDialer sets the dialer of the ZooKeeper view (tests).
func WithZooKeeperDialer(d zk.Dialer) Option { return func(o *options) { o.zkDialer = d } }

// WithClock replaces time.Now for the decisions' timestamps.
func WithClock(now func() time.Time) Option { return func(o *options) { o.now = now } }

// WithVersion is written into the ZooKeeper view.
func WithVersion(v string) Option { return func(o *options) { o.version = v } }

// New builds the watcher and its sinks. The forwarder starts listening
// here, so that a port in use fails at startup.
func New(cfg Config, log *slog.Logger, reg prometheus.Registerer, ready *svc.Probe, opts ...Option) (*Watcher, error) {
	o := options{now: time.Now}
	for _, f := range opts {
		f(&o)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	ms, err := masters.Parse(cfg.Masters, cfg.mode())
	if err != nil {
		return nil, err
	}
	sel, err := failover.New(cfg.failoverConfig(len(ms)))
	if err != nil {
		return nil, err
	}
	w := &Watcher{
		cfg: cfg, masters: ms, sel: sel, log: log, m: NewMetrics(reg, ms), ready: ready, now: o.now,
		version: o.version, state: sel.State(),
	}
	switch cfg.mode() {
	case masters.ModeTCP:
		w.prober = probe.NewTCP()
	case masters.ModeHTTP:
		w.prober = probe.NewHTTP(cfg.ProbeEndpoint, nil)
	case masters.ModeHTTPS:
		tc, err := probe.TLSConfig(probe.TLSFiles{CAFile: cfg.ProbeCAFile, CertFile: cfg.ProbeCertFile, KeyFile: cfg.ProbeKeyFile, ServerName: cfg.ProbeServerName})
		if err != nil {
			return nil, fmt.Errorf("probe TLS: %w", err)
		}
		w.prober = probe.NewHTTP(cfg.ProbeEndpoint, tc)
	}
	sm := sink.NewMetrics(reg)
	if cfg.KubeconfigPath != "" {
		k, err := sink.NewKubeconfig(sink.KubeconfigConfig{
			Path: cfg.KubeconfigPath, TemplateFile: cfg.KubeconfigTemplateFile, Cluster: cfg.KubeconfigCluster,
			User: cfg.KubeconfigUser, Context: cfg.KubeconfigContext, CAFile: cfg.KubeconfigCAFile,
			ClientCertFile: cfg.KubeconfigClientCertFile, ClientKeyFile: cfg.KubeconfigClientKeyFile, TokenFile: cfg.KubeconfigTokenFile,
		}, log, sm)
		if err != nil {
			return nil, err
		}
		w.runners = append(w.runners, sink.NewRunner("kubeconfig", k.Apply, true, log))
	}
	if cfg.HookCommand != "" {
		h, err := sink.NewHook(sink.HookConfig{Command: cfg.HookCommand, Timeout: cfg.HookTimeout}, log, sm)
		if err != nil {
			return nil, err
		}
		w.runners = append(w.runners, sink.NewRunner("hook", h.Apply, true, log))
	}
	if len(cfg.ZooKeeperServers) > 0 {
		var popts []zkview.Option
		if o.zkDialer != nil {
			popts = append(popts, zkview.WithDialer(o.zkDialer))
		}
		if w.view, err = zkview.NewPublisher(cfg.viewConfig(), log, zkview.NewMetrics(reg), popts...); err != nil {
			return nil, err
		}
	}
	// Last: the listener must not leak when something above fails.
	if cfg.ForwardListenAddr != "" {
		w.fwd, err = sink.NewProxy(sink.ProxyConfig{ListenAddr: cfg.ForwardListenAddr, MaxConns: cfg.ForwardMaxConnections, DialTimeout: cfg.ForwardDialTimeout}, log, sm)
		if err != nil {
			return nil, err
		}
	}
	ready.Register(ReadyCondition)
	return w, nil
}

// Masters returns the parsed master list.
func (w *Watcher) Masters() []masters.Master { return w.masters }

// ProxyAddr is the proxy's listening address ("" when disabled).
func (w *Watcher) ProxyAddr() string {
	if w.fwd == nil {
		return ""
	}
	return w.fwd.Addr()
}

// State returns the latest decision (Round 0 before the first round).
func (w *Watcher) State() failover.Decision {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.state
}

// Run probes until ctx is done, with the sinks and the view running beside.
func (w *Watcher) Run(ctx context.Context) error {
	w.log.Info("watching masters", "masters", strings.Join(masters.URLs(w.masters), ","), "mode", w.cfg.ProbeMode,
		"interval", w.cfg.ProbeInterval.String(), "failover_after", w.cfg.FailoverAfter, "failover_window", w.sel.Config().Window,
		"failback_after", w.cfg.FailbackAfter, "failback_hold_down", w.cfg.FailbackHoldDown.String(), "failback_hold_down_max", w.cfg.FailbackHoldDownMax.String())
	g, ctx := errgroup.WithContext(ctx)
	if w.fwd != nil {
		g.Go(func() error { return w.fwd.Run(ctx) })
	}
	for _, r := range w.runners {
		g.Go(func() error { return r.Run(ctx) })
	}
	if w.view != nil {
		g.Go(func() error { return w.view.Run(ctx) })
	}
	g.Go(func() error { return w.loop(ctx) })
	return g.Wait()
}

func (w *Watcher) loop(ctx context.Context) error {
	t := time.NewTicker(w.cfg.ProbeInterval)
	defer t.Stop()
	for {
		w.round(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// round probes every master at once, each bounded by the probe timeout,
// and acts on the decision.
func (w *Watcher) round(ctx context.Context) {
	results := make([]probe.Result, len(w.masters))
	pctx, cancel := context.WithTimeout(ctx, w.cfg.ProbeTimeout)
	var wg sync.WaitGroup
	for i, m := range w.masters {
		wg.Go(func() { results[i] = w.prober.Probe(pctx, m) })
	}
	wg.Wait()
	cancel()
	if ctx.Err() != nil {
		return // shutting down: these results say nothing about the masters
	}
	up := make([]bool, len(results))
	for i, r := range results {
		r = probe.Slow(r, w.cfg.ProbeSlowThreshold)
		results[i] = r
		up[i] = r.OK()
		l := w.masters[i].Label()
		w.m.ProbeDuration.WithLabelValues(l).Observe(r.Duration.Seconds())
		w.m.Probes.WithLabelValues(l, r.Reason).Inc()
		w.m.MasterUp.WithLabelValues(l).Set(b2f(r.OK()))
	}
	w.m.Rounds.Inc()
	if w.fwd != nil {
		var live []masters.Master
		for i, ok := range up {
			if ok {
				live = append(live, w.masters[i])
			}
		}
		w.fwd.SetLive(live)
	}

	w.mu.Lock()
	prev := w.state
	d := w.sel.Observe(w.now(), up)
	w.state = d
	w.mu.Unlock()
	w.m.HoldDown.Set(d.HoldDown.Seconds())

	if d.Switched {
		w.switched(d, results)
	}
	w.setReady(d, results)
	if d.Switched || d.Ready != prev.Ready || d.Round == 1 {
		w.publish(d)
	}
}

func (w *Watcher) switched(d failover.Decision, results []probe.Result) {
	active := w.masters[d.Active]
	c := sink.Change{Node: w.cfg.NodeName, Active: active, Reason: string(d.Reason), Ready: d.Ready, Since: d.Since, Masters: w.masters}
	attrs := []any{"active", active.URL, "index", d.Active, "reason", string(d.Reason), "round", d.Round, "probes", describe(w.masters, results)}
	if d.Previous != failover.None {
		prev := w.masters[d.Previous]
		c.Previous = &prev
		attrs = append(attrs, "previous", prev.URL)
		w.m.Failovers.WithLabelValues(string(d.Reason)).Inc()
		w.log.Warn("active master changed", attrs...)
	} else {
		w.log.Info("active master chosen", attrs...)
	}
	w.m.ActiveIndex.Set(float64(d.Active))
	if w.fwd != nil {
		w.fwd.SetActive(active)
	}
	for _, r := range w.runners {
		r.Notify(c)
	}
}

// setReady sets the readiness condition and logs it when its reason
// changes (ready; the active master alone does not answer; none answers).
func (w *Watcher) setReady(d failover.Decision, results []probe.Result) {
	var why string
	switch {
	case d.Ready:
		why = "ready"
	case d.Active == failover.None:
		why = "none chosen"
	case anyUp(results):
		why = "active down"
	default:
		why = "all down"
	}
	if why == w.readyWhy {
		return
	}
	w.readyWhy = why
	switch why {
	case "ready":
		w.ready.Set(ReadyCondition, nil)
		w.log.Info("ready: active master answers", "active", w.masters[d.Active].URL)
	case "none chosen":
		w.ready.Set(ReadyCondition, errors.New("no master has answered yet"))
		w.log.Warn("not ready: no master answers", "probes", describe(w.masters, results))
	case "active down":
		w.ready.Set(ReadyCondition, fmt.Errorf("active master %s does not answer", w.masters[d.Active].URL))
		w.log.Warn("not ready: the active master does not answer", "active", w.masters[d.Active].URL, "probes", describe(w.masters, results))
	default:
		w.ready.Set(ReadyCondition, fmt.Errorf("no master answers; keeping %s", w.masters[d.Active].URL))
		w.log.Warn("not ready: no master answers, keeping the last choice and probing on",
			"active", w.masters[d.Active].URL, "probes", describe(w.masters, results))
	}
}

func (w *Watcher) publish(d failover.Decision) {
	if w.view == nil {
		return
	}
	v := fleetview.View{Index: d.Active, Ready: d.Ready, Since: d.Since, Masters: masters.URLs(w.masters), Version: w.version}
	if d.Active != failover.None {
		v.Active = w.masters[d.Active].URL
	}
	w.view.Update(v)
}

func describe(ms []masters.Master, results []probe.Result) string {
	parts := make([]string, len(results))
	for i, r := range results {
		if r.OK() {
			parts[i] = fmt.Sprintf("%s=ok", ms[i].URL)
		} else {
			parts[i] = fmt.Sprintf("%s=%s (%v)", ms[i].URL, r.Reason, r.Err)
		}
	}
	return strings.Join(parts, " ")
}

func anyUp(results []probe.Result) bool {
	for _, r := range results {
		if r.OK() {
			return true
		}
	}
	return false
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
