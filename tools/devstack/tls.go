package devstack

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

const tlsValidity = 10 * 365 * 24 * time.Hour

// ensureTLS writes a CA and a server certificate for 127.0.0.1 and localhost
// unless both are there and the server certificate is valid for a year more.
func ensureTLS(p tlsPaths, now time.Time) error {
	if tlsUsable(p, now) {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(p.CACert), 0o755); err != nil {
		return err
	}
	caPEM, caKeyPEM, keystorePEM, err := generateTLS(now)
	if err != nil {
		return fmt.Errorf("generate tls: %w", err)
	}
	for _, f := range []file{
		{Path: p.CACert, Content: string(caPEM), Mode: 0o644},
		{Path: p.CAKey, Content: string(caKeyPEM), Mode: 0o600},
		{Path: p.Keystore, Content: string(keystorePEM), Mode: 0o600},
	} {
		if err := writeFileAtomic(f.Path, []byte(f.Content), os.FileMode(f.Mode)); err != nil {
			return err
		}
	}
	return nil
}

// tlsUsable reports whether the keystore's certificate chains to the CA for
// 127.0.0.1 and stays valid for a year.
func tlsUsable(p tlsPaths, now time.Time) bool {
	caPEM, err := os.ReadFile(p.CACert)
	if err != nil {
		return false
	}
	ks, err := os.ReadFile(p.Keystore)
	if err != nil {
		return false
	}
	return verifyServerPEM(caPEM, ks, now.Add(365*24*time.Hour)) == nil
}

// verifyServerPEM checks that the first certificate in keystorePEM is valid
// at t for 127.0.0.1 and localhost under the CA in caPEM, and that the
// keystore holds a private key.
func verifyServerPEM(caPEM, keystorePEM []byte, t time.Time) error {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return errors.New("no CA certificate")
	}
	var leaf *x509.Certificate
	var hasKey bool
	for rest := keystorePEM; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		switch b.Type {
		case "PRIVATE KEY":
			if _, err := x509.ParsePKCS8PrivateKey(b.Bytes); err != nil {
				return fmt.Errorf("private key: %w", err)
			}
			hasKey = true
		case "CERTIFICATE":
			if leaf == nil {
				c, err := x509.ParseCertificate(b.Bytes)
				if err != nil {
					return err
				}
				leaf = c
			}
		}
	}
	if leaf == nil || !hasKey {
		return errors.New("keystore needs a PRIVATE KEY and a CERTIFICATE")
	}
	for _, name := range []string{"127.0.0.1", "localhost"} {
		if _, err := leaf.Verify(x509.VerifyOptions{DNSName: name, Roots: pool, CurrentTime: t}); err != nil {
			return err
		}
	}
	return nil
}

// generateTLS returns a CA certificate, its key, and a PEM keystore (server
// key as unencrypted PKCS#8, server certificate, CA certificate) as Kafka's
// ssl.keystore.type=PEM reads it.
func generateTLS(now time.Time) (caPEM, caKeyPEM, keystorePEM []byte, err error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, nil, err
	}
	caTmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "sensornode devstack CA", Organization: []string{"sensornode"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(tlsValidity),
		IsCA:                  true,
		BasicConstraintsValid: true,
		MaxPathLenZero:        true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, nil, nil, err
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, nil, nil, err
	}
	srvKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, nil, err
	}
	srvTmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: "localhost", Organization: []string{"sensornode"}},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(tlsValidity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	srvDER, err := x509.CreateCertificate(rand.Reader, srvTmpl, ca, &srvKey.PublicKey, caKey)
	if err != nil {
		return nil, nil, nil, err
	}
	caKeyDER, err := x509.MarshalPKCS8PrivateKey(caKey)
	if err != nil {
		return nil, nil, nil, err
	}
	srvKeyDER, err := x509.MarshalPKCS8PrivateKey(srvKey)
	if err != nil {
		return nil, nil, nil, err
	}
	caPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})
	caKeyPEM = pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: caKeyDER})
	keystorePEM = append(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: srvKeyDER}),
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srvDER})...)
	keystorePEM = append(keystorePEM, caPEM...)
	return caPEM, caKeyPEM, keystorePEM, nil
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		// crypto/rand does not fail on Linux; a fixed serial is still valid.
		return big.NewInt(1)
	}
	return n
}
