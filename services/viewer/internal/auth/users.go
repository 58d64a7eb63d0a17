// Package auth holds the viewer's authentication state: the users file
// (htpasswd-style lines with bcrypt hashes), server-side sessions and the
// token buckets that rate-limit failed logins. The HTTP side (cookies,
// CSRF, the login form) is in package web.
package auth

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// DefaultCost is the bcrypt cost of hashes HashLine makes.
const DefaultCost = 12

// MaxPasswordBytes is bcrypt's limit: longer passwords are refused, not
// silently truncated.
const MaxPasswordBytes = 72

// Users are the accounts of a users file. Check compares against a dummy
// hash of the same cost for unknown users, so that an unknown name takes
// as long as a wrong password.
type Users struct {
	path string

	mu     sync.RWMutex
	hashes map[string][]byte
	dummy  []byte
	mod    time.Time
	size   int64
}

// NewUsers makes Users from user → bcrypt hash (tests, or a file read
// elsewhere). It fails on an empty map or a hash that is not bcrypt.
func NewUsers(hashes map[string][]byte) (*Users, error) {
	u := &Users{}
	if err := u.set(hashes); err != nil {
		return nil, err
	}
	return u, nil
}

// LoadUsers reads the users file at path: one `user:bcrypt-hash` per line
// (as `htpasswd -B` or `viewer hash-password` write them), blank lines and
// lines starting with # ignored.
func LoadUsers(path string) (*Users, error) {
	u := &Users{path: path}
	if _, err := u.reload(); err != nil {
		return nil, err
	}
	return u, nil
}

// Reload reads the file again when its size or modification time changed
// since the last read. On an error the users read before stay in force.
func (u *Users) Reload() (changed bool, err error) {
	if u.path == "" {
		return false, nil
	}
	return u.reload()
}

func (u *Users) reload() (bool, error) {
	st, err := os.Stat(u.path)
	if err != nil {
		return false, fmt.Errorf("users file: %w", err)
	}
	u.mu.RLock()
	same := u.hashes != nil && st.ModTime().Equal(u.mod) && st.Size() == u.size
	u.mu.RUnlock()
	if same {
		return false, nil
	}
	f, err := os.Open(u.path)
	if err != nil {
		return false, fmt.Errorf("users file: %w", err)
	}
	defer f.Close()
	hashes, err := ParseUsers(f)
	if err != nil {
		return false, fmt.Errorf("users file %s: %w", u.path, err)
	}
	if err := u.set(hashes); err != nil {
		return false, fmt.Errorf("users file %s: %w", u.path, err)
	}
	u.mu.Lock()
	u.mod, u.size = st.ModTime(), st.Size()
	u.mu.Unlock()
	return true, nil
}

func (u *Users) set(hashes map[string][]byte) error {
	if len(hashes) == 0 {
		return errors.New("no users")
	}
	maxCost := bcrypt.MinCost
	for name, h := range hashes {
		c, err := bcrypt.Cost(h)
		if err != nil {
			return fmt.Errorf("user %q: not a bcrypt hash: %w", name, err)
		}
		maxCost = max(maxCost, c)
	}
	u.mu.RLock()
	dummy := u.dummy
	u.mu.RUnlock()
	if c, err := bcrypt.Cost(dummy); err != nil || c != maxCost {
		h, err := bcrypt.GenerateFromPassword([]byte(Token()[:32]), maxCost)
		if err != nil {
			return fmt.Errorf("dummy hash: %w", err)
		}
		dummy = h
	}
	u.mu.Lock()
	u.hashes, u.dummy = hashes, dummy
	u.mu.Unlock()
	return nil
}

// Len is the number of users.
func (u *Users) Len() int {
	u.mu.RLock()
	defer u.mu.RUnlock()
	return len(u.hashes)
}

// Check reports whether password is user's. It runs one bcrypt comparison
// whether or not the user exists.
func (u *Users) Check(user, password string) bool {
	u.mu.RLock()
	h, ok := u.hashes[user]
	if !ok {
		h = u.dummy
	}
	u.mu.RUnlock()
	err := bcrypt.CompareHashAndPassword(h, []byte(password))
	return ok && err == nil
}

// ParseUsers reads users-file lines.
func ParseUsers(r io.Reader) (map[string][]byte, error) {
	out := map[string][]byte{}
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, hash, ok := strings.Cut(line, ":")
		if !ok || name == "" || hash == "" {
			return nil, fmt.Errorf("line %d: want user:bcrypt-hash", n)
		}
		if err := checkUserName(name); err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		if _, err := bcrypt.Cost([]byte(hash)); err != nil {
			return nil, fmt.Errorf("line %d (user %q): not a bcrypt hash ($2a$, $2b$ or $2y$; make one with `viewer hash-password`)", n, name)
		}
		if _, dup := out[name]; dup {
			return nil, fmt.Errorf("line %d: user %q again", n, name)
		}
		out[name] = []byte(hash)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

func checkUserName(name string) error {
	if len(name) > 64 {
		return fmt.Errorf("user name longer than 64 bytes")
	}
	for _, c := range []byte(name) {
		if c <= ' ' || c == ':' || c >= 0x7f {
			return fmt.Errorf("user %q: only printable ASCII without spaces or ':'", name)
		}
	}
	return nil
}

// HashLine makes a users-file line for user with password's bcrypt hash.
func HashLine(user, password string, cost int) (string, error) {
	if err := checkUserName(user); err != nil {
		return "", err
	}
	if user == "" {
		return "", errors.New("empty user name")
	}
	if password == "" {
		return "", errors.New("empty password")
	}
	if len(password) > MaxPasswordBytes {
		return "", fmt.Errorf("password longer than %d bytes (bcrypt's limit)", MaxPasswordBytes)
	}
	h, err := bcrypt.GenerateFromPassword([]byte(password), cost)
	if err != nil {
		return "", err
	}
	return user + ":" + string(h), nil
}

// ReadPassword reads one line (the password) from r, without its line end.
func ReadPassword(r io.Reader) (string, error) {
	line, err := bufio.NewReader(io.LimitReader(r, 4096)).ReadBytes('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	return string(bytes.TrimRight(line, "\r\n")), nil
}

// Token is 256 random bits, base64url without padding (43 characters).
func Token() string {
	var b [32]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand since Go 1.24)
	return base64.RawURLEncoding.EncodeToString(b[:])
}
