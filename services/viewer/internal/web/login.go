package web

import (
	"context"
	"crypto/subtle"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/sensornode/sensornode/services/viewer/internal/auth"
)

// Cookies. The session cookie carries only a random id (the session is
// kept on the server); the login cookie is the form's pre-session CSRF
// token (double submit).
const (
	sessionCookie = "viewer_session"
	loginCookie   = "viewer_login_csrf"
	csrfField     = "csrf"
)

// who is the authenticated user of a request.
type who struct {
	User string
	CSRF string // the session's form token ("" without sessions)
	ID   string // the session id ("" without sessions)
}

type whoKey struct{}

func userOf(r *http.Request) who {
	w, _ := r.Context().Value(whoKey{}).(who)
	return w
}

// authenticated lets a request through with its user in the context, or
// answers: a page redirects to /login (303), data gets 401.
func (s *Server) authenticated(access int, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, ok := s.identify(r)
		if !ok {
			if s.opt.Auth == AuthProxy {
				s.fail(w, r, http.StatusForbidden, "this viewer is reached through its authenticating proxy only")
				return
			}
			if access == page && r.Method == http.MethodGet {
				http.Redirect(w, r, "/login", http.StatusSeeOther)
				return
			}
			w.Header().Set("Cache-Control", "no-store")
			http.Error(w, "login required", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), whoKey{}, u)))
	})
}

func (s *Server) identify(r *http.Request) (who, bool) {
	switch s.opt.Auth {
	case AuthNone:
		return who{User: "anonymous"}, true
	case AuthProxy:
		if !s.fromProxy(r) {
			return who{}, false
		}
		u := strings.TrimSpace(r.Header.Get(s.opt.ProxyUserHeader))
		return who{User: u}, u != ""
	}
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return who{}, false
	}
	sess, ok := s.sessions.Get(c.Value)
	if !ok {
		return who{}, false
	}
	return who{User: sess.User, CSRF: sess.CSRF, ID: c.Value}, true
}

// remoteIP is the peer's address.
func remoteIP(r *http.Request) netip.Addr {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	a, _ := netip.ParseAddr(host)
	return a.Unmap()
}

func (s *Server) trusted(a netip.Addr) bool {
	for _, p := range s.opt.TrustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func (s *Server) fromProxy(r *http.Request) bool { return s.trusted(remoteIP(r)) }

// clientIP is the address failed logins are counted against: the peer,
// or behind a trusted proxy the last address it added to X-Forwarded-For.
func (s *Server) clientIP(r *http.Request) string {
	a := remoteIP(r)
	if s.trusted(a) {
		xff := r.Header.Values("X-Forwarded-For")
		if len(xff) > 0 {
			parts := strings.Split(xff[len(xff)-1], ",")
			if c, err := netip.ParseAddr(strings.TrimSpace(parts[len(parts)-1])); err == nil {
				return c.Unmap().String()
			}
		}
	}
	return a.String()
}

func (s *Server) cookie(name, value, path string, maxAge time.Duration) *http.Cookie {
	c := &http.Cookie{
		Name: name, Value: value, Path: path,
		HttpOnly: true, Secure: s.opt.CookieSecure, SameSite: http.SameSiteStrictMode,
	}
	if maxAge < 0 {
		c.MaxAge = -1
	} else {
		c.MaxAge = int(maxAge / time.Second)
	}
	return c
}

type loginData struct {
	Error string
	User  string
}

// loginForm shows the form with a fresh pre-session CSRF token, also set
// as a cookie.
func (s *Server) loginForm(w http.ResponseWriter, r *http.Request) {
	if s.opt.Auth != AuthUsers {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	if _, ok := s.identify(r); ok {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	s.renderLogin(w, r, http.StatusOK, loginData{})
}

func (s *Server) renderLogin(w http.ResponseWriter, r *http.Request, code int, d loginData) {
	token := auth.Token()
	http.SetCookie(w, s.cookie(loginCookie, token, "/login", time.Hour))
	s.render(w, r.WithContext(context.WithValue(r.Context(), whoKey{}, who{CSRF: token})), code, "login", "Log in", d)
}

// login checks the form: the CSRF token against its cookie, the rate
// limits, then the password; on success it starts a new session.
func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	if s.opt.Auth != AuthUsers {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 8<<10)
	if err := r.ParseForm(); err != nil {
		s.fail(w, r, http.StatusBadRequest, "bad form")
		return
	}
	user, password := r.PostForm.Get("user"), r.PostForm.Get("password")
	c, err := r.Cookie(loginCookie)
	if err != nil || !equalTokens(c.Value, r.PostForm.Get(csrfField)) {
		s.metrics.failures.WithLabelValues(failCSRF).Inc()
		s.renderLogin(w, r, http.StatusForbidden, loginData{Error: "The form expired. Please try again.", User: user})
		return
	}
	ip, userKey := "ip "+s.clientIP(r), "user "+truncate(user, 64)
	if wait := max(s.perIP.Wait(ip), s.perUser.Wait(userKey)); wait > 0 {
		s.metrics.failures.WithLabelValues(failRateLimited).Inc()
		secs := int((wait + time.Second - 1) / time.Second)
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		s.log.Warn("login rate-limited", "client", s.clientIP(r), "user", truncate(user, 64), "retry_after_s", secs)
		s.renderLogin(w, r, http.StatusTooManyRequests,
			loginData{Error: "Too many failed logins. Try again in " + strconv.Itoa(secs) + " s.", User: user})
		return
	}
	if _, err := s.opt.Users.Reload(); err != nil {
		s.log.Error("users file not re-read; the users read before stay in force", "err", err)
	}
	if !s.opt.Users.Check(user, password) {
		s.perIP.Fail(ip)
		s.perUser.Fail(userKey)
		s.metrics.failures.WithLabelValues(failPassword).Inc()
		s.log.Warn("login failed", "client", s.clientIP(r), "user", truncate(user, 64))
		s.renderLogin(w, r, http.StatusUnauthorized, loginData{Error: "Wrong user name or password.", User: user})
		return
	}
	if old, err := r.Cookie(sessionCookie); err == nil {
		s.sessions.Delete(old.Value)
	}
	id, _ := s.sessions.New(user)
	http.SetCookie(w, s.cookie(sessionCookie, id, "/", s.sessions.MaxAge()))
	http.SetCookie(w, s.cookie(loginCookie, "", "/login", -1))
	s.log.Info("login", "client", s.clientIP(r), "user", user)
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// logout ends the session (the form carries the session's CSRF token).
func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	u := userOf(r)
	if u.ID == "" {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	if !s.checkCSRF(w, r) {
		return
	}
	s.sessions.Delete(u.ID)
	http.SetCookie(w, s.cookie(sessionCookie, "", "/", -1))
	s.log.Info("logout", "user", u.User)
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// checkCSRF checks a session's POST form for its CSRF token, answering 403
// when it is missing or wrong.
func (s *Server) checkCSRF(w http.ResponseWriter, r *http.Request) bool {
	r.Body = http.MaxBytesReader(w, r.Body, 8<<10)
	if err := r.ParseForm(); err != nil {
		s.fail(w, r, http.StatusBadRequest, "bad form")
		return false
	}
	if !equalTokens(userOf(r).CSRF, r.PostForm.Get(csrfField)) {
		s.fail(w, r, http.StatusForbidden, "missing or wrong CSRF token")
		return false
	}
	return true
}

// equalTokens compares two non-empty tokens in constant time.
func equalTokens(want, got string) bool {
	return want != "" && subtle.ConstantTimeCompare([]byte(want), []byte(got)) == 1
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
