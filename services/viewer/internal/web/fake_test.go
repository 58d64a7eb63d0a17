package web

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/crypto/bcrypt"

	"github.com/sensornode/sensornode/libs/messages"
	"github.com/sensornode/sensornode/services/viewer/internal/auth"
	"github.com/sensornode/sensornode/services/viewer/internal/health"
	"github.com/sensornode/sensornode/services/viewer/internal/store"
)

// fakeStore serves a few pictures and readings from memory and records
// every call (path-safety tests check that nothing reached it).
type fakeStore struct {
	mu       sync.Mutex
	calls    []string
	pictures map[string][]store.Picture // by camera, oldest first
	readings map[string][]store.Reading // by node
	err      error                      // returned by every call when set
}

var t0 = time.Date(2026, 12, 7, 3, 0, 5, 0, time.UTC)

func testKey(camera string, at time.Time) string {
	return messages.PictureKey(camera, at, sha256.Sum256([]byte(camera+at.String())))
}

func newFakeStore() *fakeStore {
	f := &fakeStore{pictures: map[string][]store.Picture{}, readings: map[string][]store.Reading{}}
	for i := range 3 {
		at := t0.Add(time.Duration(i) * 10 * time.Second)
		f.pictures["C1"] = append(f.pictures["C1"], store.Picture{Camera: "C1", Key: testKey("C1", at), Taken: at, Size: 4})
	}
	f.pictures["C2"] = nil // a camera without pictures
	for i := range 10 {
		f.readings["node1"] = append(f.readings["node1"], store.Reading{
			Node: "node1", ReadAt: t0.Add(-time.Duration(10-i) * time.Minute), Celsius: 40 + float64(i%4), Source: "cpu",
		})
	}
	return f
}

func (f *fakeStore) record(format string, args ...any) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, fmt.Sprintf(format, args...))
	return f.err
}

func (f *fakeStore) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

func (f *fakeStore) Cameras(ctx context.Context) ([]string, error) {
	if err := f.record("Cameras"); err != nil {
		return nil, err
	}
	return []string{"C1", "C2"}, nil
}

func (f *fakeStore) Latest(ctx context.Context, camera string) (store.Picture, error) {
	if err := f.record("Latest %s", camera); err != nil {
		return store.Picture{}, err
	}
	ps := f.pictures[camera]
	if len(ps) == 0 {
		return store.Picture{}, store.ErrNotFound
	}
	return ps[len(ps)-1], nil
}

func (f *fakeStore) Days(ctx context.Context, camera string) ([]time.Time, error) {
	if err := f.record("Days %s", camera); err != nil {
		return nil, err
	}
	if _, ok := f.pictures[camera]; !ok {
		return nil, store.ErrNotFound
	}
	return []time.Time{t0.Truncate(24 * time.Hour)}, nil
}

func (f *fakeStore) Hours(ctx context.Context, camera string, day time.Time) ([]store.HourCount, error) {
	if err := f.record("Hours %s %s", camera, day.Format(time.RFC3339)); err != nil {
		return nil, err
	}
	return []store.HourCount{{Hour: t0.Truncate(time.Hour), Count: len(f.pictures[camera])}}, nil
}

func (f *fakeStore) Hour(ctx context.Context, camera string, hour time.Time) ([]store.Picture, error) {
	if err := f.record("Hour %s %s", camera, hour.Format(time.RFC3339)); err != nil {
		return nil, err
	}
	var out []store.Picture
	for _, p := range f.pictures[camera] {
		if p.Taken.Truncate(time.Hour).Equal(hour) {
			out = append(out, p)
		}
	}
	return out, nil
}

func (f *fakeStore) Open(ctx context.Context, camera, key string) (io.ReadCloser, store.Picture, error) {
	if err := f.record("Open %s %s", camera, key); err != nil {
		return nil, store.Picture{}, err
	}
	for _, p := range f.pictures[camera] {
		if p.Key == key {
			return io.NopCloser(strings.NewReader("JPEG")), p, nil
		}
	}
	return nil, store.Picture{}, store.ErrNotFound
}

func (f *fakeStore) Thumbnail(ctx context.Context, camera, key string) ([]byte, error) {
	if err := f.record("Thumbnail %s %s", camera, key); err != nil {
		return nil, err
	}
	for _, p := range f.pictures[camera] {
		if p.Key == key {
			return []byte("THUMB"), nil
		}
	}
	return nil, store.ErrNotFound
}

func (f *fakeStore) Nodes(ctx context.Context) ([]string, error) {
	if err := f.record("Nodes"); err != nil {
		return nil, err
	}
	return []string{"node1"}, nil
}

func (f *fakeStore) Readings(ctx context.Context, node string, from, to time.Time) ([]store.Reading, error) {
	if err := f.record("Readings %s", node); err != nil {
		return nil, err
	}
	var out []store.Reading
	for _, r := range f.readings[node] {
		if !r.ReadAt.Before(from) && r.ReadAt.Before(to) {
			out = append(out, r)
		}
	}
	return out, nil
}

type fakeHealth struct{ snap health.Snapshot }

func (h fakeHealth) Snapshot(ctx context.Context) (health.Snapshot, error) { return h.snap, nil }

// clock is a settable time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

const (
	testUser     = "alice"
	testPassword = "correct horse"
)

// testUsers are alice's account, hashed at the lowest cost (fast tests).
func testUsers(t *testing.T) *auth.Users {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(testPassword), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	u, err := auth.NewUsers(map[string][]byte{testUser: h})
	if err != nil {
		t.Fatal(err)
	}
	return u
}

type env struct {
	t     *testing.T
	srv   *Server
	store *fakeStore
	clock *clock
	reg   *prometheus.Registry
}

func newEnv(t *testing.T, change ...func(*Options)) *env {
	t.Helper()
	e := &env{t: t, store: newFakeStore(), clock: &clock{t: t0.Add(time.Hour)}, reg: prometheus.NewRegistry()}
	opt := Options{
		Pictures: e.store, Temperatures: e.store,
		Health: fakeHealth{snap: health.Snapshot{Taken: t0, Source: "scrape",
			Nodes: []health.Node{{Node: "node1", PicturesProduced: 12, Forwarded: 12, Stored: 11, Master: "m1"}},
			Lags:  []health.Lag{{Service: "edge-forwarder", Topic: "node1", Lag: 3}}, DeadLetters: map[string]float64{"cameraData-dlq": 1},
			FleetMaster: "m1", FleetAgrees: true, MasterViewOK: true}},
		Users: testUsers(t), CookieSecure: true,
		LoginBurst: 3, LoginRefill: 10 * time.Second,
		Reg: e.reg, Now: e.clock.Now,
	}
	for _, c := range change {
		c(&opt)
	}
	srv, err := New(opt)
	if err != nil {
		t.Fatal(err)
	}
	e.srv = srv
	return e
}

// do sends a request with the given cookies (and form, for POST) and
// returns the response.
func (e *env) do(method, target string, form url.Values, cookies []*http.Cookie, hdr map[string]string) *http.Response {
	e.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	r := httptest.NewRequest(method, target, body)
	r.RemoteAddr = "192.0.2.1:5555"
	if form != nil {
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range hdr {
		r.Header.Set(k, v)
	}
	for _, c := range cookies {
		r.AddCookie(c)
	}
	w := httptest.NewRecorder()
	e.srv.ServeHTTP(w, r)
	return w.Result()
}

func readBody(t *testing.T, res *http.Response) string {
	t.Helper()
	var b bytes.Buffer
	if _, err := io.Copy(&b, res.Body); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// formToken is the CSRF token of the first form in body.
func formToken(t *testing.T, body string) string {
	t.Helper()
	m := csrfRE.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no csrf field in %q", body)
	}
	return m[1]
}

func cookieNamed(res *http.Response, name string) *http.Cookie {
	for _, c := range res.Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// loginForm fetches the login form: its pre-session cookie and token.
func (e *env) loginForm() (*http.Cookie, string) {
	e.t.Helper()
	res := e.do("GET", "/login", nil, nil, nil)
	body := readBody(e.t, res)
	c := cookieNamed(res, loginCookie)
	if res.StatusCode != http.StatusOK || c == nil {
		e.t.Fatalf("GET /login = %d, cookie %v", res.StatusCode, c)
	}
	return c, formToken(e.t, body)
}

// postLogin posts the login form from client address ip.
func (e *env) postLogin(user, password, ip string) *http.Response {
	e.t.Helper()
	c, token := e.loginForm()
	return e.doFrom(ip, "POST", "/login", url.Values{"user": {user}, "password": {password}, "csrf": {token}}, []*http.Cookie{c})
}

func (e *env) doFrom(ip, method, target string, form url.Values, cookies []*http.Cookie) *http.Response {
	e.t.Helper()
	r := httptest.NewRequest(method, target, strings.NewReader(form.Encode()))
	r.RemoteAddr = ip + ":5555"
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.Header.Set("Sec-Fetch-Site", "same-origin")
	for _, c := range cookies {
		r.AddCookie(c)
	}
	w := httptest.NewRecorder()
	e.srv.ServeHTTP(w, r)
	return w.Result()
}

// login logs alice in and returns the session cookie and the session's
// CSRF token.
func (e *env) login() (*http.Cookie, string) {
	e.t.Helper()
	res := e.postLogin(testUser, testPassword, "192.0.2.1")
	c := cookieNamed(res, sessionCookie)
	if res.StatusCode != http.StatusSeeOther || c == nil {
		e.t.Fatalf("login = %d, session cookie %v", res.StatusCode, c)
	}
	page := e.do("GET", "/", nil, []*http.Cookie{c}, nil)
	return c, formToken(e.t, readBody(e.t, page))
}
