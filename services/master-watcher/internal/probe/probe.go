// Package probe checks whether a Kubernetes API server answers: its health
// endpoint over HTTP or HTTPS, or a bare TCP connect as the original
// `nc -w2 <ip> 8080` did.
package probe

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"syscall"
	"time"

	"github.com/sensornode/sensornode/services/master-watcher/internal/masters"
)

// Result is the outcome of one probe.
type Result struct {
	// Err is nil when the master is healthy.
	Err error
	// Reason is a short bounded code for metrics: ok, status, refused,
	// timeout, tls or error.
	Reason   string
	Duration time.Duration
}

// OK reports whether the master answered healthy.
func (r Result) OK() bool { return r.Err == nil }

// ReasonSlow is the Reason of a probe that answered but too slowly.
const ReasonSlow = "slow"

// Slow turns a good result that took longer than threshold into a failed
// one (reason slow): a master that answers only slowly is not healthy.
// threshold <= 0 leaves r as it is.
func Slow(r Result, threshold time.Duration) Result {
	if r.OK() && threshold > 0 && r.Duration > threshold {
		r.Err = fmt.Errorf("answered after %v, slower than %v", r.Duration.Round(time.Millisecond), threshold)
		r.Reason = ReasonSlow
	}
	return r
}

// Prober probes one master. Implementations bound the probe by ctx.
type Prober interface {
	Probe(ctx context.Context, m masters.Master) Result
}

// TCP probes with a TCP connect.
type TCP struct {
	dialer net.Dialer
}

var _ Prober = (*TCP)(nil)

// NewTCP returns a TCP-connect prober.
func NewTCP() *TCP { return &TCP{} }

// Probe connects to m.Addr and closes the connection.
func (p *TCP) Probe(ctx context.Context, m masters.Master) Result {
	start := time.Now()
	c, err := p.dialer.DialContext(ctx, "tcp", m.Addr)
	if err == nil {
		c.Close()
	}
	return result(err, time.Since(start))
}

// HTTP probes GET <master URL><path> and wants 200.
type HTTP struct {
	client *http.Client
	path   string
}

var _ Prober = (*HTTP)(nil)

// NewHTTP returns a prober for path (for example /readyz or /livez). With a
// non-nil tlsConfig it is used for https URLs. Every probe uses a fresh
// connection (no keep-alive), so a probe says whether a new connection
// works now, and no proxy from the environment is used.
func NewHTTP(path string, tlsConfig *tls.Config) *HTTP {
	tr := &http.Transport{
		Proxy:                  nil,
		DisableKeepAlives:      true,
		TLSClientConfig:        tlsConfig,
		MaxResponseHeaderBytes: 64 << 10,
		ForceAttemptHTTP2:      false,
	}
	return &HTTP{
		client: &http.Client{
			Transport: tr,
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse // a redirect is not healthy
			},
		},
		path: path,
	}
}

// StatusError is a health answer other than 200.
type StatusError struct {
	Code int
	Body string
}

func (e *StatusError) Error() string {
	if e.Body == "" {
		return fmt.Sprintf("health status %d", e.Code)
	}
	return fmt.Sprintf("health status %d: %s", e.Code, e.Body)
}

// Probe does one GET.
func (p *HTTP) Probe(ctx context.Context, m masters.Master) Result {
	start := time.Now()
	err := p.get(ctx, m.URL+p.path)
	return result(err, time.Since(start))
}

func (p *HTTP) get(ctx context.Context, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode != http.StatusOK {
		return &StatusError{Code: resp.StatusCode, Body: sanitize(body)}
	}
	if err != nil {
		return fmt.Errorf("read health answer: %w", err)
	}
	return nil
}

// sanitize keeps the first line of a body, printable ASCII only.
func sanitize(b []byte) string {
	out := make([]byte, 0, min(len(b), 120))
	for _, c := range b {
		if c == '\n' || len(out) == 120 {
			break
		}
		if c >= 0x20 && c < 0x7f {
			out = append(out, c)
		}
	}
	return string(out)
}

func result(err error, d time.Duration) Result {
	return Result{Err: err, Reason: Reason(err), Duration: d}
}

// Reason classifies a probe error into a bounded code.
func Reason(err error) string {
	var se *StatusError
	var ne net.Error
	var ce *tls.CertificateVerificationError
	var ue x509.UnknownAuthorityError
	var he x509.HostnameError
	var rh tls.RecordHeaderError
	switch {
	case err == nil:
		return "ok"
	case errors.As(err, &se):
		return "status"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "refused"
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded),
		errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.As(err, &ce), errors.As(err, &ue), errors.As(err, &he), errors.As(err, &rh):
		return "tls"
	}
	return "error"
}

// TLSFiles names the files of an HTTPS probe's TLS configuration.
type TLSFiles struct {
	CAFile     string
	CertFile   string
	KeyFile    string
	ServerName string
}

// TLSConfig loads the CA (required) and the optional client key pair.
func TLSConfig(f TLSFiles) (*tls.Config, error) {
	if f.CAFile == "" {
		return nil, errors.New("https probes need a CA file")
	}
	pem, err := os.ReadFile(f.CAFile)
	if err != nil {
		return nil, fmt.Errorf("read CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("CA file %s holds no PEM certificate", f.CAFile)
	}
	cfg := &tls.Config{RootCAs: pool, ServerName: f.ServerName, MinVersion: tls.VersionTLS12}
	if (f.CertFile == "") != (f.KeyFile == "") {
		return nil, errors.New("client certificate and key go together: set both or neither")
	}
	if f.CertFile != "" {
		pair, err := tls.LoadX509KeyPair(f.CertFile, f.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("client key pair: %w", err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return cfg, nil
}
