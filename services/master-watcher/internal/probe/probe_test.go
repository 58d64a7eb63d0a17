package probe

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sensornode/sensornode/services/master-watcher/internal/masters"
)

func master(t *testing.T, raw string, mode masters.Mode) masters.Master {
	t.Helper()
	ms, err := masters.Parse([]string{raw}, mode)
	if err != nil {
		t.Fatal(err)
	}
	return ms[0]
}

// closedAddr returns a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func TestHTTP(t *testing.T) {
	hang := make(chan struct{})
	defer close(hang)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/readyz":
			w.Write([]byte("ok"))
		case "/bad":
			http.Error(w, "[-]etcd failed: reason withheld\nmore", http.StatusInternalServerError)
		case "/redirect":
			http.Redirect(w, r, "/readyz", http.StatusFound)
		case "/hang":
			select {
			case <-hang:
			case <-r.Context().Done():
			}
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	closed := closedAddr(t)
	tests := []struct {
		name       string
		url, path  string
		wantReason string
	}{
		{"healthy", srv.URL, "/readyz", "ok"},
		{"500", srv.URL, "/bad", "status"},
		{"404", srv.URL, "/nothing", "status"},
		{"redirect is not healthy", srv.URL, "/redirect", "status"},
		{"hanging", srv.URL, "/hang", "timeout"},
		{"closed", "http://" + closed, "/readyz", "refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			p := NewHTTP(tt.path, nil)
			got := p.Probe(ctx, master(t, tt.url, masters.ModeHTTP))
			if got.Reason != tt.wantReason || got.OK() != (tt.wantReason == "ok") {
				t.Errorf("Probe(%s%s) = %q (%v), want %q", tt.url, tt.path, got.Reason, got.Err, tt.wantReason)
			}
			if got.Duration <= 0 {
				t.Errorf("Duration = %v, want > 0", got.Duration)
			}
		})
	}
	t.Run("500 body in error", func(t *testing.T) {
		got := NewHTTP("/bad", nil).Probe(context.Background(), master(t, srv.URL, masters.ModeHTTP))
		if want := "health status 500: [-]etcd failed: reason withheld"; got.Err == nil || got.Err.Error() != want {
			t.Errorf("error = %v, want %q", got.Err, want)
		}
	})
}

func TestTCP(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	tests := []struct {
		name, addr, wantReason string
	}{
		{"listening", ln.Addr().String(), "ok"},
		{"closed", closedAddr(t), "refused"},
	}
	for _, tt := range tests {
		got := NewTCP().Probe(context.Background(), master(t, tt.addr, masters.ModeTCP))
		if got.Reason != tt.wantReason {
			t.Errorf("%s: Probe(%s) = %q (%v), want %q", tt.name, tt.addr, got.Reason, got.Err, tt.wantReason)
		}
	}
}

// pki is a throwaway CA with a server certificate for 127.0.0.1 and a
// client certificate.
type pki struct {
	caFile, certFile, keyFile string
	pool                      *x509.CertPool
	server                    tls.Certificate
}

func newPKI(t *testing.T) pki {
	t.Helper()
	dir := t.TempDir()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test-ca"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	leaf := func(serial int64, usage x509.ExtKeyUsage, ip bool) ([]byte, []byte) {
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "leaf"},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			ExtKeyUsage: []x509.ExtKeyUsage{usage}, KeyUsage: x509.KeyUsageDigitalSignature,
		}
		if ip {
			tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		kb, _ := x509.MarshalECPrivateKey(key)
		return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
			pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb})
	}
	srvCert, srvKey := leaf(2, x509.ExtKeyUsageServerAuth, true)
	cliCert, cliKey := leaf(3, x509.ExtKeyUsageClientAuth, false)
	p := pki{
		caFile: filepath.Join(dir, "ca.pem"), certFile: filepath.Join(dir, "client.pem"), keyFile: filepath.Join(dir, "client-key.pem"),
		pool: x509.NewCertPool(),
	}
	p.pool.AddCert(ca)
	write := func(path string, b []byte) {
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(p.caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}))
	write(p.certFile, cliCert)
	write(p.keyFile, cliKey)
	if p.server, err = tls.X509KeyPair(srvCert, srvKey); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestHTTPS(t *testing.T) {
	p := newPKI(t)
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) })
	plain := httptest.NewUnstartedServer(handler)
	quiet := log.New(io.Discard, "", 0)
	plain.TLS = &tls.Config{Certificates: []tls.Certificate{p.server}}
	plain.Config.ErrorLog = quiet
	plain.StartTLS()
	defer plain.Close()
	mtls := httptest.NewUnstartedServer(handler)
	mtls.TLS = &tls.Config{Certificates: []tls.Certificate{p.server}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: p.pool}
	mtls.Config.ErrorLog = quiet
	mtls.StartTLS()
	defer mtls.Close()
	other := httptest.NewUnstartedServer(handler) // certificate from another CA
	other.Config.ErrorLog = quiet
	other.StartTLS()
	defer other.Close()

	tests := []struct {
		name       string
		url        string
		files      TLSFiles
		wantReason string
	}{
		{"CA only", plain.URL, TLSFiles{CAFile: p.caFile}, "ok"},
		{"client certificate", mtls.URL, TLSFiles{CAFile: p.caFile, CertFile: p.certFile, KeyFile: p.keyFile}, "ok"},
		{"client certificate missing", mtls.URL, TLSFiles{CAFile: p.caFile}, "error"},
		{"unknown CA", other.URL, TLSFiles{CAFile: p.caFile}, "tls"},
		{"wrong server name", plain.URL, TLSFiles{CAFile: p.caFile, ServerName: "kubernetes.default"}, "tls"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := TLSConfig(tt.files)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			got := NewHTTP("/livez", cfg).Probe(ctx, master(t, tt.url, masters.ModeHTTPS))
			if got.Reason != tt.wantReason {
				t.Errorf("Probe(%s) = %q (%v), want %q", tt.url, got.Reason, got.Err, tt.wantReason)
			}
		})
	}
}

func TestTLSConfigErrors(t *testing.T) {
	p := newPKI(t)
	bad := filepath.Join(t.TempDir(), "bad.pem")
	os.WriteFile(bad, []byte("not pem"), 0o600)
	tests := []struct {
		name  string
		files TLSFiles
	}{
		{"no CA", TLSFiles{}},
		{"missing CA file", TLSFiles{CAFile: "/nonexistent/ca.pem"}},
		{"CA not PEM", TLSFiles{CAFile: bad}},
		{"cert without key", TLSFiles{CAFile: p.caFile, CertFile: p.certFile}},
		{"key is not a key", TLSFiles{CAFile: p.caFile, CertFile: p.certFile, KeyFile: p.caFile}},
	}
	for _, tt := range tests {
		if _, err := TLSConfig(tt.files); err == nil {
			t.Errorf("%s: TLSConfig(%+v) = nil error, want one", tt.name, tt.files)
		}
	}
}

func TestSlow(t *testing.T) {
	tests := []struct {
		name       string
		give       Result
		threshold  time.Duration
		wantOK     bool
		wantReason string
	}{
		{name: "fast", give: Result{Reason: "ok", Duration: 100 * time.Millisecond}, threshold: time.Second, wantOK: true, wantReason: "ok"},
		{name: "slow", give: Result{Reason: "ok", Duration: 1500 * time.Millisecond}, threshold: time.Second, wantOK: false, wantReason: ReasonSlow},
		{name: "off", give: Result{Reason: "ok", Duration: time.Minute}, threshold: 0, wantOK: true, wantReason: "ok"},
		{name: "already failed stays as it is", give: Result{Reason: "status", Err: errors.New("500"), Duration: time.Minute}, threshold: time.Second, wantOK: false, wantReason: "status"},
	}
	for _, tt := range tests {
		got := Slow(tt.give, tt.threshold)
		if got.OK() != tt.wantOK || got.Reason != tt.wantReason {
			t.Errorf("%s: Slow(%+v, %v) = ok %t reason %q, want %t %q", tt.name, tt.give, tt.threshold, got.OK(), got.Reason, tt.wantOK, tt.wantReason)
		}
	}
}
