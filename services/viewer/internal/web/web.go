// Package web is the viewer's HTTP side: server-rendered pages
// (html/template, embedded), a little vanilla JavaScript for the wall's
// auto-refresh, the pictures and thumbnails with HTTP caching, login
// sessions with CSRF protection, and the security headers.
//
// Routes (kept exactly; the browser test relies on them):
//
//	GET  /login, POST /login, POST /logout
//	GET  /                                  the wall, latest picture per camera
//	GET  /api/wall                          the wall as JSON (for the refresh script)
//	GET  /camera/{camera}                   days
//	GET  /camera/{camera}/{day}             hours of a day (YYYY-MM-DD)
//	GET  /camera/{camera}/{day}/{hour}      thumbnails of an hour (HH)
//	GET  /camera/{camera}/picture/{key}     one picture's page
//	GET  /picture/{camera}/{key}.jpg        the JPEG
//	GET  /thumb/{camera}/{key}.jpg          its thumbnail
//	GET  /temperature                       nodes
//	GET  /temperature/{node}?from=&to=      chart of a node's readings
//	GET  /pipeline                          the pipeline's health
//	GET  /static/{file}                     style sheet and script
//
// Only camera and node ids that pass messages.CheckID and picture keys
// that parse as keys of that camera ever reach the store.
package web

import (
	"context"
	"embed"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sensornode/sensornode/services/viewer/internal/auth"
	"github.com/sensornode/sensornode/services/viewer/internal/health"
	"github.com/sensornode/sensornode/services/viewer/internal/store"
)

// Pictures is what the web side reads of the picture store.
type Pictures interface {
	Cameras(ctx context.Context) ([]string, error)
	Latest(ctx context.Context, camera string) (store.Picture, error)
	Days(ctx context.Context, camera string) ([]time.Time, error)
	Hours(ctx context.Context, camera string, day time.Time) ([]store.HourCount, error)
	Hour(ctx context.Context, camera string, hour time.Time) ([]store.Picture, error)
	Open(ctx context.Context, camera, key string) (io.ReadCloser, store.Picture, error)
	Thumbnail(ctx context.Context, camera, key string) ([]byte, error)
}

// Temperatures is what the web side reads of the stored readings.
type Temperatures interface {
	Nodes(ctx context.Context) ([]string, error)
	Readings(ctx context.Context, node string, from, to time.Time) ([]store.Reading, error)
}

// Health gives the pipeline page its snapshot.
type Health interface {
	Snapshot(ctx context.Context) (health.Snapshot, error)
}

var (
	_ Pictures     = (*store.Store)(nil)
	_ Temperatures = (*store.Store)(nil)
	_ Health       = (*health.Source)(nil)
)

// Authentication modes.
const (
	AuthUsers = "users" // users file, login form, session cookie
	AuthNone  = "none"  // everyone is let in (development only)
	AuthProxy = "proxy" // a trusted reverse proxy (oauth2-proxy) names the user in a header
)

// Options configure a Server. Zero durations and sizes take the defaults
// noted.
type Options struct {
	Pictures     Pictures
	Temperatures Temperatures
	Health       Health // nil: the pipeline page says health is not configured

	Auth  string      // AuthUsers (default), AuthNone or AuthProxy
	Users *auth.Users // AuthUsers: the accounts

	CookieSecure  bool          // the Secure flag on cookies
	SessionIdle   time.Duration // default 1 h
	SessionMaxAge time.Duration // default 12 h
	MaxSessions   int           // default 1000
	LoginBurst    int           // failed logins at once per client address and per user; default 5
	LoginRefill   time.Duration // one more failed login allowed after this; default 20 s

	// TrustedProxies are the addresses whose X-Forwarded-For (the client
	// address for rate limits) and, with AuthProxy, ProxyUserHeader are
	// believed.
	TrustedProxies  []netip.Prefix
	ProxyUserHeader string // default X-Forwarded-User

	WallRefresh time.Duration // the wall's refresh period; default 10 s
	MaxRange    time.Duration // longest temperature range; default 31 days

	Log *slog.Logger
	Reg prometheus.Registerer // nil: metrics not registered
	Now func() time.Time      // nil: time.Now
}

// Server serves the viewer's pages.
type Server struct {
	opt      Options
	log      *slog.Logger
	now      func() time.Time
	metrics  *Metrics
	sessions *auth.Sessions
	perIP    *auth.Limiter
	perUser  *auth.Limiter
	pages    map[string]*pageTemplate
	static   map[string]staticFile
	handler  http.Handler
}

//go:embed templates/*.html static/*
var files embed.FS

// New makes a server.
func New(opt Options) (*Server, error) {
	if opt.Pictures == nil || opt.Temperatures == nil {
		return nil, fmt.Errorf("web: Pictures and Temperatures are required")
	}
	if opt.Auth == "" {
		opt.Auth = AuthUsers
	}
	switch opt.Auth {
	case AuthUsers:
		if opt.Users == nil || opt.Users.Len() == 0 {
			return nil, fmt.Errorf("web: authentication %q needs users", AuthUsers)
		}
	case AuthNone:
	case AuthProxy:
		if len(opt.TrustedProxies) == 0 {
			return nil, fmt.Errorf("web: authentication %q needs trusted proxy addresses", AuthProxy)
		}
	default:
		return nil, fmt.Errorf("web: authentication %q: want %s, %s or %s", opt.Auth, AuthUsers, AuthProxy, AuthNone)
	}
	defaults(&opt.SessionIdle, time.Hour)
	defaults(&opt.SessionMaxAge, 12*time.Hour)
	defaults(&opt.LoginRefill, 20*time.Second)
	defaults(&opt.WallRefresh, 10*time.Second)
	defaults(&opt.MaxRange, 31*24*time.Hour)
	defaults(&opt.MaxSessions, 1000)
	defaults(&opt.LoginBurst, 5)
	defaults(&opt.ProxyUserHeader, "X-Forwarded-User")
	if opt.Log == nil {
		opt.Log = slog.New(slog.DiscardHandler)
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	s := &Server{
		opt: opt, log: opt.Log, now: opt.Now,
		sessions: auth.NewSessions(opt.SessionIdle, opt.SessionMaxAge, opt.MaxSessions, opt.Now),
		perIP:    auth.NewLimiter(opt.LoginBurst, opt.LoginRefill, 10000, opt.Now),
		perUser:  auth.NewLimiter(opt.LoginBurst, opt.LoginRefill, 10000, opt.Now),
	}
	var sessions func() float64
	if opt.Auth == AuthUsers {
		sessions = func() float64 { return float64(s.sessions.Len()) }
	}
	s.metrics = NewMetrics(opt.Reg, sessions)
	var err error
	if s.static, err = loadStatic(); err != nil {
		return nil, err
	}
	if s.pages, err = parsePages(s.staticURL); err != nil {
		return nil, err
	}
	s.handler = s.routes()
	return s, nil
}

func defaults[T comparable](v *T, d T) {
	var zero T
	if *v == zero {
		*v = d
	}
}

// ServeHTTP serves the viewer.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// Access levels of a route.
const (
	public = iota // no login needed (login form, static files)
	page          // a page: without a login, 303 to /login
	data          // a picture, thumbnail or API answer: without a login, 401
)

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.fail(w, r, http.StatusForbidden, "cross-origin request refused")
	}))
	handle := func(pattern string, access int, h http.HandlerFunc) {
		var hh http.Handler = h
		if access != public {
			hh = s.authenticated(access, hh)
		}
		mux.Handle(pattern, s.metrics.instrument(pattern, cop.Handler(hh)))
	}
	handle("GET /login", public, s.loginForm)
	handle("POST /login", public, s.login)
	handle("POST /logout", page, s.logout)
	handle("GET /static/{file}", public, s.serveStatic)

	handle("GET /{$}", page, s.wall)
	handle("GET /api/wall", data, s.wallJSON)
	handle("GET /camera/{camera}", page, s.cameraDays)
	handle("GET /camera/{camera}/{day}", page, s.cameraHours)
	handle("GET /camera/{camera}/{day}/{hour}", page, s.cameraHour)
	handle("GET /camera/{camera}/picture/{key}", page, s.picturePage)
	handle("GET /picture/{camera}/{file}", data, s.picture)
	handle("GET /thumb/{camera}/{file}", data, s.thumb)
	handle("GET /temperature", page, s.temperatureNodes)
	handle("GET /temperature/{node}", page, s.temperature)
	handle("GET /pipeline", page, s.pipeline)
	mux.Handle("/", s.metrics.instrument("other", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.fail(w, r, http.StatusNotFound, "not found")
	})))
	return securityHeaders(cleanPaths(mux))
}

// cleanPaths answers 404 to a path with an empty, "." or ".." segment
// (also when percent-encoded) instead of letting ServeMux redirect it to
// its cleaned form: no such path is ever a link of the viewer.
func cleanPaths(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		if p == "" || p[0] != '/' || strings.Contains(p, "//") || strings.ContainsRune(p, 0) ||
			strings.Contains(p+"/", "/./") || strings.Contains(p+"/", "/../") {
			w.Header().Set("Cache-Control", "no-store")
			http.Error(w, "not found", http.StatusNotFound)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// csp allows this origin's script, style and images only: no inline
// script, no framing.
const csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
	"form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

func securityHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", csp)
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "no-referrer")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Cross-Origin-Opener-Policy", "same-origin")
		hd.Set("Cross-Origin-Resource-Policy", "same-origin")
		// Nothing is cached unless its handler says so (pictures,
		// thumbnails and static files do).
		hd.Set("Cache-Control", "no-store")
		h.ServeHTTP(w, r)
	})
}
