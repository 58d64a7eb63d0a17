package svc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Probe holds the readiness conditions of a service. /readyz answers 200
// only when every registered condition is nil and the service is not
// shutting down. Liveness (/livez) only says the process is responsive.
type Probe struct {
	mu       sync.Mutex
	conds    map[string]error
	draining bool
	gauge    *prometheus.GaugeVec
}

// NewProbe returns a Probe whose conditions are also exported as
// sensornode_ready{condition} gauges on reg (nil: not exported).
func NewProbe(reg prometheus.Registerer) *Probe {
	p := &Probe{conds: map[string]error{}}
	if reg != nil {
		p.gauge = prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "sensornode_ready",
			Help: "Readiness condition: 1 when met, 0 when not.",
		}, []string{"condition"})
		reg.MustRegister(p.gauge)
	}
	return p
}

var errNotChecked = errors.New("not checked yet")

// Register adds condition name, initially not met.
func (p *Probe) Register(names ...string) {
	for _, n := range names {
		p.Set(n, errNotChecked)
	}
}

func (p *Probe) registerIfAbsent(name string) {
	p.mu.Lock()
	_, ok := p.conds[name]
	p.mu.Unlock()
	if !ok {
		p.Register(name)
	}
}

// Set records the state of condition name: nil means met.
func (p *Probe) Set(name string, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.conds[name] = err
	if p.gauge != nil {
		v := 0.0
		if err == nil {
			v = 1
		}
		p.gauge.WithLabelValues(name).Set(v)
	}
}

// Drain marks the service as shutting down: not ready from now on.
func (p *Probe) Drain() {
	p.mu.Lock()
	p.draining = true
	p.mu.Unlock()
}

// Ready returns nil when ready, else an error naming what is not.
func (p *Probe) Ready() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	var bad []string
	if p.draining {
		bad = append(bad, "shutting down")
	}
	names := make([]string, 0, len(p.conds))
	for n := range p.conds {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if err := p.conds[n]; err != nil {
			bad = append(bad, fmt.Sprintf("%s: %v", n, err))
		}
	}
	if len(bad) > 0 {
		return errors.New(strings.Join(bad, "; "))
	}
	return nil
}

// Admin is the admin HTTP server: /metrics, /livez, /readyz and, when
// SENSORNODE_ADMIN_PPROF_ENABLED is true, the Go profiles under
// /debug/pprof/.
type Admin struct {
	srv      *http.Server
	ln       net.Listener
	log      *slog.Logger
	shutdown time.Duration
}

// NewAdmin listens on c.AdminAddr (host:port; port 0 picks one) and
// prepares the handlers; c.ShutdownTimeout bounds the graceful shutdown
// and c.AdminPprofEnabled adds the pprof handlers.
func NewAdmin(c Common, reg *prometheus.Registry, probe *Probe, log *slog.Logger) (*Admin, error) {
	return newAdmin(c, reg, reg, probe, log)
}

// readiness is what /readyz asks: a Probe, or a Host's probes together.
type readiness interface{ Ready() error }

// newAdmin is NewAdmin serving the metrics of g (the handler's own error
// counter registered on reg) and the readiness of probe.
func newAdmin(c Common, g prometheus.Gatherer, reg prometheus.Registerer, probe readiness, log *slog.Logger) (*Admin, error) {
	ln, err := net.Listen("tcp", c.AdminAddr)
	if err != nil {
		return nil, fmt.Errorf("admin listen %s: %w", c.AdminAddr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(g, promhttp.HandlerOpts{Registry: reg}))
	mux.HandleFunc("GET /livez", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if err := probe.Ready(); err != nil {
			http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	if c.AdminPprofEnabled {
		// /debug/pprof/profile and /trace stream for ?seconds=N (30 s by
		// default): the server sets no write timeout.
		handlePprof(mux)
		log.Info("pprof enabled on the admin server", "path", "/debug/pprof/")
	}
	return &Admin{
		srv:      &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second},
		ln:       ln,
		log:      log,
		shutdown: c.ShutdownTimeout,
	}, nil
}

// handlePprof registers net/http/pprof's handlers on mux (its init
// registers them on http.DefaultServeMux, which the admin server does not
// use). Index serves the named profiles (heap, allocs, goroutine, ...).
func handlePprof(mux *http.ServeMux) {
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
}

// Addr is the address the server listens on.
func (a *Admin) Addr() string { return a.ln.Addr().String() }

// Run serves until ctx is done, then shuts down gracefully.
func (a *Admin) Run(ctx context.Context) error {
	errc := make(chan error, 1)
	go func() { errc <- a.srv.Serve(a.ln) }()
	a.log.Info("admin server listening", "addr", a.Addr())
	select {
	case err := <-errc:
		return fmt.Errorf("admin server: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), a.shutdown)
	defer cancel()
	if err := a.srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("admin shutdown: %w", err)
	}
	<-errc // Serve returned ErrServerClosed
	return nil
}
