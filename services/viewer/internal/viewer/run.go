package viewer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/sensornode/sensornode/libs/svc"
	"github.com/sensornode/sensornode/services/viewer/internal/auth"
	"github.com/sensornode/sensornode/services/viewer/internal/health"
	"github.com/sensornode/sensornode/services/viewer/internal/store"
	"github.com/sensornode/sensornode/services/viewer/internal/web"
)

// condHDFS is the readiness condition: HDFS answers (store.Ping).
const condHDFS = "hdfs"

// Store is what Run needs of the store: the web side's reads and a ping.
type Store interface {
	web.Pictures
	web.Temperatures
	Ping(ctx context.Context) error
}

var _ Store = (*store.Store)(nil)

// Options are hooks for tests; the zero value is what the service runs
// with.
type Options struct {
	Store  Store      // nil: the HDFS store of the configuration
	Health web.Health // nil: the health source of the configuration, if any
	// Listening, when set, is called with the web and admin addresses once
	// both listen.
	Listening func(webAddr, adminAddr string)
}

// Run serves the viewer and its admin server until ctx is done or a fatal
// error occurs.
func Run(ctx context.Context, c *Config, log *slog.Logger, reg *prometheus.Registry, opt Options) error {
	cfg := *c
	if err := cfg.Validate(); err != nil {
		return err
	}
	var users *auth.Users
	switch cfg.Auth {
	case web.AuthUsers:
		var err error
		if users, err = auth.LoadUsers(cfg.UsersFile); err != nil {
			return err
		}
		log.Info("authentication by users file", "users_file", cfg.UsersFile, "users", users.Len())
	case web.AuthProxy:
		log.Info("authentication by a trusted proxy", "trusted_proxies", cfg.TrustedProxies, "header", cfg.ProxyUserHeader)
	case web.AuthNone:
		log.Warn("AUTHENTICATION IS OFF (SENSORNODE_VIEWER_AUTH=none): anyone who reaches the listener sees every picture and reading",
			"addr", cfg.Addr)
	}
	proxies, err := cfg.trustedProxies()
	if err != nil {
		return err
	}
	st := opt.Store
	if st == nil {
		fsys := newHDFS(cfg.HDFS)
		defer fsys.Close()
		s, err := store.New(fsys, cfg.StoreConfig(), reg)
		if err != nil {
			return fmt.Errorf("store: %w", err)
		}
		st = s
	}
	hs := opt.Health
	if hs == nil && cfg.healthConfigured() {
		src, err := health.New(cfg.HealthConfig(), reg)
		if err != nil {
			return fmt.Errorf("health: %w", err)
		}
		hs = src
	}
	srv, err := web.New(web.Options{
		Pictures: st, Temperatures: st, Health: hs,
		Auth: cfg.Auth, Users: users, CookieSecure: cfg.CookieSecure,
		SessionIdle: cfg.SessionIdleTimeout, SessionMaxAge: cfg.SessionMaxAge, MaxSessions: cfg.MaxSessions,
		LoginBurst: cfg.LoginBurst, LoginRefill: cfg.LoginRefill,
		TrustedProxies: proxies, ProxyUserHeader: cfg.ProxyUserHeader,
		WallRefresh: cfg.WallRefresh, MaxRange: cfg.MaxRange,
		Log: log, Reg: reg,
	})
	if err != nil {
		return err
	}

	probe := svc.NewProbe(reg)
	probe.Register(condHDFS)
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("web listen %s: %w", cfg.Addr, err)
	}
	admin, err := svc.NewAdmin(cfg.Common, reg, probe, log)
	if err != nil {
		ln.Close()
		return err
	}
	hsrv := &http.Server{
		Handler:           srv,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	log.Info("viewer listening", "addr", ln.Addr().String())
	if opt.Listening != nil {
		opt.Listening(ln.Addr().String(), admin.Addr())
	}

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return admin.Run(gctx) })
	g.Go(func() error {
		svc.Watch{
			Condition: condHDFS, Check: st.Ping, Probe: probe, Log: log, Interval: cfg.CheckInterval,
			Up: "hdfs reachable", Down: "hdfs unreachable",
		}.Run(gctx)
		return nil
	})
	g.Go(func() error { return serve(gctx, hsrv, ln, probe, cfg.ShutdownTimeout) })
	return g.Wait()
}

// serve runs the web server until ctx is done, then marks the service not
// ready and shuts the server down gracefully.
func serve(ctx context.Context, srv *http.Server, ln net.Listener, probe *svc.Probe, timeout time.Duration) error {
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("web server: %w", err)
	case <-ctx.Done():
	}
	probe.Drain()
	sctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	err := srv.Shutdown(sctx)
	if e := <-errc; !errors.Is(e, http.ErrServerClosed) && err == nil {
		err = e
	}
	if err != nil {
		return fmt.Errorf("web shutdown: %w", err)
	}
	return nil
}

// HashPassword is `viewer hash-password USER`: it reads the password (one
// line) from in and writes the users-file line to out.
func HashPassword(args []string, in io.Reader, out io.Writer) error {
	return hashPassword(args, in, out, auth.DefaultCost)
}

func hashPassword(args []string, in io.Reader, out io.Writer, cost int) error {
	if len(args) != 1 || args[0] == "" || args[0][0] == '-' {
		return fmt.Errorf("%w: viewer hash-password USER < password-file (the password is read from stdin, one line)", svc.ErrUsage)
	}
	pw, err := auth.ReadPassword(in)
	if err != nil {
		return fmt.Errorf("read password: %w", err)
	}
	line, err := auth.HashLine(args[0], pw, cost)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(out, line)
	return err
}
