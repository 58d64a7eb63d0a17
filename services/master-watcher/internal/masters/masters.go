// Package masters describes the Kubernetes API servers a node can talk to,
// in priority order.
package masters

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
)

// Mode is how masters are probed.
type Mode string

// Probe modes.
const (
	// ModeHTTP: GET <url><path> over plain HTTP; healthy on 200.
	ModeHTTP Mode = "http"
	// ModeHTTPS: the same over TLS with a CA and an optional client certificate.
	ModeHTTPS Mode = "https"
	// ModeTCP: a TCP connect, like the original `nc -w2 <ip> 8080`.
	ModeTCP Mode = "tcp"
)

// ParseMode parses "http", "https" or "tcp".
func ParseMode(s string) (Mode, error) {
	switch m := Mode(strings.ToLower(strings.TrimSpace(s))); m {
	case ModeHTTP, ModeHTTPS, ModeTCP:
		return m, nil
	}
	return "", fmt.Errorf("probe mode %q: want http, https or tcp", s)
}

// MaxMasters bounds the list, and with it the cardinality of the per-master
// metric label.
const MaxMasters = 16

// Master is one API server. Index is its priority: 0 is the primary.
type Master struct {
	Index int
	// URL is scheme://host:port: the server field of a kubeconfig and the
	// base of health probes.
	URL string
	// Addr is host:port: what the forwarder and TCP probes dial.
	Addr string
}

// Label is the metric label value of the master: its index.
func (m Master) Label() string { return strconv.Itoa(m.Index) }

func (m Master) String() string { return m.URL }

// Parse turns the configured list (URLs like https://10.0.0.1:6443, or
// host:port) into masters. A bare host:port gets the scheme of the mode
// (https for tcp, where the URL only serves kubeconfig). A URL without a
// port gets the scheme's default port. Duplicates are an error.
func Parse(list []string, mode Mode) ([]Master, error) {
	if len(list) == 0 {
		return nil, errors.New("no masters configured")
	}
	if len(list) > MaxMasters {
		return nil, fmt.Errorf("%d masters configured, at most %d supported", len(list), MaxMasters)
	}
	out := make([]Master, 0, len(list))
	seen := map[string]int{}
	for i, raw := range list {
		m, err := parseOne(strings.TrimSpace(raw), mode)
		if err != nil {
			return nil, fmt.Errorf("master %d %q: %w", i, raw, err)
		}
		m.Index = i
		if j, dup := seen[m.Addr]; dup {
			return nil, fmt.Errorf("master %d %q: same address as master %d", i, raw, j)
		}
		seen[m.Addr] = i
		out = append(out, m)
	}
	return out, nil
}

func parseOne(raw string, mode Mode) (Master, error) {
	if raw == "" {
		return Master{}, errors.New("empty")
	}
	if !strings.Contains(raw, "://") {
		host, port, err := net.SplitHostPort(raw)
		if err != nil {
			return Master{}, fmt.Errorf("want scheme://host:port or host:port: %w", err)
		}
		if err := checkHostPort(host, port); err != nil {
			return Master{}, err
		}
		scheme := "https"
		if mode == ModeHTTP {
			scheme = "http"
		}
		addr := net.JoinHostPort(host, port)
		return Master{URL: scheme + "://" + addr, Addr: addr}, nil
	}
	u, err := url.Parse(raw)
	if err != nil {
		return Master{}, err
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return Master{}, fmt.Errorf("scheme %q: want http or https", u.Scheme)
	}
	if (mode == ModeHTTP || mode == ModeHTTPS) && u.Scheme != string(mode) {
		return Master{}, fmt.Errorf("scheme %q does not match probe mode %q", u.Scheme, mode)
	}
	if u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return Master{}, errors.New("want only scheme://host:port (no user, path or query)")
	}
	host, port := u.Hostname(), u.Port()
	if port == "" {
		port = "80"
		if u.Scheme == "https" {
			port = "443"
		}
	}
	if err := checkHostPort(host, port); err != nil {
		return Master{}, err
	}
	addr := net.JoinHostPort(host, port)
	return Master{URL: u.Scheme + "://" + addr, Addr: addr}, nil
}

func checkHostPort(host, port string) error {
	if host == "" {
		return errors.New("empty host")
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 1 || p > 65535 {
		return fmt.Errorf("port %q: want 1..65535", port)
	}
	return nil
}

// URLs lists the masters' URLs in priority order.
func URLs(ms []Master) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.URL
	}
	return out
}
