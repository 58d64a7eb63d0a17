package web

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/goleak"

	"github.com/sensornode/sensornode/services/viewer/internal/store"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestPages(t *testing.T) {
	e := newEnv(t)
	sess, _ := e.login()
	k0, k1, k2 := e.store.pictures["C1"][0].Key, e.store.pictures["C1"][1].Key, e.store.pictures["C1"][2].Key
	tests := []struct {
		name     string
		path     string
		wantCode int
		wantType string
		want     []string
		notWant  []string
	}{
		{name: "wall", path: "/", wantCode: 200, want: []string{
			`<figure class="tile" data-camera="C1">`,
			`<a href="/camera/C1"><img src="/thumb/C1/` + k2 + `.jpg" alt="Latest picture of camera C1, taken 2026-12-07 03:00:25 UTC"></a>`,
			`<figure class="tile" data-camera="C2">`, `C2: no picture yet`,
			`<a href="/">Refresh</a>`, `data-refresh="10"`,
		}},
		{name: "camera days", path: "/camera/C1", wantCode: 200, want: []string{`<a href="/camera/C1/2026-12-07">2026-12-07</a>`}},
		{name: "camera hours", path: "/camera/C1/2026-12-07", wantCode: 200, want: []string{
			`<a href="/camera/C1/2026-12-07/03">03:00</a>`, `3 pictures`}},
		{name: "camera hour", path: "/camera/C1/2026-12-07/03", wantCode: 200, want: []string{
			`<a href="/camera/C1/picture/` + k0 + `"><img class="thumb" src="/thumb/C1/` + k0 + `.jpg" alt="Camera C1 at 2026-12-07 03:00:05 UTC"`,
			`/thumb/C1/` + k2 + `.jpg`}},
		{name: "empty hour", path: "/camera/C1/2026-12-07/04", wantCode: 200, want: []string{`0 pictures`}},
		{name: "picture page", path: "/camera/C1/picture/" + k1, wantCode: 200, want: []string{
			`<img id="picture" src="/picture/C1/` + k1 + `.jpg" alt="Picture of camera C1 taken 2026-12-07 03:00:15 UTC">`,
			`href="/camera/C1/picture/` + k0 + `"`, `href="/camera/C1/picture/` + k2 + `"`}},
		{name: "picture", path: "/picture/C1/" + k1 + ".jpg", wantCode: 200, wantType: "image/jpeg", want: []string{"JPEG"}},
		{name: "thumbnail", path: "/thumb/C1/" + k1 + ".jpg", wantCode: 200, wantType: "image/jpeg", want: []string{"THUMB"}},
		{name: "nodes", path: "/temperature", wantCode: 200, want: []string{`<a href="/temperature/node1">node1</a>`}},
		{name: "temperature default range", path: "/temperature/node1", wantCode: 200, want: []string{
			`<svg class="chart" data-node="node1" role="img" aria-label="Temperature of node1`,
			`<circle class="reading"`, `<dl class="stats">`, `<label for="from">`, `<label for="to">`}},
		{name: "temperature range", path: "/temperature/node1?from=2026-12-07T02:55:00Z&to=2026-12-07T03:00:00Z", wantCode: 200,
			want: []string{`5 readings`, `43.0 °C`}},
		{name: "temperature datetime-local", path: "/temperature/node1?from=2026-12-07T02:55&to=2026-12-07T03:00:00", wantCode: 200,
			want: []string{`5 readings`}},
		{name: "temperature bad from", path: "/temperature/node1?from=yesterday", wantCode: 400, want: []string{`role="alert"`}},
		{name: "temperature reversed", path: "/temperature/node1?from=2026-12-07T03:00:00Z&to=2026-12-07T02:00:00Z", wantCode: 400,
			want: []string{"from must be before to"}},
		{name: "temperature too long", path: "/temperature/node1?from=2025-12-07T03:00:00Z&to=2026-12-07T02:00:00Z", wantCode: 400},
		{name: "pipeline", path: "/pipeline", wantCode: 200, want: []string{
			`<th scope="row">node1</th>`, `edge-forwarder`, `cameraData-dlq`, `The fleet agrees on master m1.`}},
		{name: "wall json", path: "/api/wall", wantCode: 200, wantType: "application/json", want: []string{`"camera":"C1"`}},
		{name: "unknown camera", path: "/camera/C9", wantCode: 404},
		{name: "unknown picture", path: "/camera/C1/picture/" + testKey("C1", t0.Add(time.Second)), wantCode: 404},
		{name: "unknown route", path: "/nothing/here", wantCode: 404},
		{name: "static script", path: "/static/app.js", wantCode: 200, wantType: "text/javascript", want: []string{"/api/wall"}},
		{name: "static style", path: "/static/style.css", wantCode: 200, wantType: "text/css", want: []string{":focus-visible"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := e.do("GET", tt.path, nil, []*http.Cookie{sess}, nil)
			body := readBody(t, res)
			if res.StatusCode != tt.wantCode {
				t.Fatalf("GET %s = %d, want %d; body:\n%s", tt.path, res.StatusCode, tt.wantCode, body)
			}
			wantType := tt.wantType
			if wantType == "" {
				wantType = "text/html"
			}
			if got := res.Header.Get("Content-Type"); !strings.HasPrefix(got, wantType) {
				t.Errorf("Content-Type = %q, want %s", got, wantType)
			}
			for _, w := range tt.want {
				if !strings.Contains(body, w) {
					t.Errorf("body lacks %q:\n%s", w, body)
				}
			}
			if strings.HasPrefix(wantType, "text/html") {
				checkAccessible(t, body)
			}
		})
	}
}

// checkAccessible checks the basics every page has: language, viewport,
// skip link, one h1, alt text on every image, a label for every visible
// input.
func checkAccessible(t *testing.T, body string) {
	t.Helper()
	for _, w := range []string{`<html lang="en">`, `<meta name="viewport"`, `<a class="skip" href="#main">`, `<main id="main"`} {
		if !strings.Contains(body, w) {
			t.Errorf("page lacks %q", w)
		}
	}
	if n := strings.Count(body, "<h1>"); n != 1 {
		t.Errorf("page has %d h1, want 1", n)
	}
	for _, img := range strings.Split(body, "<img")[1:] {
		tag, _, _ := strings.Cut(img, ">")
		if !strings.Contains(tag, ` alt="`) || strings.Contains(tag, ` alt=""`) {
			t.Errorf("img without alt text: <img%s>", tag)
		}
	}
	for _, in := range strings.Split(body, "<input")[1:] {
		tag, _, _ := strings.Cut(in, ">")
		if strings.Contains(tag, `type="hidden"`) {
			continue
		}
		id := between(tag, `id="`, `"`)
		if id == "" || !strings.Contains(body, `<label for="`+id+`">`) {
			t.Errorf("input without a label: <input%s>", tag)
		}
	}
}

func between(s, a, b string) string {
	_, rest, ok := strings.Cut(s, a)
	if !ok {
		return ""
	}
	v, _, _ := strings.Cut(rest, b)
	return v
}

func TestWallJSON(t *testing.T) {
	e := newEnv(t)
	sess, _ := e.login()
	res := e.do("GET", "/api/wall", nil, []*http.Cookie{sess}, nil)
	var got wallData
	if err := json.NewDecoder(res.Body).Decode(&got); err != nil {
		t.Fatal(err)
	}
	if len(got.Tiles) != 2 || got.Tiles[0].Thumb != "/thumb/C1/"+e.store.pictures["C1"][2].Key+".jpg" || got.Tiles[1].Thumb != "" {
		t.Errorf("tiles = %+v", got.Tiles)
	}
	if got.Refresh != 10 {
		t.Errorf("refresh = %d, want 10", got.Refresh)
	}
	if cc := res.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", cc)
	}
}

func TestStoreDown(t *testing.T) {
	e := newEnv(t)
	sess, _ := e.login()
	e.store.err = errDown
	for _, p := range []string{"/", "/camera/C1", "/temperature", "/picture/C1/" + e.store.pictures["C1"][0].Key + ".jpg"} {
		res := e.do("GET", p, nil, []*http.Cookie{sess}, nil)
		body := readBody(t, res)
		if res.StatusCode != http.StatusServiceUnavailable {
			t.Errorf("GET %s with the store down = %d, want 503", p, res.StatusCode)
		}
		if strings.Contains(body, errDown.Error()) {
			t.Errorf("GET %s shows the store's error to the client", p)
		}
	}
}

type downErr struct{}

func (downErr) Error() string { return "namenode 10.0.0.7:8020 refused" }

var errDown error = downErr{}

// Nothing a client sends that is not a path-safe id or a key of the camera
// reaches the store.
func TestPathSafety(t *testing.T) {
	e := newEnv(t)
	sess, _ := e.login()
	key := e.store.pictures["C1"][0].Key
	other := testKey("C2", t0)
	long := strings.Repeat("c", 65)
	tests := []string{
		"/picture/C1/../C1/" + key + ".jpg",
		"/picture/C1/..%2F..%2Fetc%2Fpasswd.jpg",
		"/picture/..%2F..%2Fetc/" + key + ".jpg",
		"/picture/%2e%2e/" + key + ".jpg",
		"/picture/C1/%2e%2e%2f" + key + ".jpg",
		"/picture/C1/" + key + "%2F.jpg",
		"/picture/C1/" + key + "%00.jpg",
		"/picture/C1%00/" + key + ".jpg",
		"/picture/C%C3%A9/" + key + ".jpg",
		"/picture/C1/%252e%252e%252f" + key + ".jpg",
		"/picture/C1/" + other + ".jpg",
		"/picture/C1/" + key,
		"/picture/C1/" + key + ".png",
		"/picture/" + long + "/" + testKey(long, t0) + ".jpg",
		"/picture/.C1/" + testKey(".C1", t0) + ".jpg",
		"/picture/C1//" + key + ".jpg",
		"/picture/C1/./" + key + ".jpg",
		"/thumb/C1/..%2F" + key + ".jpg",
		"/thumb/C1/" + other + ".jpg",
		"/thumb/C1/%252F" + key + ".jpg",
		"/camera/..%2F",
		"/camera/C1%2F..%2F..",
		"/camera/C%C3%A9",
		"/camera/" + long,
		"/camera/C1/2026-13-01",
		"/camera/C1/2026-12-07%2F..",
		"/camera/C1/26-12-07",
		"/camera/C1/2026-12-07/24",
		"/camera/C1/2026-12-07/3",
		"/camera/C1/2026-12-07/%2e%2e",
		"/camera/C1/picture/" + other,
		"/camera/C1/picture/%2e%2e%2f" + key,
		"/camera/C1/picture/" + key + "%00",
		"/temperature/..%2Fnode1",
		"/temperature/node1%00",
		"/temperature/%2e%2e",
		"/temperature/n%C3%B6de",
		"/temperature/" + long,
	}
	for _, p := range tests {
		t.Run(p, func(t *testing.T) {
			before := len(e.store.Calls())
			res := e.do("GET", p, nil, []*http.Cookie{sess}, nil)
			if res.StatusCode != http.StatusNotFound && res.StatusCode != http.StatusBadRequest {
				t.Errorf("GET %s = %d, want 404 or 400", p, res.StatusCode)
			}
			if calls := e.store.Calls()[before:]; len(calls) > 0 {
				t.Errorf("GET %s reached the store: %v", p, calls)
			}
		})
	}
}

func TestUnauthenticated(t *testing.T) {
	e := newEnv(t)
	key := e.store.pictures["C1"][0].Key
	tests := []struct {
		method, path string
		wantCode     int
	}{
		{"GET", "/", http.StatusSeeOther},
		{"GET", "/camera/C1", http.StatusSeeOther},
		{"GET", "/camera/C1/2026-12-07", http.StatusSeeOther},
		{"GET", "/camera/C1/2026-12-07/03", http.StatusSeeOther},
		{"GET", "/camera/C1/picture/" + key, http.StatusSeeOther},
		{"GET", "/temperature", http.StatusSeeOther},
		{"GET", "/temperature/node1", http.StatusSeeOther},
		{"GET", "/pipeline", http.StatusSeeOther},
		{"GET", "/picture/C1/" + key + ".jpg", http.StatusUnauthorized},
		{"GET", "/thumb/C1/" + key + ".jpg", http.StatusUnauthorized},
		{"GET", "/api/wall", http.StatusUnauthorized},
		{"POST", "/logout", http.StatusUnauthorized},
	}
	stale := &http.Cookie{Name: sessionCookie, Value: "forged-or-expired"}
	for _, tt := range tests {
		for _, cookies := range [][]*http.Cookie{nil, {stale}} {
			res := e.do(tt.method, tt.path, url.Values{}, cookies, nil)
			if res.StatusCode != tt.wantCode {
				t.Errorf("%s %s (cookies %d) = %d, want %d", tt.method, tt.path, len(cookies), res.StatusCode, tt.wantCode)
			}
			if tt.wantCode == http.StatusSeeOther && res.Header.Get("Location") != "/login" {
				t.Errorf("%s %s: Location %q, want /login", tt.method, tt.path, res.Header.Get("Location"))
			}
		}
	}
	if calls := e.store.Calls(); len(calls) > 0 {
		t.Errorf("unauthenticated requests reached the store: %v", calls)
	}
}

func TestLogin(t *testing.T) {
	e := newEnv(t)
	res := e.postLogin(testUser, testPassword, "192.0.2.1")
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/" {
		t.Fatalf("login = %d to %q, want 303 to /", res.StatusCode, res.Header.Get("Location"))
	}
	c := cookieNamed(res, sessionCookie)
	if c == nil {
		t.Fatal("no session cookie")
	}
	if !c.HttpOnly || !c.Secure || c.SameSite != http.SameSiteStrictMode || c.Path != "/" || c.MaxAge != 12*3600 {
		t.Errorf("session cookie %+v: want HttpOnly, Secure, SameSite=Strict, Path=/, Max-Age=43200", c)
	}
	if len(c.Value) != 43 {
		t.Errorf("session id %q: want 43 base64url characters (256 bits)", c.Value)
	}
	if strings.Contains(res.Header.Get("Location"), c.Value) {
		t.Error("session id in a URL")
	}
	if lc := cookieNamed(res, loginCookie); lc == nil || lc.MaxAge >= 0 {
		t.Errorf("login CSRF cookie not cleared: %+v", lc)
	}
	page := e.do("GET", "/", nil, []*http.Cookie{c}, nil)
	if page.StatusCode != http.StatusOK {
		t.Errorf("GET / with the session = %d, want 200", page.StatusCode)
	}
	// The login form's cookie has the same flags.
	lc, _ := e.loginForm()
	if !lc.HttpOnly || !lc.Secure || lc.SameSite != http.SameSiteStrictMode {
		t.Errorf("login cookie %+v: want HttpOnly, Secure, SameSite=Strict", lc)
	}
}

func TestLoginRefused(t *testing.T) {
	tests := []struct {
		name     string
		form     func(token string) url.Values
		cookie   bool
		hdr      map[string]string
		wantCode int
		reason   string
	}{
		{name: "wrong password", form: func(tok string) url.Values {
			return url.Values{"user": {testUser}, "password": {"wrong"}, "csrf": {tok}}
		}, cookie: true, wantCode: 401, reason: failPassword},
		{name: "unknown user", form: func(tok string) url.Values {
			return url.Values{"user": {"mallory"}, "password": {testPassword}, "csrf": {tok}}
		}, cookie: true, wantCode: 401, reason: failPassword},
		{name: "empty password", form: func(tok string) url.Values {
			return url.Values{"user": {testUser}, "password": {""}, "csrf": {tok}}
		}, cookie: true, wantCode: 401, reason: failPassword},
		{name: "csrf missing", form: func(tok string) url.Values {
			return url.Values{"user": {testUser}, "password": {testPassword}}
		}, cookie: true, wantCode: 403, reason: failCSRF},
		{name: "csrf wrong", form: func(tok string) url.Values {
			return url.Values{"user": {testUser}, "password": {testPassword}, "csrf": {tok + "x"}}
		}, cookie: true, wantCode: 403, reason: failCSRF},
		{name: "csrf cookie missing", form: func(tok string) url.Values {
			return url.Values{"user": {testUser}, "password": {testPassword}, "csrf": {tok}}
		}, cookie: false, wantCode: 403, reason: failCSRF},
		{name: "cross-site", form: func(tok string) url.Values {
			return url.Values{"user": {testUser}, "password": {testPassword}, "csrf": {tok}}
		}, cookie: true, hdr: map[string]string{"Sec-Fetch-Site": "cross-site"}, wantCode: 403},
		{name: "other origin", form: func(tok string) url.Values {
			return url.Values{"user": {testUser}, "password": {testPassword}, "csrf": {tok}}
		}, cookie: true, hdr: map[string]string{"Origin": "https://evil.example"}, wantCode: 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			lc, tok := e.loginForm()
			var cookies []*http.Cookie
			if tt.cookie {
				cookies = append(cookies, lc)
			}
			res := e.do("POST", "/login", tt.form(tok), cookies, tt.hdr)
			if res.StatusCode != tt.wantCode {
				t.Errorf("POST /login = %d, want %d", res.StatusCode, tt.wantCode)
			}
			if c := cookieNamed(res, sessionCookie); c != nil {
				t.Errorf("refused login set a session cookie %+v", c)
			}
			if tt.reason != "" {
				if got := testutil.ToFloat64(e.srv.metrics.failures.WithLabelValues(tt.reason)); got != 1 {
					t.Errorf("login failures{reason=%s} = %v, want 1", tt.reason, got)
				}
			}
			if e.srv.sessions.Len() != 0 {
				t.Errorf("%d sessions after a refused login", e.srv.sessions.Len())
			}
		})
	}
}

func TestLoginRateLimit(t *testing.T) {
	e := newEnv(t) // burst 3, one more every 10 s
	for i := range 3 {
		if res := e.postLogin(testUser, "wrong", "192.0.2.1"); res.StatusCode != http.StatusUnauthorized {
			t.Fatalf("failure %d = %d, want 401", i+1, res.StatusCode)
		}
	}
	// Even the right password is refused now, before it is checked.
	res := e.postLogin(testUser, testPassword, "192.0.2.1")
	if res.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("4th attempt = %d, want 429", res.StatusCode)
	}
	if ra := res.Header.Get("Retry-After"); ra != "10" {
		t.Errorf("Retry-After = %q, want 10", ra)
	}
	if got := testutil.ToFloat64(e.srv.metrics.failures.WithLabelValues(failRateLimited)); got != 1 {
		t.Errorf("rate-limited failures = %v, want 1", got)
	}
	// Per user: another address is refused for alice too...
	if res := e.postLogin(testUser, testPassword, "198.51.100.9"); res.StatusCode != http.StatusTooManyRequests {
		t.Errorf("alice from another address = %d, want 429", res.StatusCode)
	}
	// ...but not for another user from there.
	if res := e.postLogin("bob", "x", "198.51.100.9"); res.StatusCode != http.StatusUnauthorized {
		t.Errorf("bob from another address = %d, want 401", res.StatusCode)
	}
	// Per address: the first address is refused for any user.
	if res := e.postLogin("bob", "x", "192.0.2.1"); res.StatusCode != http.StatusTooManyRequests {
		t.Errorf("bob from the limited address = %d, want 429", res.StatusCode)
	}
	e.clock.Add(10 * time.Second)
	if res := e.postLogin(testUser, testPassword, "192.0.2.1"); res.StatusCode != http.StatusSeeOther {
		t.Errorf("after the refill = %d, want 303", res.StatusCode)
	}
}

func TestLogout(t *testing.T) {
	e := newEnv(t)
	sess, tok := e.login()
	cases := []struct {
		name string
		form url.Values
		hdr  map[string]string
	}{
		{"csrf missing", url.Values{}, nil},
		{"csrf wrong", url.Values{"csrf": {tok + "x"}}, nil},
		{"csrf of another form in the query only", url.Values{}, nil},
		{"cross-site", url.Values{"csrf": {tok}}, map[string]string{"Sec-Fetch-Site": "cross-site"}},
	}
	for _, c := range cases {
		target := "/logout"
		if strings.Contains(c.name, "query") {
			target += "?csrf=" + url.QueryEscape(tok)
		}
		res := e.do("POST", target, c.form, []*http.Cookie{sess}, c.hdr)
		if res.StatusCode != http.StatusForbidden {
			t.Errorf("logout %s = %d, want 403", c.name, res.StatusCode)
		}
	}
	if res := e.do("GET", "/", nil, []*http.Cookie{sess}, nil); res.StatusCode != http.StatusOK {
		t.Fatalf("session ended by a refused logout: GET / = %d", res.StatusCode)
	}
	res := e.do("POST", "/logout", url.Values{"csrf": {tok}}, []*http.Cookie{sess}, map[string]string{"Sec-Fetch-Site": "same-origin"})
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/login" {
		t.Fatalf("logout = %d to %q, want 303 to /login", res.StatusCode, res.Header.Get("Location"))
	}
	if c := cookieNamed(res, sessionCookie); c == nil || c.MaxAge >= 0 {
		t.Errorf("session cookie not cleared: %+v", c)
	}
	if res := e.do("GET", "/", nil, []*http.Cookie{sess}, nil); res.StatusCode != http.StatusSeeOther {
		t.Errorf("GET / after logout = %d, want 303", res.StatusCode)
	}
}

func TestSessionExpiry(t *testing.T) {
	tests := []struct {
		name  string
		steps []time.Duration // requests after these waits
		want  int             // status of the last
	}{
		{"active", []time.Duration{50 * time.Minute, 50 * time.Minute}, 200},
		{"idle", []time.Duration{61 * time.Minute}, 303},
		{"absolute", []time.Duration{50 * time.Minute, 50 * time.Minute, 50 * time.Minute, 50 * time.Minute,
			50 * time.Minute, 50 * time.Minute, 50 * time.Minute, 50 * time.Minute, 50 * time.Minute,
			50 * time.Minute, 50 * time.Minute, 50 * time.Minute, 50 * time.Minute, 50 * time.Minute, 50 * time.Minute}, 303},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			sess, _ := e.login()
			var code int
			for _, d := range tt.steps {
				e.clock.Add(d)
				code = e.do("GET", "/pipeline", nil, []*http.Cookie{sess}, nil).StatusCode
			}
			if code != tt.want {
				t.Errorf("last GET = %d, want %d", code, tt.want)
			}
		})
	}
}

func TestCaching(t *testing.T) {
	e := newEnv(t)
	sess, _ := e.login()
	key := e.store.pictures["C1"][0].Key
	for _, p := range []string{"/picture/C1/" + key + ".jpg", "/thumb/C1/" + key + ".jpg"} {
		res := e.do("GET", p, nil, []*http.Cookie{sess}, nil)
		if res.StatusCode != 200 {
			t.Fatalf("GET %s = %d", p, res.StatusCode)
		}
		if got := res.Header.Get("ETag"); got != `"`+key+`"` {
			t.Errorf("%s: ETag = %q, want the key", p, got)
		}
		if got := res.Header.Get("Cache-Control"); got != "private, max-age=31536000, immutable" {
			t.Errorf("%s: Cache-Control = %q", p, got)
		}
		before := len(e.store.Calls())
		for _, inm := range []string{`"` + key + `"`, `"other", W/"` + key + `"`, "*"} {
			res = e.do("GET", p, nil, []*http.Cookie{sess}, map[string]string{"If-None-Match": inm})
			if res.StatusCode != http.StatusNotModified {
				t.Errorf("%s with If-None-Match %s = %d, want 304", p, inm, res.StatusCode)
			}
		}
		if calls := e.store.Calls()[before:]; len(calls) > 0 {
			t.Errorf("a 304 read the store: %v", calls)
		}
		res = e.do("GET", p, nil, []*http.Cookie{sess}, map[string]string{"If-None-Match": `"other"`})
		if res.StatusCode != 200 {
			t.Errorf("%s with another ETag = %d, want 200", p, res.StatusCode)
		}
	}
	missing := testKey("C1", t0.Add(time.Second))
	res := e.do("GET", "/picture/C1/"+missing+".jpg", nil, []*http.Cookie{sess}, nil)
	if res.StatusCode != 404 || res.Header.Get("ETag") != "" || res.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("missing picture: %d, ETag %q, Cache-Control %q; want 404 without ETag, no-store",
			res.StatusCode, res.Header.Get("ETag"), res.Header.Get("Cache-Control"))
	}
	for _, p := range []string{"/", "/login", "/camera/C1", "/temperature/node1", "/pipeline", "/api/wall"} {
		res := e.do("GET", p, nil, []*http.Cookie{sess}, nil)
		if got := res.Header.Get("Cache-Control"); got != "no-store" {
			t.Errorf("%s: Cache-Control = %q, want no-store", p, got)
		}
	}
	js := e.srv.staticURL("app.js")
	if res := e.do("GET", js, nil, nil, nil); res.Header.Get("Cache-Control") != "public, max-age=31536000, immutable" {
		t.Errorf("%s: Cache-Control = %q, want immutable", js, res.Header.Get("Cache-Control"))
	}
}

func TestSecurityHeaders(t *testing.T) {
	e := newEnv(t)
	sess, _ := e.login()
	key := e.store.pictures["C1"][0].Key
	for _, p := range []string{"/login", "/", "/picture/C1/" + key + ".jpg", "/api/wall", "/nothing", "/static/app.js", "/camera/..%2F"} {
		res := e.do("GET", p, nil, []*http.Cookie{sess}, nil)
		h := res.Header
		csp := h.Get("Content-Security-Policy")
		for _, w := range []string{"default-src 'none'", "script-src 'self'", "frame-ancestors 'none'"} {
			if !strings.Contains(csp, w) {
				t.Errorf("%s: CSP %q lacks %q", p, csp, w)
			}
		}
		if strings.Contains(csp, "unsafe-inline") {
			t.Errorf("%s: CSP allows inline code", p)
		}
		if h.Get("X-Content-Type-Options") != "nosniff" || h.Get("Referrer-Policy") != "no-referrer" {
			t.Errorf("%s: X-Content-Type-Options %q, Referrer-Policy %q", p, h.Get("X-Content-Type-Options"), h.Get("Referrer-Policy"))
		}
	}
	// No inline script anywhere.
	body := readBody(t, e.do("GET", "/", nil, []*http.Cookie{sess}, nil))
	if strings.Contains(body, "<script>") || strings.Contains(body, " onclick=") || strings.Contains(body, " style=") {
		t.Error("the wall has inline script or style")
	}
}

func TestChartRender(t *testing.T) {
	for _, n := range []int{0, 1, 2000, 2001, 10000} {
		t.Run("", func(t *testing.T) {
			e := newEnv(t)
			e.store.readings["node1"] = nil
			for i := range n {
				e.store.readings["node1"] = append(e.store.readings["node1"], store.Reading{
					Node: "node1", ReadAt: t0.Add(time.Duration(i) * time.Second), Celsius: 30 + float64(i%50)/10,
				})
			}
			sess, _ := e.login()
			q := "?from=" + t0.Format(time.RFC3339) + "&to=" + t0.Add(3*time.Hour).Format(time.RFC3339)
			res := e.do("GET", "/temperature/node1"+q, nil, []*http.Cookie{sess}, nil)
			body := readBody(t, res)
			if res.StatusCode != 200 {
				t.Fatalf("GET = %d", res.StatusCode)
			}
			got := strings.Count(body, `<circle class="reading"`)
			switch {
			case n <= maxChartPoints && got != n:
				t.Errorf("%d readings drawn as %d points, want one each", n, got)
			case n > maxChartPoints && (got > maxChartPoints || got < maxChartPoints/2):
				t.Errorf("%d readings drawn as %d points, want %d to %d", n, got, maxChartPoints/2, maxChartPoints)
			}
			if down := strings.Contains(body, "downsampled to"); down != (n > maxChartPoints) {
				t.Errorf("%d readings: page says downsampled = %v", n, down)
			}
			if n > 0 && !strings.Contains(body, "<dt>Mean</dt>") {
				t.Error("no stats")
			}
		})
	}
}

func TestBuildChart(t *testing.T) {
	rs := []store.Reading{
		{ReadAt: t0, Celsius: 20}, {ReadAt: t0.Add(time.Hour), Celsius: 30}, {ReadAt: t0.Add(2 * time.Hour), Celsius: 25},
	}
	c := buildChart("n1", rs, t0, t0.Add(2*time.Hour))
	if c.Min != 20 || c.Max != 30 || c.Mean != 25 || !c.MaxAt.Equal(t0.Add(time.Hour)) {
		t.Errorf("stats = min %v max %v (at %v) mean %v", c.Min, c.Max, c.MaxAt, c.Mean)
	}
	if len(c.Points) != 3 || c.Points[0].X != "56.0" || c.Points[2].X != "784.0" {
		t.Errorf("points = %+v", c.Points)
	}
	if len(c.XTicks) != 6 || c.XTicks[0].Label != "03:00" || len(c.YTicks) < 3 {
		t.Errorf("ticks x %+v y %+v", c.XTicks, c.YTicks)
	}
	// Downsampling keeps the extremes.
	var many []store.Reading
	for i := range 10000 {
		v := 20.0
		if i == 7777 {
			v = 99
		}
		many = append(many, store.Reading{ReadAt: t0.Add(time.Duration(i) * time.Second), Celsius: v})
	}
	d := downsample(many, maxChartPoints)
	if len(d) > maxChartPoints {
		t.Errorf("downsampled to %d", len(d))
	}
	found := false
	for i, r := range d {
		found = found || r.Celsius == 99
		if i > 0 && r.ReadAt.Before(d[i-1].ReadAt) {
			t.Fatal("downsampled out of order")
		}
	}
	if !found {
		t.Error("downsampling lost the spike")
	}
}

func TestAuthModes(t *testing.T) {
	t.Run("none", func(t *testing.T) {
		e := newEnv(t, func(o *Options) { o.Auth, o.Users = AuthNone, nil })
		if res := e.do("GET", "/", nil, nil, nil); res.StatusCode != 200 {
			t.Errorf("GET / = %d, want 200", res.StatusCode)
		}
		if res := e.do("GET", "/login", nil, nil, nil); res.StatusCode != http.StatusSeeOther {
			t.Errorf("GET /login = %d, want 303", res.StatusCode)
		}
	})
	t.Run("proxy", func(t *testing.T) {
		e := newEnv(t, func(o *Options) {
			o.Auth, o.Users = AuthProxy, nil
			o.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}
		})
		tests := []struct {
			name, ip, user string
			want           int
		}{
			{"trusted proxy with user", "192.0.2.1", "alice", 200},
			{"trusted proxy without user", "192.0.2.1", "", 403},
			{"direct client claiming a user", "203.0.113.5", "alice", 403},
		}
		for _, tt := range tests {
			r := httptest.NewRequest("GET", "/api/wall", nil)
			r.RemoteAddr = tt.ip + ":4444"
			if tt.user != "" {
				r.Header.Set("X-Forwarded-User", tt.user)
			}
			w := httptest.NewRecorder()
			e.srv.ServeHTTP(w, r)
			if w.Code != tt.want {
				t.Errorf("%s: %d, want %d", tt.name, w.Code, tt.want)
			}
		}
	})
	t.Run("users without users", func(t *testing.T) {
		if _, err := New(Options{Pictures: newFakeStore(), Temperatures: newFakeStore()}); err == nil {
			t.Error("New without users: no error")
		}
	})
}

func TestMetrics(t *testing.T) {
	e := newEnv(t)
	sess, _ := e.login()
	e.do("GET", "/", nil, []*http.Cookie{sess}, nil)
	e.do("GET", "/camera/C9", nil, []*http.Cookie{sess}, nil)
	e.do("GET", "/nothing", nil, nil, nil)
	for _, c := range []struct {
		route, code string
		min         float64
	}{{"GET /{$}", "200", 2}, {"GET /camera/{camera}", "404", 1}, {"other", "404", 1}, {"POST /login", "303", 1}} {
		if got := testutil.ToFloat64(e.srv.metrics.requests.WithLabelValues(c.route, c.code)); got < c.min {
			t.Errorf("requests{route=%q,code=%s} = %v, want >= %v", c.route, c.code, got, c.min)
		}
	}
	if got := testutil.ToFloat64(e.srv.metrics.bytes.WithLabelValues("GET /{$}")); got <= 0 {
		t.Errorf("bytes of / = %v", got)
	}
	n, err := testutil.GatherAndCount(e.reg, "sensornode_viewer_sessions_active")
	if err != nil || n != 1 {
		t.Errorf("sessions_active: %d series, %v", n, err)
	}
	mfs, err := e.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "sensornode_viewer_sessions_active" {
			if got := mf.GetMetric()[0].GetGauge().GetValue(); got != 1 {
				t.Errorf("sessions_active = %v, want 1", got)
			}
		}
	}
}

// Behind a trusted proxy failed logins count against the client the proxy
// names; anyone else's X-Forwarded-For is ignored.
func TestClientIP(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")} })
	tests := []struct {
		name, remote string
		xff          []string
		want         string
	}{
		{"direct", "192.0.2.1:1234", nil, "192.0.2.1"},
		{"direct with a forged header", "192.0.2.1:1234", []string{"203.0.113.9"}, "192.0.2.1"},
		{"trusted proxy", "10.1.2.3:1234", []string{"203.0.113.9"}, "203.0.113.9"},
		{"trusted proxy, client-sent entries first", "10.1.2.3:1234", []string{"1.1.1.1, 203.0.113.9"}, "203.0.113.9"},
		{"trusted proxy, last header counts", "10.1.2.3:1234", []string{"1.1.1.1", "203.0.113.9"}, "203.0.113.9"},
		{"trusted proxy, garbage", "10.1.2.3:1234", []string{"not-an-address"}, "10.1.2.3"},
		{"ipv6", "[2001:db8::1]:1234", nil, "2001:db8::1"},
	}
	for _, tt := range tests {
		r := httptest.NewRequest("POST", "/login", nil)
		r.RemoteAddr = tt.remote
		for _, v := range tt.xff {
			r.Header.Add("X-Forwarded-For", v)
		}
		if got := e.srv.clientIP(r); got != tt.want {
			t.Errorf("%s: clientIP = %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestHead(t *testing.T) {
	e := newEnv(t)
	sess, _ := e.login()
	key := e.store.pictures["C1"][0].Key
	for _, p := range []string{"/", "/picture/C1/" + key + ".jpg", "/thumb/C1/" + key + ".jpg", "/static/app.js"} {
		res := e.do("HEAD", p, nil, []*http.Cookie{sess}, nil)
		if body := readBody(t, res); res.StatusCode != 200 || body != "" {
			t.Errorf("HEAD %s = %d with %d body bytes, want 200 and none", p, res.StatusCode, len(body))
		}
	}
}
