package localrun

import (
	"crypto/rand"
	"fmt"
	"net"
	"os"
	"path/filepath"

	"golang.org/x/crypto/bcrypt"
)

// viewerUser is the one user of make run's viewer.
const viewerUser = "admin"

// viewerLogin is how to reach and log in to make run's viewer.
type viewerLogin struct {
	Addr      string // host:port of the pages
	User      string
	Password  string // this run's; only its hash is written down
	UsersFile string
}

// URL of the viewer's pages, with a trailing slash.
func (v viewerLogin) URL() string { return "http://" + v.Addr + "/" }

// newViewerLogin makes a random password for the user admin, writes its
// bcrypt hash to dir/users (htpasswd form, mode 0600, replacing the last
// run's) and picks the address: want when free, else a free loopback port
// (a second make run, or something else on 8090).
func newViewerLogin(dir, want string) (viewerLogin, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return viewerLogin{}, err
	}
	pw := rand.Text()[:16] // 80 bits, base32: easy to type
	hash, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.DefaultCost)
	if err != nil {
		return viewerLogin{}, err
	}
	file := filepath.Join(dir, "users")
	if err := os.WriteFile(file, fmt.Appendf(nil, "%s:%s\n", viewerUser, hash), 0o600); err != nil {
		return viewerLogin{}, err
	}
	addr, err := freeAddr(want)
	if err != nil {
		return viewerLogin{}, err
	}
	return viewerLogin{Addr: addr, User: viewerUser, Password: pw, UsersFile: file}, nil
}

// freeAddr is want when it can be bound now, else a free port on its host.
func freeAddr(want string) (string, error) {
	if l, err := net.Listen("tcp", want); err == nil {
		l.Close()
		return want, nil
	}
	host, _, err := net.SplitHostPort(want)
	if err != nil {
		return "", fmt.Errorf("viewer address %q: %w", want, err)
	}
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}
