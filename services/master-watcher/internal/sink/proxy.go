package sink

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/sensornode/sensornode/services/master-watcher/internal/masters"
)

// ProxyConfig configures the local TCP proxy.
type ProxyConfig struct {
	// ListenAddr is where kubelet and kube-proxy connect, e.g. 127.0.0.1:6443.
	ListenAddr string
	// MaxConns bounds the connections carried at once; more are accepted
	// and closed at once.
	MaxConns int
	// DialTimeout bounds the connect to the active master.
	DialTimeout time.Duration
}

// Proxy accepts TCP connections on a local address and relays each to
// the active master, both ways, byte for byte (TLS passes through). When the
// active master changes, every connection to the previous one is closed so
// that clients reconnect, and new connections go to the new master.
//
// It is the sink the README calls the forwarder (nothing to do with the
// edge-forwarder service); the names operators see keep that word: the
// SENSORNODE_FORWARD_* settings, the sensornode_master_watcher_forwarder_*
// metrics and the "forwarder" log lines and errors.
type Proxy struct {
	cfg    ProxyConfig
	ln     net.Listener
	dialer net.Dialer
	log    *slog.Logger
	m      *Metrics
	slots  chan struct{}
	wg     sync.WaitGroup

	logs *logLimiter

	mu     sync.Mutex
	target *masters.Master
	live   []masters.Master // answering masters in priority order
	epoch  uint64
	conns  map[*pair]struct{}
	closed bool
}

// NewProxy listens on cfg.ListenAddr. Call Run to serve.
func NewProxy(cfg ProxyConfig, log *slog.Logger, m *Metrics) (*Proxy, error) {
	if cfg.MaxConns < 1 {
		return nil, fmt.Errorf("forwarder: max connections %d, want >= 1", cfg.MaxConns)
	}
	ln, err := net.Listen("tcp", cfg.ListenAddr)
	if err != nil {
		return nil, fmt.Errorf("forwarder listen %s: %w", cfg.ListenAddr, err)
	}
	return &Proxy{
		cfg: cfg, ln: ln, log: log.With("sink", "forwarder"), m: m,
		slots: make(chan struct{}, cfg.MaxConns),
		conns: map[*pair]struct{}{},
		logs:  newLogLimiter(connLogEvery),
	}, nil
}

// Addr is the listening address.
func (f *Proxy) Addr() string { return f.ln.Addr().String() }

// SetActive makes m the target of new connections and closes connections
// to any other master. It never blocks on the network.
func (f *Proxy) SetActive(m masters.Master) {
	f.mu.Lock()
	if f.target != nil && f.target.Index == m.Index {
		f.mu.Unlock()
		return
	}
	f.target = &m
	f.epoch++
	var old []*pair
	for p := range f.conns {
		if p.target != m.Index {
			old = append(old, p)
		}
	}
	f.mu.Unlock()
	for _, p := range old {
		p.close()
	}
	if len(old) > 0 {
		f.m.ProxyClosedOnSwitch.Add(float64(len(old)))
		f.log.Info("closed connections to the previous master", "connections", len(old), "active", m.URL)
	}
}

// SetLive tells the proxy which masters answered their latest probe, in
// priority order. When the active master refuses a connection, the
// proxy tries these for that connection at once, before any failover.
func (f *Proxy) SetLive(live []masters.Master) {
	f.mu.Lock()
	f.live = append(f.live[:0], live...)
	f.mu.Unlock()
}

// Conns is the number of connections being carried.
func (f *Proxy) Conns() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.conns)
}

// Run accepts connections until ctx is done, then closes the listener and
// every connection and waits for their goroutines.
func (f *Proxy) Run(ctx context.Context) error {
	stop := context.AfterFunc(ctx, func() { f.ln.Close() })
	defer stop()
	f.log.Info("forwarder listening", "addr", f.Addr(), "max_connections", f.cfg.MaxConns)
	for {
		c, err := f.ln.Accept()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				break
			}
			// For example EMFILE: wait a little rather than spin.
			f.log.Warn("forwarder accept failed", "err", err)
			select {
			case <-ctx.Done():
			case <-time.After(100 * time.Millisecond):
			}
			continue
		}
		select {
		case f.slots <- struct{}{}:
		default:
			f.m.ProxyAccepted.WithLabelValues("rejected_full").Inc()
			if ok, n := f.logs.allow("rejected_full"); ok {
				f.log.Warn("forwarder connection limit reached, closing new connection", "client", c.RemoteAddr().String(),
					"max_connections", f.cfg.MaxConns, "suppressed", n)
			}
			c.Close()
			continue
		}
		f.wg.Add(1)
		go func() {
			defer f.wg.Done()
			defer func() { <-f.slots }()
			f.handle(ctx, c)
		}()
	}
	f.ln.Close()
	f.mu.Lock()
	f.closed = true
	all := make([]*pair, 0, len(f.conns))
	for p := range f.conns {
		all = append(all, p)
	}
	f.mu.Unlock()
	for _, p := range all {
		p.close()
	}
	f.wg.Wait()
	return nil
}

func (f *Proxy) handle(ctx context.Context, c net.Conn) {
	f.mu.Lock()
	target, epoch, live := f.target, f.epoch, append([]masters.Master(nil), f.live...)
	f.mu.Unlock()
	if target == nil {
		f.m.ProxyAccepted.WithLabelValues("no_master").Inc()
		if ok, n := f.logs.allow("no_master"); ok {
			f.log.Warn("no master chosen yet, closing connection", "client", c.RemoteAddr().String(), "suppressed", n)
		}
		c.Close()
		return
	}
	// The active master first, unless its latest probe failed while
	// another answered (it may hang rather than refuse, and the dial would
	// wait for the timeout); then the live ones, for this connection at
	// once rather than dropping it until the failover.
	order := make([]masters.Master, 0, len(live)+1)
	activeLive := len(live) == 0
	for _, m := range live {
		activeLive = activeLive || m.Index == target.Index
	}
	if activeLive {
		order = append(order, *target)
	}
	for _, m := range live {
		if m.Index != target.Index {
			order = append(order, m)
		}
	}
	if !activeLive {
		order = append(order, *target)
	}
	var (
		up  net.Conn
		err error
		via masters.Master
	)
	for _, m := range order {
		if up, err = f.dial(ctx, m); err == nil {
			via = m
			break
		}
	}
	result := "forwarded"
	if via.Index != target.Index {
		result = "fallback"
	}
	if err != nil {
		f.m.ProxyAccepted.WithLabelValues("dial_error").Inc()
		if ok, n := f.logs.allow("dial_error"); ok {
			f.log.Warn("forwarder dial failed, closing connection", "master", target.URL, "live_masters", len(live), "err", err, "suppressed", n)
		}
		c.Close()
		return
	}
	p := &pair{client: c, upstream: up, target: via.Index}
	f.mu.Lock()
	if f.closed || f.epoch != epoch {
		f.mu.Unlock()
		f.m.ProxyAccepted.WithLabelValues("switched").Inc()
		p.close()
		return
	}
	f.conns[p] = struct{}{}
	f.mu.Unlock()
	f.m.ProxyAccepted.WithLabelValues(result).Inc()
	f.m.ProxyConnections.Inc()

	toMaster, fromMaster := p.relay()

	f.mu.Lock()
	delete(f.conns, p)
	f.mu.Unlock()
	f.m.ProxyConnections.Dec()
	f.m.ProxyBytes.WithLabelValues("to_master").Add(float64(toMaster))
	f.m.ProxyBytes.WithLabelValues("from_master").Add(float64(fromMaster))
}

func (f *Proxy) dial(ctx context.Context, m masters.Master) (net.Conn, error) {
	dctx, cancel := context.WithTimeout(ctx, f.cfg.DialTimeout)
	defer cancel()
	return f.dialer.DialContext(dctx, "tcp", m.Addr)
}

// connLogEvery bounds the per-connection log lines: at most one per kind
// (dial error, no master, limit reached) in this interval, with the number
// of lines suppressed since the last one. The metrics count every one.
const connLogEvery = 10 * time.Second

// logLimiter lets one log line per key through per interval.
type logLimiter struct {
	every time.Duration
	now   func() time.Time

	mu         sync.Mutex
	last       map[string]time.Time
	suppressed map[string]int
}

func newLogLimiter(every time.Duration) *logLimiter {
	return &logLimiter{every: every, now: time.Now, last: map[string]time.Time{}, suppressed: map[string]int{}}
}

// allow reports whether to log a line for key now and, if so, how many
// lines were suppressed since the last one.
func (l *logLimiter) allow(key string) (bool, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if last, ok := l.last[key]; ok && now.Sub(last) < l.every {
		l.suppressed[key]++
		return false, 0
	}
	n := l.suppressed[key]
	l.last[key], l.suppressed[key] = now, 0
	return true, n
}

// pair is a client connection and its connection to a master.
type pair struct {
	client, upstream net.Conn
	target           int
	once             sync.Once
}

func (p *pair) close() {
	p.once.Do(func() {
		p.client.Close()
		p.upstream.Close()
	})
}

// relay copies both ways until either side ends, then closes both. (No
// half-close: the API server's protocols do not need it, and this way no
// copy can outlive its connection.)
func (p *pair) relay() (toMaster, fromMaster int64) {
	done := make(chan int64, 1)
	go func() {
		n, _ := io.Copy(p.upstream, p.client)
		p.close()
		done <- n
	}()
	fromMaster, _ = io.Copy(p.client, p.upstream)
	p.close()
	toMaster = <-done
	return toMaster, fromMaster
}
