package auth

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

func hash(t *testing.T, pw string) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}

func TestParseUsers(t *testing.T) {
	h := hash(t, "pw")
	// htpasswd -B writes $2y$; Go's bcrypt reads it.
	h2y := "$2y$" + strings.TrimPrefix(h, "$2a$")
	tests := []struct {
		name    string
		give    string
		want    []string
		wantErr string
	}{
		{name: "lines, comments, blanks", give: "# users\n\nalice:" + h + "\r\nbob:" + h2y + "\n", want: []string{"alice", "bob"}},
		{name: "no colon", give: "alice " + h, wantErr: "line 1"},
		{name: "not bcrypt", give: "alice:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=", wantErr: "not a bcrypt hash"},
		{name: "apr1", give: "alice:$apr1$abc$def", wantErr: "not a bcrypt hash"},
		{name: "duplicate", give: "alice:" + h + "\nalice:" + h, wantErr: "again"},
		{name: "space in name", give: "al ice:" + h, wantErr: "printable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseUsers(strings.NewReader(tt.give))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseUsers = %v, want error with %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, u := range tt.want {
				if _, ok := got[u]; !ok {
					t.Errorf("user %s missing in %v", u, got)
				}
			}
		})
	}
}

func TestUsersCheck(t *testing.T) {
	u, err := NewUsers(map[string][]byte{"alice": []byte(hash(t, "right"))})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		user, pw string
		want     bool
	}{
		{"alice", "right", true},
		{"alice", "wrong", false},
		{"alice", "", false},
		{"mallory", "right", false},
		{"", "", false},
		{"alice", strings.Repeat("x", 100), false},
	}
	for _, tt := range tests {
		if got := u.Check(tt.user, tt.pw); got != tt.want {
			t.Errorf("Check(%q, %q) = %v, want %v", tt.user, tt.pw, got, tt.want)
		}
	}
	if c, err := bcrypt.Cost(u.dummy); err != nil || c != bcrypt.MinCost {
		t.Errorf("dummy hash cost %d (%v), want the users' cost %d", c, err, bcrypt.MinCost)
	}
}

func TestLoadUsersReload(t *testing.T) {
	path := filepath.Join(t.TempDir(), "users")
	write := func(s string, mod time.Time) {
		if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(path, mod, mod); err != nil {
			t.Fatal(err)
		}
	}
	write("alice:"+hash(t, "one")+"\n", time.Unix(1000, 0))
	u, err := LoadUsers(path)
	if err != nil {
		t.Fatal(err)
	}
	if !u.Check("alice", "one") {
		t.Fatal("alice/one refused")
	}
	if changed, err := u.Reload(); changed || err != nil {
		t.Errorf("Reload of an unchanged file = %v, %v", changed, err)
	}
	write("alice:"+hash(t, "two")+"\n", time.Unix(2000, 0))
	if changed, err := u.Reload(); !changed || err != nil {
		t.Fatalf("Reload after a change = %v, %v", changed, err)
	}
	if u.Check("alice", "one") || !u.Check("alice", "two") {
		t.Error("new password not in force")
	}
	write("garbage\n", time.Unix(3000, 0))
	if _, err := u.Reload(); err == nil {
		t.Error("Reload of a broken file: no error")
	}
	if !u.Check("alice", "two") {
		t.Error("a broken file dropped the users read before")
	}
	if _, err := LoadUsers(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("LoadUsers of a missing file: no error")
	}
	write("# nobody\n", time.Unix(4000, 0))
	if _, err := LoadUsers(path); err == nil {
		t.Error("LoadUsers of a file without users: no error")
	}
}

func TestHashLine(t *testing.T) {
	pw, err := ReadPassword(strings.NewReader("s3cret pass\r\nignored"))
	if err != nil || pw != "s3cret pass" {
		t.Fatalf("ReadPassword = %q, %v", pw, err)
	}
	line, err := HashLine("alice", pw, bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	users, err := ParseUsers(strings.NewReader(line))
	if err != nil {
		t.Fatal(err)
	}
	if bcrypt.CompareHashAndPassword(users["alice"], []byte(pw)) != nil {
		t.Error("the line's hash does not match the password")
	}
	for _, bad := range []struct{ user, pw string }{{"", "x"}, {"a:b", "x"}, {"alice", ""}, {"alice", strings.Repeat("x", 73)}} {
		if _, err := HashLine(bad.user, bad.pw, bcrypt.MinCost); err == nil {
			t.Errorf("HashLine(%q, %d bytes): no error", bad.user, len(bad.pw))
		}
	}
}

type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

func TestSessions(t *testing.T) {
	c := &fakeClock{t: time.Unix(1e9, 0)}
	s := NewSessions(time.Hour, 3*time.Hour, 2, c.now)
	id, sess := s.New("alice")
	if len(id) != 43 || sess.CSRF == "" || sess.CSRF == id {
		t.Fatalf("New = %q, %+v", id, sess)
	}
	c.t = c.t.Add(59 * time.Minute)
	if _, ok := s.Get(id); !ok {
		t.Fatal("session gone before its idle timeout")
	}
	c.t = c.t.Add(59 * time.Minute)
	if got, ok := s.Get(id); !ok || got.User != "alice" {
		t.Fatal("a used session expired")
	}
	c.t = c.t.Add(61 * time.Minute)
	if _, ok := s.Get(id); ok {
		t.Error("session alive after its idle timeout")
	}
	// Absolute expiry, however busy.
	id, _ = s.New("alice")
	for range 6 {
		c.t = c.t.Add(30 * time.Minute)
		s.Get(id)
	}
	if _, ok := s.Get(id); ok {
		t.Error("session alive after its maximum age")
	}
	// Bounded: the least recently used goes.
	a, _ := s.New("a")
	c.t = c.t.Add(time.Minute)
	b, _ := s.New("b")
	c.t = c.t.Add(time.Minute)
	s.Get(a)
	s.New("c")
	if _, ok := s.Get(b); ok {
		t.Error("least recently used session kept beyond the bound")
	}
	if _, ok := s.Get(a); !ok {
		t.Error("recently used session dropped")
	}
	if n := s.Len(); n != 2 {
		t.Errorf("Len = %d, want 2", n)
	}
	s.Delete(a)
	if _, ok := s.Get(a); ok {
		t.Error("deleted session alive")
	}
	if _, ok := s.Get(""); ok {
		t.Error("empty id accepted")
	}
}

func TestLimiter(t *testing.T) {
	c := &fakeClock{t: time.Unix(1e9, 0)}
	l := NewLimiter(2, 10*time.Second, 3, c.now)
	if w := l.Wait("k"); w != 0 {
		t.Fatalf("new key waits %v", w)
	}
	l.Fail("k")
	l.Fail("k")
	if w := l.Wait("k"); w != 10*time.Second {
		t.Errorf("after the burst Wait = %v, want 10s", w)
	}
	c.t = c.t.Add(4 * time.Second)
	if w := l.Wait("k"); w != 6*time.Second {
		t.Errorf("4 s later Wait = %v, want 6s", w)
	}
	c.t = c.t.Add(6 * time.Second)
	if w := l.Wait("k"); w != 0 {
		t.Errorf("after the refill Wait = %v, want 0", w)
	}
	if w := l.Wait("other"); w != 0 {
		t.Errorf("another key waits %v", w)
	}
	// Bounded: at most 3 keys.
	for _, k := range []string{"a", "b", "c", "d", "e"} {
		l.Fail(k)
	}
	if n := len(l.m); n > 3 {
		t.Errorf("%d keys kept, bound 3", n)
	}
}
